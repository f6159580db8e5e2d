import ComfyCrypto
import ComfyLock
import ComfyModels
import ComfyRuntime
import Foundation
import Logging
import TestSupport
import Testing

@testable import ComfyHandler

/// `--models lazy` on a real version (git fixture repos, models over loopback HTTP, the ComfyUI stand-in launched as
/// ComfyUI with the version's models folder): a cold volume (no model in the version, an empty store) serves its
/// first job after fetching only what that job's workflow names.
@Suite(.serialized) struct LazyModelTests {
    static let logger = Logger(label: "t")

    /// A loader → text output graph (the stand-in's CheckpointLoaderSimple fails unless the file is in its folder).
    static func loaderGraph(_ checkpoint: String) -> JSONValue {
        [
            "1": ["class_type": "CheckpointLoaderSimple", "inputs": ["ckpt_name": .string(checkpoint)]],
            "2": ["class_type": "PreviewAny", "inputs": ["source": ["1", 0]]],
        ]
    }

    /// A cold version of the fixture (its model files removed) and lazy worker options on an empty volume.
    static func coldWorker(_ fixture: HandlerVersionFixture) async throws -> (URL, URL, WorkerOptions) {
        let version = try await fixture.build()
        for path in fixture.models.keys {
            #expect(BlobProtection.unlink(fixture.modelFile(version, path).path) == 0)
        }
        try fixture.server.reset()
        let volume = fixture.temp.appending("runpod-volume")
        try FileManager.default.createDirectory(at: volume, withIntermediateDirectories: true)
        let yaml = fixture.temp.appending("extra_model_paths.yaml")
        let models = VersionLayout(directory: version).models.path
        try "version:\n  base_path: \(models)\n  checkpoints: checkpoints/\n  loras: loras/\n".write(
            to: yaml, atomically: true, encoding: .utf8)
        var options = fixture.options(
            directory: version, onDrift: .fail, volume: volume,
            standInArguments: ["--extra-model-paths-config", yaml.path])
        options.models = .lazy
        return (version, volume, options)
    }

    @Test func coldWorkerFetchesOnlyWhatTheJobNeeds() async throws {
        let fixture = try HandlerVersionFixture()
        let (version, volume, options) = try await Self.coldWorker(fixture)
        let worker = try await WorkerStartup.prepare(options, logger: Self.logger)
        // Ready without any model: missing models are not drift in lazy mode, and nothing was downloaded.
        #expect(await worker.readiness().ready)
        #expect(try fixture.server.requests().isEmpty)
        #expect(
            !FileManager.default.fileExists(atPath: fixture.modelFile(version, "checkpoints/tiny.safetensors").path))

