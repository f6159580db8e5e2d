import ComfyCrypto
import ComfyLock
import ComfyModels
import ComfyRuntime
import Foundation
import Logging
import TestSupport
import Testing

@testable import ComfyHandler

#if canImport(Glibc)
    import Glibc
#endif

/// Start-up over a real version built from a fixture lock: the lock is validated before any side effect, missing
/// models are fetched into the volume's store, `--on-drift repair|warn|fail` do what they say, and a class no loaded
/// node provides names the locked node that failed to import.
@Suite(.serialized) struct WorkerVersionStartupTests {
    static let logger = Logger(label: "t")

    static func completed(_ outcome: JobOutcome) -> JobOutput? {
        if case .completed(let output) = outcome { return output }
        return nil
    }

    // MARK: - Lock loading

    /// A lock whose URLs and commit would run commands if they reached git, and whose model path and source point
    /// outside the version.
    static func hostileLock(marker: String) -> Lock {
        Lock(
            tag: "hostile", createdBy: "attacker",
            comfyui: ComfyUIPin(url: "ext::sh -c touch% \(marker)", commit: "--output=\(marker)"),
            customNodes: [
                CustomNode(name: "../escape", kind: .git, url: "--upload-pack=touch \(marker)", commit: "HEAD")
            ],
            models: [ModelEntry(path: "../../outside.bin", size: 1, sha256: "0", sources: ["file:///etc/shadow"])])
    }

    @Test func hostileLockIsRefusedBeforeAnySideEffect() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let marker = dir.appending("MARKER").path
        let lockURL = dir.appending("hostile.lock.json")
        _ = try LockFile.write(Self.hostileLock(marker: marker), to: lockURL)
        let volume = dir.appending("volume")
        try FileManager.default.createDirectory(at: volume, withIntermediateDirectories: true)
        let store = dir.appending("store")
        let version = dir.appending("versions/v1")

        // In-process: a start-up error naming the refused fields.
        var options = WorkerOptions(lockPath: lockURL.path, versionDirectory: version.path, onDrift: .repair)
        options.volume = WorkerVolume(mountPoint: volume.path)
        options.store = store.path
        options.fetchModels = .always
        do {
            _ = try await WorkerStartup.prepare(options, logger: Self.logger)
            Issue.record("a hostile lock was accepted")
        } catch let error as StartupError {
            #expect(error.message.contains("$.comfyui.url"), "\(error)")
            #expect(error.message.contains("$.customNodes[0].url"), "\(error)")
            #expect(error.message.contains("7 errors"), "\(error)")
        }

        // The real binary, every mode's start-up path: exit 2, and nothing was written, fetched or run.
        let job = #"{"input": {"workflow": {"1": {"class_type": "EmptyImage", "inputs": {}}}}}"#
        let common = [
            "--lock", lockURL.path, "--version-dir", version.path, "--on-drift", "repair", "--volume", volume.path,
            "--store", store.path, "--fetch-models", "always",
        ]
        let local = try Subprocess.run(HandlerEndToEndTests.handler, common + ["--test-input", job])
        #expect(local.status == 2, "\(local.standardError)")
        #expect(local.standardError.contains("$.comfyui.url"), "\(local.standardError)")
        #expect(local.standardOutput.isEmpty)
        let serve = try Subprocess.run(HandlerEndToEndTests.handler, ["serve", "--port", "0"] + common)
        #expect(serve.status == 2, "\(serve.standardError)")

        // The hostile lock as the version's own lock (no --lock): refused the same way.
        try FileManager.default.createDirectory(at: version, withIntermediateDirectories: true)
        _ = try LockFile.write(Self.hostileLock(marker: marker), to: VersionLayout(directory: version).lockFile)
        let own = try Subprocess.run(
            HandlerEndToEndTests.handler,
            ["--version-dir", version.path, "--on-drift", "repair", "--volume", volume.path, "--test-input", job])
        #expect(own.status == 2, "\(own.standardError)")
        #expect(own.standardError.contains("the version's lock"), "\(own.standardError)")

