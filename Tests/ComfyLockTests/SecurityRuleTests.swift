import ComfyCLI
import ComfyLock
import Foundation
import TestSupport
import Testing

/// Issue 9 classes 1, 2 and 5 at the rule level: the one URL rule, the one commit rule, the one component rule,
/// the one escaping function, and that importers and `LockFile.load` apply them before anything is written.
@Suite("Security: lock rules (URLs, commits, names, escaping)")
struct SecurityRuleTests {
    @Test(
        "git URLs: option-looking, ext::, git://, credentials and hostile hosts are refused; normal forms pass",
        arguments: [
            ("--upload-pack=touch /tmp/x", "url-option"), ("-oProxyCommand=touch /tmp/x", "url-option"),
            ("ext::sh -c touch% /tmp/x", "url"), ("git://example.com/a.git", "url-scheme"),
            ("ssh://-oProxyCommand=x/a", "url-option"), ("-host:path", "url-option"), ("h:-x", nil),
            ("ssh://u:pw@host/a", "url-credentials"), ("https://git@host/a", "url-credentials"),
            ("https://host/a#token=abc", "url-credentials"), ("https://host/a?access_token=x", "url-credentials"),
            ("fd::7", "url"), ("https://host/a b", "url"), ("file://", "url"),
            ("https://github.com/comfyanonymous/ComfyUI", nil), ("git@github.com:owner/repo.git", nil),
            ("ssh://git@github.com:22/owner/repo.git", nil), ("file:///srv/git/ComfyUI.git", nil),
            ("/srv/git/ComfyUI.git", nil), ("https://host/a#egg=name", nil),
        ] as [(String, String?)])
    func gitURLRule(url: String, rule: String?) {
        let problem = LockValidator.checkURL(url, kind: .git)
        #expect(problem?.rule == rule, "\(url): \(problem?.message ?? "accepted")")
        if let problem { #expect(!problem.message.contains("abc") && !problem.message.contains("pw@")) }
    }

    @Test("download URLs: http(s)/file only; ssh and scp-style are git-only; #token= fragments refused")
    func downloadURLRule() {
        #expect(LockValidator.checkURL("https://h/x.whl#sha256=" + String(repeating: "a", count: 64)) == nil)
        #expect(LockValidator.checkURL("https://h/x#token=hf_secret")?.rule == "url-credentials")
        #expect(LockValidator.checkURL("https://h/x#a=1&download_token=z")?.rule == "url-credentials")
        #expect(LockValidator.checkURL("ssh://h/x")?.rule == "url-scheme")
        #expect(LockValidator.checkURL("git@h:x")?.rule == "url")
        #expect(LockValidator.checkURL("-https://h/x")?.rule == "url-option")
    }

    static func lock(_ edit: (inout Lock) -> Void) -> Lock {
        var lock = Lock(
            tag: "t", createdBy: "test",
            comfyui: ComfyUIPin(
                url: "https://github.com/comfyanonymous/ComfyUI", commit: String(repeating: "a", count: 40)),
            customNodes: [
                CustomNode(
                    name: "n", kind: .git, url: "https://h.example/n.git", commit: String(repeating: "b", count: 40))
            ],
            python: PythonPins(
                version: "3.11", platform: "manylinux_2_36_x86_64",
                packages: [
                    PythonPackage(
                        name: "pkg", version: "1.0",
                        artifacts: [
                            PythonArtifact(
                                url: "https://h.example/pkg-1.0-py3-none-any.whl",
                                sha256: String(repeating: "c", count: 64),
                                filename: "pkg-1.0-py3-none-any.whl")
                        ])
                ]),
            models: [
                ModelEntry(
                    path: "checkpoints/x.safetensors", size: 1, sha256: String(repeating: "d", count: 64),
                    sources: ["https://h.example/x"])
            ],
            workflows: [WorkflowEntry(name: "w", path: "workflows/w.json")])
        edit(&lock)
        return lock
    }

    @Test(
        "names that become file names, package names, versions, long components, control characters: one rule set",
        arguments: [
            ("tag ../x", "$.tag", "tag"), ("tag a/b", "$.tag", "tag"), ("tag .", "$.tag", "tag"),
            ("workflow ..", "$.workflows[0].name", "workflow-name"),
            ("workflow a/b", "$.workflows[0].name", "workflow-name"),
            ("workflow .", "$.workflows[0].name", "workflow-name"),
            ("package a/b", "$.python.packages[0].name", "python-package-name"),
            ("package version newline", "$.python.packages[0].version", "python-version-text"),
            ("component 256", "$.models[0].path", "path-component-too-long"),
            ("model newline", "$.models[0].path", "path-control-character"),
            ("ref option", "$.comfyui.ref", "ref"),
            ("artifact slash", "$.python.packages[0].artifacts[0].filename", "python-artifact-filename"),
        ])
    func componentRules(name: String, path: String, rule: String) {
        let lock = Self.lock { lock in
            switch name {
            case "tag ../x": lock.tag = "../x"
            case "tag a/b": lock.tag = "a/b"
            case "tag .": lock.tag = "."
            case "workflow ..": lock.workflows[0].name = ".."
            case "workflow a/b": lock.workflows[0].name = "a/b"
            case "workflow .": lock.workflows[0].name = "."
            case "package a/b": lock.python!.packages[0].name = "a/b"
            case "package version newline": lock.python!.packages[0].version = "1.0\n--index-url http://evil"
            case "component 256": lock.models[0].path = "checkpoints/" + String(repeating: "x", count: 256)
            case "model newline": lock.models[0].path = "checkpoints/x\nok checkpoints/forged"
            case "ref option": lock.comfyui.ref = "--upload-pack=x"
            default: lock.python!.packages[0].artifacts[0].filename = "../pkg.whl"
            }
        }
        let errors = LockValidator.errors(lock, level: .safe)
        #expect(errors.contains { $0.path == path && $0.rule == rule }, "\(errors)")
        for error in errors { #expect(!error.message.contains("\n"), "unescaped: \(error.message)") }
        #expect(LockValidator.errors(Self.lock { _ in }, level: .complete).isEmpty)
    }

    @Test("escaping: control, bidi and format characters are shown as escapes, quotes and backslashes escaped")
    func escaping() {
        #expect(Escaping.quoted("a\nb") == #""a\nb""#)
        #expect(Escaping.quoted("\u{1B}[31mred") == #""\u{1B}[31mred""#)
        #expect(Escaping.quoted("x\u{202E}y") == #""x\u{202E}y""#)
        #expect(Escaping.quoted(#"q"\"#) == #""q\"\\""#)
        #expect(Escaping.quoted(String(repeating: "a", count: 300)).count == 203)
    }

    @Test("LockFile.load refuses an invalid lock before returning it, naming every field; .safe allows missing values")
    func loadValidates() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.appending("l.json")
        _ = try LockFile.write(Self.lock { $0.comfyui.url = "--upload-pack=touch x" }, to: url)
        do {
            _ = try LockFile.load(path: url.path, level: .safe)
            Issue.record("accepted a hostile lock")
        } catch {
            #expect(error.isInvalidLock)
            #expect(error.diagnostics.map(\.path) == ["$.comfyui.url"])
            #expect(error.description.contains("$.comfyui.url"))
        }
        _ = try LockFile.write(Self.lock { $0.comfyui.commit = "" }, to: url)
        #expect(throws: LockError.self) { try LockFile.load(path: url.path, level: .complete) }
        #expect(try LockFile.load(path: url.path, level: .safe).comfyui.commit == "")
    }

    @Test("importers reject non-hex commits and option-looking URLs instead of copying them")
    func importerRejects() throws {
        let hex = String(repeating: "a", count: 40)
        let hostile: [String] = [
            #"{"comfyui": "\#(hex)", "git_custom_nodes": {"https://h.example/a/b": {"hash": "-oProxyCommand=x"}}}"#,
            #"{"comfyui": "\#(hex)", "git_custom_nodes": {"--upload-pack=touch m": {"hash": "\#(hex)"}}}"#,
            #"{"comfyui": "\#(hex)", "git_custom_nodes": {"https://h.example/a/b": {"hash": "main"}}}"#,
            #"{"comfyui": "\#(hex)", "git_custom_nodes": {}, "pips": {"x @ git+--upload-pack=y@\#(hex)#egg=x": ""}}"#,
        ]
        for text in hostile {
            #expect(throws: LockError.self, "\(text)") {
                try LockImporter.importLock(Array(text.utf8), format: .manager, tag: "t", createdBy: "test")
            }
        }
        let fine = #"{"comfyui": "\#(hex)", "git_custom_nodes": {"https://h.example/a/b": {"hash": "\#(hex)"}}}"#
        let result = try LockImporter.importLock(Array(fine.utf8), format: .manager, tag: "t", createdBy: "test")
        #expect(result.lock.customNodes.first?.commit == hex)
    }
}
