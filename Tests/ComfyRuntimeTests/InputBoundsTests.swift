import ComfyLock
import Foundation
import TestSupport
import Testing

/// Issue 9 class 4, every command: each `comfy-cli` command that reads a user-named file whole reads it through
/// `BoundedInput` — `--max-input-size` caps it (exit 2, a message naming the limit) and a device is refused before a
/// byte is read. The real `comfy-cli`, real files; a closed loopback port stands for ComfyUI (never reached: the file
/// is refused first).
@Suite("Security: every command that reads a file is bounded (--max-input-size, regular files only)")
struct InputBoundsTests {
    /// The files the commands read, each larger than `limit`.
    struct Files {
        let dir: TemporaryDirectory
        let lock: String
        let snapshot: String
        let requirements: String
        let workflow: String
        let manifest: String
        let comfyUI: String
        let versions: String
        let limit = 100

        init() throws {
            dir = try TemporaryDirectory(prefix: "comfylock-bounds")
            let hex = String(repeating: "a", count: 40)
            let lockValue = Lock(
                tag: "bounds", createdBy: "test",
                comfyui: ComfyUIPin(url: "https://git.example.invalid/ComfyUI.git", commit: hex))
            lock = dir.appending("lock.json").path
            _ = try LockFile.write(lockValue, to: URL(fileURLWithPath: lock))
            snapshot = dir.appending("snapshot.json").path
            try Data(
                ("{\"comfyui\": \"\(hex)\", \"git_custom_nodes\": {}, \"pips\": {}}"
                    + String(repeating: " ", count: 200)).utf8
            )
            .write(to: URL(fileURLWithPath: snapshot))
            requirements = dir.appending("requirements.txt").path
            try Data(String(repeating: "requests\n", count: 40).utf8).write(to: URL(fileURLWithPath: requirements))
            workflow = dir.appending("workflow.json").path
            try Data(
                ("{\"1\": {\"class_type\": \"EmptyImage\", \"inputs\": {}}}" + String(repeating: " ", count: 300)).utf8
            ).write(to: URL(fileURLWithPath: workflow))
            manifest = dir.appending("manifest.json").path
            try Data(("{}" + String(repeating: " ", count: 300)).utf8).write(to: URL(fileURLWithPath: manifest))
            comfyUI = dir.appending("ComfyUI").path
            try FileManager.default.createDirectory(atPath: comfyUI, withIntermediateDirectories: true)
            // A version directory `status` accepts (its lock file exists).
            versions = dir.appending("versions").path
            try FileManager.default.createDirectory(atPath: versions + "/v1", withIntermediateDirectories: true)
            _ = try LockFile.write(lockValue, to: URL(fileURLWithPath: versions + "/v1/comfylock.lock.json"))
        }
    }

    /// Every command that reads a user-named file: (name, arguments with `FILE` where the file under test goes, the
    /// file that goes there).
    static func commands(_ f: Files, closedURL: String) -> [(String, [String], String)] {
        let wheels = f.dir.appending("wheels").path
        return [
            ("lock validate", ["lock", "validate", "FILE"], f.lock),
            ("lock digest", ["lock", "digest", "FILE"], f.lock),
            ("lock diff", ["lock", "diff", "FILE", "FILE"], f.lock),
            ("lock fmt", ["lock", "fmt", "FILE"], f.lock),
            ("lock canonicalize", ["lock", "canonicalize", "FILE"], f.lock),
            ("lock import", ["lock", "import", "--from", "manager", "FILE"], f.snapshot),
            ("lock export", ["lock", "export", "--to", "manager", "FILE"], f.lock),
            (
                "lock create --previous",
                ["lock", "create", "--comfyui", f.comfyUI, "--tag", "t", "--previous", "FILE"], f.lock
            ),
            (
                "lock create --models-manifest",
                ["lock", "create", "--comfyui", f.comfyUI, "--tag", "t", "--models-manifest", "FILE"], f.manifest
            ),
            (
                "models add",
                [
                    "models", "add", closedURL + "/m.safetensors", "--lock", "FILE", "--path",
                    "checkpoints/m.safetensors",
                ],
                f.lock
            ),
            (
                "models verify", ["models", "verify", "--lock", "FILE", "--root", f.dir.appending("models").path],
                f.lock
            ),
            ("pin FILE", ["pin", "FILE"], f.requirements),
            ("pin --lock", ["pin", "--lock", "FILE"], f.lock),
            ("pin wheelhouse", ["pin", "wheelhouse", "--lock", "FILE", wheels], f.lock),
            ("version create", ["version", "create", "v2", "--lock", "FILE", "--root", f.versions], f.lock),
            ("version status --lock", ["version", "status", "v1", "--lock", "FILE", "--root", f.versions], f.lock),
            ("run --workflow", ["run", "--workflow", "FILE", "--comfyui-url", closedURL], f.workflow),
            (
                "repro record --lock",
                ["repro", "record", "--lock", "FILE", "--workflow", f.workflow, "--comfyui-url", closedURL], f.lock
            ),
            ("repro check --lock", ["repro", "check", "--lock", "FILE", "--comfyui-url", closedURL], f.lock),
        ]
    }