        #expect(!FileManager.default.fileExists(atPath: marker), "a command from the lock ran")
        #expect(!FileManager.default.fileExists(atPath: store.path), "the store was created")
        #expect(try FileManager.default.contentsOfDirectory(atPath: volume.path).isEmpty, "the volume was written")
        #expect(try FileManager.default.contentsOfDirectory(atPath: version.path) == ["comfylock.lock.json"])
        #expect(!FileManager.default.fileExists(atPath: dir.appending("outside.bin").path))
    }

    // MARK: - The drift policy

    @Test func repairRestoresACorruptedModelAndAnEditedNodeFileThenServes() async throws {
        let fixture = try HandlerVersionFixture()
        let version = try await fixture.build()
        let clean = try await VersionInspector(store: fixture.modelStore, python: nil).digest(directory: version)
        // Corrupt a model in place (it is a hard link to the store blob, so the blob is corrupt too) and edit a
        // tracked file of the custom node.
        let model = fixture.modelFile(version, "checkpoints/tiny.safetensors")
        BlobProtection.unprotect(model.path)
        let handle = try FileHandle(forWritingTo: model)
        try handle.seek(toOffset: 100)
        handle.write(Data([0xFF, 0xFE, 0xFD]))
        try handle.close()
        let nodeFile = VersionLayout(directory: version).node(HandlerVersionFixture.nodeName, enabled: true)
            .appendingPathComponent("__init__.py")
        try "import os; os.system('echo pwned')\n".write(to: nodeFile, atomically: false, encoding: .utf8)
        let drifted = try await VersionInspector(store: fixture.modelStore, python: nil)
            .status(directory: version, lock: fixture.lock)
        #expect(Set(drifted.drift.map(\.area)) == ["model", "custom-node"], "\(drifted.drift)")

        let worker = try await WorkerStartup.prepare(
            fixture.options(directory: version, onDrift: .repair), logger: Self.logger)
        defer { Task { await worker.shutdown() } }
        let readiness = await worker.readiness()
        #expect(readiness.ready, "\(readiness.reasons)")
        let after = try await VersionInspector(store: fixture.modelStore, python: nil)
            .status(directory: version, lock: fixture.lock)
        #expect(after.clean, "\(after.drift)")
        #expect(
            SHA256.hash(Array(try Data(contentsOf: model))).hex
                == fixture.models["checkpoints/tiny.safetensors"]?.sha256)
        #expect(try String(contentsOf: nodeFile, encoding: .utf8).hasPrefix("NODE_CLASS_MAPPINGS"))
        // The corrupt blob was fetched again from its source.
        #expect(try fixture.server.requests().contains { $0.path == "/tiny.safetensors" && $0.status == 200 })
        let output = try #require(
            Self.completed(await worker.runner.run(id: "after-repair", input: ["workflow": HandlerEndToEndTests.probe]))
        )
        #expect(output.environment.versionDigest == clean.digest, "the repaired version is the clean one")
        #expect(output.environment.drift == nil)
        #expect(output.lockDigest == LockFile.digest(fixture.lock))
    }

    @Test func repairThatCannotFetchFailsClosedWithTheReason() async throws {
        let fixture = try HandlerVersionFixture()
        let version = try await fixture.build()
        let model = fixture.modelFile(version, "loras/style.safetensors")
        BlobProtection.unprotect(model.path)
        let handle = try FileHandle(forWritingTo: model)  // in place: the store blob (same inode) is corrupt too
        handle.write(Data(repeating: 7, count: 20_000))
        try handle.close()
        // The model's only source now answers 404.
        try FileManager.default.removeItem(at: fixture.served.appendingPathComponent("style.safetensors"))
        let worker = try await WorkerStartup.prepare(
            fixture.options(directory: version, onDrift: .repair), logger: Self.logger)
        defer { Task { await worker.shutdown() } }
        let readiness = await worker.readiness()
        #expect(!readiness.ready)
        #expect(readiness.reasons.first?.contains("repair failed") == true, "\(readiness.reasons)")
        for id in ["j1", "j2"] {
            let failure = try #require(
                await worker.runner.run(id: id, input: ["workflow": HandlerEndToEndTests.probe]).failure)
            #expect(failure.kind == .drift)
            #expect(failure.message.contains("model loras/style.safetensors"), "\(failure.message)")
            #expect(failure.message.contains("repair failed"), "\(failure.message)")
        }
    }

    @Test func warnServesAndMarksEveryResult() async throws {
        let fixture = try HandlerVersionFixture()
        let version = try await fixture.build()
        let nodeFile = VersionLayout(directory: version).node(HandlerVersionFixture.nodeName, enabled: true)
            .appendingPathComponent("__init__.py")
        try "# edited\n".write(to: nodeFile, atomically: false, encoding: .utf8)
        let worker = try await WorkerStartup.prepare(
            fixture.options(directory: version, onDrift: .warn), logger: Self.logger)
        defer { Task { await worker.shutdown() } }
        #expect(await worker.readiness().ready)
        for id in ["w1", "w2"] {
            let output = try #require(
                Self.completed(await worker.runner.run(id: id, input: ["workflow": HandlerEndToEndTests.probe])))
            let drift = try #require(output.environment.drift)
            #expect(drift.contains("custom-node \(HandlerVersionFixture.nodeName)"), "\(drift)")
            #expect(output.json["environment"]?["drift"]?.stringValue == drift)
        }
        // Not repaired: warn leaves the version as it is.
        #expect(try String(contentsOf: nodeFile, encoding: .utf8) == "# edited\n")
    }

    // MARK: - Missing models and the volume

    @Test func missingModelsAreFetchedIntoTheVolumeStore() async throws {
        let fixture = try HandlerVersionFixture()
        let version = try await fixture.build()
        for path in fixture.models.keys {
            #expect(BlobProtection.unlink(fixture.modelFile(version, path).path) == 0)
        }
        // Without a volume (auto = off) the missing models are drift: refused.
        let refused = try await WorkerStartup.prepare(
            fixture.options(directory: version, onDrift: .fail), logger: Self.logger)
        let failure = try #require(
            await refused.runner.run(id: "r", input: ["workflow": HandlerEndToEndTests.probe]).failure)
        #expect(failure.kind == .drift)
        #expect(failure.message.contains("model checkpoints/tiny.safetensors: missing"), "\(failure.message)")
        await refused.shutdown()

        // With the volume mounted, they are fetched into <volume>/comfylock/store and placed.
        try fixture.server.reset()
        let volume = fixture.temp.appending("runpod-volume")
        try FileManager.default.createDirectory(at: volume, withIntermediateDirectories: true)
        let worker = try await WorkerStartup.prepare(
            fixture.options(directory: version, onDrift: .fail, volume: volume), logger: Self.logger)
        defer { Task { await worker.shutdown() } }
        #expect(await worker.readiness().ready)
        let volumeStore = ModelStore(root: volume.appendingPathComponent("comfylock/store"))
        for (path, info) in fixture.models {
            #expect(volumeStore.containsBlob(sha256: info.sha256), "\(path) is not in the volume's store")
            #expect(SHA256.hash(Array(try Data(contentsOf: fixture.modelFile(version, path)))).hex == info.sha256)
        }
        let fetched = try fixture.server.requests().filter { $0.status == 200 }.map(\.path)
        #expect(Set(fetched) == ["/tiny.safetensors", "/style.safetensors"])
        let output = try #require(
            Self.completed(await worker.runner.run(id: "v", input: ["workflow": HandlerEndToEndTests.probe])))
        #expect(output.environment.drift == nil)
        // Per-job files went to the volume's scratch directory.
        #expect(FileManager.default.fileExists(atPath: volume.appendingPathComponent("comfylock/scratch").path))
    }

    @Test func unusableVolumeIsAStartupErrorNamingThePath() async throws {
        let fixture = try HandlerVersionFixture()
        let version = fixture.versions.appendingPathComponent("unbuilt")
        // A file where the volume should be.
        let file = fixture.temp.appending("volume-file")
        try Data("x".utf8).write(to: file)
        var options = fixture.options(directory: version, onDrift: .fail, volume: file)
        options.lockPath = fixture.lockPath
        do {
            _ = try await WorkerStartup.prepare(options, logger: Self.logger)
            Issue.record("a file as the volume was accepted")
        } catch let error as StartupError {
            #expect(error.message.contains(file.path) && error.message.contains("not a directory"), "\(error)")
        }
        // A volume with less room than required (the real free space of this file system, a higher bar).
        let volume = fixture.temp.appending("small-volume")
        try FileManager.default.createDirectory(at: volume, withIntermediateDirectories: true)
        options = fixture.options(directory: version, onDrift: .fail, volume: volume)
        options.lockPath = fixture.lockPath
        options.volumeMinimumFreeBytes = Int64.max / 2
        do {
            _ = try await WorkerStartup.prepare(options, logger: Self.logger)
            Issue.record("a full volume was accepted")
        } catch let error as StartupError {
            #expect(error.message.contains("is full"), "\(error)")
        }
    }

    /// Needs root and permission to mount (CI as root in a container may lack it: the test is then disabled and
    /// scripts/docker_smoke.sh covers a read-only bind mount).
    @Test(.enabled(if: Mounts.canMount)) func readOnlyAndFullMountsAreRefused() async throws {
        let fixture = try HandlerVersionFixture()
        let version = fixture.versions.appendingPathComponent("unbuilt")
        let mount = fixture.temp.appending("mnt")
        try FileManager.default.createDirectory(at: mount, withIntermediateDirectories: true)
        for (flags, expected) in [("ro,size=4m", "read-only"), ("size=1m", "is full")] {
            let mounted = try Subprocess.run("/bin/mount", ["-t", "tmpfs", "-o", flags, "tmpfs", mount.path])
            try #require(mounted.status == 0, "\(mounted.standardError)")
            defer { _ = try? Subprocess.run("/bin/umount", [mount.path]) }
            var options = fixture.options(directory: version, onDrift: .fail, volume: mount)
            options.lockPath = fixture.lockPath
            do {
                _ = try await WorkerStartup.prepare(options, logger: Self.logger)
                Issue.record("a \(flags) volume was accepted")
            } catch let error as StartupError {
                #expect(error.message.contains(expected) && error.message.contains(mount.path), "\(error)")
            }
        }
    }

    // MARK: - Unknown classes

    @Test func unknownClassNamesTheLockedNodeThatFailedToImport() async throws {
        let fixture = try HandlerVersionFixture()
        let version = try await fixture.build()
        let graph: JSONValue = [
            "1": ["class_type": "AlphaNode", "inputs": [:]],
            "2": ["class_type": "SaveImage", "inputs": ["images": ["1", 0], "filename_prefix": "x"]],
        ]
        let failing = try await WorkerStartup.prepare(
            fixture.options(
                directory: version, onDrift: .fail,
                standInArguments: ["--standin-failing-node", HandlerVersionFixture.nodeName]),
            logger: Self.logger)
        let failure = try #require(await failing.runner.run(id: "u1", input: ["workflow": graph]).failure)
        await failing.shutdown()
        #expect(failure.kind == .validation)
        let detail = try #require(failure.details.first { $0.path == "input.workflow.\"1\"" })
        #expect(detail.message.contains("AlphaNode"))
        #expect(
            detail.message.contains("failed to import on this worker: \(HandlerVersionFixture.nodeName)"), "\(detail)")

        // Every node imported, but none has the class: the locked node is named as not loaded.
        let loaded = try await WorkerStartup.prepare(
            fixture.options(directory: version, onDrift: .fail), logger: Self.logger)
        let other = try #require(await loaded.runner.run(id: "u2", input: ["workflow": graph]).failure)
        await loaded.shutdown()
        #expect(other.message.contains("with no class on this ComfyUI"), "\(other.message)")
        #expect(other.message.contains(HandlerVersionFixture.nodeName))
    }
}
