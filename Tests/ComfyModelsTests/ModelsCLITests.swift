import ComfyCLI
import ComfyCrypto
import ComfyLock
import ComfyModels
import ComfyTransport
import Foundation
import TestSupport
import Testing

/// Runs `comfy-cli` in-process (TestSupport's runner).
func runCLI(_ arguments: [String]) async -> CLIRun { await InProcessCLI.run(arguments) }

func writeLock(_ models: [ModelEntry], to url: URL) throws {
    let lock = Lock(
        tag: "test", createdBy: "comfylock test",
        comfyui: ComfyUIPin(
            url: "https://github.com/comfyanonymous/ComfyUI", commit: String(repeating: "a", count: 40)),
        models: models)
    _ = try LockFile.write(lock, to: url)
}

@Suite("comfy-cli models")
struct ModelsCLITests {
    @Test("models hash prints exactly what sha256sum prints, in argument order")
    func hashMatchesSha256sum() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var paths: [String] = []
        for (i, size) in [0, 1, 70_000, 5_000_001].enumerated() {
            let url = dir.appending("file \(i).bin")
            try Data(ServedFile.pattern(size: size, seed: UInt64(i))).write(to: url)
            paths.append(url.path)
        }
        let ours = await runCLI(["models", "hash", "--jobs", "3"] + paths)
        #expect(ours.code == 0)
        let reference = try Subprocess.run("/usr/bin/sha256sum", paths)
        #expect(ours.out == reference.standardOutput)

