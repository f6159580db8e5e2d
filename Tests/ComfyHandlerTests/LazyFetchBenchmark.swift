import ComfyCrypto
import ComfyLock
import ComfyModels
import ComfyRuntime
import Foundation
import Logging
import TestSupport
import Testing

@testable import ComfyHandler

/// Benchmark (opt-in, `COMFYLOCK_BENCH_LAZY=1`; run by `scripts/bench/lazy_models.sh`, figures in
/// docs/benchmarks.md): the first job on a cold volume with 20 locked models of which the workflow uses 2 —
/// `--models lazy` (fetch the 2 before the job) against `eager` (fetch all 20 at start, then the job). Real parts:
/// a version built from git fixture repos, model files of real bytes served over loopback HTTP
/// (scripts/testsupport/http_server.py), the worker's own store/fetch/placement code, the ComfyUI stand-in launched
/// as ComfyUI. Nothing here asserts a time: it prints the measurements (medians of interleaved rounds).
@Suite(.serialized, .enabled(if: ProcessInfo.processInfo.environment["COMFYLOCK_BENCH_LAZY"] == "1"))
struct LazyFetchBenchmark {
    static let environment = ProcessInfo.processInfo.environment
    static let modelCount = 20
    static var modelMiB: Int { Int(environment["COMFYLOCK_BENCH_MODEL_MIB"] ?? "") ?? 128 }
    static var rounds: Int { Int(environment["COMFYLOCK_BENCH_ROUNDS"] ?? "") ?? 3 }

    /// `count` model files of `mib` MiB with real bytes (every 1 MiB chunk distinct), named `mNN.safetensors`.
    static func makeModels(in directory: URL, count: Int, mib: Int) throws -> [(name: String, size: Int64, sha: String)]
    {
        var pool = [UInt8](repeating: 0, count: 1 << 20)
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        for index in pool.indices {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            pool[index] = UInt8(truncatingIfNeeded: state >> 33)
        }
        var models: [(String, Int64, String)] = []
        for n in 1...count {
            let name = String(format: "m%02d.safetensors", n)
            let url = directory.appendingPathComponent(name)
            _ = FileManager.default.createFile(atPath: url.path, contents: nil)
            let handle = try FileHandle(forWritingTo: url)
            var hasher = SHA256()
            for chunk in 0..<mib {
                var block = pool
                withUnsafeBytes(of: UInt64(n).littleEndian) { block.replaceSubrange(0..<8, with: $0) }
                withUnsafeBytes(of: UInt64(chunk).littleEndian) { block.replaceSubrange(8..<16, with: $0) }
                hasher.update(block)
                try handle.write(contentsOf: block)
            }
            try handle.close()
            models.append((name, Int64(mib) << 20, hasher.finalize().hex))
        }
        return models
    }

    static func graph(_ names: [String]) -> JSONValue {
        var nodes: [String: JSONValue] = [:]
        for (index, name) in names.enumerated() {
            nodes["\(index * 2 + 1)"] = [
                "class_type": "CheckpointLoaderSimple", "inputs": ["ckpt_name": .string(name)],
            ]
            nodes["\(index * 2 + 2)"] = [
                "class_type": "PreviewAny", "inputs": ["source": [.string("\(index * 2 + 1)"), 0]],
            ]
        }
        return .object(nodes)
    }

    /// Removes `url` (version links and store blobs are immutable where permitted: cleared first).
    static func forceRemove(_ url: URL) {
        guard FileManager.default.fileExists(atPath: url.path) else { return }
        _ = try? Subprocess.run("/usr/bin/chattr", ["-R", "-f", "-i", url.path])
        _ = try? Subprocess.run("/bin/chmod", ["-R", "u+w", url.path])
        try? FileManager.default.removeItem(at: url)
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.isEmpty ? .nan : sorted[sorted.count / 2]
    }

