import ComfyLock
import ComfySupport
public import ComfyTransport
import Foundation
public import Logging
import Synchronization

/// The RunPod serverless worker loop over ComfyTransport's `HTTPClient`: job take (long poll), result post with
/// 3 attempts, heartbeat on its own task, the job-stop channel, progress posts, `stopPod` when the worker must be
/// replaced, and graceful shutdown. Decisions live in `RunPodLoopStateMachine`; this type only does the I/O.
public final class RunPodWorker: Sendable {
    /// The platform's settings.
    public let configuration: RunPodConfiguration
    let runner: JobRunner
    let http: HTTPClient
    let logger: Logger
    /// How long a running job may continue after shutdown was requested before it is interrupted.
    public let shutdownGrace: Duration
    /// The retry policy of result posts (3 attempts).
    public let postRetry: RetryPolicy

    struct Current: Sendable {
        var jobID: String
        var control: JobControl
    }

    let machine = Mutex(RunPodLoopStateMachine())
    let current = Mutex<Current?>(nil)
    /// The take or sleep in flight, cancelled at shutdown.
    let waiting = Mutex<Task<Void, Never>?>(nil)
    let tally = Mutex(Counters())

    /// What the worker did, for logs and tests.
    public struct Counters: Sendable, Hashable {
        /// Takes sent.
        public var takes = 0
        /// Jobs run.
        public var jobs = 0
        /// Results posted successfully.
        public var posted = 0
        /// Results that could not be posted after every attempt.
        public var postFailures = 0
        /// Heartbeats sent successfully.
        public var heartbeats = 0
        /// Jobs stopped by the platform.
        public var stopped = 0
    }

    /// A worker.
    public init(
        configuration: RunPodConfiguration, runner: JobRunner, httpClient: HTTPClient = .shared,
        logger: Logger = Logger(label: "comfylock.runpod"), shutdownGrace: Duration = .seconds(25),
        postRetry: RetryPolicy = RetryPolicy(maxAttempts: 3, initialDelay: .seconds(1), maxDelay: .seconds(4))
    ) {
        self.configuration = configuration
        self.runner = runner
        self.http = httpClient
        self.logger = logger
        self.shutdownGrace = shutdownGrace
        self.postRetry = postRetry
    }

    /// What the worker did so far.
    public var counters: Counters { tally.withLock { $0 } }

    /// Runs the loop until shutdown (or a job asked for the worker to be replaced). Failed jobs never end it.
    public func run() async {
        logger.info("RunPod worker \(configuration.workerID) started (ping every \(configuration.pingInterval))")
        let heartbeat = Task { await self.heartbeatLoop() }
        let stops = Task { await self.stopChannelLoop() }
        defer {
            heartbeat.cancel()
            stops.cancel()
        }
        loop: while true {
            let (action, depth) = machine.withLock { ($0.nextAction(), $0.queued.count + ($0.running == nil ? 0 : 1)) }
            runner.metrics.setQueueDepth(depth)
            switch action {
            case .take(let inProgress):
                let result = await cancellableWait { await self.take(jobInProgress: inProgress) }
                machine.withLock { $0.taken(result ?? .noJob(elapsed: .seconds(3600))) }
            case .sleep(let duration):
                _ = await cancellableWait { try? await Task.sleep(for: duration) }
            case .run(let job):
                await runJob(job)
            case .post(let jobID, let body):
                await post(jobID: jobID, body: body)
            case .exit:
                break loop
            }
        }
        let refresh = machine.withLock { $0.refreshRequested }
        logger.info("RunPod worker \(configuration.workerID) exiting\(refresh ? " (asked to be replaced)" : "")")
    }

    /// Stop taking jobs; the running one has `shutdownGrace` to finish, then it is interrupted and answered.
    public func shutdown() {
        machine.withLock { $0.shutdownRequested() }
        waiting.withLock { $0 }?.cancel()
        if let job = current.withLock({ $0 }) {
            logger.info("shutdown requested: job \(job.jobID) has \(shutdownGrace) to finish")
            let grace = shutdownGrace
            Task {
                try? await Task.sleep(for: grace)
                job.control.shutdownDeadlinePassed()
            }
        } else {
            logger.info("shutdown requested: no job running")
        }
    }

