import Foundation
import TestSupport
import Testing

/// Issue 9 class 5, output side: hostile strings — in a lock field, a node name, a workflow node id, a server's
/// error body — are printed escaped by every command that shows them (`Escaping.quoted`/`escaped`), so they can
/// neither forge output lines nor drive the terminal. The real `comfy-cli`, a real loopback server and the ComfyUI
/// stand-in; the check is on the bytes each command wrote to stdout and stderr.
@Suite("Security: hostile strings are printed escaped (lock fields, node names, workflow ids, server text)")
struct HostileOutputTests {
    /// A newline that would forge a line, an ANSI colour and a screen clear, a BEL, a carriage return.
    static let hostile = "x\n\u{1B}[31mFORGED\u{07}\r\u{1B}[2JZ"

    /// Fails for any control character other than newline and tab, and for a line starting with the forged text.
    static func expectClean(_ text: String, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let bad = text.unicodeScalars.filter {
            ($0.value < 0x20 && $0 != "\n" && $0 != "\t") || (0x7F...0x9F).contains($0.value)
        }
        #expect(
            bad.isEmpty, "\(what): raw control characters \(bad.map { String($0.value, radix: 16) })",
            sourceLocation: sourceLocation)
        let forged = text.split(separator: "\n").filter { $0.hasPrefix("FORGED") || $0.hasPrefix("\u{1B}[31mFORGED") }
        #expect(forged.isEmpty, "\(what): forged line \(forged)", sourceLocation: sourceLocation)
    }

    static func writeJSON(_ value: Any, to path: String) throws {
        try JSONSerialization.data(withJSONObject: value, options: [.sortedKeys]).write(to: URL(fileURLWithPath: path))
    }

    static func lock(tag: String, node: String, package: String) -> [String: Any] {
        let hex = String(repeating: "a", count: 40)
        return [
            "schemaVersion": 1, "tag": tag, "createdBy": tag,
            "comfyui": ["url": "https://git.example.invalid/ComfyUI.git", "commit": hex],
            "customNodes": [
                [
                    "name": node, "kind": "git", "url": "https://git.example.invalid/\(node).git", "commit": hex,
                    "enabled": true,
                ]
            ],
            "python": [
                "version": "3.11", "platform": "linux_x86_64", "indexUrls": [],
                "packages": [["name": package, "version": tag, "artifacts": []]],
            ],
            "models": [], "workflows": [],
        ]
    }

    @Test("lock fields: lock diff, lock validate and lock export print a hostile tag, node and package name escaped")
    func lockFields() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let a = dir.appending("a.json").path
        let b = dir.appending("b.json").path
        try Self.writeJSON(Self.lock(tag: "t", node: "n", package: "p"), to: a)
        try Self.writeJSON(Self.lock(tag: Self.hostile, node: Self.hostile, package: Self.hostile), to: b)
        for arguments in [["lock", "diff", a, b], ["lock", "validate", b], ["lock", "export", "--to", "manager", b]] {
            let result = try Subprocess.comfyCLI(arguments)
            #expect(result.status != 0 || arguments[1] == "export", "\(arguments)")
            Self.expectClean(result.standardOutput, "\(arguments) stdout")
            Self.expectClean(result.standardError, "\(arguments) stderr")
        }
        // The diff still names what changed (escaped, not dropped).
        let diff = try Subprocess.comfyCLI(["lock", "diff", a, b])
        #expect(diff.standardOutput.contains("FORGED"), "\(diff.standardOutput)")
    }

    @Test("a server's error body with control characters is printed escaped (models fetch)")
    func serverErrorBody() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let server = try LoopbackHTTPServer(root: dir.url)
        defer { server.stop() }
        try server.inject(.status(500, body: "denied: " + Self.hostile + "\n", times: 10), path: "/m.bin")
        let sha = String(repeating: "b", count: 64)
        let result = try Subprocess.comfyCLI(
            [
                "models", "fetch", server.url("/m.bin").absoluteString, "--sha256", sha, "-o",
                dir.appending("m.bin").path,
            ],
            environment: ["COMFYLOCK_STORE": dir.appending("store").path, "HOME": dir.appending("home").path])
        #expect(result.status != 0)
        #expect(result.standardError.contains("FORGED"), "the body excerpt is shown: \(result.standardError)")
        Self.expectClean(result.standardOutput, "models fetch stdout")
        Self.expectClean(result.standardError, "models fetch stderr")
    }

    @Test("workflow node ids, class types and server-made file names are printed escaped by run (text mode)")
    func workflowStrings() throws {
        let standIn = try ComfyUIStandIn.start()
        defer { standIn.stop() }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let ok = dir.appending("ok.json").path
        try Self.writeJSON(
            [
                "1": ["class_type": "EmptyImage", "inputs": ["width": 8, "height": 8, "batch_size": 1, "color": 0]],
                "9" + Self.hostile: [
                    "class_type": "SaveImage", "inputs": ["images": ["1", 0], "filename_prefix": "p"],
                ],
            ], to: ok)
        // A server-made output name with control characters: refused (exit 2), the name shown escaped.
        let unsafe = dir.appending("unsafe.json").path
        try Self.writeJSON(
            [
                "1": ["class_type": "EmptyImage", "inputs": ["width": 8, "height": 8, "batch_size": 1, "color": 0]],
                "9": [
                    "class_type": "SaveImage", "inputs": ["images": ["1", 0], "filename_prefix": "p" + Self.hostile],
                ],
            ], to: unsafe)
        let bad = dir.appending("bad.json").path
        try Self.writeJSON(
            [
                "1": ["class_type": "EmptyImage", "inputs": ["width": 8, "height": 8, "batch_size": 1, "color": 0]],
                "2" + Self.hostile: ["class_type": "SaveImage", "inputs": ["images": ["1" + Self.hostile, 0]]],
                "3": ["class_type": "Nope" + Self.hostile, "inputs": [:]],
            ], to: bad)
        for (name, path) in [("ok", ok), ("bad", bad), ("unsafe", unsafe)] {
            let result = try Subprocess.comfyCLI(
                ["run", "--workflow", path, "--comfyui-url", standIn.baseURL.absoluteString])
            if name == "ok" {
                #expect(result.status == 0, "\(result.standardError)")
            } else {
                #expect(result.status != 0)
            }
            Self.expectClean(result.standardOutput, "run \(name) stdout")
            Self.expectClean(result.standardError, "run \(name) stderr")
        }
    }
}