    @Test func coldVolumeFirstJobLazyVersusEager() async throws {
        let root = URL(fileURLWithPath: Self.environment["COMFYLOCK_BENCH_DIR"] ?? "/var/tmp/comfylock-lazy-bench")
        let served = root.appendingPathComponent("served")
        try FileManager.default.createDirectory(at: served, withIntermediateDirectories: true)
        // The model files are made once and reused across runs (same bytes every time).
        let models: [(name: String, size: Int64, sha: String)]
        let manifest = root.appendingPathComponent("models-\(Self.modelMiB).json")
        if let data = FileManager.default.contents(atPath: manifest.path),
            let list = try? JSONParser.parse(Array(data)).arrayValue
        {
            models = list.compactMap { item in
                guard let name = item["name"]?.stringValue, let size = item["size"]?.numberValue,
                    let sha = item["sha256"]?.stringValue
                else { return nil }
                return (name, Int64(size), sha)
            }
        } else {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: served.path)) ?? [] {
                try? FileManager.default.removeItem(at: served.appendingPathComponent(name))
            }
            models = try Self.makeModels(in: served, count: Self.modelCount, mib: Self.modelMiB)
            let list: JSONValue = .array(
                models.map { ["name": .string($0.name), "size": .number(Double($0.size)), "sha256": .string($0.sha)] })
            try Data(CanonicalJSON.encode(list)).write(to: manifest)
        }
        let server = try LoopbackHTTPServer(root: served)
        defer { server.stop() }

        // A version of a lock without models (built once), and the full lock the worker applies.
        let fixture = try HandlerVersionFixture()
        let work = fixture.temp
        let entries = models.map {
            ModelEntry(
                path: "checkpoints/\($0.name)", size: $0.size, sha256: $0.sha,
                sources: [server.url("/\($0.name)").absoluteString])
        }
        var empty = fixture.lock
        empty.models = []
        let builder = VersionBuilder(
            root: fixture.versions, gitCache: GitCache(storeRoot: fixture.store, rewriter: fixture.rewriter),
            store: fixture.modelStore, python: nil)
        _ = try await builder.create(name: "bench", lock: empty, options: VersionCreateOptions(allowUnpinned: true))
        let version = fixture.versions.appendingPathComponent("bench")
        var full = fixture.lock
        full.models = entries
        full = full.sorted()
        let lockURL = work.appending("bench.lock.json")
        _ = try LockFile.write(full, to: lockURL)
        let yaml = work.appending("extra_model_paths.yaml")
        try "version:\n  base_path: \(VersionLayout(directory: version).models.path)\n  checkpoints: checkpoints/\n"
            .write(to: yaml, atomically: true, encoding: .utf8)
        let job: JSONValue = ["workflow": Self.graph([models[0].name, models[7].name])]
        let totalBytes = models.reduce(Int64(0)) { $0 + $1.size }
        print("BENCH models: \(models.count) x \(Self.modelMiB) MiB = \(totalBytes) bytes; the job uses 2")

        var results: [String: [(first: Double, ready: Double, fetch: Double)]] = [:]
        for round in 1...Self.rounds {
            for mode in (round % 2 == 1 ? [ModelLoading.lazy, .eager] : [.eager, .lazy]) {
                // A cold volume: empty store, no model in the version.
                let volume = work.appending("volume")
                Self.forceRemove(volume)
                try FileManager.default.createDirectory(at: volume, withIntermediateDirectories: true)
                Self.forceRemove(VersionLayout(directory: version).models)
                try FileManager.default.createDirectory(
                    at: VersionLayout(directory: version).models.appendingPathComponent("checkpoints"),
                    withIntermediateDirectories: true)
                var options = fixture.options(
                    directory: version, onDrift: .fail, volume: volume,
                    standInArguments: ["--extra-model-paths-config", yaml.path])
                options.lockPath = lockURL.path
                options.models = mode
                options.fetchModels = .auto
                let started = ContinuousClock.now
                let worker = try await WorkerStartup.prepare(options, logger: Logger(label: "bench"))
                let ready = ContinuousClock.now
                let outcome = await worker.runner.run(id: "bench-\(round)-\(mode.rawValue)", input: job)
                let done = ContinuousClock.now
                await worker.shutdown()
                guard case .completed(let output) = outcome else {
                    Issue.record("\(mode) round \(round): \(outcome)")
                    return
                }
                let first = Double((done - started).milliseconds) / 1000
                let readyS = Double((ready - started).milliseconds) / 1000
                let fetch = Double(output.timings.fetchMS ?? 0) / 1000
                let placed =
                    (try? FileManager.default.contentsOfDirectory(
                        atPath: VersionLayout(directory: version).models.appendingPathComponent("checkpoints").path))?
                    .count ?? 0
                print(
                    "BENCH round \(round) \(mode.rawValue): ready \(readyS) s, first result \(first) s, fetch_ms "
                        + "\(output.timings.fetchMS.map(String.init) ?? "-"), models placed \(placed)")
                results[mode.rawValue, default: []].append((first, readyS, fetch))
            }
        }
        for mode in ["lazy", "eager"] {
            let rows = results[mode] ?? []
            print(
                "BENCH median \(mode): first result \(Self.median(rows.map(\.first))) s, ready "
                    + "\(Self.median(rows.map(\.ready))) s, fetch before the job \(Self.median(rows.map(\.fetch))) s "
                    + "(\(rows.count) rounds)")
        }
    }
}
