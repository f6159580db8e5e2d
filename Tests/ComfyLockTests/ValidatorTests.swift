import ComfyLock
import Testing

@Suite("lock validation")
struct ValidatorTests {
    @Test("the full and the minimal sample locks have no errors")
    func validSamples() {
        #expect(LockValidator.validate(Fixtures.fullLock()).filter { $0.severity == .error } == [])
        let minimal = LockValidator.validate(Fixtures.minimalLock())
        #expect(minimal.map(\.rule) == ["python-unpinned"])
        #expect(minimal.first?.severity == .warning)
    }

    static let secret = "hf_SuperSecretValue123"

    struct Bad: Sendable, CustomTestStringConvertible {
        let name: String
        let rule: String
        let path: String
        let edit: @Sendable (inout Lock) -> Void
        var testDescription: String { name }
    }

    static let bad: [Bad] = [
        Bad(name: "uppercase sha256", rule: "sha256", path: "$.models[1].sha256") {
            $0.models[1].sha256 = Fixtures.shaB.uppercased()
        },
        Bad(name: "short sha256", rule: "sha256", path: "$.workflows[0].expectedOutputs[0].sha256") {
            $0.workflows[0].expectedOutputs[0].sha256 = "abc"
        },
        Bad(name: "missing sha256", rule: "sha256-missing", path: "$.models[0].sha256") { $0.models[0].sha256 = "" },
        Bad(name: "short commit", rule: "commit", path: "$.comfyui.commit") { $0.comfyui.commit = "abc123" },
        Bad(name: "git node without commit", rule: "commit-missing", path: "$.customNodes[1].commit") {
            $0.customNodes[1].commit = nil
        },
        // ssh and scp-style git URLs are allowed (issue 9's URL rule); these are not:
        Bad(name: "ssh model source", rule: "url-scheme", path: "$.models[0].sources[0]") {
            $0.models[0].sources[0] = "ssh://git@host/x"
        },
        Bad(name: "option-looking git url", rule: "url-option", path: "$.comfyui.url") {
            $0.comfyui.url = "--upload-pack=touch x"
        },
        Bad(name: "user:pass in url", rule: "url-credentials", path: "$.models[0].sources[0]") {
            $0.models[0].sources[0] = "https://user:\(secret)@civitai.com/x"
        },
        Bad(name: "token query", rule: "url-credentials", path: "$.models[0].sources[0]") {
            $0.models[0].sources[0] = "https://civitai.com/api/download/models/1?token=\(secret)"
        },
        Bad(name: "download_token query", rule: "url-credentials", path: "$.models[1].sources[1]") {
            $0.models[1].sources[1] = "https://mirror.example.com/x?a=1&download_token=\(secret)"
        },
        Bad(name: "percent-encoded token name", rule: "url-credentials", path: "$.python.indexUrls[0]") {
            $0.python!.indexUrls[0] = "https://pypi.example.com/simple?%74oken=\(secret)"
        },
        Bad(name: "traversal", rule: "path-traversal", path: "$.models[0].path") {
            $0.models[0].path = "loras/../../etc/passwd"
        },
        Bad(name: "absolute", rule: "path-absolute", path: "$.models[0].path") { $0.models[0].path = "/etc/passwd" },
        Bad(name: "empty segment", rule: "path-not-normalized", path: "$.models[0].path") {
            $0.models[0].path = "loras//x"
        },
        Bad(name: "dot segment", rule: "path-not-normalized", path: "$.models[0].path") { $0.models[0].path = "./x" },
        Bad(name: "trailing slash", rule: "path-not-normalized", path: "$.models[0].path") {
            $0.models[0].path = "loras/"
        },
        Bad(name: "NUL", rule: "path-control-character", path: "$.models[0].path") { $0.models[0].path = "a\u{0}b" },
        Bad(name: "backslash", rule: "path-backslash", path: "$.models[0].path") { $0.models[0].path = "loras\\x" },
        Bad(name: "duplicate model", rule: "path-duplicate", path: "$.models[1].path") {
            $0.models[1].path = $0.models[0].path
        },
        Bad(name: "node name with slash", rule: "node-name", path: "$.customNodes[0].name") {
            $0.customNodes[0].name = "a/b"
        },
        Bad(name: "node name ..", rule: "node-name", path: "$.customNodes[0].name") { $0.customNodes[0].name = ".." },
        Bad(name: "duplicate node", rule: "node-duplicate", path: "$.customNodes[1].name") {
            $0.customNodes[1].name = $0.customNodes[0].name
        },
        Bad(name: "registry node with commit", rule: "node-kind-fields", path: "$.customNodes[0].commit") {
            $0.customNodes[0].commit = Fixtures.commitA
        },
        Bad(name: "unnormalized package", rule: "python-package-name", path: "$.python.packages[0].name") {
            $0.python!.packages[0].name = "Torch_Vision"
        },
        Bad(name: "unhashed package", rule: "python-unhashed", path: "$.python.packages[0].artifacts") {
            $0.python!.packages[0].artifacts = []
        },
        Bad(name: "bad python version", rule: "python-version", path: "$.python.version") { $0.python!.version = "3" },
        Bad(name: "zero size", rule: "model-size-missing", path: "$.models[0].size") { $0.models[0].size = 0 },
        Bad(name: "workflow with both sources", rule: "workflow-source", path: "$.workflows[1]") {
            $0.workflows[1].inline = ["1": 1]
        },
        Bad(name: "workflow path traversal", rule: "path-traversal", path: "$.workflows[1].path") {
            $0.workflows[1].path = "../w.json"
        },
    ]

