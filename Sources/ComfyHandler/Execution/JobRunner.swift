import ComfyCrypto
public import ComfyLock
import ComfySupport
import Foundation
public import Logging
import Synchronization

/// What the worker established at start-up and every result names.
public struct WorkerEnvironment: Sendable, Hashable {
    /// The applied lock's digest (`nil` only when attached to a ComfyUI without a lock).
    public var lockDigest: String?
    /// The environment identity.
    public var identity: EnvironmentIdentity
    /// Set when the start-up check failed closed (drift): every job is answered with it while the worker stays up.
    public var startupFailure: JobFailure?

    /// An environment.
    public init(lockDigest: String?, identity: EnvironmentIdentity, startupFailure: JobFailure? = nil) {
        self.lockDigest = lockDigest
        self.identity = identity
        self.startupFailure = startupFailure
    }
}

/// The control handle of one job: lets another task stop it (platform stop, client cancel) or cut it short at
/// shutdown, while the runner drives its `JobLifecycle`.
public final class JobControl: Sendable {
    enum CancelReason: Sendable { case stop, shutdown, timeout }

    struct State: Sendable {
        var lifecycle = JobLifecycle()
        var work: Task<Void, Never>?
        var reason: CancelReason?
        var final: JobOutcome?
    }

    let state = Mutex(State())

    /// A control for a job that has not started.
    public init() {}

    /// The job's lifecycle state.
    public var lifecycle: JobLifecycle { state.withLock { $0.lifecycle } }

    /// Stops the job: its prompt is interrupted and it is never answered. Returns whether it was still live.
    @discardableResult
    public func stop() -> Bool {
        let (action, work) = state.withLock { state -> (JobLifecycle.Action, Task<Void, Never>?) in
            let wasFinished = state.lifecycle.isFinished
            let action = state.lifecycle.stopRequested()
            if !wasFinished && state.reason == nil { state.reason = .stop }
            return (wasFinished ? .none : action, state.work)
        }
        switch action {
        case .interrupt, .cancelDelivery:
            work?.cancel()
            return true
        default:
            return lifecycle.state == .stopped
        }
    }

    /// The shutdown grace period ran out: the job is interrupted and answered with a retryable error.
    public func shutdownDeadlinePassed() {
        let work = state.withLock { state -> Task<Void, Never>? in
            let action = state.lifecycle.shutdownDeadlinePassed()
            switch action {
            case .interruptAndAnswer(_, let outcome), .answer(let outcome):
                state.final = outcome
                if state.reason == nil { state.reason = .shutdown }
                return state.work
            default:
                return nil
            }
        }
        work?.cancel()
    }

    /// Applies an event; records the answer when the event produced one.
    func apply(_ event: (inout JobLifecycle) -> JobLifecycle.Action) -> JobLifecycle.Action {
        state.withLock { state in
            let action = event(&state.lifecycle)
            if case .answer(let outcome) = action { state.final = outcome }
            return action
        }
    }

    /// Registers the current piece of cancellable work (cancelled at once if the job was stopped meanwhile).
    func setWork(_ task: Task<Void, Never>?) {
        let cancelNow = state.withLock { state -> Bool in
            state.work = task
            return state.reason != nil
        }
        if cancelNow { task?.cancel() }
    }

    func cancel(for reason: CancelReason) {
        let work = state.withLock { state -> Task<Void, Never>? in
            if state.reason == nil { state.reason = reason }
            return state.work
        }
        work?.cancel()
    }

    var reason: CancelReason? { state.withLock { $0.reason } }
    var final: JobOutcome? { state.withLock { $0.final } }
}

/// Runs one job from raw input to outcome, the same way in every mode (RunPod, `--test-input`, HTTP):
/// start-up failure gate → validation → executor (with the job's time limit) → delivery → cleanup.
public final class JobRunner: Sendable {
    /// The validator (limits, lock workflows, GCS availability).
    public let validator: JobValidator
    /// The executor.
    public let executor: any JobExecuting
    /// Deliveries by mode.
    public let deliveries: [OutputRequest.Mode: any OutputDelivering]
    /// The environment every result names.
    public let environment: WorkerEnvironment
    /// Where every job's outcome, phases and peak memory are recorded (`GET /metrics`).
    public let metrics: WorkerMetrics
    /// Completion webhooks (`nil`: none are sent).
    public let webhooks: WebhookNotifier?
    /// Lazy model fetch before queueing (`nil`: every model was fetched at start).
    public let models: (any JobModelProvisioning)?
    let logger: Logger

