/// The life of one job as a plain value: queued → running → delivering → done / failed / stopped.
///
/// No I/O inside: the runner feeds it events and performs the action it returns. It guarantees the two rules the
/// modes depend on: a job is answered **at most once** (the first final event wins; later ones return `.none`), and
/// a **stopped** job is never answered (its prompt is interrupted and nothing is posted), while a job interrupted by
/// the worker's own shutdown is answered with a retryable `interrupted` error. Progress is only allowed before
/// the final answer.
public struct JobLifecycle: Sendable, Hashable {
    /// Where the job is.
    public enum State: Sendable, Hashable {
        /// Taken, not started.
        case queued
        /// Executing on ComfyUI (with the prompt id once queued).
        case running(promptID: String?)
        /// Outputs being delivered.
        case delivering
        /// Answered with outputs.
        case done
        /// Answered with an error.
        case failed
        /// Stopped: interrupted, not answered.
        case stopped
    }

    /// What the runner must do next.
    public enum Action: Sendable, Hashable {
        /// Nothing.
        case none
        /// Start executing.
        case execute
        /// Start delivering the outputs.
        case deliver
        /// Post this final answer (happens exactly once per job).
        case answer(JobOutcome)
        /// Cancel the execution and interrupt ComfyUI's prompt (if queued); post nothing.
        case interrupt(promptID: String?)
        /// Cancel the delivery (uploads in flight); post nothing.
        case cancelDelivery
        /// Cancel the work and answer with this outcome (shutdown deadline).
        case interruptAndAnswer(promptID: String?, JobOutcome)
        /// Send this progress update (only while running).
        case sendProgress
    }

    /// The current state.
    public private(set) var state: State = .queued
    /// Whether a final answer was handed out.
    public private(set) var answered = false

    /// A queued job.
    public init() {}

    /// Whether the job reached a final state.
    public var isFinished: Bool {
        switch state {
        case .done, .failed, .stopped: true
        default: false
        }
    }

    /// The runner is ready to run it.
    public mutating func start() -> Action {
        guard case .queued = state else { return .none }
        state = .running(promptID: nil)
        return .execute
    }

    /// ComfyUI accepted the prompt.
    public mutating func promptQueued(_ promptID: String) -> Action {
        guard case .running = state else { return .none }
        state = .running(promptID: promptID)
        return .none
    }

    /// A progress event arrived: send it only while running and before any answer.
    public mutating func progress() -> Action {
        guard case .running = state, !answered else { return .none }
        return .sendProgress
    }

    /// ComfyUI finished the graph.
    public mutating func executionSucceeded() -> Action {
        guard case .running = state else { return .none }
        state = .delivering
        return .deliver
    }

    /// Validation, input preparation or execution failed.
    public mutating func executionFailed(_ failure: JobFailure, refreshWorker: Bool = false) -> Action {
        switch state {
        case .queued, .running, .delivering: return finish(.failed, .failed(failure, refreshWorker: refreshWorker))
        default: return .none
        }
    }

    /// Outputs delivered.
    public mutating func delivered(_ output: JobOutput) -> Action {
        guard case .delivering = state else { return .none }
        return finish(.done, .completed(output))
    }

    /// Delivery failed.
    public mutating func deliveryFailed(_ failure: JobFailure) -> Action {
        guard case .delivering = state else { return .none }
        return finish(.failed, .failed(failure, refreshWorker: false))
    }

    /// The platform or a client asked to stop the job.
    public mutating func stopRequested() -> Action {
        switch state {
        case .queued:
            state = .stopped
            return .none
        case .running(let promptID):
            state = .stopped
            return .interrupt(promptID: promptID)
        case .delivering:
            state = .stopped
            return .cancelDelivery
        case .done, .failed, .stopped:
            return .none
        }
    }

    /// The worker is shutting down and its grace period for this job is over: interrupt and answer with a
    /// retryable error (the platform may give the job to another worker).
    public mutating func shutdownDeadlinePassed() -> Action {
        let failure = JobFailure(
            kind: .interrupted, message: "the worker shut down before the job finished", retryable: true)
        switch state {
        case .queued:
            return finish(.failed, .failed(failure, refreshWorker: false))
        case .running(let promptID):
            guard case .answer(let outcome) = finish(.failed, .failed(failure, refreshWorker: false)) else {
                return .none
            }
            return .interruptAndAnswer(promptID: promptID, outcome)
        case .delivering:
            guard case .answer(let outcome) = finish(.failed, .failed(failure, refreshWorker: false)) else {
                return .none
            }
            return .interruptAndAnswer(promptID: nil, outcome)
        case .done, .failed, .stopped:
            return .none
        }
    }

    private mutating func finish(_ final: State, _ outcome: JobOutcome) -> Action {
        guard !answered else { return .none }
        answered = true
        state = final
        return .answer(outcome)
    }
}
