internal import Foundation
internal import Synchronization

#if canImport(Glibc)
    internal import Glibc
#elseif canImport(Darwin)
    internal import Darwin
#endif

/// One line a long-lived child wrote, without its line terminator.
public struct ProcessOutputLine: Sendable, Hashable, CustomStringConvertible {
    /// The stream it came from.
    public let stream: ProcessOutputStream
    /// The line decoded as UTF-8 (invalid bytes replaced); at most `ProcessExecution.Options.maxLineLength` bytes
    /// of it are kept (a longer line is cut and ends with `…`).
    public let text: String

    /// A line.
    public init(stream: ProcessOutputStream, text: String) {
        self.stream = stream
        self.text = text
    }

    /// The text.
    public var description: String { text }
}

/// A long-lived child process: a server, a watcher, anything that runs until it is told to stop.
///
/// Modelled on swift-subprocess's `Execution`: `start` spawns the program (through the same `posix_spawn` path as
/// `ProcessRunner`, in its own process group, signals reset) and returns at once with the `pid`; its output arrives
/// line by line on `lines`; `wait()` resumes the moment the child exits (a dedicated reaper thread blocks in
/// `waitpid`, nothing polls); `terminate(grace:)` sends SIGTERM to the whole process group and SIGKILL after the grace
/// period. Prefer `withStarted`, which bounds the child's life by a scope: leaving the scope, throwing or cancelling
/// the task terminates the group and reaps it (no orphan, no zombie).
///
/// **No child survives its parent**: with `Options.killWhenParentDies` (the default on Linux) the child is exec'd
/// through util-linux `setpriv --pdeathsig KILL`, so the kernel SIGKILLs it when this process dies, even by SIGKILL.
/// `setpriv` is not a shell: it calls `prctl(PR_SET_PDEATHSIG)` and `execve`s the program, keeping the pid, so the
/// spawn path stays the single `posix_spawn` one. The "parent" for the kernel is the spawning thread, so the spawn
/// happens on the reaper thread, which lives exactly as long as the child.
public final class ProcessExecution: Sendable {
    /// How the child is watched.
    public struct Options: Sendable, Hashable {
        /// Kill the child (SIGKILL) when this process dies, through `setpriv --pdeathsig` (Linux; ignored where
        /// `setpriv` is missing — see `parentDeathSignalAvailable`).
        public var killWhenParentDies: Bool
        /// How many lines `lines` buffers for a slow reader; older lines are dropped beyond it.
        public var lineBufferLimit: Int
        /// Longest line kept, in bytes.
        public var maxLineLength: Int
        /// After the child exits, SIGKILL what is left of its process group (helpers it started).
        public var killGroupOnExit: Bool

        /// Defaults: kill when the parent dies, 4096 buffered lines of at most 16 KiB, clean up the group on exit.
        public init(
            killWhenParentDies: Bool = true, lineBufferLimit: Int = 4096, maxLineLength: Int = 16 << 10,
            killGroupOnExit: Bool = true
        ) {
            self.killWhenParentDies = killWhenParentDies
            self.lineBufferLimit = lineBufferLimit
            self.maxLineLength = maxLineLength
            self.killGroupOnExit = killGroupOnExit
        }
    }

    /// The program that runs (secrets masked in its description).
    public let command: ProcessCommand
    /// The child's process id (also its process group id).
    public let pid: Int32
    /// Every line the child writes on standard output and standard error, in arrival order per stream. Finishes
    /// when both streams are closed after the child exited. Bounded: see `Options.lineBufferLimit`.
    public let lines: AsyncStream<ProcessOutputLine>
    /// When `start` returned (just after the spawn).
    public let startedAt: ContinuousClock.Instant

    private let state: Mutex<State>
    private let control: ChildControl

    private struct State {
        var termination: ProcessTermination?
        /// Set once the exit handlers ran: from then on `wait` and `onExit` complete at once.
        var notified = false
        var waiters: [CheckedContinuation<ProcessTermination, Never>] = []
        var exitHandlers: [@Sendable (ProcessTermination) -> Void] = []
    }

    /// True when `setpriv --pdeathsig` is available, so `killWhenParentDies` takes effect.
    public static let parentDeathSignalAvailable: Bool = {
        #if os(Linux)
            return access(Spawner.setprivPath, X_OK) == 0
        #else
            return false
        #endif
    }()

    private init(
        command: ProcessCommand, pid: Int32, lines: AsyncStream<ProcessOutputLine>, control: ChildControl,
        startedAt: ContinuousClock.Instant
    ) {
        self.command = command
        self.pid = pid
        self.lines = lines
        self.control = control
        self.startedAt = startedAt
        self.state = Mutex(State())
    }

