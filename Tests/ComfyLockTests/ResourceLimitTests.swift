import ComfyCLI
import ComfyLock
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Issue 9 class 4: hostile inputs end in a clear error, fast, in bounded memory — deep YAML, alias bombs, devices,
/// endless standard input, oversized files.
@Suite("Security: bounded input (YAML depth and aliases, sizes, devices)")
struct ResourceLimitTests {
    /// The classic "billion laughs" in YAML, 541 bytes: nine levels of nine aliases each.
    static let aliasBomb: String = {
        var text = "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
        let names = ["b", "c", "d", "e", "f", "g", "h", "i"]
        var previous = "a"
        for name in names {
            text += "\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 9).joined(separator: ",") + "]\n"
            previous = name
        }
        return text
    }()

    static func importManager(_ text: String) throws(LockError) -> ImportResult {
        try LockImporter.importLock(Array(text.utf8), format: .manager, tag: "t", createdBy: "test")
    }

    @Test("a 10 KB YAML nested 5,000 deep (flow and block) is refused before the parser recurses")
    func deepYAML() {
        let flow = "comfyui: " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000) + "\n"
        let block = "comfyui: x\ngit_custom_nodes:\n" + String(repeating: "- ", count: 5000) + "x\n"
        let mapping = "pips: " + String(repeating: "{a: ", count: 2500) + "1" + String(repeating: "}", count: 2500)
        for text in [flow, block, mapping] {
            #expect(text.utf8.count <= 13_000)  // about 10 KB
            do {
                _ = try Self.importManager(text)
                Issue.record("accepted")
            } catch {
                #expect(error.description.contains("nesting deeper than"), "\(error)")
                #expect(error.description.contains("line 1") || error.description.contains("line 3"))
            }
        }
    }

    @Test("anchors and aliases are refused: the 541-byte alias bomb ends in a clear error, nothing expands")
    func aliasBomb() {
        #expect(Self.aliasBomb.utf8.count < 600)
        for text in [
            Self.aliasBomb, "comfyui: &x abc\n", "comfyui: abc\nother: *x\n", "base: &b {a: 1}\nx:\n  <<: *b\n",
        ] {
            do {
                _ = try Self.importManager(text)
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.description.contains("anchors and aliases"), "\(error)")
            }
        }
    }

    @Test("ordinary YAML with & and * inside scalars, quotes, comments and block scalars still imports")
    func ordinaryYAMLStillWorks() throws {
        let hex = String(repeating: "a", count: 40)
        let text = """
            # a comment with &anchor and *alias
            comfyui: \(hex)
            git_custom_nodes:
              https://h.example/a&b/node*x:  # &not-an-anchor
                hash: '\(hex)'
                disabled: false
            pips:
              "torch==2.0 ; platform_system != 'Windows'": ''
              notes==1.0: |
                *literal text
                &also text
            """
        let result = try Self.importManager(text)
        #expect(result.lock.customNodes.count == 1)
        #expect(result.lock.python?.packages.map(\.name).contains("torch") == true)
    }

    @Test("devices, FIFOs and directories are refused without reading; an oversized file is refused at the limit")
    func boundedFiles() throws {
        for path in ["/dev/zero", "/dev/urandom", "/tmp"] {
            #expect(throws: LockError.self) { try BoundedInput.read(path) }
        }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let fifo = dir.appending("fifo").path
        #expect(mkfifo(fifo, 0o600) == 0)
        do {
            _ = try BoundedInput.read(fifo)
            Issue.record("read a FIFO")
        } catch {
            #expect(error.description.contains("not a regular file"), "\(error)")
        }
        let big = dir.appending("big.json")
        try Data(repeating: 0x20, count: 2048).write(to: big)
        do {
            _ = try BoundedInput.read(big.path, limits: InputLimits(maxBytes: 1024))
            Issue.record("read past the limit")
        } catch {
            #expect(error.description.contains("larger than the limit of 1024 bytes"), "\(error)")
        }
        #expect(try BoundedInput.read(big.path, limits: InputLimits(maxBytes: 2048)).count == 2048)
    }

    @Test("comfy-cli: lock validate /dev/zero, endless stdin and --max-input-size end with exit 2 and a clear message")
    func cliBounded() throws {
        let zero = try Subprocess.comfyCLI(["lock", "validate", "/dev/zero"])
        #expect(zero.status == 2)
        #expect(zero.standardError.contains("not a regular file"), "\(zero.standardError)")
        // Endless standard input: `yes` piped in through a shell, capped by the limit.
        let endless = try Subprocess.run(
            "/bin/sh", ["-c", "yes | '\(TestPaths.comfyCLI.path)' lock validate - --max-input-size 1048576"])
        #expect(endless.status == 2)
        #expect(endless.standardError.contains("larger than the limit of 1048576 bytes"), "\(endless.standardError)")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let file = dir.appending("x.json")
        try Data(repeating: 0x20, count: 4096).write(to: file)
        let capped = try Subprocess.comfyCLI([
            "lock", "import", "--from", "manager", file.path, "--max-input-size", "100",
        ])
        #expect(capped.status == 2)
        #expect(capped.standardError.contains("larger than the limit of 100 bytes"), "\(capped.standardError)")
        let deep = dir.appending("deep.yaml")
        try ("comfyui: " + String(repeating: "[", count: 5000)).write(to: deep, atomically: true, encoding: .utf8)
        let refused = try Subprocess.comfyCLI(["lock", "import", "--from", "manager", deep.path])
        #expect(refused.status == 2)
        #expect(refused.standardError.contains("nesting deeper than"), "\(refused.standardError)")
    }
}