    /// Runs `work` as a task that `shutdown()` cancels; `nil` when it was cancelled before it finished.
    func cancellableWait<T: Sendable>(_ work: @escaping @Sendable () async -> T) async -> T? {
        let box = Mutex<T?>(nil)
        let task = Task {
            box.withLock { $0 = nil }; let value = await work(); box.withLock { $0 = value }
        }
        let shuttingDown = waiting.withLock { slot -> Bool in
            slot = task
            return machine.withLock { $0.shuttingDown }
        }
        if shuttingDown { task.cancel() }
        await task.value
        waiting.withLock { $0 = nil }
        return box.withLock { $0 }
    }

    // MARK: - Jobs

    func runJob(_ job: RunPodJob) async {
        let control = JobControl()
        current.withLock { $0 = Current(jobID: job.id, control: control) }
        tally.withLock { $0.jobs += 1 }
        var jobLogger = logger
        jobLogger[metadataKey: "job_id"] = .string(job.id)
        jobLogger.info("job taken")
        let (stream, continuation) = AsyncStream.makeStream(of: JSONValue.self, bufferingPolicy: .bufferingNewest(1))
        let progressTask = Task {
            for await update in stream {
                await self.postProgress(jobID: job.id, update)
            }
        }
        let outcome = await runner.run(
            id: job.id, input: job.input, control: control, webhook: job.raw["webhook"]?.stringValue
        ) { update in
            continuation.yield(update)
        }
        // Progress is only ever posted before the final answer: the stream ends and the progress post in flight
        // completes first (cancelling it could leave the platform a truncated request).
        continuation.finish()
        await progressTask.value
        current.withLock { $0 = nil }
        if case .stopped = outcome {
            tally.withLock { $0.stopped += 1 }
            jobLogger.info("job stopped; nothing is posted")
        }
        machine.withLock { $0.jobEnded(id: job.id, outcome: outcome, hostname: configuration.hostname) }
    }

    // MARK: - HTTP

    func headers(json: Bool) -> HTTPHeaders {
        var headers: HTTPHeaders = [:]
        if let key = configuration.apiKey { headers.add(name: "Authorization", value: key) }
        if json { headers.add(name: "Content-Type", value: "application/json") }
        return headers
    }

    func request(_ url: String, method: HTTPMethod = .get, body: JSONValue? = nil, timeout: Duration?) -> HTTPRequest? {
        guard let parsed = URL(string: url) else {
            logger.error("not a URL: \(Redaction.redact(url))")
            return nil
        }
        return HTTPRequest(
            method: method, url: parsed, headers: headers(json: body != nil),
            body: body.map { .bytes(CanonicalJSON.encode($0)) },
            followRedirects: false, useEnvironmentCredentials: false, timeout: timeout)
    }