    /// Starts `command` and returns as soon as it runs.
    ///
    /// `command.timeout` is not applied (a long-lived child has no natural end); `command.standardInput` is written
    /// and then closed. Throws `ProcessError` when the program cannot start.
    public static func start(
        _ command: ProcessCommand, options: Options = Options()
    ) async throws(ProcessError)
        -> ProcessExecution
    {
        let control: ChildControl
        do { control = try ChildControl() } catch {
            throw .spawnFailed(command: command, errno: errno, reason: "pipe: \(String(cString: strerror(errno)))")
        }
        let (lines, continuation) = AsyncStream<ProcessOutputLine>.makeStream(
            bufferingPolicy: .bufferingNewest(max(options.lineBufferLimit, 1)))
        let useSetpriv = options.killWhenParentDies && parentDeathSignalAvailable
        let holder = ExecutionHolder()
        let result: Result<ProcessExecution, ProcessError> = await withCheckedContinuation { started in
            // The reaper thread spawns (so the kernel's parent-death signal is tied to a thread that lives as long
            // as the child), reports the pid, then blocks in waitpid.
            let reaper = Thread {
                let child: SpawnedChild
                do throws(ProcessError) {
                    child = try Spawner.spawn(command, parentDeathSignal: useSetpriv)
                } catch {
                    continuation.finish()
                    started.resume(returning: .failure(error))
                    return
                }
                let execution = ProcessExecution(
                    command: command, pid: child.pid, lines: lines, control: control, startedAt: child.started)
                holder.set(execution)
                let reader = Thread {
                    LineReader(child: child, command: command, control: control, options: options, sink: continuation)
                        .run()
                }
                reader.name = "comfylock.lines.\(child.pid)"
                reader.start()
                started.resume(returning: .success(execution))
                // Wait for the exit without reaping, so the pid stays ours while `finish` reaps it under the lock
                // that `signal` takes (a signal can never reach a recycled pid).
                ChildReaper.waitForExit(child.pid)
                execution.finish(killGroup: options.killGroupOnExit)
                control.markExited()
                execution.runExitHandlers()
            }
            reaper.name = "comfylock.reaper"
            reaper.start()
        }
        return try result.get()
    }

    /// Runs `body` with a started child; when `body` returns or throws, or the task is cancelled, the child's
    /// process group is terminated (SIGTERM, then SIGKILL after `grace`) and reaped before this returns.
    public static func withStarted<Result: Sendable>(
        _ command: ProcessCommand, options: Options = Options(), grace: Duration = .seconds(5),
        _ body: (ProcessExecution) async throws -> Result
    ) async throws -> Result {
        let execution = try await start(command, options: options)
        let outcome: Swift.Result<Result, any Error>
        do {
            let value = try await withTaskCancellationHandler {
                try await body(execution)
            } onCancel: {
                execution.signalGroup(SIGTERM)
                execution.killAfter(grace)
            }
            outcome = .success(value)
        } catch {
            outcome = .failure(error)
        }
        _ = await execution.terminate(grace: grace)
        return try outcome.get()
    }

    /// How the child ended, or `nil` while it runs.
    public var termination: ProcessTermination? { state.withLock { $0.termination } }

    /// True while the child has not exited.
    public var isRunning: Bool { termination == nil }

    /// Waits until the child exits (resumes at once when it already has) and returns how it ended.
    public func wait() async -> ProcessTermination {
        await withCheckedContinuation { continuation in
            let done: ProcessTermination? = state.withLock { state in
                if state.notified, let termination = state.termination { return termination }
                state.waiters.append(continuation)
                return nil
            }
            if let done { continuation.resume(returning: done) }
        }
    }

    /// Calls `handler` on the reaper thread the moment the child exits (at once if it already has).
    /// Keep it short: it runs before `wait()` callers resume.
    public func onExit(_ handler: @escaping @Sendable (ProcessTermination) -> Void) {
        let done: ProcessTermination? = state.withLock { state in
            if state.notified, let termination = state.termination { return termination }
            state.exitHandlers.append(handler)
            return nil
        }
        if let done { handler(done) }
    }

    /// Sends SIGTERM to the child's process group, SIGKILL after `grace` if it still runs, and returns how it ended.
    /// Returns at once when the child already exited.
    @discardableResult
    public func terminate(grace: Duration = .seconds(5)) async -> ProcessTermination {
        if let termination { return termination }
        signalGroup(SIGTERM)
        killAfter(grace)
        return await wait()
    }

    /// Sends `signal` to the child's whole process group (nothing once it has been reaped).
    public func signal(_ signal: Int32) { signalGroup(signal) }

    /// SIGKILL to the process group at once.
    public func kill() { signalGroup(SIGKILL) }

    private func signalGroup(_ signal: Int32) {
        // Holding the lock while signalling keeps the pid from being reaped (and reused) meanwhile.
        state.withLock { state in
            guard state.termination == nil else { return }
            ChildReaper.signalGroup(pid, signal)
        }
    }