        // A model the lock does not list is refused before anything is fetched or queued.
        let refused = try #require(
            await worker.runner.run(id: "not-locked", input: ["workflow": Self.loaderGraph("other.safetensors")])
                .failure)
        #expect(refused.kind == .validation)
        #expect(refused.details.first?.path == "input.workflow.\"1\".inputs.ckpt_name")
        #expect(refused.details.first?.message.contains("not in the worker's lock") == true)
        #expect(try fixture.server.requests().isEmpty)

        // The first job fetches the one checkpoint it names (not the lora), verified, and runs with it.
        let outcome = await worker.runner.run(id: "first", input: ["workflow": Self.loaderGraph("tiny.safetensors")])
        guard case .completed(let output) = outcome else {
            Issue.record("expected the job to complete, got \(outcome)")
            return
        }
        #expect(output.timings.fetchMS != nil)
        #expect(output.timings.json["fetch_ms"] != nil)
        let fetched = try fixture.server.requests().filter { $0.status == 200 }.map(\.path)
        #expect(fetched == ["/tiny.safetensors"])
        let tiny = try #require(fixture.models["checkpoints/tiny.safetensors"])
        #expect(
            SHA256.hash(Array(try Data(contentsOf: fixture.modelFile(version, "checkpoints/tiny.safetensors")))).hex
                == tiny.sha256)
        #expect(ModelStore(root: volume.appendingPathComponent("comfylock/store")).containsBlob(sha256: tiny.sha256))
        #expect(!FileManager.default.fileExists(atPath: fixture.modelFile(version, "loras/style.safetensors").path))

        // The second job needing it is a cache hit: no new download.
        try fixture.server.reset()
        let again = await worker.runner.run(id: "second", input: ["workflow": Self.loaderGraph("tiny.safetensors")])
        #expect(again.failure == nil, "\(again)")
        #expect(try fixture.server.requests().isEmpty)
        let scrape = try WorkerMetricsTests.parse(worker.metrics.exposition())
        #expect(scrape.value("comfylock_handler_model_cache_misses_total") == 1)
        #expect(scrape.value("comfylock_handler_model_cache_hits_total") == 1)
        #expect(scrape.value("comfylock_handler_model_fetched_bytes_total") == Double(tiny.size))
        #expect(scrape.value("comfylock_handler_job_phase_duration_seconds_count", ["phase": "fetch"]) == 2)
        await worker.shutdown()
    }

    @Test func concurrentJobsWaitOnOneDownload() async throws {
        let fixture = try HandlerVersionFixture()
        let (version, _, options) = try await Self.coldWorker(fixture)
        let store = ModelStore(root: URL(fileURLWithPath: options.volume.store))
        let provisioner = LazyModelProvisioner(
            lock: fixture.lock, directory: version, store: store, rewriter: fixture.rewriter,
            missing: Array(fixture.models.keys), logger: Self.logger)
        // Slow the download so the jobs overlap.
        try fixture.server.inject(.slow(bytesPerSecond: 300_000), path: "/tiny.safetensors")
        let metrics = WorkerMetrics()
        let graph = Self.loaderGraph("tiny.safetensors").objectValue ?? [:]
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 { group.addTask { try await provisioner.provide(for: graph, metrics: metrics) } }
            try await group.waitForAll()
        }
        // The test server logs a slow transfer after its trailing pause (the client already has every byte): wait
        // for the entry, then give any second download the same time to show up.
        var gets = try fixture.server.requests().filter { $0.path == "/tiny.safetensors" }
        for _ in 0..<40 where gets.isEmpty {
            try await Task.sleep(for: .milliseconds(50))
            gets = try fixture.server.requests().filter { $0.path == "/tiny.safetensors" }
        }
        try await Task.sleep(for: .milliseconds(300))
        gets = try fixture.server.requests().filter { $0.path == "/tiny.safetensors" }
        #expect(gets.count == 1, "one download for four concurrent jobs: \(gets.map(\.status))")
        let tiny = try #require(fixture.models["checkpoints/tiny.safetensors"])
        #expect(
            SHA256.hash(Array(try Data(contentsOf: fixture.modelFile(version, "checkpoints/tiny.safetensors")))).hex
                == tiny.sha256)
        let scrape = try WorkerMetricsTests.parse(metrics.exposition())
        #expect(scrape.value("comfylock_handler_model_cache_misses_total") == 1)
    }

    @Test func aCorruptDownloadIsRefusedAndNothingIsPlaced() async throws {
        let fixture = try HandlerVersionFixture()
        let (version, _, options) = try await Self.coldWorker(fixture)
        let store = ModelStore(root: URL(fileURLWithPath: options.volume.store))
        let provisioner = LazyModelProvisioner(
            lock: fixture.lock, directory: version, store: store, rewriter: fixture.rewriter,
            missing: Array(fixture.models.keys), logger: Self.logger)
        try fixture.server.inject(.corrupt(at: 1000, times: 100), path: "/tiny.safetensors")
        let graph = Self.loaderGraph("tiny.safetensors").objectValue ?? [:]
        await #expect(throws: JobFailure.self) { try await provisioner.provide(for: graph, metrics: WorkerMetrics()) }
        #expect(
            !FileManager.default.fileExists(atPath: fixture.modelFile(version, "checkpoints/tiny.safetensors").path))
    }

    @Test func lazyNeedsAVersion() async throws {
        var options = WorkerOptions(comfyUIURL: "http://127.0.0.1:9")
        options.models = .lazy
        await #expect(throws: StartupError.self) { _ = try await WorkerStartup.prepare(options, logger: Self.logger) }
    }
}