    @Test("--max-input-size caps the file every reading command reads: exit 2 naming the limit, nothing else done")
    func maxInputSizeEverywhere() throws {
        let files = try Files()
        defer { files.dir.remove() }
        let port = try LoopbackPort.refusing()
        let closed = "http://127.0.0.1:\(port.port)"
        for (name, template, file) in Self.commands(files, closedURL: closed) {
            let arguments = template.map { $0 == "FILE" ? file : $0 } + ["--max-input-size", "\(files.limit)"]
            let result = try Subprocess.comfyCLI(arguments, environment: environment(files))
            #expect(result.status == 2, "\(name): \(result.status) \(result.standardError)")
            #expect(
                result.standardError.contains("larger than the limit of \(files.limit) bytes"),
                "\(name): \(result.standardError)")
        }
        // Nothing else happened: the files are untouched, no store, no wheelhouse, no new version.
        let lockBytes = try Data(contentsOf: URL(fileURLWithPath: files.lock))
        #expect(lockBytes == Data(LockFile.encode(try LockFile.decode(Array(lockBytes)))))
        #expect(try Data(contentsOf: URL(fileURLWithPath: files.lock)).count > files.limit)
        for path in ["store", "wheels", "versions/v2", "models"] {
            #expect(!FileManager.default.fileExists(atPath: files.dir.appending(path).path), "\(path)")
        }
    }

    @Test("a device given as the file is refused before a byte is read (not a regular file), exit 2")
    func devicesEverywhere() throws {
        let files = try Files()
        defer { files.dir.remove() }
        let port = try LoopbackPort.refusing()
        let closed = "http://127.0.0.1:\(port.port)"
        var cases = Self.commands(files, closedURL: closed)
        cases.append(
            (
                "repro record --workflow",
                ["repro", "record", "--lock", files.lock, "--workflow", "FILE", "--comfyui-url", closed], ""
            ))
        cases.append(("pin --with-requirements", ["pin", "--lock", files.lock, "--with-requirements", "FILE"], ""))
        for (name, template, _) in cases {
            let arguments = template.map { $0 == "FILE" ? "/dev/zero" : $0 }
            let result = try Subprocess.comfyCLI(arguments, environment: environment(files))
            #expect(result.status == 2, "\(name): \(result.status) \(result.standardError)")
            #expect(result.standardError.contains("not a regular file"), "\(name): \(result.standardError)")
        }
    }

    @Test("the shared option is documented with its default on every reading command's help")
    func helpDocumentsTheDefault() throws {
        let files = try Files()
        defer { files.dir.remove() }
        var seen = Set<String>()
        for (name, template, _) in Self.commands(files, closedURL: "http://127.0.0.1:9") {
            var words = Array(
                template.prefix { !$0.hasPrefix("-") && $0 != "FILE" && !$0.hasPrefix("/") && !$0.hasPrefix("http") })
            if words == ["pin"] { words.append("resolve") }  // `pin FILE` runs the default subcommand
            guard seen.insert(words.joined(separator: " ")).inserted else { continue }
            let help = try Subprocess.comfyCLI(words + ["--help"])
            let text = help.standardOutput.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            #expect(text.contains("--max-input-size"), "\(name)")
            #expect(text.contains("(default 64 MiB)"), "\(name): \(text)")
        }
    }

    private func environment(_ files: Files) -> [String: String] {
        [
            "COMFYLOCK_STORE": files.dir.appending("store").path, "HOME": files.dir.appending("home").path,
            "COMFYLOCK_VERSIONS": files.versions,
        ]
    }
}