        let json = await runCLI(["models", "hash", "--json", paths[2]])
        let decoded = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [[String: Any]])
        #expect(decoded.first?["sha256"] as? String == SHA256.hash(ServedFile.pattern(size: 70_000, seed: 2)).hex)
        #expect((decoded.first?["size"] as? NSNumber)?.intValue == 70_000)

        let missing = await runCLI(["models", "hash", paths[0], dir.appending("nope").path])
        #expect(missing.code == 2)
        #expect(missing.err.contains("nope"))
        #expect(missing.out.hasPrefix(SHA256.hash([UInt8]()).hex))
    }

    @Test("models verify reports per model and exits 1; --fix restores and exits 0; --json is complete")
    func verifyAndFix() async throws {
        let f = try StoreFixture()
        let root = f.file.dir.appending("models")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let lockURL = f.file.dir.appending("comfy.lock.json")
        let entry = ModelEntry(path: "checkpoints/m.safetensors", size: f.size, sha256: f.sha256, sources: [f.source])
        try writeLock([entry], to: lockURL)
        let common = ["--lock", lockURL.path, "--root", root.path, "--store", f.store.root.path]

        let first = await runCLI(["models", "verify"] + common)
        #expect(first.code == 1)
        #expect(first.out.contains("missing       checkpoints/m.safetensors"))
        #expect(first.out.contains("1 model: 0 ok, 1 missing"))

        let fixed = await runCLI(["models", "verify", "--fix"] + common)
        #expect(fixed.code == 0, "\(fixed.out)\(fixed.err)")
        #expect(fixed.out.contains("restored from \(f.source)"))
        #expect(fixed.err.contains("downloading checkpoints/m.safetensors"))

        let json = await runCLI(["models", "verify", "--json", "--deep"] + common)
        #expect(json.code == 0)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any])
        #expect(report["ok"] as? Bool == true)
        let models = try #require(report["models"] as? [[String: Any]])
        #expect(models.first?["status"] as? String == "ok")
        #expect(models.first?["actualSHA256"] as? String == f.sha256)

        // A wrong size is reported as size-mismatch.
        let target = root.appendingPathComponent(entry.path)
        try FileManager.default.removeItem(at: target)
        try Data("short".utf8).write(to: target)
        let wrong = await runCLI(["models", "verify", "--json"] + common)
        #expect(wrong.code == 1)
        #expect(wrong.out.contains("\"size-mismatch\""))
    }

    @Test("models fetch downloads, verifies and places one file; a wrong hash fails and places nothing")
    func fetchOne() async throws {
        let f = try StoreFixture()
        let out = f.file.dir.appending("out/model.bin")
        let ok = await runCLI([
            "models", "fetch", f.source, "--sha256", f.sha256, "--size", "\(f.size)", "-o", out.path,
            "--store", f.store.root.path, "--json",
        ])
        #expect(ok.code == 0, "\(ok.err)")
        #expect(Array(try Data(contentsOf: out)) == f.file.bytes)
        let report = try #require(try JSONSerialization.jsonObject(with: Data(ok.out.utf8)) as? [String: Any])
        #expect(report["source"] as? String == f.source)

        let other = f.file.dir.appending("out/other.bin")
        let bad = await runCLI([
            "models", "fetch", f.source, "--sha256", String(repeating: "ab", count: 32), "-o", other.path,
            "--store", f.store.root.path,
        ])
        #expect(bad.code == 2)
        #expect(bad.err.contains("sha256 mismatch"))
        #expect(!FileManager.default.fileExists(atPath: other.path))

        let usage = await runCLI(["models", "fetch", f.source, "--sha256", "xyz", "-o", other.path])
        #expect(usage.code != 0)
    }

    @Test("four processes fetching the same blob at once download it once")
    func fourProcessesOneDownload() async throws {
        let f = try StoreFixture(size: 600_000)
        try f.file.server.inject(.slow(bytesPerSecond: 600_000), path: f.file.path)
        let results = try await withThrowingTaskGroup(of: SubprocessResult.self) { group in
            for i in 0..<4 {
                let out = f.file.dir.appending("p\(i)/model.bin").path
                let args = [
                    "models", "fetch", f.source, "--sha256", f.sha256, "-o", out, "--store", f.store.root.path,
                ]
                group.addTask { try Subprocess.comfyCLI(args) }
            }
            var all: [SubprocessResult] = []
            for try await result in group { all.append(result) }
            return all
        }
        for result in results { #expect(result.status == 0, "\(result.standardError)") }
        #expect(try f.gets().count == 1)
        for i in 0..<4 {
            #expect(Array(try Data(contentsOf: f.file.dir.appending("p\(i)/model.bin"))) == f.file.bytes)
        }
    }

    @Test("models add downloads, hashes and records the entry; verify --fix then places it")
    func addRecordsEntry() async throws {
        let f = try StoreFixture()
        let lockURL = f.file.dir.appending("comfy.lock.json")
        try writeLock([], to: lockURL)
        let added = await runCLI([
            "models", "add", f.source, "--lock", lockURL.path, "--path", "checkpoints/new.safetensors",
            "--store", f.store.root.path,
        ])
        #expect(added.code == 0, "\(added.err)")
        #expect(added.out.contains("added checkpoints/new.safetensors"))
        let lock = try LockFile.read(from: lockURL)
        #expect(
            lock.models == [
                ModelEntry(path: "checkpoints/new.safetensors", size: f.size, sha256: f.sha256, sources: [f.source])
            ])
        #expect(Array(try Data(contentsOf: lockURL)) == LockFile.encode(lock))

        let root = f.file.dir.appending("models")
        let verify = await runCLI([
            "models", "verify", "--fix", "--lock", lockURL.path, "--root", root.path, "--store", f.store.root.path,
        ])
        #expect(verify.code == 0)
        #expect(verify.out.contains("restored from store"))

        let withCredentials = await runCLI([
            "models", "add", "http://user:pw@127.0.0.1:1/x", "--lock", lockURL.path, "--path", "a/b.bin",
        ])
        #expect(withCredentials.code != 0)
        #expect(withCredentials.err.contains("credentials"))
        #expect(!withCredentials.err.contains("pw"))
    }

    @Test("tokens never appear in any output, log, lock or store file")
    func tokensNeverPrinted() async throws {
        let f = try StoreFixture()
        let token = "sekrit-\(UUID().uuidString)"
        let env = [
            HostCredentials.variableName(scheme: "http", host: "127.0.0.1", port: f.file.server.url("/").port!): token,
            "HF_TOKEN": token + "-hf", "CIVITAI_API_TOKEN": token + "-cv",
            "COMFYLOCK_STORE": f.store.root.path,
        ]
        let lockURL = f.file.dir.appending("comfy.lock.json")
        try writeLock([], to: lockURL)
        let root = f.file.dir.appending("models")
        try f.file.server.inject(.closeAt(1000), path: f.file.path)
        let crossHost = f.file.server.url(
            "/_redirect?to=\(f.file.server.url("/gone.bin", alternateHost: true).absoluteString)")
        var outputs: [SubprocessResult] = []
        outputs.append(
            try Subprocess.comfyCLI(
                ["models", "add", f.source, "--lock", lockURL.path, "--path", "c/x.bin"], environment: env))
        outputs.append(
            try Subprocess.comfyCLI(
                [
                    "models", "fetch", f.file.server.url("/gone.bin").absoluteString, "--sha256",
                    String(repeating: "2", count: 64), "-o", root.appendingPathComponent("y").path,
                ], environment: env))
        outputs.append(
            try Subprocess.comfyCLI(
                [
                    "models", "fetch", crossHost.absoluteString, "--sha256", String(repeating: "1", count: 64), "-o",
                    root.appendingPathComponent("z").path, "--json",
                ], environment: env))
        outputs.append(
            try Subprocess.comfyCLI(
                ["models", "verify", "--fix", "--json", "--lock", lockURL.path, "--root", root.path], environment: env))
        outputs.append(
            try Subprocess.comfyCLI(
                ["models", "verify", "--lock", lockURL.path, "--root", root.path], environment: env))
        #expect(outputs[0].status == 0, "\(outputs[0].standardError)")
        #expect(outputs[1].status == 2)
        #expect(outputs[3].status == 0)
        for output in outputs {
            #expect(!output.standardOutput.contains(token), "\(output.standardOutput)")
            #expect(!output.standardError.contains(token), "\(output.standardError)")
        }
        // The token was really used (so the test can fail): the server saw it on 127.0.0.1, never on localhost.
        let log = try f.file.server.requests()
        #expect(log.contains { $0.headers["authorization"] == "Bearer \(token)" })
        #expect(!log.contains { $0.host.hasPrefix("localhost") && $0.headers["authorization"] != nil })
        // Nothing written to disk holds it either.
        let files = FileManager.default.enumerator(atPath: f.file.dir.path)!.compactMap { $0 as? String }
        for name in files {
            let path = f.file.dir.appending(name).path
            guard let data = FileManager.default.contents(atPath: path), data.count < 2_000_000 else { continue }
            #expect(data.range(of: Data(token.utf8)) == nil, "token found in \(name)")
        }
    }

    @Test("the models group lists its commands")
    func help() async {
        let help = await runCLI(["models", "--help"])
        for command in ["hash", "verify", "fetch", "add"] { #expect(help.out.contains("  \(command) ")) }
    }
}
