import ComfyCLI
import ComfyLock
import Foundation
import TestSupport
import Testing

/// The `comfy-cli lock` contract, run in-process (and through the real executable where stdin matters).
@Suite("comfy-cli lock commands")
struct LockCLITests {
    func cli(_ arguments: [String]) async -> CLIRun { await InProcessCLI.run(arguments) }

    func write(_ text: String, _ name: String, in dir: TemporaryDirectory) throws -> String {
        let url = dir.appending(name)
        try Data(text.utf8).write(to: url)
        return url.path
    }

    @Test("canonicalize prints RFC 8785 without a newline; invalid JSON gives line:column on stderr and exit 1")
    func canonicalize() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let good = try write("{\"b\": [1.0, 1e21, -0], \"a\": \"\\u00e9\"}\n", "good.json", in: dir)
        let ok = await cli(["lock", "canonicalize", good])
        #expect(ok.code == 0)
        #expect(ok.out == #"{"a":"é","b":[1,1e+21,0]}"#)
        let bad = try write("{\n  \"a\": 1,\n  \"a\": 2\n}", "bad.json", in: dir)
        let failed = await cli(["lock", "canonicalize", bad])
        #expect(failed.code == 1)
        #expect(failed.out.isEmpty)
        #expect(failed.err.contains("bad.json:3:3:"))
        #expect(failed.err.contains("duplicate"))
        let missing = await cli(["lock", "canonicalize", dir.appending("nope.json").path])
        #expect(missing.code == 2)
        #expect(missing.err.contains("nope.json"))
    }

    @Test("canonicalize reads standard input in the real executable")
    func canonicalizeStdin() throws {
        let result = try Subprocess.comfyCLI(["lock", "canonicalize"], input: Data(#"{"z":0.1,"y":[true,null]}"#.utf8))
        #expect(result.status == 0)
        #expect(result.standardOutput == #"{"y":[true,null],"z":0.1}"#)
        let invalid = try Subprocess.comfyCLI(["lock", "canonicalize", "-"], input: Data("[1,]".utf8))
        #expect(invalid.status == 1)
        #expect(invalid.standardError.contains("<stdin>:1:4:"))
    }

    @Test("10,000 levels: refused by default with a clean error, canonicalized with --max-depth 10000")
    func deepNesting() throws {
        let deep = Data((String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)).utf8)
        let refused = try Subprocess.comfyCLI(["lock", "canonicalize"], input: deep)
        #expect(refused.status == 1)
        #expect(refused.standardError.contains("nesting deeper than 512 levels"))
        let accepted = try Subprocess.comfyCLI(["lock", "canonicalize", "--max-depth", "10000"], input: deep)
        #expect(accepted.status == 0, "\(accepted.standardError)")
        #expect(accepted.standardOutput.utf8.count == deep.count)
        #expect(accepted.standardOutput == String(decoding: deep, as: UTF8.self), "output differs from the input")
    }

    @Test("validate: exit 0 with warnings, exit 1 with errors naming path and rule, --json report")
    func validate() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.appending("good.lock.json")
        try LockFile.write(Fixtures.fullLock(), to: url)
        let ok = await cli(["lock", "validate", url.path])
        #expect(ok.code == 0, "\(ok.err)")
        #expect(ok.out.contains("valid lock"))
        let okJSON = await cli(["lock", "validate", url.path, "--json"])
        let okReport = try #require(try JSONParser.parse(okJSON.out).objectValue)
        #expect(okReport["digest"] == .string(LockFile.digest(Fixtures.fullLock())))
        var broken = Fixtures.fullLock()
        broken.models[0].sources = ["https://u:hunter2@example.com/m.safetensors"]
        let badURL = dir.appending("bad.lock.json")
        try LockFile.write(broken, to: badURL)
        let failed = await cli(["lock", "validate", badURL.path])
        #expect(failed.code == 1)
        #expect(failed.err.contains("[url-credentials]"))
        #expect(!failed.err.contains("hunter2") && !failed.out.contains("hunter2"))
        let json = await cli(["lock", "validate", badURL.path, "--json"])
        #expect(json.code == 1)
        let report = try #require(try JSONParser.parse(json.out).objectValue)
        #expect(report["valid"] == false)
        let first = try #require(report["diagnostics"]?.arrayValue?.first?.objectValue)
        #expect(first["rule"] == "url-credentials")
        #expect(first["path"]?.stringValue?.hasPrefix("$.models[") == true)
        let notJSON = try write("{\"schemaVersion\": 1,,}", "x.lock.json", in: dir)
        let parse = await cli(["lock", "validate", notJSON, "--json"])
        #expect(parse.code == 1)
        #expect(parse.out.contains("json-syntax") && parse.out.contains("line 1, column 21"))
        let absent = await cli(["lock", "validate", dir.appending("absent").path])
        #expect(absent.code == 2)
    }

    @Test("fmt rewrites a non-canonical lock once, then is a no-op")
    func fmt() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let pretty = try JSONSerialization.data(
            withJSONObject: try JSONSerialization.jsonObject(with: Data(LockFile.encode(Fixtures.fullLock()))),
            options: [.prettyPrinted])
        let url = dir.appending("a.lock.json")
        try pretty.write(to: url)
        let check = await cli(["lock", "fmt", "--check", url.path])
        #expect(check.code == 1)
        let first = await cli(["lock", "fmt", url.path])
        #expect(first.code == 0 && first.out.contains("rewritten"))
        #expect(Array(try Data(contentsOf: url)) == LockFile.encode(Fixtures.fullLock()))
        let modified = try FileManager.default.attributesOfItem(atPath: url.path)[.modificationDate] as? Date
        let second = await cli(["lock", "fmt", url.path, "--json"])
        #expect(second.code == 0 && second.out.contains("\"rewritten\" : false"))
        #expect(try FileManager.default.attributesOfItem(atPath: url.path)[.modificationDate] as? Date == modified)
        #expect(await cli(["lock", "fmt", "--check", url.path]).code == 0)
    }

    @Test("digest prints the SHA-256 of the canonical bytes")
    func digest() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.appending("a.lock.json")
        try LockFile.write(Fixtures.fullLock(), to: url)
        let run = await cli(["lock", "digest", url.path])
        #expect(run.code == 0)
        #expect(run.out == LockFile.digest(Fixtures.fullLock()) + "\n")
        let json = await cli(["lock", "digest", url.path, "--json"])
        #expect(json.out.contains(LockFile.digest(Fixtures.fullLock())))
    }

    @Test("diff exits 0 when equal, 1 when different (human and --json), 2 on error")
    func diff() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let a = dir.appending("a.lock.json")
        let b = dir.appending("b.lock.json")
        try LockFile.write(Fixtures.fullLock(), to: a)
        try LockFile.write(Fixtures.fullLock(), to: b)
        #expect(await cli(["lock", "diff", a.path, b.path]).code == 0)
        var changed = Fixtures.fullLock()
        changed.customNodes[1].commit = Fixtures.commitB
        try LockFile.write(changed, to: b)
        let human = await cli(["lock", "diff", a.path, b.path])
        #expect(human.code == 1)
        #expect(
            human.out.contains("~ customNodes ComfyUI-Impact-Pack: commit: \(Fixtures.commitA) → \(Fixtures.commitB)"))
        let json = await cli(["lock", "diff", a.path, b.path, "--json"])
        #expect(json.code == 1)
        let report = try #require(try JSONParser.parse(json.out).objectValue)
        #expect(report["equal"] == false)
        #expect(report["entries"]?.arrayValue?.count == 1)
        #expect(await cli(["lock", "diff", a.path, dir.appending("missing").path]).code == 2)
    }

    @Test("import writes a lock and reports what is missing; export writes a Manager snapshot")
    func importExport() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let source = Fixtures.imports.appendingPathComponent("manager-snapshot.yaml").path
        let out = dir.appending("imported.lock.json")
        let run = await cli(["lock", "import", "--from", "manager", source, "-o", out.path])
        #expect(run.code == 0, "\(run.err)")
        #expect(run.out.contains("missing (7)"))
        let lock = try LockFile.read(from: out)
        #expect(lock.tag == "manager-snapshot")
        #expect(await cli(["lock", "validate", out.path]).code == 1)
        let toStdout = await cli([
            "lock", "import", "--from", "comfy-cli",
            Fixtures.imports.appendingPathComponent("comfy-cli-definition.json").path, "--tag", "x",
        ])
        #expect(toStdout.code == 0)
        #expect(try LockFile.decode(Array(toStdout.out.utf8)).tag == "x")
        #expect(toStdout.err.contains("missing"))
        let json = await cli([
            "lock", "import", "--from", "comfy-pack",
            Fixtures.imports.appendingPathComponent("comfy-pack-snapshot.json").path, "--json",
        ])
        let report = try #require(try JSONParser.parse(json.out).objectValue)
        #expect(report["complete"] == false)
        #expect(try LockFile.decode(try #require(report["lock"])).models.count == 3)
        let exported = dir.appending("snapshot.json")
        let export = await cli(["lock", "export", "--to", "manager", out.path, "-o", exported.path])
        #expect(export.code == 0)
        let snapshot = try JSONParser().parse(Array(try Data(contentsOf: exported)))
        #expect(snapshot["comfyui"] == "f2bd1d2ba4f2ff4ded1e19d6b2d2c2a9fbc67a33")
        // A usage error (unknown format) fails before running; ArgumentParser's usage exit code is non-zero.
        let usage = await cli(["lock", "import", "--from", "svn", source])
        #expect(usage.code != 0)
        #expect(usage.err.contains("svn"))
    }

    @Test("the lock group lists its subcommands, including create")
    func help() async {
        let run = await cli(["lock", "--help"])
        #expect(run.code == 0)
        for name in ["create", "canonicalize", "validate", "fmt", "digest", "diff", "import", "export"] {
            #expect(run.out.contains("  \(name) "), "missing \(name)")
        }
    }
}