    /// A runner.
    public init(
        validator: JobValidator, executor: any JobExecuting,
        deliveries: [OutputRequest.Mode: any OutputDelivering] = [.base64: Base64Delivery()],
        environment: WorkerEnvironment, metrics: WorkerMetrics = WorkerMetrics(), webhooks: WebhookNotifier? = nil,
        models: (any JobModelProvisioning)? = nil, logger: Logger = Logger(label: "comfylock.handler")
    ) {
        self.validator = validator
        self.executor = executor
        self.deliveries = deliveries
        self.environment = environment
        self.metrics = metrics
        self.webhooks = webhooks
        self.models = models
        self.logger = logger
    }

    /// What a job reported besides its outcome (for the metrics).
    struct Report {
        var peakRAM: Int64?
        var peakVRAM: Int64?
    }

    /// Runs job `id` with `input` (the job's `input` member). `progress` receives progress documents while the job
    /// runs (never after its answer). Returns `.stopped` when `control` stopped it. The outcome is recorded in
    /// `metrics`; when the job carries a `webhook` URL (RunPod's `/run` convention) or the worker has one configured,
    /// the answer is also POSTed there, signed (`webhooks`), in the background — never for a stopped job.
    public func run(
        id: String, input: JSONValue?, control: JobControl = JobControl(), webhook: String? = nil,
        progress: @escaping @Sendable (JSONValue) -> Void = { _ in }
    ) async -> JobOutcome {
        let started = ContinuousClock.now
        metrics.jobRunning(1)
        var report = Report()
        let outcome = await runJob(id: id, input: input, control: control, report: &report, progress: progress)
        metrics.jobRunning(-1)
        metrics.record(
            outcome, duration: ContinuousClock.now - started, peakRAM: report.peakRAM, peakVRAM: report.peakVRAM)
        if let webhooks {
            switch outcome {
            case .stopped: break
            case .completed, .failed: webhooks.notify(jobID: id, outcome: outcome, jobURL: webhook)
            }
        }
        return outcome
    }

    func runJob(
        id: String, input: JSONValue?, control: JobControl, report: inout Report,
        progress: @escaping @Sendable (JSONValue) -> Void
    ) async -> JobOutcome {
        let started = ContinuousClock.now
        var logger = self.logger
        logger[metadataKey: "job_id"] = .string(id)
        guard control.apply({ $0.start() }) == .execute else { return control.final ?? .stopped }

        if let failure = environment.startupFailure {
            _ = control.apply { $0.executionFailed(failure) }
            return control.final ?? .stopped
        }
        guard JobID.isSafe(id) else {
            _ = control.apply {
                $0.executionFailed(
                    .validation(path: "id", "job id \(Escape.quoted(id)) is not 1-128 characters of [A-Za-z0-9._:-]"))
            }
            return control.final ?? .stopped
        }
        let job: JobInput
        switch validator.validate(input) {
        case .success(let valid): job = valid
        case .failure(let failure):
            logger.info("job refused: \(failure.message)")
            _ = control.apply { $0.executionFailed(failure) }
            return control.final ?? .stopped
        }

        guard let delivery = deliveries[job.output.mode] else {
            _ = control.apply {
                $0.executionFailed(
                    .validation(path: "input.output.mode", "output mode \(job.output.mode.rawValue) is not configured"))
            }
            return control.final ?? .stopped
        }
        // A job id completed before with this input (a re-delivery) is answered from what was delivered then.
        let inputSHA256 = SHA256.hash(CanonicalJSON.encode(input ?? .null)).hex
        let earlier = await runCancellable(control: control, timeout: .seconds(120)) {
            try await delivery.existing(jobID: id, inputSHA256: inputSHA256, request: job.output)
        }
        switch earlier {
        case .success(let output?):
            guard control.apply({ $0.executionSucceeded() }) == .deliver else { return control.final ?? .stopped }
            _ = control.apply { $0.delivered(output) }
            return control.final ?? .stopped
        case .success(nil):
            break
        case .failure(let error):
            if let failure = failure(for: error, control: control, timeout: nil) {
                _ = control.apply { $0.executionFailed(failure) }
            }
            return control.final ?? .stopped
        }

        // Lazy model fetch: the locked models this workflow's loader inputs name, before anything is queued (bounded
        // by the job's time limit; stop/shutdown cancel it; a model not in the lock is refused).
        var fetchMS: Int64?
        if let models {
            let fetchStart = ContinuousClock.now
            let fetched = await runCancellable(control: control, timeout: job.timeout + .seconds(30)) { [metrics] in
                try await models.provide(for: job.workflow, metrics: metrics)
            }
            if case .failure(let error) = fetched {
                if let failure = failure(for: error, control: control, timeout: job.timeout + .seconds(30)) {
                    logger.warning("model fetch failed: \(failure.description)")
                    _ = control.apply { $0.executionFailed(failure) }
                }
                return control.final ?? .stopped
            }
            fetchMS = (ContinuousClock.now - fetchStart).milliseconds
        }

        // Execute, bounded by the job's time limit; stop/shutdown cancel the work. A streaming delivery receives
        // each output as its node finishes.
        let session = delivery.session(jobID: id, request: job.output)
        let events = ExecutionEvents(
            promptQueued: { promptID in _ = control.apply { $0.promptQueued(promptID) } },
            progress: { value in
                if control.apply({ $0.progress() }) == .sendProgress { progress(value) }
            },
            outputReady: { output in session?.add(output) })
        // The executor enforces the job's deadline itself (interrupt, restart); this is the backstop.
        let execution = await runCancellable(control: control, timeout: job.timeout + .seconds(30)) { [executor] in
            try await executor.execute(job, jobID: id, events: events)
        }
        let result: ExecutionResult
        switch execution {
        case .success(let value):
            result = value
        case .failure(let error):
            session?.cancel()
            let failure = failure(for: error, control: control, timeout: job.timeout + .seconds(30))
            if let failure {
                let refresh = await executor.needsReplacement(after: failure)
                logger.warning("job failed: \(failure.description)")
                _ = control.apply { $0.executionFailed(failure, refreshWorker: refresh) }
            }
            return control.final ?? .stopped
        }
        defer { Self.cleanup(result.cleanupPaths) }
        report.peakRAM = result.peakRAM
        report.peakVRAM = result.peakVRAM

        guard control.apply({ $0.executionSucceeded() }) == .deliver else {
            session?.cancel()
            return control.final ?? .stopped
        }
        let deliveryStart = ContinuousClock.now
        let environment = self.environment
        let fetchedMS = fetchMS
        let delivered = await runCancellable(control: control, timeout: nil) { () async throws -> JobOutput in
            let outputs: [DeliveredOutput]
            if let session {
                outputs = try await session.finish(result.outputs)
            } else {
                outputs = try await delivery.deliver(result.outputs, jobID: id, request: job.output)
            }
            let now = ContinuousClock.now
            let output = JobOutput(
                outputs: outputs, promptID: result.promptID, lockDigest: environment.lockDigest,
                environment: environment.identity,
                timings: JobTimings(
                    queueMS: result.queueMS, runMS: result.runMS, uploadMS: (now - deliveryStart).milliseconds,
                    totalMS: (now - started).milliseconds, fetchMS: fetchedMS),
                peakMemory: result.peakMemory)
            try await delivery.complete(output, jobID: id, inputSHA256: inputSHA256, request: job.output)
            return output
        }
        switch delivered {
        case .success(let output):
            _ = control.apply { $0.delivered(output) }
        case .failure(let error):
            session?.cancel()
            if let failure = failure(for: error, control: control, timeout: nil) {
                logger.warning("delivery failed: \(failure.description)")
                _ = control.apply { $0.deliveryFailed(failure) }
            }
        }
        return control.final ?? .stopped
    }

