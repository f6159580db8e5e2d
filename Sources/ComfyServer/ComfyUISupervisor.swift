internal import ComfyProcess
internal import ComfySupport
public import ComfyTransport
public import Foundation
public import Logging
internal import Synchronization

#if canImport(Glibc)
    internal import Glibc
#endif

/// Launches ComfyUI from a version directory (or attaches to one by URL), waits until it is ready, captures its log,
/// notices the moment it dies, restarts it with bounded exponential backoff, gives up after too many crashes in a
/// window, and stops it cleanly.
///
/// The child runs through `ComfyProcess.ProcessExecution`: its own process group (stop = SIGTERM to the group, then
/// SIGKILL after `stopGrace`), and the kernel kills it if this process dies (`setpriv --pdeathsig`), so no ComfyUI
/// outlives its supervisor. Death is seen through the execution's reaper thread (`waitpid`), not by polling.
public actor ComfyUISupervisor {
    /// How to launch ComfyUI.
    public struct LaunchConfiguration: Sendable {
        /// The Python interpreter (a version's `venv/bin/python`).
        public var python: String
        /// ComfyUI's `main.py`.
        public var mainScript: String
        /// Where ComfyUI runs (its checkout); `nil` uses the directory of `mainScript`.
        public var workingDirectory: String?
        /// The address to listen on (loopback by default).
        public var host: String
        /// The port; `nil` picks a free one (binding port 0) and keeps it across restarts.
        public var port: Int?
        /// `--extra-model-paths-config` (a version's `ComfyUI/extra_model_paths.yaml`).
        public var extraModelPathsConfig: String?
        /// `--input-directory`.
        public var inputDirectory: String?
        /// `--output-directory`.
        public var outputDirectory: String?
        /// `--temp-directory`.
        public var tempDirectory: String?
        /// `--user-directory`.
        public var userDirectory: String?
        /// Passed through (e.g. `--cpu`, GPU flags).
        public var extraArguments: [String]
        /// Extra environment for the child.
        public var environment: [String: String]
        /// Also append ComfyUI's log to this file.
        public var logFile: String?
        /// How many log lines the ring keeps.
        public var logRingLines: Int
        /// How long start-up may take before it is an error.
        public var readyTimeout: Duration
        /// How long a stop waits after SIGTERM before SIGKILL.
        public var stopGrace: Duration
        /// Restarts after crashes.
        public var restartPolicy: RestartPolicy
        /// Secrets that must never appear in the log ring or errors.
        public var secrets: [String]

        /// A configuration running `python mainScript`.
        public init(
            python: String, mainScript: String, workingDirectory: String? = nil, host: String = "127.0.0.1",
            port: Int? = nil, extraModelPathsConfig: String? = nil, inputDirectory: String? = nil,
            outputDirectory: String? = nil, tempDirectory: String? = nil, userDirectory: String? = nil,
            extraArguments: [String] = [], environment: [String: String] = [:], logFile: String? = nil,
            logRingLines: Int = 2000, readyTimeout: Duration = .seconds(300), stopGrace: Duration = .seconds(10),
            restartPolicy: RestartPolicy = RestartPolicy(), secrets: [String] = []
        ) {
            self.python = python
            self.mainScript = mainScript
            self.workingDirectory = workingDirectory
            self.host = host
            self.port = port
            self.extraModelPathsConfig = extraModelPathsConfig
            self.inputDirectory = inputDirectory
            self.outputDirectory = outputDirectory
            self.tempDirectory = tempDirectory
            self.userDirectory = userDirectory
            self.extraArguments = extraArguments
            self.environment = environment
            self.logFile = logFile
            self.logRingLines = logRingLines
            self.readyTimeout = readyTimeout
            self.stopGrace = stopGrace
            self.restartPolicy = restartPolicy
            self.secrets = secrets
        }

        /// The configuration for a version directory built by `comfy-cli version create`: `venv/bin/python`,
        /// `ComfyUI/main.py`, `ComfyUI/extra_model_paths.yaml` (when present).
        public static func version(directory: String) -> LaunchConfiguration {
            let comfy = directory + "/ComfyUI"
            let yaml = comfy + "/extra_model_paths.yaml"
            return LaunchConfiguration(
                python: directory + "/venv/bin/python", mainScript: comfy + "/main.py", workingDirectory: comfy,
                extraModelPathsConfig: FileManager.default.fileExists(atPath: yaml) ? yaml : nil)
        }

        /// The command line (after the interpreter) for `port`.
        public func arguments(port: Int) -> [String] {
            var arguments = [mainScript, "--listen", host, "--port", String(port), "--disable-auto-launch"]
            if let extraModelPathsConfig { arguments += ["--extra-model-paths-config", extraModelPathsConfig] }
            if let inputDirectory { arguments += ["--input-directory", inputDirectory] }
            if let outputDirectory { arguments += ["--output-directory", outputDirectory] }
            if let tempDirectory { arguments += ["--temp-directory", tempDirectory] }
            if let userDirectory { arguments += ["--user-directory", userDirectory] }
            return arguments + extraArguments
        }
    }

    /// When and how often to restart after crashes.
    public struct RestartPolicy: Sendable, Hashable {
        /// Restart at all.
        public var enabled: Bool
        /// Give up after this many crashes within `window`.
        public var maxCrashes: Int
        /// The window for counting crashes.
        public var window: Duration
        /// The first backoff delay; doubled per recent crash, capped at `maxDelay`.
        public var initialDelay: Duration
        /// The largest backoff delay.
        public var maxDelay: Duration

        /// Defaults: restart, give up after 3 crashes in 5 minutes, backoff 0.5 s doubling to 30 s.
        public init(
            enabled: Bool = true, maxCrashes: Int = 3, window: Duration = .seconds(300),
            initialDelay: Duration = .milliseconds(500), maxDelay: Duration = .seconds(30)
        ) {
            self.enabled = enabled
            self.maxCrashes = maxCrashes
            self.window = window
            self.initialDelay = initialDelay
            self.maxDelay = maxDelay
        }

        /// The delay before restart number `crashes` (1-based count of recent crashes).
        public func delay(afterCrashes crashes: Int) -> Duration {
            var delay = initialDelay
            for _ in 1..<max(crashes, 1) {
                delay = delay * 2
                if delay >= maxDelay { return maxDelay }
            }
            return min(delay, maxDelay)
        }
    }

    /// How one start went.
    public struct StartupReport: Sendable, Hashable, Codable {
        /// The process id (nil when attached).
        public var pid: Int32?
        /// The base URL.
        public var url: String
        /// Seconds from spawn until `/system_stats` answered (0 when attached).
        public var httpUp: Double
        /// Seconds from `/system_stats` answering until `/object_info` loaded.
        public var nodesLoaded: Double
        /// Total seconds until ready.
        public var total: Double
        /// Node classes `/object_info` lists.
        public var nodeClasses: Int
        /// Custom nodes whose import failed (from ComfyUI's "IMPORT FAILED" log lines).
        public var failedImports: [String]
        /// ComfyUI's version, from `/system_stats`.
        public var comfyUIVersion: String?
        /// 1 for the first start, then counting restarts.
        public var attempt: Int
    }

    /// What happens to the supervised server.
    public enum Event: Sendable, Hashable {
        /// It is ready.
        case ready(StartupReport)
        /// The process died unexpectedly (`termination` description, detected at `ContinuousClock` instant).
        case crashed(termination: String, at: ContinuousClock.Instant)
        /// A restart is scheduled after `delay`.
        case restarting(attempt: Int, delay: Duration)
        /// Too many crashes: no more restarts.
        case gaveUp(message: String)
        /// Stopped on request.
        case stopped
    }

    private enum State {
        case starting
        case ready
        case restarting
        case failed(ComfyUIError)
        case stopped
    }

    /// The server's base URL (fixed for the supervisor's life: restarts reuse the port).
    public nonisolated let baseURL: URL
    /// The API client for it.
    public nonisolated let client: ComfyUIClient
    /// Lifecycle events (bounded; newest kept).
    public nonisolated let events: AsyncStream<Event>
    private nonisolated let eventFeed: AsyncStream<Event>.Continuation
    private nonisolated let log: LogRing
    private nonisolated let currentProcess = Mutex<ProcessExecution?>(nil)
    private nonisolated let restarts = Mutex(0)
    /// How many times this supervisor started ComfyUI again (after a crash, or a deadline's restart stage).
    public nonisolated var restartCount: Int { restarts.withLock { $0 } }

    private let configuration: LaunchConfiguration?
    private let logger: Logger
    private let port: Int
    private var state: State = .starting
    private var generation = 0
    private var crashTimes: [ContinuousClock.Instant] = []
    private var expectedExitGeneration: Int?
    private var restartTask: Task<Void, Never>?
    private var pumpTask: Task<Void, Never>?
    /// The last start-up's report.
    public private(set) var startup: StartupReport?
    /// Crashes so far.
    public private(set) var crashCount = 0

    private init(configuration: LaunchConfiguration?, baseURL: URL, port: Int, httpClient: HTTPClient, logger: Logger) {
        self.configuration = configuration
        self.baseURL = baseURL
        self.port = port
        self.logger = logger
        self.client = ComfyUIClient(baseURL: baseURL, httpClient: httpClient, logger: logger)
        (events, eventFeed) = AsyncStream<Event>.makeStream(bufferingPolicy: .bufferingNewest(256))
        log = LogRing(
            capacity: configuration?.logRingLines ?? 1, file: configuration?.logFile,
            secrets: configuration?.secrets ?? [])
    }

    /// Launches ComfyUI and returns once it is ready (throws `.crashed` when it dies while starting, with its log
    /// tail, or `.unavailable` when it does not become ready within `readyTimeout`).
    public static func launch(
        _ configuration: LaunchConfiguration, httpClient: HTTPClient = .shared,
        logger: Logger = Logger(label: "comfylock.comfyui.supervisor")
    ) async throws(ComfyUIError) -> ComfyUISupervisor {
        let port: Int
        if let fixed = configuration.port { port = fixed } else { port = try freePort(host: configuration.host) }
        guard
            let url = URL(
                string:
                    "http://\(configuration.host.contains(":") ? "[\(configuration.host)]" : configuration.host):\(port)"
            )
        else { throw .unavailable("invalid host \(Escaping.escape(configuration.host))") }
        let supervisor = ComfyUISupervisor(
            configuration: configuration, baseURL: url, port: port, httpClient: httpClient, logger: logger)
        do {
            try await supervisor.startProcess(attempt: 1)
        } catch {
            await supervisor.stop()
            throw error
        }
        return supervisor
    }

    /// Attaches to a ComfyUI already running at `url` and returns once it is ready (`/system_stats` and
    /// `/object_info` answer). No process to watch: crashes show up as connection errors.
    public static func attach(
        url: URL, httpClient: HTTPClient = .shared, readyTimeout: Duration = .seconds(30),
        logger: Logger = Logger(label: "comfylock.comfyui.supervisor")
    ) async throws(ComfyUIError) -> ComfyUISupervisor {
        guard let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
            throw .unavailable("--comfyui-url must be an http(s) URL, got \(Escaping.escape(url.absoluteString))")
        }
        let supervisor = ComfyUISupervisor(
            configuration: nil, baseURL: url, port: url.port ?? 80, httpClient: httpClient, logger: logger)
        try await supervisor.attachReady(timeout: readyTimeout)
        return supervisor
    }

    /// The last `count` lines of ComfyUI's log (redacted).
    public nonisolated func logTail(_ count: Int = 50) -> [String] { log.tail(count) }

    /// The last `count` log lines for a crash report: when the launched process has exited, its remaining output is
    /// read to the end first (at most `limit`) — the exit is noticed at once, often before its last lines (the error
    /// that killed it) have been read.
    public func logTailAfterExit(_ count: Int = 50, limit: Duration = .seconds(2)) async -> [String] {
        let exited = currentProcess.withLock { process in process.map { !$0.isRunning } ?? false }
        if exited, let pump = pumpTask {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await pump.value }
                group.addTask { try? await Task.sleep(for: limit) }
                await group.next()
                group.cancelAll()
            }
        }
        return log.tail(count)
    }

    /// Custom nodes that failed to import in the current process's log.
    public nonisolated var failedImports: [String] { log.failedImports }

    /// The running child's pid (nil when attached or not running).
    public nonisolated var pid: Int32? { currentProcess.withLock { $0?.isRunning == true ? $0?.pid : nil } }

    /// True when this supervisor started the process (false when attached).
    public nonisolated var isLaunched: Bool { currentProcess.withLock { $0 != nil } }

    /// A ready connection for one job: waits for a restart in progress; throws `.unavailable` after giving up or
    /// stopping.
    func connection() async throws(ComfyUIError) -> SupervisedConnection {
        while true {
            switch state {
            case .ready:
                if let process = currentProcess.withLock({ $0 }), !process.isRunning {
                    // Exited a moment ago: its exit handler is about to move the state on (restart or give up).
                    try? await Task.sleep(for: .milliseconds(10))
                    continue
                }
                return SupervisedConnection(
                    client: client, process: currentProcess.withLock { $0 }, generation: generation,
                    supervisor: self)
            case .failed(let error): throw error
            case .stopped: throw .unavailable("ComfyUI was stopped")
            case .starting, .restarting:
                if let restartTask {
                    await restartTask.value
                } else {
                    try? await Task.sleep(for: .milliseconds(20))
                }
            }
        }
    }

    /// Stops the running ComfyUI (SIGTERM to its group, SIGKILL after the grace) and starts it again; returns when
    /// it is ready. Not counted as a crash.
    public func restart(reason: String) async throws(ComfyUIError) {
        guard configuration != nil else { throw .unavailable("an attached ComfyUI cannot be restarted") }
        if case .stopped = state { throw .unavailable("ComfyUI was stopped") }
        logger.notice("restarting ComfyUI", metadata: ["reason": "\(reason)"])
        state = .restarting
        let attempt = (startup?.attempt ?? 0) + 1
        if let process = currentProcess.withLock({ $0 }) {
            expectedExitGeneration = generation
            await process.terminate(grace: configuration?.stopGrace ?? .seconds(10))
        }
        do {
            try await startProcess(attempt: attempt)
        } catch {
            state = .failed(error)
            throw error
        }
    }

    /// Stops ComfyUI (when launched) and ends the event stream. Idempotent.
    public func stop() async {
        if case .stopped = state { return }
        state = .stopped
        restartTask?.cancel()
        if let process = currentProcess.withLock({ $0 }) {
            expectedExitGeneration = generation
            await process.terminate(grace: configuration?.stopGrace ?? .seconds(10))
        }
        await pumpTask?.value
        log.close()
        eventFeed.yield(.stopped)
        eventFeed.finish()
    }

    // MARK: - Internals

    private func startProcess(attempt: Int) async throws(ComfyUIError) {
        guard let configuration else { return }
        state = attempt == 1 ? .starting : .restarting
        if attempt > 1 { restarts.withLock { $0 += 1 } }
        generation += 1
        let myGeneration = generation
        log.beginProcess()
        var environment = configuration.environment
        environment["PYTHONUNBUFFERED"] = "1"
        let command = ProcessCommand(
            configuration.python, configuration.arguments(port: port), environment: environment,
            workingDirectory: configuration.workingDirectory
                ?? (configuration.mainScript as NSString).deletingLastPathComponent,
            secrets: configuration.secrets)
        let execution: ProcessExecution
        do {
            execution = try await ProcessExecution.start(command)
        } catch {
            throw .unavailable("cannot start ComfyUI: \(error.message)")
        }
        currentProcess.withLock { $0 = execution }
        let ring = log
        pumpTask = Task.detached {
            for await line in execution.lines { ring.append(line.text) }
        }
        execution.onExit { [weak self] termination in
            let at = ContinuousClock().now
            guard let self else { return }
            Task { await self.processExited(generation: myGeneration, termination: termination, at: at) }
        }
        let clock = ContinuousClock()
        let deadline = execution.startedAt + configuration.readyTimeout
        var httpUp: ContinuousClock.Instant?
        var delay = Duration.milliseconds(20)
        while true {
            if let termination = execution.termination {
                await pumpTask?.value
                throw ComfyUIError.crashed(
                    "ComfyUI exited while starting (\(termination))", logTail: log.tail(40))
            }
            if clock.now > deadline {
                await execution.terminate(grace: configuration.stopGrace)
                throw ComfyUIError.unavailable(
                    "ComfyUI did not become ready within \(Escaping.seconds(WorkflowRunner.seconds(configuration.readyTimeout)))",
                    logTail: log.tail(40))
            }
            if httpUp == nil {
                if (try? await client.systemStats(retry: RetryPolicy.none, timeout: .seconds(2))) != nil {
                    httpUp = clock.now
                    continue
                }
            } else if let info = try? await client.objectInfo(retry: RetryPolicy.none) {
                let now = clock.now
                let stats = try? await client.systemStats(retry: RetryPolicy.none, timeout: .seconds(2))
                let report = StartupReport(
                    pid: execution.pid, url: baseURL.absoluteString,
                    httpUp: WorkflowRunner.seconds(httpUp! - execution.startedAt),
                    nodesLoaded: WorkflowRunner.seconds(now - httpUp!),
                    total: WorkflowRunner.seconds(now - execution.startedAt), nodeClasses: info.classNames.count,
                    failedImports: log.failedImports, comfyUIVersion: stats?.comfyUIVersion, attempt: attempt)
                guard generation == myGeneration, execution.isRunning else { continue }
                startup = report
                state = .ready
                eventFeed.yield(.ready(report))
                logger.info(
                    "ComfyUI ready",
                    metadata: [
                        "url": "\(baseURL.absoluteString)", "seconds": "\(report.total)",
                        "failed_imports": "\(report.failedImports.count)",
                    ])
                return
            }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .milliseconds(250))
        }
    }

    private func attachReady(timeout: Duration) async throws(ComfyUIError) {
        let clock = ContinuousClock()
        let start = clock.now
        var lastError: ComfyUIError?
        var delay = Duration.milliseconds(20)
        while clock.now - start < timeout {
            do {
                let stats = try await client.systemStats(retry: RetryPolicy.none, timeout: .seconds(5))
                let up = clock.now
                let info = try await client.objectInfo(retry: RetryPolicy.none)
                let now = clock.now
                let report = StartupReport(
                    pid: nil, url: baseURL.absoluteString, httpUp: 0, nodesLoaded: WorkflowRunner.seconds(now - up),
                    total: WorkflowRunner.seconds(now - start), nodeClasses: info.classNames.count, failedImports: [],
                    comfyUIVersion: stats.comfyUIVersion, attempt: 1)
                startup = report
                state = .ready
                eventFeed.yield(.ready(report))
                return
            } catch {
                lastError = error
            }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .milliseconds(500))
        }
        state = .failed(.unavailable("ComfyUI at \(baseURL.absoluteString) is not ready"))
        throw .unavailable(
            "ComfyUI at \(baseURL.absoluteString) did not answer /system_stats and /object_info within "
                + Escaping.seconds(WorkflowRunner.seconds(timeout)) + (lastError.map { ": \($0.message)" } ?? ""))
    }

    private func processExited(generation exited: Int, termination: ProcessTermination, at: ContinuousClock.Instant) {
        if expectedExitGeneration == exited { return }
        if case .stopped = state { return }
        guard exited == generation, let configuration else { return }
        crashCount += 1
        eventFeed.yield(.crashed(termination: termination.description, at: at))
        logger.error(
            "ComfyUI died",
            metadata: ["termination": "\(termination)", "log": "\(log.tail(5).joined(separator: " | "))"])
        let now = ContinuousClock().now
        crashTimes = crashTimes.filter { now - $0 < configuration.restartPolicy.window } + [now]
        let policy = configuration.restartPolicy
        guard policy.enabled, crashTimes.count < policy.maxCrashes else {
            let message =
                policy.enabled
                ? "ComfyUI crashed \(crashTimes.count) times within \(Escaping.seconds(WorkflowRunner.seconds(policy.window))); giving up"
                : "ComfyUI crashed (\(termination)) and restarts are disabled"
            state = .failed(.unavailable(message, logTail: log.tail(40)))
            eventFeed.yield(.gaveUp(message: message))
            return
        }
        let delay = policy.delay(afterCrashes: crashTimes.count)
        let attempt = (startup?.attempt ?? 0) + 1
        state = .restarting
        eventFeed.yield(.restarting(attempt: attempt, delay: delay))
        restartTask = Task { [weak self] in
            try? await Task.sleep(for: delay)
            guard let self else { return }
            await self.restartAfterCrash(attempt: attempt)
        }
    }

    private func restartAfterCrash(attempt: Int) async {
        if case .stopped = state { return }
        do {
            try await startProcess(attempt: attempt)
        } catch {
            // A failed start is one more crash (its exit handler already counted it if the process ran).
            if case .restarting = state {
                state = .failed(error)
                eventFeed.yield(.gaveUp(message: error.message))
            }
        }
        restartTask = nil
    }

    /// A free TCP port on `host` (bind port 0, read it, close).
    static func freePort(host: String) throws(ComfyUIError) -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw .unavailable("cannot create a socket to find a free port") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr(host == "localhost" ? "127.0.0.1" : host)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0 else { throw .unavailable("cannot bind \(Escaping.escape(host)):0 to find a free port") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw .unavailable("getsockname failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// ComfyUI's log: a bounded ring of redacted lines, optionally appended to a file, and the custom nodes that failed
/// to import (ComfyUI prints "   0.1 seconds (IMPORT FAILED): /path/custom_nodes/NAME").
final class LogRing: Sendable {
    private struct State {
        var lines: [String] = []
        var start = 0
        var failed: [String] = []
        var file: FileHandle?
    }

    private let capacity: Int
    private let secrets: [String]
    private let state: Mutex<State>

    init(capacity: Int, file: String?, secrets: [String]) {
        self.capacity = max(capacity, 1)
        self.secrets = secrets
        var initial = State()
        if let file {
            if !FileManager.default.fileExists(atPath: file) {
                FileManager.default.createFile(atPath: file, contents: nil)
            }
            initial.file = FileHandle(forWritingAtPath: file)
            _ = try? initial.file?.seekToEnd()
        }
        state = Mutex(initial)
    }

    func beginProcess() {
        state.withLock { $0.failed = [] }
    }

    func append(_ raw: String) {
        let line = Redaction.redact(raw, secrets: secrets)
        let failedNode = Self.failedImport(in: line)
        state.withLock { state in
            if state.lines.count < capacity {
                state.lines.append(line)
            } else {
                state.lines[state.start] = line
                state.start = (state.start + 1) % capacity
            }
            if let failedNode, !state.failed.contains(failedNode) { state.failed.append(failedNode) }
            if let file = state.file { try? file.write(contentsOf: Data((line + "\n").utf8)) }
        }
    }

    func tail(_ count: Int) -> [String] {
        state.withLock { state in
            let ordered = Array(state.lines[state.start...] + state.lines[..<state.start])
            return Array(ordered.suffix(count))
        }
    }

    var failedImports: [String] { state.withLock { $0.failed } }

    func close() {
        state.withLock { state in
            try? state.file?.close()
            state.file = nil
        }
    }

    /// The custom node named by an "IMPORT FAILED" line, if `line` is one.
    static func failedImport(in line: String) -> String? {
        guard let range = line.range(of: "(IMPORT FAILED):") else { return nil }
        let path = line[range.upperBound...].trimmingCharacters(in: .whitespaces)
        guard !path.isEmpty else { return nil }
        let name = path.split(separator: "/").last.map(String.init) ?? path
        return Escaping.escape(name, limit: 200)
    }
}
