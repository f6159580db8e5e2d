public import ComfyLock
import Foundation

/// The jobs of the local HTTP API, RunPod-hosted-API style: submitted jobs run one at a time in submission order
/// (ComfyUI runs one prompt at a time anyway); each has a status `IN_QUEUE` → `IN_PROGRESS` → `COMPLETED` /
/// `FAILED` / `CANCELLED` / `TIMED_OUT`. Finished jobs are kept (the newest `retention`) so `/status` can report them.
public actor LocalJobQueue {
    /// RunPod's job states.
    public enum Status: String, Sendable, Hashable {
        /// Waiting for the runner.
        case inQueue = "IN_QUEUE"
        /// Running.
        case inProgress = "IN_PROGRESS"
        /// Finished with output.
        case completed = "COMPLETED"
        /// Finished with an error.
        case failed = "FAILED"
        /// Cancelled by a client.
        case cancelled = "CANCELLED"
        /// Over its time limit.
        case timedOut = "TIMED_OUT"

        /// Whether the job is over.
        public var isFinal: Bool { ![.inQueue, .inProgress].contains(self) }
    }

    /// A job's record as `/status` reports it.
    public struct Record: Sendable, Hashable {
        /// The id.
        public var id: String
        /// The state.
        public var status: Status
        /// The outcome once finished.
        public var outcome: JobOutcome?
        /// Milliseconds from submission to start.
        public var delayMS: Int64?
        /// Milliseconds of execution.
        public var executionMS: Int64?

        /// The RunPod-shaped status document `{"id", "status", "output"?, "error"?, "delayTime"?, "executionTime"?}`;
        /// `error` is the JSON text of the structured error, as the hosted API carries a string.
        public var json: JSONValue {
            var object: [String: JSONValue] = ["id": .string(id), "status": .string(status.rawValue)]
            switch outcome {
            case .completed(let output)?: object["output"] = output.json
            case .failed(let failure, _)?:
                object["error"] = .string(String(decoding: CanonicalJSON.encode(failure.json), as: UTF8.self))
            default: break
            }
            if let delayMS { object["delayTime"] = .number(Double(delayMS)) }
            if let executionMS { object["executionTime"] = .number(Double(executionMS)) }
            return .object(object)
        }
    }

    struct Entry {
        var record: Record
        var input: JSONValue?
        var control: JobControl
        var submitted: ContinuousClock.Instant
        var webhook: String? = nil
        var waiters: [CheckedContinuation<Record, Never>] = []
    }

    /// The runner every job goes through.
    public nonisolated let runner: JobRunner
    let retention: Int
    var entries: [String: Entry] = [:]
    /// Finished job ids, oldest first, from `finishedHead` on (evicted from the front: O(1) per job, not a scan of
    /// every kept job).
    var finishedOrder: [String] = []
    var finishedHead = 0
    var pending: [String] = []
    var running = false
    var counts = (completed: 0, failed: 0, retried: 0)

    /// A queue over `runner`, keeping the newest `retention` finished jobs.
    public init(runner: JobRunner, retention: Int = 1000) {
        self.runner = runner
        self.retention = max(1, retention)
    }

    /// Queues a job (`input` = the request's `input` member; `webhook` = the request's `webhook`, RunPod's `/run`
    /// convention) and returns its id at once.
    public func submit(input: JSONValue?, webhook: String? = nil) -> String {
        let id = JobID.make()
        entries[id] = Entry(
            record: Record(id: id, status: .inQueue), input: input, control: JobControl(), submitted: .now,
            webhook: webhook)
        pending.append(id)
        pump()
        runner.metrics.setQueueDepth(backlog)
        return id
    }

    /// Queues a job and waits for its end.
    public func runSync(input: JSONValue?, webhook: String? = nil) async -> Record {
        let id = submit(input: input, webhook: webhook)
        return await wait(id)
    }

    /// Waits for job `id` to finish (an unknown id reports FAILED).
    public func wait(_ id: String) async -> Record {
        guard let entry = entries[id] else { return Record(id: id, status: .failed) }
        if entry.record.status.isFinal { return entry.record }
        return await withCheckedContinuation { continuation in entries[id]?.waiters.append(continuation) }
    }

    /// The record of job `id`, if known.
    public func status(_ id: String) -> Record? { entries[id]?.record }

    /// Cancels job `id`: a queued job never starts, a running one is interrupted; nothing more is reported for it.
    public func cancel(_ id: String) -> Record? {
        guard var entry = entries[id] else { return nil }
        guard !entry.record.status.isFinal else { return entry.record }
        entry.control.stop()
        entry.record.status = .cancelled
        entries[id] = entry
        pending.removeAll { $0 == id }
        finish(id)
        runner.metrics.setQueueDepth(backlog)
        return entries[id]?.record
    }

    /// Counters in the hosted `/health` shape: `{"jobs": {completed, failed, inProgress, inQueue, retried},
    /// "workers": {idle, running}}`.
    public func health() -> JSONValue {
        let inProgress = entries.values.filter { $0.record.status == .inProgress }.count
        return [
            "jobs": [
                "completed": .number(Double(counts.completed)), "failed": .number(Double(counts.failed)),
                "inProgress": .number(Double(inProgress)), "inQueue": .number(Double(pending.count)),
                "retried": .number(Double(counts.retried)),
            ],
            "workers": ["idle": .number(inProgress == 0 ? 1 : 0), "running": .number(inProgress > 0 ? 1 : 0)],
        ]
    }

    /// Jobs waiting or running (for `/ready`'s queue limit).
    public var backlog: Int { pending.count + (running ? 1 : 0) }

    func pump() {
        guard !running, !pending.isEmpty else { return }
        let id = pending.removeFirst()
        guard var entry = entries[id] else { return pump() }
        running = true
        entry.record.status = .inProgress
        let started = ContinuousClock.now
        entry.record.delayMS = (started - entry.submitted).milliseconds
        entries[id] = entry
        let runner = self.runner
        let input = entry.input
        let control = entry.control
        let webhook = entry.webhook
        Task {
            let outcome = await runner.run(id: id, input: input, control: control, webhook: webhook)
            self.completed(id, outcome: outcome, started: started)
        }
    }

    func completed(_ id: String, outcome: JobOutcome, started: ContinuousClock.Instant) {
        running = false
        if var entry = entries[id], !entry.record.status.isFinal {
            entry.record.executionMS = (ContinuousClock.now - started).milliseconds
            entry.record.outcome = outcome
            switch outcome {
            case .completed:
                entry.record.status = .completed
                counts.completed += 1
            case .failed(let failure, _):
                entry.record.status = failure.kind == .timeout ? .timedOut : .failed
                counts.failed += 1
            case .stopped:
                entry.record.status = .cancelled
            }
            entry.input = nil
            entries[id] = entry
            finish(id)
        }
        pump()
        runner.metrics.setQueueDepth(backlog)
    }

    func finish(_ id: String) {
        guard var entry = entries[id] else { return }
        let waiters = entry.waiters
        entry.waiters = []
        entry.input = nil
        entries[id] = entry
        for waiter in waiters { waiter.resume(returning: entry.record) }
        // Evict the oldest finished jobs beyond the retention (each job finishes once).
        finishedOrder.append(id)
        while finishedOrder.count - finishedHead > retention {
            entries[finishedOrder[finishedHead]] = nil
            finishedHead += 1
        }
        if finishedHead >= 1024 && finishedHead * 2 >= finishedOrder.count {
            finishedOrder.removeFirst(finishedHead)
            finishedHead = 0
        }
    }

    /// Jobs whose records are kept (waiting, running, or among the newest `retention` finished).
    var keptJobs: Int { entries.count }
}