    /// Maps an error to the job's failure; `nil` when the job was stopped (nothing to answer).
    func failure(for error: any Error, control: JobControl, timeout: Duration?) -> JobFailure? {
        switch control.reason {
        case .stop: return nil
        case .shutdown: return nil  // already answered by shutdownDeadlinePassed
        case .timeout:
            return JobFailure(
                kind: .timeout,
                message: "the job exceeded its time limit of \(timeout?.components.seconds ?? 0) s and was interrupted",
                retryable: false)
        case nil:
            if let failure = error as? JobFailure { return failure }
            if error is CancellationError {
                return JobFailure(kind: .interrupted, message: "the job was cancelled", retryable: true)
            }
            return JobFailure(kind: .internal, message: Redaction.redact(String(describing: error)), retryable: true)
        }
    }

    /// Runs `work` in a child task registered with `control` (so stop/shutdown can cancel it), with a time limit.
    func runCancellable<T: Sendable>(
        control: JobControl, timeout: Duration?, _ work: @escaping @Sendable () async throws -> T
    ) async -> Result<T, any Error> {
        let box = Mutex<Result<T, any Error>?>(nil)
        let task = Task {
            do {
                let value = try await work()
                box.withLock { $0 = .success(value) }
            } catch {
                box.withLock { $0 = .failure(error) }
            }
        }
        control.setWork(task)
        let timer: Task<Void, Never>? = timeout.map { limit in
            Task {
                try? await Task.sleep(for: limit)
                if !Task.isCancelled { control.cancel(for: .timeout) }
            }
        }
        await withTaskCancellationHandler {
            await task.value
        } onCancel: {
            control.shutdownDeadlinePassed()
        }
        timer?.cancel()
        control.setWork(nil)
        return box.withLock { $0 } ?? .failure(CancellationError())
    }

    static func cleanup(_ paths: [String]) {
        for path in paths { try? FileManager.default.removeItem(atPath: path) }
    }
}

extension Duration {
    /// Whole milliseconds.
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
