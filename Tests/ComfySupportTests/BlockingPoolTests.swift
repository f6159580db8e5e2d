import ComfySupport
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("bounded blocking pool")
struct BlockingPoolTests {
    struct Failure: Error {}

    @Test("jobs run on the pool's own threads and return results or rethrow errors")
    func runsOnPoolThreads() async throws {
        let pool = BlockingPool(threads: 2, name: "tpool")
        var threads = Set<UInt>()
        for _ in 0..<20 { threads.insert(try await pool.run { UInt(bitPattern: Int(bitPattern: pthread_self())) }) }
        let caller = UInt(bitPattern: Int(bitPattern: pthread_self()))
        #expect(threads.count <= 2 && !threads.isEmpty)
        #expect(!threads.contains(caller))
        #expect(try await pool.run { 6 * 7 } == 42)
        await #expect(throws: Failure.self) { try await pool.run { throw Failure() } }
    }

    @Test("never more jobs at once than threads, however many tasks ask")
    func bounded() async throws {
        let pool = BlockingPool(threads: 3)
        let counters = Counters()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<24 {
                group.addTask {
                    try await pool.run {
                        let now = counters.running.add(1, ordering: .sequentiallyConsistent).newValue
                        _ = counters.peak.max(now, ordering: .sequentiallyConsistent)
                        usleep(20_000)
                        counters.running.subtract(1, ordering: .sequentiallyConsistent)
                    }
                }
            }
            try await group.waitForAll()
        }
        let highest = counters.peak.load(ordering: .sequentiallyConsistent)
        #expect(highest == 3)
    }

    @Test("a job cancelled before it starts never runs; a running job sees isCancelled")
    func cancellation() async throws {
        let pool = BlockingPool(threads: 1)
        let release = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)
        let sawCancel = Flag()
        let blocker = Task {
            try await pool.run {
                started.signal()
                release.wait()
                sawCancel.value.store(BlockingPool.isCancelled, ordering: .sequentiallyConsistent)
            }
        }
        started.wait()
        let ran = Flag()
        let queued = Task { try await pool.run { ran.value.store(true, ordering: .sequentiallyConsistent) } }
        try await Task.sleep(for: .milliseconds(50))
        queued.cancel()
        await #expect(throws: CancellationError.self) { try await queued.value }
        blocker.cancel()
        release.signal()
        try await blocker.value
        let saw = sawCancel.value.load(ordering: .sequentiallyConsistent)
        #expect(saw)
        // The pool still works, and the cancelled job was dropped rather than run late.
        #expect(try await pool.run { 1 } == 1)
        let didRun = ran.value.load(ordering: .sequentiallyConsistent)
        #expect(!didRun)
        // Already cancelled before submitting: throws at once.
        let early = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await pool.run { ran.value.store(true, ordering: .sequentiallyConsistent) }
        }
        await #expect(throws: CancellationError.self) { try await early.value }
        let didRunEarly = ran.value.load(ordering: .sequentiallyConsistent)
        #expect(!didRunEarly)
    }

    @Test("the shared pool has at least four threads")
    func shared() {
        #expect(BlockingPool.shared.threadCount >= 4)
    }
}

final class Counters: Sendable {
    let running = Atomic<Int>(0)
    let peak = Atomic<Int>(0)
}

final class Flag: Sendable {
    let value = Atomic<Bool>(false)
}
