internal import Foundation
internal import Synchronization

/// A fixed number of dedicated threads for blocking work (file hashing, copying, `flock`-free syscalls that may
/// stall), so that no thread of Swift's cooperative pool ever blocks on I/O and the number of threads stays bounded
/// however many tasks ask at once. Jobs run in submission order.
///
/// `run { }` suspends the calling task until a pool thread has run the closure. Cancellation: a job whose task is
/// cancelled before a thread picks it up is dropped and `run` throws `CancellationError`; a job already running is
/// not interrupted (synchronous code cannot be), but it can poll `BlockingPool.isCancelled` to stop early.
///
/// Never call `run` from inside a job (a job waiting for another job of the same full pool would deadlock).
public final class BlockingPool: Sendable {
    /// The product-wide pool: `max(4, active processor count)` threads, created on first use.
    public static let shared = BlockingPool(threads: max(4, ProcessInfo.processInfo.activeProcessorCount))

    /// How many threads the pool has.
    public let threadCount: Int
    private let state: Shared

    /// A pool of `threads` (at least 1) threads named `name-N` (keep it short: Linux shows 15 bytes), started at
    /// once and kept for the life of the process (they sleep when there is no work).
    public init(threads: Int, name: String = "comfy-pool") {
        threadCount = max(1, threads)
        state = Shared()
        for index in 0..<threadCount {
            let state = self.state
            let threadName = "\(name)-\(index)"
            // Named from inside: on Linux a name given before start() is not applied (and is cut at 15 bytes).
            let thread = Thread {
                Thread.current.name = threadName
                state.work()
            }
            thread.stackSize = 1 << 21
            thread.start()
        }
    }

    /// Runs `body` on one of the pool's threads and returns its result (or rethrows its error). Throws
    /// `CancellationError` without running `body` when the task is cancelled before the job starts.
    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        let job = Job()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                job.start = { cancelled in
                    if cancelled {
                        continuation.resume(throwing: CancellationError())
                        return
                    }
                    let result = Result { try BlockingPool.$currentJob.withValue(job) { try body() } }
                    continuation.resume(with: result)
                }
                state.submit(job)
            }
        } onCancel: {
            job.cancel()
            state.cancelled(job)
        }
    }

    /// True inside a job whose submitting task has been cancelled (long jobs may poll it to stop early).
    public static var isCancelled: Bool { currentJob?.isCancelled ?? false }

    @TaskLocal private static var currentJob: Job?

    /// One queued closure. `@unchecked Sendable`: `start` is set once before the job is queued (under the queue's
    /// lock from then on) and `flag` is atomic.
    fileprivate final class Job: @unchecked Sendable {
        var start: ((_ cancelled: Bool) -> Void)?
        private let flag = Atomic<Bool>(false)
        var isCancelled: Bool { flag.load(ordering: .acquiring) }
        func cancel() { flag.store(true, ordering: .releasing) }
    }

    /// The queue shared with the threads. `@unchecked Sendable`: every field is guarded by `condition`.
    private final class Shared: @unchecked Sendable {
        private let condition = NSCondition()
        private var queue: [Job] = []
        private var head = 0

        func submit(_ job: Job) {
            condition.lock()
            queue.append(job)
            condition.signal()
            condition.unlock()
        }

        /// A cancelled job still in the queue is taken out and resumed with `CancellationError` at once.
        func cancelled(_ job: Job) {
            condition.lock()
            var found = false
            if let index = queue[head...].firstIndex(where: { $0 === job }) {
                queue.remove(at: index)
                found = true
            }
            condition.unlock()
            if found { job.start?(true) }
        }

        func work() {
            while true {
                condition.lock()
                while head == queue.count { condition.wait() }
                let job = queue[head]
                head += 1
                if head > 64 && head * 2 > queue.count {
                    queue.removeFirst(head)
                    head = 0
                }
                condition.unlock()
                job.start?(job.isCancelled)
            }
        }
    }
}
