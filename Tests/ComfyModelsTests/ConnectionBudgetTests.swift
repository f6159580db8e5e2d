import ComfyCrypto
import ComfyLock
import ComfyModels
import ComfyTransport
import Foundation
import Synchronization
import TestSupport
import Testing

/// The connection budget of many downloads at once (issue 18, "many models"): against a real loopback server that
/// counts its requests in flight, small files run more than 4 at once up to the budget, big ranged files keep their
/// 4 connections each within the budget, `--jobs N` still caps downloads at N, and a waiter can be cancelled.
@Suite("Connection budget: many downloads at once")
struct ConnectionBudgetTests {
    /// `count` files of `size` bytes served by one loopback server, each sent slowly so the downloads overlap.
    final class ManyFiles {
        let dir: TemporaryDirectory
        let server: LoopbackHTTPServer
        let entries: [ModelEntry]
        let bytes: [[UInt8]]

        init(count: Int, size: Int, bytesPerSecond: Int, requestsPerFile: Int, holdUntilInFlight: Int? = nil) throws {
            dir = try TemporaryDirectory(prefix: "comfylock-budget")
            let www = dir.appending("www")
            try FileManager.default.createDirectory(at: www, withIntermediateDirectories: true)
            var entries: [ModelEntry] = []
            var bytes: [[UInt8]] = []
            for i in 0..<count {
                let content = ServedFile.pattern(size: size, seed: UInt64(i + 1))
                try Data(content).write(to: www.appendingPathComponent("m\(i).bin"))
                bytes.append(content)
            }
            server = try LoopbackHTTPServer(root: www)
            for i in 0..<count {
                try server.inject(
                    .slow(bytesPerSecond: bytesPerSecond, times: requestsPerFile, holdUntilInFlight: holdUntilInFlight),
                    path: "/m\(i).bin")
                entries.append(
                    ModelEntry(
                        path: "checkpoints/m\(i).bin", size: Int64(size), sha256: SHA256.hash(bytes[i]).hex,
                        sources: [server.url("/m\(i).bin").absoluteString]))
            }
            self.entries = entries
            self.bytes = bytes
        }

        func store(budget: Int, ranged: Bool) -> ModelStore {
            var store = ModelStore(
                root: dir.appending("store"),
                client: HTTPClient(configuration: .init(lowSpeedTime: .seconds(60), credentials: .none)),
                retryPolicy: RetryPolicy(maxAttempts: 2, initialDelay: .milliseconds(10)))
            store.connectionBudget = ConnectionBudget(total: budget)
            store.rangedConnections = ranged ? 4 : 1
            store.rangedThreshold = ranged ? 0 : 64 << 20
            store.rangeChunkSize = 64 << 10
            return store
        }

        /// Every model is there with the right bytes.
        func checkPlaced(_ checks: [ModelCheck], root: URL) throws {
            #expect(checks.allSatisfy { $0.fixed == true }, "\(checks.compactMap(\.error))")
            for (i, entry) in entries.enumerated() {
                #expect(Array(try Data(contentsOf: root.appendingPathComponent(entry.path))) == bytes[i])
            }
        }
    }

    @Test("small files: more than 4 download at once, never more than the budget")
    func smallFilesRunBeyondFour() async throws {
        // 12 × 200 kB at ~400 kB/s, each body held until 5 requests are in flight (at most 30 s): a client that lets
        // more than 4 run at once passes however slowly a loaded full test run starts them (timing alone — files
        // of 0.5 s, then 3 s — still saw a peak of 4 there); one that runs at most 4 waits out the hold and fails.
        let files = try ManyFiles(
            count: 12, size: 200_000, bytesPerSecond: 400_000, requestsPerFile: 1, holdUntilInFlight: 5)
        let store = files.store(budget: 8, ranged: false)
        let root = files.dir.appending("models")
        let checks = await ModelVerifier(store: store).verify(files.entries, root: root, fix: true)
        try files.checkPlaced(checks, root: root)
        let peak = try files.server.peakRequestsInFlight()
        #expect(peak > 4 && peak <= 8, "peak requests in flight: \(peak)")
        #expect(store.connectionBudget.peak <= 8 && store.connectionBudget.inUse == 0)
    }

    @Test("big files: 4 ranged connections each, within the budget (2 files at once for a budget of 8)")
    func bigFilesKeepTheirConnections() async throws {
        // 4 × 1 MB in 64 KiB ranges, each range at ~256 kB/s (~0.25 s), 16 ranges per file.
        let files = try ManyFiles(count: 4, size: 1_000_000, bytesPerSecond: 256_000, requestsPerFile: 100)
        let store = files.store(budget: 8, ranged: true)
        let root = files.dir.appending("models")
        let checks = await ModelVerifier(store: store).verify(files.entries, root: root, fix: true)
        try files.checkPlaced(checks, root: root)
        let peak = try files.server.peakRequestsInFlight()
        #expect(peak > 4 && peak <= 8, "peak requests in flight: \(peak)")
        #expect(store.connectionBudget.peak == 8)
    }

    @Test("an explicit download limit (--jobs 2) still caps the downloads at once")
    func explicitJobsCap() async throws {
        let files = try ManyFiles(count: 6, size: 100_000, bytesPerSecond: 400_000, requestsPerFile: 1)
        let store = files.store(budget: 16, ranged: false)
        let root = files.dir.appending("models")
        var verifier = ModelVerifier(store: store, jobs: 2)
        verifier.downloadJobs = 2
        let checks = await verifier.verify(files.entries, root: root, fix: true)
        try files.checkPlaced(checks, root: root)
        let peak = try files.server.peakRequestsInFlight()
        #expect(peak >= 1 && peak <= 2, "peak requests in flight: \(peak)")
    }

    /// The order waiters got their connections in.
    final class Order: Sendable {
        let names = Mutex<[String]>([])
    }

    /// Polls `condition` (every 5 ms, up to 10 s).
    static func waitUntil(_ condition: () -> Bool) async throws {
        for _ in 0..<2000 where !condition() { try await Task.sleep(for: .milliseconds(5)) }
        try #require(condition())
    }

    @Test("the budget serves waiters in order, clamps a cost to the total, and a cancelled waiter stops waiting")
    func budgetOrderAndCancellation() async throws {
        let budget = ConnectionBudget(total: 4)
        let first = try await budget.acquire(3)
        #expect(first == 3 && budget.inUse == 3)
        let order = Order()
        // A big waiter (9, clamped to 4) first; then a small one that would fit now but must not overtake it.
        let big = Task {
            let cost = try await budget.acquire(9)
            order.names.withLock { $0.append("big") }
            return cost
        }
        try await Self.waitUntil { budget.waiting == 1 }
        let small = Task {
            let cost = try await budget.acquire(1)
            order.names.withLock { $0.append("small") }
            return cost
        }
        try await Self.waitUntil { budget.waiting == 2 }
        #expect(order.names.withLock { $0 }.isEmpty && budget.inUse == 3)
        budget.release(first)
        #expect(try await big.value == 4)
        #expect(budget.waiting == 1 && budget.inUse == 4)
        let cancelled = Task { try await budget.acquire(2) }
        try await Self.waitUntil { budget.waiting == 2 }
        cancelled.cancel()
        let outcome = await cancelled.result
        #expect(throws: CancellationError.self) { try outcome.get() }
        #expect(budget.waiting == 1)
        budget.release(4)
        #expect(try await small.value == 1)
        #expect(order.names.withLock { $0 } == ["big", "small"])
        budget.release(1)
        #expect(budget.inUse == 0 && budget.peak == 4)
    }
}
