public import ComfyLock

/// A job as the platform hands it out: `id`, `input`, and any other members (kept, e.g. `webhook`).
public struct RunPodJob: Sendable, Hashable {
    /// The job id.
    public var id: String
    /// The job's `input` (`nil` when absent: answered with a validation error).
    public var input: JSONValue?
    /// The whole job object.
    public var raw: JSONValue

    /// A job.
    public init(id: String, input: JSONValue?, raw: JSONValue) {
        self.id = id
        self.input = input
        self.raw = raw
    }
}

/// The decisions of the RunPod worker loop as a plain value (no I/O; tested without servers).
///
/// The loop asks `nextAction()` and reports what happened. Rules (runpod-python 1.12): a take answered 204/400 is
/// "no job" (taken again at once after a long poll, after a short pause when the answer came back immediately);
/// 429 waits 5 s; transport errors back off 1 s, 2 s, 4 s … 30 s; a JSON object is one job, a list a batch (run in
/// order, one at a time); a job whose id is missing cannot be answered and is dropped. A finished job's answer is
/// posted; a stopped job's is not. A failure that needs a fresh worker posts `stopPod: true` and then the loop
/// exits. Shutdown stops taking: the running job finishes (or is cut short by the grace deadline), its answer is
/// posted, queued jobs of a batch are answered with a retryable error, and the loop exits.
public struct RunPodLoopStateMachine: Sendable {
    /// What the take returned.
    public enum TakeResult: Sendable, Hashable {
        /// 204 or 400; `elapsed` is how long the poll took.
        case noJob(elapsed: Duration)
        /// 429.
        case rateLimited
        /// One or more jobs.
        case jobs([RunPodJob])
        /// A 2xx whose body is not a job or a list of jobs.
        case malformed(String)
        /// A connection failure, timeout or unexpected status.
        case failed(String)
    }

    /// What the loop must do next.
    public enum Action: Sendable, Hashable {
        /// Long-poll the job-take URL.
        case take(jobInProgress: Bool)
        /// Wait, then ask again.
        case sleep(Duration)
        /// Run this job.
        case run(RunPodJob)
        /// Post this answer for `jobID` (3 attempts).
        case post(jobID: String, body: JSONValue)
        /// Leave the loop.
        case exit
    }

    /// The shortest interval between two takes that returned no job (so a platform answering 204 at once is not
    /// polled in a tight loop).
    public var minimumTakeInterval: Duration = .seconds(1)
    /// The wait after a 429.
    public var rateLimitDelay: Duration = .seconds(5)

    private(set) var queued: [RunPodJob] = []
    private(set) var running: String?
    private(set) var posts: [(String, JSONValue)] = []
    private(set) var pendingSleep: Duration?
    private(set) var failures = 0
    /// Whether shutdown was requested.
    public private(set) var shuttingDown = false
    /// Whether a job asked for the worker to be replaced (the loop exits after posting).
    public private(set) var refreshRequested = false
    /// Ids the platform asked to stop (bounded): a queued job among them is dropped without an answer.
    private(set) var stoppedIDs: Set<String> = []

    /// A loop that has not taken anything yet.
    public init() {}

    /// The id of the job running now, if any.
    public var runningJobID: String? { running }

    /// The next thing to do.
    public mutating func nextAction() -> Action {
        if !posts.isEmpty {
            let (id, body) = posts.removeFirst()
            return .post(jobID: id, body: body)
        }
        if running != nil {
            // The loop runs one job at a time; it only asks again once the job ended.
            return .sleep(.milliseconds(50))
        }
        if refreshRequested { return .exit }
        while !queued.isEmpty {
            let job = queued.removeFirst()
            if stoppedIDs.contains(job.id) { continue }
            if shuttingDown {
                posts.append(
                    (job.id, Self.body(for: .failed(Self.shutdownFailure, refreshWorker: false), hostname: nil)))
                return nextAction()
            }
            running = job.id
            return .run(job)
        }
        if shuttingDown { return .exit }
        if let sleep = pendingSleep {
            pendingSleep = nil
            return .sleep(sleep)
        }
        return .take(jobInProgress: false)
    }

    /// The take returned.
    public mutating func taken(_ result: TakeResult) {
        switch result {
        case .noJob(let elapsed):
            failures = 0
            if elapsed < minimumTakeInterval { pendingSleep = minimumTakeInterval - elapsed }
        case .rateLimited:
            pendingSleep = rateLimitDelay
        case .jobs(let jobs):
            failures = 0
            queued.append(contentsOf: jobs)
        case .malformed, .failed:
            failures += 1
            let seconds = min(30, 1 << min(failures - 1, 5))
            pendingSleep = .seconds(seconds)
        }
    }

    /// The job ended with `outcome`: its answer is queued for posting unless it was stopped.
    public mutating func jobEnded(id: String, outcome: JobOutcome, hostname: String? = nil) {
        if running == id { running = nil }
        switch outcome {
        case .stopped:
            return
        case .failed(_, let refresh) where refresh:
            refreshRequested = true
        default:
            break
        }
        posts.append((id, Self.body(for: outcome, hostname: hostname)))
    }

    /// The platform asked to stop `ids`: queued ones are dropped (nothing posted). Returns whether the running job
    /// is among them (the loop then stops it).
    public mutating func stopRequested(_ ids: [String]) -> Bool {
        for id in ids where stoppedIDs.count < 10_000 { stoppedIDs.insert(id) }
        queued.removeAll { ids.contains($0.id) }
        return running.map { ids.contains($0) } ?? false
    }

    /// SIGTERM/SIGINT: stop taking jobs.
    public mutating func shutdownRequested() {
        shuttingDown = true
        pendingSleep = nil
    }

    static let shutdownFailure = JobFailure(
        kind: .interrupted, message: "the worker shut down before the job started", retryable: true)

    /// The body posted for an outcome: `{"output": …}`, or `{"error": "<JSON text of the structured error>"}` (the
    /// platform's `error` is a string; runpod-python double-encodes exceptions the same way), plus `stopPod: true`
    /// when the worker must be replaced.
    public static func body(for outcome: JobOutcome, hostname: String?) -> JSONValue {
        switch outcome {
        case .completed(let output):
            return .object(["output": output.json])
        case .failed(let failure, let refresh):
            var error = failure.json
            if let hostname, case .object(var members) = error {
                members["hostname"] = .string(hostname)
                error = .object(members)
            }
            var body: [String: JSONValue] = [
                "error": .string(String(decoding: CanonicalJSON.encode(error), as: UTF8.self))
            ]
            if refresh { body["stopPod"] = .bool(true) }
            return .object(body)
        case .stopped:
            return .null
        }
    }
}
