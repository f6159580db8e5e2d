import Synchronization

/// A budget of concurrent download connections shared by every download of a store value and its copies (issue 18,
/// "many models"): a download takes as many connections as it will open (`ModelStore.connectionCost`: the ranged
/// connections for a big blob, 1 for a single stream) before it starts and gives them back when it ends. So small
/// files run many at once and big files keep their ranged connections each, and the total stays at the budget.
///
/// Waiters are served in order (a big download at the head is not overtaken by small ones, so nothing starves); a
/// cost above the total is clamped to it. A task cancelled while waiting stops waiting (`CancellationError`).
public final class ConnectionBudget: Sendable {
    /// The most connections held at once.
    public let total: Int

    private struct Waiter {
        var id: UInt64
        var cost: Int
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var inUse = 0
        var peak = 0
        var nextID: UInt64 = 0
        var waiters: [Waiter] = []
    }

    private let state = Mutex(State())

    /// A budget of `total` connections (at least 1).
    public init(total: Int) {
        self.total = max(1, total)
    }

    /// Connections held right now.
    public var inUse: Int { state.withLock { $0.inUse } }

    /// Downloads waiting for connections right now.
    public var waiting: Int { state.withLock { $0.waiters.count } }

    /// The most connections held at once so far.
    public var peak: Int { state.withLock { $0.peak } }

    /// Waits until `cost` connections (clamped to 1…`total`) are free and takes them; returns the cost taken, to be
    /// given back with `release`. Throws `CancellationError` when the task is cancelled while waiting.
    public func acquire(_ cost: Int) async throws -> Int {
        let cost = min(max(1, cost), total)
        let granted = state.withLock { s -> Bool in
            guard s.waiters.isEmpty, s.inUse + cost <= total else { return false }
            s.inUse += cost
            s.peak = max(s.peak, s.inUse)
            return true
        }
        if granted { return cost }
        let id = state.withLock { s -> UInt64 in
            s.nextID += 1
            return s.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                // Under the lock: a cancellation seen here, or the handler below, resumes it — never both.
                let outcome = state.withLock { s -> Bool? in
                    if Task.isCancelled { return false }
                    if s.waiters.isEmpty, s.inUse + cost <= total {
                        s.inUse += cost
                        s.peak = max(s.peak, s.inUse)
                        return true
                    }
                    s.waiters.append(Waiter(id: id, cost: cost, continuation: continuation))
                    return nil
                }
                switch outcome {
                case true?: continuation.resume()
                case false?: continuation.resume(throwing: CancellationError())
                case nil: break
                }
            }
        } onCancel: {
            let waiter = state.withLock { s -> Waiter? in
                guard let index = s.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return s.waiters.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
            // A waiter that left may have blocked smaller ones behind it.
            if waiter != nil { release(0) }
        }
        return cost
    }

    /// Gives back `cost` connections taken by `acquire` and wakes the waiters that now fit, in order.
    public func release(_ cost: Int) {
        let ready = state.withLock { s -> [CheckedContinuation<Void, any Error>] in
            s.inUse -= cost
            var ready: [CheckedContinuation<Void, any Error>] = []
            while let first = s.waiters.first, s.inUse + first.cost <= total {
                s.waiters.removeFirst()
                s.inUse += first.cost
                ready.append(first.continuation)
            }
            s.peak = max(s.peak, s.inUse)
            return ready
        }
        for continuation in ready { continuation.resume() }
    }
}
