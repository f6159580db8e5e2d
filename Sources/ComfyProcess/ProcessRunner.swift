internal import Foundation
internal import Synchronization

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// Which stream a chunk of child output came from.
public enum ProcessOutputStream: Sendable, Hashable {
    /// The child's standard output.
    case standardOutput
    /// The child's standard error.
    case standardError
}

/// Receives child output as it arrives (for progress lines); called on the runner's own thread.
public typealias ProcessOutputHandler = @Sendable (ProcessOutputStream, [UInt8]) -> Void

/// Runs programs without blocking Swift's cooperative thread pool.
///
/// Each child is started with `posix_spawn` in its own process group, with standard output and error captured
/// through pipes and standard input fed from `ProcessCommand.standardInput` (or `/dev/null`). A dedicated thread
/// per child multiplexes the pipes with `poll(2)` and reaps the child; the calling task awaits a continuation.
///
/// Cancelling the calling task, or reaching the command's timeout, sends SIGTERM to the child's process group and
/// SIGKILL after the grace period. Cancellation then throws `CancellationError`; a timeout throws
/// `ProcessError.timedOut`.
public enum ProcessRunner {
    /// How many trailing bytes of standard error a result keeps.
    public static let standardErrorLimit = 1 << 20

    /// Runs `command` to completion and throws `ProcessError` unless it exits with status 0.
    @discardableResult
    public static func run(
        _ command: ProcessCommand, onOutput: ProcessOutputHandler? = nil
    ) async throws
        -> ProcessResult
    {
        try await execute(command, onOutput: onOutput).checked()
    }

    /// Runs `command` to completion and returns its result whatever its exit status.
    ///
    /// Throws `ProcessError` when the program cannot start or times out, `CancellationError` when the task is
    /// cancelled (the child is stopped first).
    public static func execute(
        _ command: ProcessCommand, onOutput: ProcessOutputHandler? = nil
    ) async throws
        -> ProcessResult
    {
        let control = try ChildControl()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ProcessResult, any Error>) in
                if Task.isCancelled {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                let child: SpawnedChild
                do {
                    child = try Spawner.spawn(command)
                } catch {
                    continuation.resume(throwing: error)
                    return
                }
                let thread = Thread {
                    let outcome = Supervisor(child: child, command: command, control: control, onOutput: onOutput)
                        .run()
                    continuation.resume(with: outcome)
                }
                thread.name = "comfylock.process.\(child.pid)"
                thread.start()
            }
        } onCancel: {
            control.cancel()
        }
    }
}

/// Cancellation flag plus a self-pipe that wakes the supervisor's `poll`.
final class ChildControl: Sendable {
    private let cancelled = Atomic<Bool>(false)
    let wakeRead: Int32
    let wakeWrite: Int32
    /// Set by a long-lived execution's reaper when the child exited (see `ProcessExecution`).
    let exited = Mutex<Bool>(false)
    let exitCondition = NSCondition()
    var hasExited: Bool { exited.withLock { $0 } }

    init() throws {
        guard let fds = Spawner.makePipe(nonBlocking: true) else {
            throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
        }
        wakeRead = fds.read
        wakeWrite = fds.write
    }

    deinit {
        close(wakeRead)
        close(wakeWrite)
    }

    var isCancelled: Bool { cancelled.load(ordering: .acquiring) }

    func cancel() {
        cancelled.store(true, ordering: .releasing)
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }
}

/// A started child and the parent's ends of its pipes.
struct SpawnedChild: Sendable {
    let pid: pid_t
    let stdoutFD: Int32
    let stderrFD: Int32
    let stdinFD: Int32?
    let started: ContinuousClock.Instant
}

/// Pumps a child's pipes (`ChildPipes`), enforces timeout and cancellation, and reaps it (`ChildReaper`).
private struct Supervisor {
    let child: SpawnedChild
    let command: ProcessCommand
    let control: ChildControl
    let onOutput: ProcessOutputHandler?

    private enum StopReason { case timeout, cancel }

    func run() -> Result<ProcessResult, any Error> {
        let clock = ContinuousClock()
        let deadline = command.timeout.map { child.started + $0 }
        var output: [UInt8] = []
        var errors: [UInt8] = []
        var termination: ProcessTermination?
        var stopReason: StopReason?
        var termSentAt: ContinuousClock.Instant?
        var killSent = false
        var idleSleepMs: Int32 = 1
        let onOutput = self.onOutput
        let pipes = ChildPipes(child, input: command.standardInput ?? []) { stream, bytes in
            let chunk = Array(bytes)
            if stream == .standardOutput {
                output.append(contentsOf: chunk)
            } else {
                errors.append(contentsOf: chunk)
                if errors.count > 2 * ProcessRunner.standardErrorLimit {
                    errors.removeFirst(errors.count - ProcessRunner.standardErrorLimit)
                }
            }
            onOutput?(stream, chunk)
        }

        while true {
            let now = clock.now
            if stopReason == nil {
                if control.isCancelled {
                    stopReason = .cancel
                } else if let deadline, now >= deadline {
                    stopReason = .timeout
                }
                if stopReason != nil && termination == nil {
                    ChildReaper.signalGroup(child.pid, SIGTERM)
                    termSentAt = now
                }
            } else if !killSent, termination == nil, let sent = termSentAt, now >= sent + command.terminationGracePeriod
            {
                ChildReaper.signalGroup(child.pid, SIGKILL)
                killSent = true
            }

            if termination == nil { termination = ChildReaper.reapIfExited(child.pid) }
            if termination != nil {
                // The child is gone: take what is already in the pipes, but do not wait for grandchildren that
                // inherited them.
                pipes.drain()
                break
            }

            var timeoutMs: Int32
            if !pipes.outputOpen {
                // Streams closed but not reaped yet: back off gently.
                timeoutMs = idleSleepMs
                idleSleepMs = min(idleSleepMs * 2, 50)
            } else {
                timeoutMs = 100  // Also catches a child that exits while a grandchild holds the pipes.
            }
            if let deadline, stopReason == nil { timeoutMs = min(timeoutMs, Self.milliseconds(until: deadline, now)) }
            if let sent = termSentAt, !killSent {
                timeoutMs = min(timeoutMs, Self.milliseconds(until: sent + command.terminationGracePeriod, now))
            }
            if !pipes.pump(wake: control.wakeRead, timeout: max(timeoutMs, 0)) { break }
        }

        let ended = termination ?? ChildReaper.reap(child.pid)
        switch stopReason {
        case .cancel?:
            return .failure(CancellationError())
        case .timeout?:
            return .failure(
                ProcessError.timedOut(
                    command: command, after: command.timeout ?? .zero, termination: ended, standardError: errors))
        case nil:
            return .success(
                ProcessResult(
                    command: command, termination: ended, standardOutput: output, standardError: errors,
                    duration: clock.now - child.started))
        }
    }

    private static func milliseconds(until instant: ContinuousClock.Instant, _ now: ContinuousClock.Instant) -> Int32 {
        let (seconds, attoseconds) = (instant - now).components
        let ms = seconds * 1000 + attoseconds / 1_000_000_000_000_000 + 1
        return Int32(clamping: max(ms, 0))
    }
}