    func take(jobInProgress: Bool) async -> RunPodLoopStateMachine.TakeResult {
        tally.withLock { $0.takes += 1 }
        let started = ContinuousClock.now
        guard
            let request = request(
                configuration.takeURL(jobInProgress: jobInProgress), timeout: configuration.takeTimeout)
        else { return .failed("bad job-take URL") }
        do {
            let response = try await http.send(request, retry: RetryPolicy.none)
            let elapsed = ContinuousClock.now - started
            switch response.status {
            case 204, 400: return .noJob(elapsed: elapsed)
            case 429: return .rateLimited
            case 200..<300:
                if response.body.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D }) {
                    return .noJob(elapsed: elapsed)
                }
                return Self.parseJobs(response.body)
            default:
                return .failed("job take answered \(response.status)")
            }
        } catch let error as HTTPError where error.isCancellation {
            return .noJob(elapsed: ContinuousClock.now - started)
        } catch {
            logger.warning("job take failed: \(Redaction.redact(String(describing: error)))")
            return .failed(Redaction.redact(String(describing: error)))
        }
    }

    /// A job object or a list of them; anything else is malformed (jobs without a string id are dropped: they
    /// cannot be answered).
    static func parseJobs(_ body: [UInt8]) -> RunPodLoopStateMachine.TakeResult {
        guard let value = try? JSONParser.parse(body) else { return .malformed("the job-take body is not JSON") }
        func job(_ value: JSONValue) -> RunPodJob? {
            guard let id = value["id"]?.stringValue, !id.isEmpty else { return nil }
            return RunPodJob(id: id, input: value["input"], raw: value)
        }
        switch value {
        case .object:
            return job(value).map { .jobs([$0]) } ?? .malformed("the job has no id")
        case .array(let items):
            let jobs = items.compactMap(job)
            return jobs.isEmpty && !items.isEmpty ? .malformed("no job of the batch has an id") : .jobs(jobs)
        default:
            return .malformed("the job-take body is \(value.typeDescription)")
        }
    }

    func post(jobID: String, body: JSONValue) async {
        guard
            let request = request(
                configuration.resultURL(jobID: jobID), method: .post, body: body, timeout: .seconds(60))
        else { return }
        do {
            let response = try await http.send(request, retry: postRetry)
            if (200..<300).contains(response.status) {
                tally.withLock { $0.posted += 1 }
                logger.info("result posted", metadata: ["job_id": .string(jobID)])
                return
            }
            logger.error("result post answered \(response.status)", metadata: ["job_id": .string(jobID)])
        } catch {
            logger.error(
                "result post failed: \(Redaction.redact(String(describing: error)))",
                metadata: ["job_id": .string(jobID)])
        }
        tally.withLock { $0.postFailures += 1 }
    }

    func postProgress(jobID: String, _ update: JSONValue) async {
        let body: JSONValue = .object(["status": "IN_PROGRESS", "output": update])
        guard
            let request = request(
                configuration.resultURL(jobID: jobID), method: .post, body: body, timeout: .seconds(10))
        else { return }
        _ = try? await http.send(request, retry: RetryPolicy.none)
    }

    func heartbeatLoop() async {
        guard configuration.pingURL != nil else { return }
        let clock = ContinuousClock()
        var next = clock.now
        while !Task.isCancelled {
            let ids = current.withLock { $0.map { [$0.jobID] } ?? [] }
            if let url = configuration.pingURL(jobIDs: ids),
                let request = request(url, timeout: min(configuration.pingInterval, .seconds(10)))
            {
                if let response = try? await http.send(request, retry: RetryPolicy.none), response.status < 300 {
                    tally.withLock { $0.heartbeats += 1 }
                } else {
                    logger.debug("heartbeat not acknowledged")
                }
            }
            next = next + configuration.pingInterval
            if next < clock.now { next = clock.now }
            try? await Task.sleep(until: next, clock: clock)
        }
    }

    func stopChannelLoop() async {
        guard configuration.stopChannel, let url = configuration.stopURL(),
            let request = request(url, timeout: configuration.takeTimeout)
        else { return }
        while !Task.isCancelled {
            let started = ContinuousClock.now
            var pause: Duration = .zero
            do {
                let response = try await http.send(request, retry: RetryPolicy.none)
                if response.status == 200, let value = try? JSONParser.parse(response.body),
                    let list = value["jobsToStop"]?.arrayValue
                {
                    let ids = list.compactMap(\.stringValue)
                    if !ids.isEmpty { stop(ids) }
                } else if response.status == 429 {
                    pause = .seconds(5)
                }
            } catch {
                pause = .seconds(5)
            }
            let elapsed = ContinuousClock.now - started
            if pause == .zero && elapsed < .seconds(1) { pause = .seconds(1) - elapsed }
            try? await Task.sleep(for: pause)
        }
    }

    /// Stops jobs by id (the platform's stop channel): a queued one is dropped, the running one interrupted;
    /// nothing is posted for either.
    public func stop(_ ids: [String]) {
        let runningHit = machine.withLock { $0.stopRequested(ids) }
        if runningHit, let job = current.withLock({ $0 }), ids.contains(job.jobID) {
            logger.info("platform stopped the job", metadata: ["job_id": .string(job.jobID)])
            job.control.stop()
        }
    }
}