    private func killAfter(_ grace: Duration) {
        let thread = Thread { [self] in
            let deadline = ContinuousClock().now + grace
            while ContinuousClock().now < deadline {
                if !self.isRunning { return }
                self.control.waitForExit(until: deadline)
            }
            self.signalGroup(SIGKILL)
        }
        thread.name = "comfylock.kill.\(pid)"
        thread.start()
    }

    fileprivate func finish(killGroup: Bool) {
        state.withLock { state in
            let termination = ChildReaper.reap(pid)
            if killGroup { _ = Glibc.kill(-pid, SIGKILL) }
            state.termination = termination
        }
    }

    fileprivate func runExitHandlers() {
        // Handlers first, then waiters; anything registered meanwhile is drained too.
        while true {
            let (termination, waiters, handlers):
                (
                    ProcessTermination, [CheckedContinuation<ProcessTermination, Never>],
                    [@Sendable (ProcessTermination) -> Void]
                ) = state.withLock { state in
                    defer {
                        state.waiters = []
                        state.exitHandlers = []
                    }
                    return (state.termination ?? .exited(-1), state.waiters, state.exitHandlers)
                }
            if waiters.isEmpty && handlers.isEmpty {
                let done = state.withLock { state -> Bool in
                    guard state.waiters.isEmpty && state.exitHandlers.isEmpty else { return false }
                    state.notified = true
                    return true
                }
                if done { return }
                continue
            }
            for handler in handlers { handler(termination) }
            for waiter in waiters { waiter.resume(returning: termination) }
        }
    }

}

/// Hands the execution object from the reaper thread to its own closure (set once before use).
private final class ExecutionHolder: Sendable {
    private let value = Mutex<ProcessExecution?>(nil)
    func set(_ execution: ProcessExecution) { value.withLock { $0 = execution } }
}

extension ChildControl {
    /// Marks the child as exited and wakes the reader and any grace-period timer.
    func markExited() {
        exited.withLock { $0 = true }
        exitCondition.broadcast()
        cancel()
    }

    /// Blocks the calling (dedicated) thread until the child exits or `deadline` passes.
    func waitForExit(until deadline: ContinuousClock.Instant) {
        let remaining = deadline - ContinuousClock().now
        let (seconds, atto) = remaining.components
        let interval = Double(seconds) + Double(atto) / 1e18
        guard interval > 0 else { return }
        exitCondition.lock()
        if !exited.withLock({ $0 }) { _ = exitCondition.wait(until: Date().addingTimeInterval(interval)) }
        exitCondition.unlock()
    }
}

/// Pumps a child's pipes (`ChildPipes`) on a dedicated thread, splits them into lines and feeds the stream.
private struct LineReader {
    let child: SpawnedChild
    let command: ProcessCommand
    let control: ChildControl
    let options: ProcessExecution.Options
    let sink: AsyncStream<ProcessOutputLine>.Continuation

    func run() {
        var pending: [ProcessOutputStream: [UInt8]] = [.standardOutput: [], .standardError: []]
        var exitSeenAt: ContinuousClock.Instant?
        let (options, sink) = (self.options, self.sink)

        func emit(_ bytes: [UInt8], _ stream: ProcessOutputStream) {
            var line = bytes
            if line.last == 0x0D { line.removeLast() }
            if line.count > options.maxLineLength {
                sink.yield(
                    ProcessOutputLine(
                        stream: stream, text: String(decoding: line.prefix(options.maxLineLength), as: UTF8.self) + "…")
                )
            } else {
                sink.yield(ProcessOutputLine(stream: stream, text: String(decoding: line, as: UTF8.self)))
            }
        }

        let pipes = ChildPipes(child, input: command.standardInput ?? []) { stream, bytes in
            var carry = pending[stream] ?? []
            var start = 0
            for index in 0..<bytes.count where bytes[index] == 0x0A {
                carry.append(contentsOf: bytes[start..<index])
                emit(carry, stream)
                carry.removeAll(keepingCapacity: true)
                start = index + 1
            }
            if start < bytes.count {
                // Keep at most one over-long line's worth; the rest of it is dropped.
                let room = max(options.maxLineLength + 1 - carry.count, 0)
                carry.append(contentsOf: bytes[start..<min(bytes.count, start + room)])
            }
            pending[stream] = carry
        }
        defer {
            for stream in [ProcessOutputStream.standardOutput, .standardError] where !(pending[stream] ?? []).isEmpty {
                emit(pending[stream]!, stream)
            }
            sink.finish()
        }

        while pipes.outputOpen {
            // After the child exited, grandchildren may still hold the pipes: drain briefly, then stop.
            var timeout: Int32 = -1
            if control.hasExited {
                let now = ContinuousClock().now
                if exitSeenAt == nil { exitSeenAt = now }
                let left = (exitSeenAt! + .milliseconds(200)) - now
                if left <= .zero {
                    pipes.drain()
                    return
                }
                timeout = Int32(left.components.attoseconds / 1_000_000_000_000_000) + 1
            }
            if !pipes.pump(wake: control.wakeRead, timeout: timeout) { return }
        }
    }
}