    @Test("each broken rule is an error naming the JSON path and the rule", arguments: bad)
    func refused(testCase: Bad) {
        var lock = Fixtures.fullLock()
        testCase.edit(&lock)
        let errors = LockValidator.validate(lock).filter { $0.severity == .error }
        #expect(errors.contains { $0.rule == testCase.rule && $0.path == testCase.path }, "\(errors)")
        for diagnostic in errors {
            #expect(!diagnostic.message.contains(Self.secret), "secret echoed: \(diagnostic.message)")
            #expect(!diagnostic.description.contains("SuperSecret"))
        }
        #expect(!LockValidator.isValid(lock))
    }

    @Test("case-insensitive collisions and missing sources are warnings")
    func warnings() {
        var lock = Fixtures.fullLock()
        lock.models.append(ModelEntry(path: "LORAS/detail.safetensors", size: 1, sha256: Fixtures.shaA))
        let diagnostics = LockValidator.validate(lock)
        #expect(
            diagnostics.contains {
                $0.rule == "path-case-collision" && $0.severity == .warning && $0.path == "$.models[2].path"
            })
        #expect(diagnostics.contains { $0.rule == "model-no-source" && $0.severity == .warning })
        #expect(LockValidator.isValid(lock))
    }

    @Test("URL checks")
    func urls() {
        #expect(LockValidator.checkURL("https://huggingface.co/a/b/resolve/main/x") == nil)
        // git:// honours core.gitProxy and is not a transport ComfyLock fetches (issue 9).
        #expect(LockValidator.checkURL("git://example.com/x.git", kind: .git)?.rule == "url-scheme")
        #expect(LockValidator.checkURL("file:///srv/models/x") == nil)
        #expect(LockValidator.checkURL("https://example.com/x?keyword=1") == nil)
        #expect(LockValidator.checkURL("ftp://example.com/x")?.rule == "url-scheme")
        #expect(LockValidator.checkURL("https:///x")?.rule == "url")
        #expect(LockValidator.checkURL("https://a b.com/")?.rule == "url")
        let refused = LockValidator.checkURL("https://u:p4ss@example.com/x?token=zzz")
        #expect(refused?.rule == "url-credentials")
        #expect(refused.map { !$0.message.contains("p4ss") && !$0.message.contains("zzz") } == true)
        #expect(LockValidator.shown("https://u:p@h.com/a?token=x&b=1#f") == "https://***@h.com/a?token=***&b=1#f")
        #expect(LockValidator.shown("https://h.com/\u{1}x") == "https://h.com/?x")
    }
}
