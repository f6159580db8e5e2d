internal import ComfyCrypto
public import ComfyLock
internal import ComfyProcess
internal import ComfyTransport
internal import Foundation
public import Logging
internal import Synchronization

/// A file to put into ComfyUI's input directory before the workflow runs.
public struct WorkflowInput: Sendable, Hashable {
    /// Where the bytes come from.
    public enum Source: Sendable, Hashable {
        /// A local file.
        case file(String)
        /// Bytes in memory.
        case bytes([UInt8])
    }

    /// The file name in ComfyUI's input directory (what a `LoadImage` node's `image` input names).
    public var name: String
    /// The content.
    public var source: Source
    /// A subfolder of the input directory ("" for none).
    public var subfolder: String
    /// When set, this node input is set to the uploaded name (`node`, `input`).
    public var target: InputTarget?
    /// Upload as a mask applied to this image (`/upload/mask`).
    public var maskOf: FileReference?

    /// A node input to point at an uploaded file.
    public struct InputTarget: Sendable, Hashable {
        /// Node id.
        public var node: String
        /// Input name.
        public var input: String
        /// A target.
        public init(node: String, input: String) {
            self.node = node
            self.input = input
        }
    }

    /// An input.
    public init(
        name: String, source: Source, subfolder: String = "", target: InputTarget? = nil, maskOf: FileReference? = nil
    ) {
        self.name = name
        self.source = source
        self.subfolder = subfolder
        self.target = target
        self.maskOf = maskOf
    }
}

/// When to ask ComfyUI to free memory after a job (`/free`), as fractions of the totals in use.
public struct MemoryWatermarks: Sendable, Hashable {
    /// RAM in use above this fraction (0…1) triggers `/free`; `nil` ignores RAM.
    public var ram: Double?
    /// VRAM in use above this fraction triggers `/free`; `nil` ignores VRAM.
    public var vram: Double?
    /// Also unload models (not only cached memory).
    public var unloadModels: Bool

    /// Watermarks; defaults: 90 % RAM, 90 % VRAM, unload models.
    public init(ram: Double? = 0.9, vram: Double? = 0.9, unloadModels: Bool = true) {
        self.ram = ram
        self.vram = vram
        self.unloadModels = unloadModels
    }
}

/// How one job is run.
public struct WorkflowRunOptions: Sendable {
    /// The job's deadline from the start of `run`; `nil` for none. Past it: interrupt the prompt, wait
    /// `interruptGrace`, then restart ComfyUI (when supervised), then fail with `.timeout`.
    public var deadline: Duration?
    /// How long an interrupted prompt may take to stop.
    public var interruptGrace: Duration
    /// How often the watchdog cross-checks `/history` and `/queue` (also at once when the socket drops).
    public var watchdogInterval: Duration
    /// How long to wait for the WebSocket before queueing anyway (the watchdog covers a socket that never opens).
    public var socketConnectTimeout: Duration
    /// Where to download file outputs (as `DIR/subfolder/filename`); `nil` hashes them in memory and keeps nothing.
    public var outputDirectory: String?
    /// Also collect `temp` outputs (PreviewImage); skipped by default.
    public var includeTemporaryOutputs: Bool
    /// Download (or hash) each file output. `false`: outputs are listed from the history without their bytes (size 0,
    /// empty sha256, no local path) — for a caller that fetches them itself as each node finishes.
    public var fetchOutputs: Bool = true
    /// Validate against `/object_info` and the model lists before queueing.
    public var validate: Bool
    /// Custom node providing each class type (for the hint of a missing-class error), e.g. from the lock.
    public var classProviders: [String: String]
    /// `extra_data` sent with the prompt (e.g. `extra_pnginfo`).
    public var extraData: [String: JSONValue]
    /// Call `/free` after the job above these watermarks; `nil` never does.
    public var memoryWatermarks: MemoryWatermarks?
    /// Sample `/system_stats` while the prompt runs (once as it starts, concurrently with the execution — or a
    /// sample under 500 ms old taken for an earlier job of this runner, so back-to-back short jobs do not add a
    /// request each — then at every watchdog tick), so `WorkflowRunResult.memory` has the peak RAM/VRAM in use.
    public var sampleMemory: Bool = false
    /// Follow the job on the runner's one long-lived WebSocket (a fixed client id for the runner's life, events
    /// routed by prompt id) instead of opening a socket per job: no handshake before each prompt is queued.
    public var sharedSocket: Bool = true
    /// Remove the prompt's entry from ComfyUI's history (`POST /history {"delete": [ids]}`) once it has been read
    /// (success or failure). ComfyUI keeps up to 10,000 entries, each with the whole prompt and its messages; a
    /// long-running worker deletes its own so ComfyUI's memory stays flat. The runner batches the deletes off the
    /// jobs' critical path: one request for up to 16 prompts, sent when that many are pending or 1 s after the first;
    /// `WorkflowRunner.flushHistoryDeletions()` sends the rest at once.
    /// Off by default: an interactive ComfyUI's history is its user's. A failed delete is logged, never fatal.
    public var deleteHistory: Bool = false

    /// Defaults: no deadline, 10 s grace, watchdog every 2 s, 2 s socket wait, outputs hashed in memory, temp
    /// outputs skipped, validation on, no memory governor.
    public init(
        deadline: Duration? = nil, interruptGrace: Duration = .seconds(10), watchdogInterval: Duration = .seconds(2),
        socketConnectTimeout: Duration = .seconds(2), outputDirectory: String? = nil,
        includeTemporaryOutputs: Bool = false, validate: Bool = true, classProviders: [String: String] = [:],
        extraData: [String: JSONValue] = [:], memoryWatermarks: MemoryWatermarks? = nil
    ) {
        self.deadline = deadline
        self.interruptGrace = interruptGrace
        self.watchdogInterval = watchdogInterval
        self.socketConnectTimeout = socketConnectTimeout
        self.outputDirectory = outputDirectory
        self.includeTemporaryOutputs = includeTemporaryOutputs
        self.validate = validate
        self.classProviders = classProviders
        self.extraData = extraData
        self.memoryWatermarks = memoryWatermarks
    }
}

/// Progress of one job, for front ends (called on an arbitrary thread; keep it short).
public enum WorkflowEvent: Sendable, Hashable {
    /// An input was uploaded under this name.
    case uploaded(name: String)
    /// ComfyUI accepted the prompt.
    case queued(promptID: String)
    /// ComfyUI started executing it.
    case started
    /// These nodes come from ComfyUI's cache.
    case cached(nodes: [String])
    /// A node started (`index` counts executed nodes from 1).
    case nodeStarted(nodeID: String, classType: String, index: Int, total: Int)
    /// Progress inside a node.
    case progress(nodeID: String, value: Double, max: Double)
    /// A node produced UI output (`output`: its UI object, e.g. `{"images": [{filename, subfolder, type}]}`), so a
    /// front end can fetch that node's files before the whole graph is done.
    case nodeOutput(nodeID: String, output: JSONValue)
    /// The socket dropped (the watchdog checks at once; a reconnect follows).
    case socketLost(reason: String)
    /// The socket is back.
    case socketReconnected
    /// The watchdog found the outcome through `/history` or `/queue` (the socket said nothing).
    case watchdog(note: String)
    /// The deadline escalation moved to a stage.
    case escalation(stage: String)
    /// The prompt finished; outputs are being collected.
    case finished
}

/// A job progress callback.
public typealias WorkflowEventHandler = @Sendable (WorkflowEvent) -> Void

/// Runs workflows on a ComfyUI: uploads inputs, validates, queues, follows the job over the WebSocket with a
/// watchdog, enforces the deadline, and collects every output with hashes.
///
/// Completion is taken from whichever comes first: the socket's `executing {node: null}` for the prompt, or the
/// watchdog finding the prompt in `/history` (or gone from `/queue`) — so a socket that goes silent or dies never
/// hangs a job. A supervised ComfyUI that dies fails the job at once with `.crashed` (retryable).
public final class WorkflowRunner: Sendable {
    private enum Target: Sendable {
        case client(ComfyUIClient)
        case supervisor(ComfyUISupervisor)
    }

    private let target: Target
    /// Where the runner logs.
    public let logger: Logger
    private let objectInfoCache = Mutex<(key: String, info: ObjectInfo)?>(nil)
    private let sockets = Mutex<[String: SharedEventSocket]>([:])
    private let memorySamples = MemorySampleCache()
    private let historyJanitor = HistoryJanitor()

    /// Sends the history deletions still pending (`WorkflowRunOptions.deleteHistory` batches them) and waits for
    /// them, e.g. before a worker exits.
    public func flushHistoryDeletions() async { await historyJanitor.flush() }

    /// The runner's shared socket to `client`'s server (made on first use).
    private func sharedSocket(for client: ComfyUIClient) -> SharedEventSocket {
        sockets.withLock { sockets in
            let key = client.baseURL.absoluteString
            if let socket = sockets[key] { return socket }
            let socket = SharedEventSocket(client: client, logger: logger)
            sockets[key] = socket
            return socket
        }
    }

    /// A runner for an already running ComfyUI.
    public init(client: ComfyUIClient, logger: Logger = Logger(label: "comfylock.run")) {
        self.target = .client(client)
        self.logger = logger
    }

    /// A runner for a supervised ComfyUI (crash detection, restart as the last deadline stage).
    public init(supervisor: ComfyUISupervisor, logger: Logger = Logger(label: "comfylock.run")) {
        self.target = .supervisor(supervisor)
        self.logger = logger
    }

    /// Runs `workflow` and returns its outputs. Throws `ComfyUIError` (validation, execution, interrupted,
    /// timeout, crashed, connection, unavailable, io) or `CancellationError` (the prompt is interrupted first).
    public func run(
        _ workflow: Workflow, inputs: [WorkflowInput] = [], options: WorkflowRunOptions = WorkflowRunOptions(),
        events: WorkflowEventHandler? = nil
    ) async throws -> WorkflowRunResult {
        let clock = ContinuousClock()
        let started = clock.now
        var timings = WorkflowTimings()
        let connection: SupervisedConnection
        switch target {
        case .client(let client): connection = SupervisedConnection(client: client, process: nil, generation: 0)
        case .supervisor(let supervisor): connection = try await supervisor.connection()
        }
        let client = connection.client
        var workflow = workflow

        let uploadStart = clock.now
        for input in inputs {
            let stored = try await upload(input, client: client)
            if let target = input.target {
                try workflow.setInput(node: target.node, target.input, to: .string(Self.annotated(stored)))
            }
            events?(.uploaded(name: stored.filename))
        }
        timings.upload = Self.seconds(clock.now - uploadStart)

        if options.validate {
            let validationStart = clock.now
            try await validate(workflow, client: client, generation: connection.generation, options: options)
            timings.validation = Self.seconds(clock.now - validationStart)
        }

        var memory = MemoryReport()
        let job = try await execute(
            workflow, connection: connection, options: options, started: started, events: events, timings: &timings,
            memory: &memory)

        let outputsStart = clock.now
        events?(.finished)
        let outputs = try await collectOutputs(job.history, workflow: workflow, client: client, options: options)
        timings.outputs = Self.seconds(clock.now - outputsStart)

        if let marks = options.memoryWatermarks, let stats = try? await client.systemStats(retry: RetryPolicy.none) {
            Self.sample(stats, into: &memory)
            let ramUsed = stats.ramTotal > 0 ? Double(stats.ramTotal - stats.ramFree) / Double(stats.ramTotal) : 0
            let vramUsed = stats.vramTotal > 0 ? Double(stats.vramTotal - stats.vramFree) / Double(stats.vramTotal) : 0
            if (marks.ram.map { ramUsed > $0 } ?? false) || (marks.vram.map { vramUsed > $0 } ?? false) {
                do {
                    try await client.free(unloadModels: marks.unloadModels, freeMemory: true)
                    memory.freed = true
                } catch {
                    logger.warning("ComfyUI /free failed", metadata: ["error": "\(error)"])
                }
            }
        }
        if let rss = connection.process.flatMap({ Self.residentSetSize(pid: $0.pid) }) {
            memory.peakProcessRSS = max(memory.peakProcessRSS, rss)
        }
        timings.total = Self.seconds(clock.now - started)
        let outputNodes = Set(outputs.map(\.nodeID))
        let cachedSet = Set(job.cachedNodes)
        let cached = !outputNodes.isEmpty && outputNodes.isSubset(of: cachedSet) && job.executedNodes.isEmpty
        return WorkflowRunResult(
            promptID: job.promptID, outputs: outputs, timings: timings, cached: cached, cachedNodes: job.cachedNodes,
            droppedOutputs: job.droppedOutputs, memory: memory, history: job.history.json)
    }

    // MARK: - Inputs and validation

    private func upload(_ input: WorkflowInput, client: ComfyUIClient) async throws -> FileReference {
        let data: [UInt8]
        switch input.source {
        case .bytes(let bytes): data = bytes
        case .file(let path):
            guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
                (attributes[.type] as? FileAttributeType) == .typeRegular,
                let size = attributes[.size] as? NSNumber
            else { throw ComfyUIError.io("input file \(Escaping.escape(path)) does not exist or is not a file") }
            guard size.intValue <= 1 << 30 else {
                throw ComfyUIError.io("input file \(Escaping.escape(path)) is larger than 1 GiB")
            }
            guard let contents = FileManager.default.contents(atPath: path) else {
                throw ComfyUIError.io("cannot read input file \(Escaping.escape(path))")
            }
            data = [UInt8](contents)
        }
        if let original = input.maskOf {
            return try await client.uploadMask(data, name: input.name, original: original, subfolder: input.subfolder)
        }
        return try await client.uploadImage(data, name: input.name, subfolder: input.subfolder)
    }

    private static func annotated(_ file: FileReference) -> String {
        file.subfolder.isEmpty ? file.filename : file.subfolder + "/" + file.filename
    }

    private func objectInfo(client: ComfyUIClient, generation: Int, refresh: Bool) async throws -> ObjectInfo {
        let key = "\(client.baseURL.absoluteString)#\(generation)"
        if !refresh, let cached = objectInfoCache.withLock({ $0 }), cached.key == key { return cached.info }
        let info = try await client.objectInfo()
        objectInfoCache.withLock { $0 = (key, info) }
        return info
    }

    private func validate(
        _ workflow: Workflow, client: ComfyUIClient, generation: Int, options: WorkflowRunOptions
    )
        async throws
    {
        var validator = WorkflowValidator(
            objectInfo: try await objectInfo(client: client, generation: generation, refresh: false),
            providers: options.classProviders)
        var problems = validator.missingClasses(workflow) + []
        var unlisted = validator.unlistedModelInputs(workflow)
        if !problems.isEmpty || !unlisted.isEmpty {
            // The cache may predate a restart or new files: look again before refusing.
            validator = WorkflowValidator(
                objectInfo: try await objectInfo(client: client, generation: generation, refresh: true),
                providers: options.classProviders)
            problems = validator.missingClasses(workflow)
            unlisted = validator.unlistedModelInputs(workflow)
        }
        var byNode: [String: NodeError] = [:]
        for problem in problems { byNode[problem.nodeID] = problem }
        for item in unlisted {
            var present = false
            var checked: [String] = []
            for folder in item.folders {
                guard let files = try await client.models(folder: folder) else { continue }
                checked.append(folder)
                if files.contains(item.value) {
                    present = true
                    break
                }
            }
            if present { continue }
            let classType = workflow[item.node]?.classType ?? "?"
            let place =
                checked.isEmpty
                ? "the server's list for this input" : "the server's \(checked.joined(separator: " or ")) folder"
            let detail = NodeErrorDetail(
                type: "model_not_found",
                message: "model file '\(Escaping.escape(item.value))' is not in \(place)",
                details: "\(item.input): '\(Escaping.escape(item.value))'", inputName: item.input)
            byNode[item.node, default: NodeError(nodeID: item.node, classType: classType, errors: [])].errors.append(
                detail)
        }
        guard byNode.isEmpty else {
            let errors = workflow.nodeIDs.compactMap { byNode[$0] }
            throw ComfyUIError.validation(
                "the workflow does not validate against this ComfyUI (\(errors.count) node(s) with errors)",
                nodeErrors: errors)
        }
    }

    // MARK: - Execution

    private struct Job {
        var promptID: String
        var history: PromptHistory
        var cachedNodes: [String]
        var executedNodes: [String]
        var droppedOutputs: [NodeError]
    }

    private enum Signal: Sendable {
        case socket(ComfyUIEventSocket.Signal)
        case tick
        case connectTimeout
        case exited(ProcessTermination)
        case deadline
        case graceOver
    }

    private func execute(
        _ workflow: Workflow, connection: SupervisedConnection, options: WorkflowRunOptions,
        started: ContinuousClock.Instant, events: WorkflowEventHandler?, timings: inout WorkflowTimings,
        memory: inout MemoryReport
    ) async throws -> Job {
        let client = connection.client
        let clientID: String
        let socketSignals: AsyncStream<ComfyUIEventSocket.Signal>
        if options.sharedSocket {
            let shared = sharedSocket(for: client)
            clientID = shared.clientID
            socketSignals = shared.subscribe()
        } else {
            clientID = UUID().uuidString.lowercased()
            socketSignals = ComfyUIEventSocket.events(client: client, clientID: clientID, logger: logger)
        }
        let (signals, feed) = AsyncStream<Signal>.makeStream()
        if let process = connection.process {
            process.onExit { feed.yield(.exited($0)) }
        }
        let outcome: Result<Job, any Error> = await withTaskGroup(of: Void.self) { group in
            group.addTask {
                for await signal in socketSignals { feed.yield(.socket(signal)) }
            }
            group.addTask {
                try? await Task.sleep(for: options.socketConnectTimeout)
                feed.yield(.connectTimeout)
            }
            group.addTask {
                while !Task.isCancelled {
                    do { try await Task.sleep(for: options.watchdogInterval) } catch { return }
                    feed.yield(.tick)
                }
            }
            if let deadline = options.deadline {
                let remaining = deadline - (ContinuousClock().now - started)
                group.addTask {
                    do { try await Task.sleep(for: max(remaining, .zero)) } catch { return }
                    feed.yield(.deadline)
                }
            }
            var loop = RunLoopState(
                workflow: workflow, client: client, connection: connection, options: options, events: events,
                logger: logger, clientID: clientID, memorySamples: memorySamples)
            let result: Result<Job, any Error>
            do {
                result = .success(try await loop.run(signals: signals, group: &group, feed: feed))
            } catch {
                // Cancelled: stop our prompt rather than leave it running for nobody.
                if error is CancellationError, let promptID = loop.promptID {
                    _ = try? await client.interrupt(promptID: promptID)
                }
                result = .failure(error)
            }
            if let sample = loop.memorySample, let stats = await sample.value {
                WorkflowRunner.sample(stats, into: &loop.memory)
            }
            timings.queued = loop.queuedSeconds
            timings.execution = loop.executionSeconds
            timings.nodes = loop.nodeSeconds
            memory = loop.memory
            if options.deleteHistory, loop.historyRead, let promptID = loop.promptID {
                historyJanitor.enqueue(promptID, client: client, logger: logger)
            }
            feed.finish()
            group.cancelAll()
            return result
        }
        return try outcome.get()
    }

    /// The decisions of one job, driven by signals (socket events, watchdog ticks, process exit, deadline).
    private struct RunLoopState {
        let workflow: Workflow
        let client: ComfyUIClient
        let connection: SupervisedConnection
        let options: WorkflowRunOptions
        let events: WorkflowEventHandler?
        let logger: Logger
        let clientID: String
        let memorySamples: MemorySampleCache

        var promptID: String?
        var queuedAt: ContinuousClock.Instant?
        var startedAt: ContinuousClock.Instant?
        var early: [ComfyUIEvent] = []
        var cachedNodes: [String] = []
        var executedNodes: [String] = []
        var currentNode: (id: String, since: ContinuousClock.Instant)?
        var nodeSeconds: [String: Double] = [:]
        var failure: ComfyUIError?
        var interruptedByUs = false
        var stage = 0
        var watchdogFailures = 0
        var everConnected = false
        var droppedOutputs: [NodeError] = []
        var memory = MemoryReport()
        var memorySample: Task<SystemStats?, Never>?
        /// The prompt's history entry was read (it is finished: success or failure).
        var historyRead = false
        var queuedSeconds: Double = 0
        var executionSeconds: Double = 0
        let clock = ContinuousClock()

        init(
            workflow: Workflow, client: ComfyUIClient, connection: SupervisedConnection, options: WorkflowRunOptions,
            events: WorkflowEventHandler?, logger: Logger, clientID: String, memorySamples: MemorySampleCache
        ) {
            self.clientID = clientID
            self.memorySamples = memorySamples
            self.workflow = workflow
            self.client = client
            self.connection = connection
            self.options = options
            self.events = events
            self.logger = logger
        }

        mutating func run(
            signals: AsyncStream<Signal>, group: inout TaskGroup<Void>, feed: AsyncStream<Signal>.Continuation
        ) async throws -> Job {
            for await signal in signals {
                try Task.checkCancellation()
                switch signal {
                case .socket(.connected(let attempt)):
                    if attempt > 1 { events?(.socketReconnected) }
                    everConnected = true
                    if promptID == nil { try await queue() }
                case .socket(.disconnected(let reason)):
                    if everConnected || promptID != nil { events?(.socketLost(reason: reason)) }
                    if promptID != nil, let job = try await watchdog(feed: feed) { return job }
                case .connectTimeout:
                    if promptID == nil { try await queue() }
                case .socket(.event(let event)):
                    guard let promptID else {
                        early.append(event)
                        continue
                    }
                    if let job = try await handle(event, promptID: promptID) { return job }
                case .tick:
                    if promptID != nil, let job = try await watchdog(feed: feed) { return job }
                case .exited(let termination):
                    throw await crashed("the ComfyUI process exited (\(termination)) during the job")
                case .deadline:
                    let seconds = WorkflowRunner.seconds(options.deadline ?? .zero)
                    guard let promptID else {
                        throw ComfyUIError.timeout(
                            after: seconds, stage: "before the prompt was queued", restarted: false)
                    }
                    stage = 1
                    events?(.escalation(stage: "deadline reached: interrupting the prompt"))
                    interruptedByUs = (try? await client.interrupt(promptID: promptID)) ?? false
                    let grace = options.interruptGrace
                    group.addTask {
                        do { try await Task.sleep(for: grace) } catch { return }
                        feed.yield(.graceOver)
                    }
                case .graceOver:
                    let seconds = WorkflowRunner.seconds(options.deadline ?? .zero)
                    stage = 2
                    if let supervisor = connection.supervisor {
                        events?(.escalation(stage: "the prompt did not stop: restarting ComfyUI"))
                        try await supervisor.restart(reason: "job deadline passed and the interrupt was ignored")
                        throw ComfyUIError.timeout(
                            after: seconds, stage: "interrupt ignored; ComfyUI was restarted", restarted: true)
                    }
                    throw ComfyUIError.timeout(
                        after: seconds, stage: "interrupt ignored; ComfyUI is attached, not restarted", restarted: false
                    )
                }
            }
            try Task.checkCancellation()
            throw ComfyUIError.connection("the job's signal stream ended unexpectedly")
        }

        func crashed(_ detail: String) async -> ComfyUIError {
            ComfyUIError.crashed(detail, logTail: await connection.supervisor?.logTailAfterExit(40) ?? [])
        }

        static func tryQueue(
            _ client: ComfyUIClient, _ workflow: Workflow, clientID: String, extraData: [String: JSONValue]
        ) async -> Result<QueuedPrompt, ComfyUIError> {
            do {
                return .success(try await client.queuePrompt(workflow, clientID: clientID, extraData: extraData))
            } catch {
                return .failure(error)
            }
        }

        mutating func queue() async throws {
            let attempt = await Self.tryQueue(client, workflow, clientID: clientID, extraData: options.extraData)
            let queued: QueuedPrompt
            switch attempt {
            case .success(let value): queued = value
            case .failure(let error):
                // A supervised ComfyUI that dies while answering: name the crash, not the refused connection.
                if error.kind == .connection, let process = connection.process {
                    let deadline = clock.now + .milliseconds(500)
                    while process.isRunning && clock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
                    if let termination = process.termination {
                        throw await crashed("the ComfyUI process exited (\(termination)) while the prompt was queued")
                    }
                }
                throw error
            }
            promptID = queued.promptID
            queuedAt = clock.now
            droppedOutputs = queued.nodeErrors
            events?(.queued(promptID: queued.promptID))
            let pending = early
            early = []
            for event in pending { _ = try await handle(event, promptID: queued.promptID) }
        }

        mutating func handle(_ event: ComfyUIEvent, promptID: String) async throws -> Job? {
            if let id = event.promptID, id != promptID { return nil }
            switch event {
            case .executionStart:
                startedAt = clock.now
                if options.sampleMemory && memorySample == nil {
                    if let recent = memorySamples.recent(within: .milliseconds(500)) {
                        WorkflowRunner.sample(recent, into: &memory)
                    } else {
                        memorySample = Task { [client, memorySamples] in
                            let stats = try? await client.systemStats(retry: RetryPolicy.none, timeout: .seconds(5))
                            if let stats { memorySamples.record(stats) }
                            return stats
                        }
                    }
                }
                if let queuedAt { queuedSeconds = WorkflowRunner.seconds(clock.now - queuedAt) }
                events?(.started)
            case .executionCached(_, let nodes):
                cachedNodes = nodes
                events?(.cached(nodes: nodes))
            case .executing(_, let node?):
                closeNode()
                currentNode = (node, clock.now)
                executedNodes.append(node)
                let total = max(workflow.nodes.count - cachedNodes.count, executedNodes.count)
                events?(
                    .nodeStarted(
                        nodeID: node, classType: workflow[node]?.classType ?? "?", index: executedNodes.count,
                        total: total))
            case .executing(let id, nil):
                guard id == promptID || (id == nil && startedAt != nil) else { return nil }
                closeNode()
                if let history = try? await client.history(promptID: promptID, retry: RetryPolicy.none) {
                    return try finish(history)
                }
            case .progress(_, let node, let value, let max):
                events?(.progress(nodeID: node ?? currentNode?.id ?? "?", value: value, max: max))
            case .executed(_, let node, let output):
                events?(.nodeOutput(nodeID: node, output: output))
            case .executionError(_, let node, let classType, let type, let message):
                closeNode()
                failure = .execution(
                    nodeID: node, classType: classType ?? node.flatMap { workflow[$0]?.classType },
                    exceptionType: type, exceptionMessage: message)
            case .executionInterrupted(_, let node, let classType):
                closeNode()
                failure = interruption(node: node, classType: classType)
            case .executionSuccess, .status, .other:
                break
            }
            return nil
        }

        func interruption(node: String?, classType: String?) -> ComfyUIError {
            if stage >= 1 {
                return .timeout(
                    after: WorkflowRunner.seconds(options.deadline ?? .zero), stage: "the prompt was interrupted",
                    restarted: false)
            }
            return .interrupted(nodeID: node, classType: classType ?? node.flatMap { workflow[$0]?.classType })
        }

        mutating func closeNode() {
            if let current = currentNode {
                nodeSeconds[current.id] = WorkflowRunner.seconds(clock.now - current.since)
                currentNode = nil
            }
        }

        /// Cross-checks `/history` and `/queue`: the outcome when the prompt is done, an error when it is lost.
        mutating func watchdog(feed: AsyncStream<Signal>.Continuation) async throws -> Job? {
            guard let promptID else { return nil }
            if let termination = connection.process?.termination {
                throw await crashed("the ComfyUI process exited (\(termination)) during the job")
            }
            do {
                if options.memoryWatermarks != nil || options.sampleMemory,
                    let stats = try? await client.systemStats(
                        retry: RetryPolicy.none, timeout: .seconds(5))
                {
                    WorkflowRunner.sample(stats, into: &memory)
                }
                if let pid = connection.process?.pid, let rss = WorkflowRunner.residentSetSize(pid: pid) {
                    memory.peakProcessRSS = max(memory.peakProcessRSS, rss)
                }
                if let history = try await client.history(
                    promptID: promptID, retry: RetryPolicy.none, timeout: .seconds(10))
                {
                    events?(.watchdog(note: "found the finished prompt in /history"))
                    return try finish(history)
                }
                let queue = try await client.queue(retry: RetryPolicy.none, timeout: .seconds(10))
                watchdogFailures = 0
                if queue.contains(promptID) { return nil }
                // Not queued, not running: it finished between the two calls, or it is lost.
                if let history = try await client.history(
                    promptID: promptID, retry: RetryPolicy.none, timeout: .seconds(10))
                {
                    events?(.watchdog(note: "found the finished prompt in /history"))
                    return try finish(history)
                }
                events?(.watchdog(note: "the prompt is neither queued nor in /history"))
                if let termination = connection.process?.termination {
                    throw await crashed("the ComfyUI process exited (\(termination)) during the job")
                }
                throw ComfyUIError.connection(
                    "the prompt \(promptID) vanished: it is neither queued nor in ComfyUI's history (was ComfyUI "
                        + "restarted?)")
            } catch let error as ComfyUIError where error.kind == .connection && !error.message.contains("vanished") {
                if let termination = connection.process?.termination {
                    throw await crashed("the ComfyUI process exited (\(termination)) during the job")
                }
                watchdogFailures += 1
                if watchdogFailures >= 3 {
                    throw ComfyUIError.connection(
                        "ComfyUI stopped answering during the job (\(watchdogFailures) failed checks): \(error.message)"
                    )
                }
                return nil
            }
        }

        mutating func finish(_ history: PromptHistory) throws -> Job {
            historyRead = true
            closeNode()
            if let startedAt { executionSeconds = WorkflowRunner.seconds(clock.now - startedAt) }
            if cachedNodes.isEmpty { cachedNodes = history.cachedNodes }
            if let failure { throw failure.withLogTail(connection.supervisor?.logTail(40) ?? []) }
            if history.statusString == "error" {
                for message in history.messages {
                    if message.event == "execution_error" {
                        let node = message.data["node_id"]?.stringValue
                        throw ComfyUIError.execution(
                            nodeID: node,
                            classType: message.data["node_type"]?.stringValue
                                ?? node.flatMap { workflow[$0]?.classType },
                            exceptionType: message.data["exception_type"]?.stringValue ?? "",
                            exceptionMessage: message.data["exception_message"]?.stringValue ?? "")
                    }
                    if message.event == "execution_interrupted" {
                        throw interruption(
                            node: message.data["node_id"]?.stringValue,
                            classType: message.data["node_type"]?.stringValue)
                    }
                }
                throw ComfyUIError.execution(
                    nodeID: nil, classType: nil, exceptionType: "", exceptionMessage: "ComfyUI reported status error")
            }
            if executedNodes.isEmpty {
                // The socket said nothing (silent socket): take the executed nodes from the history.
                executedNodes =
                    history.messages.contains { $0.event == "execution_success" }
                    ? workflow.nodeIDs.filter { !cachedNodes.contains($0) && history.outputs[$0] != nil } : []
            }
            return Job(
                promptID: history.promptID, history: history, cachedNodes: cachedNodes, executedNodes: executedNodes,
                droppedOutputs: droppedOutputs)
        }
    }

    // MARK: - Outputs

    private func collectOutputs(
        _ history: PromptHistory, workflow: Workflow, client: ComfyUIClient, options: WorkflowRunOptions
    ) async throws -> [WorkflowOutput] {
        var outputs: [WorkflowOutput] = []
        let nodeOutputs = history.outputs
        let ids = nodeOutputs.keys.sorted { a, b in
            switch (Int(a), Int(b)) {
            case let (x?, y?): return x < y
            case (_?, nil): return true
            case (nil, _?): return false
            default: return a < b
            }
        }
        for id in ids {
            guard case .object(let ui)? = nodeOutputs[id] else { continue }
            let classType = workflow[id]?.classType ?? "?"
            for item in WorkflowOutput.items(ofNodeOutput: ui, includeTemporary: options.includeTemporaryOutputs) {
                switch item {
                case .file(let key, let file, let format):
                    outputs.append(
                        try await fetch(
                            file, key: key, format: format, nodeID: id, classType: classType, client: client,
                            options: options))
                case .text(let key, let item):
                    let text: String
                    switch item {
                    case .string(let string): text = string
                    default: text = String(decoding: CanonicalJSON.encode(item), as: UTF8.self)
                    }
                    let bytes = Array(text.utf8)
                    let isJSON = item.stringValue == nil
                    outputs.append(
                        WorkflowOutput(
                            nodeID: id, classType: classType, kind: .text,
                            mediaType: isJSON ? "application/json" : "text/plain", key: key,
                            size: Int64(bytes.count), sha256: SHA256.hash(bytes).hex, text: text))
                }
            }
        }
        return outputs
    }

    private func fetch(
        _ file: FileReference, key: String, format: String?, nodeID: String, classType: String,
        client: ComfyUIClient, options: WorkflowRunOptions
    ) async throws -> WorkflowOutput {
        let (kind, mediaType) = WorkflowOutput.classify(key: key, filename: file.filename, format: format)
        guard WorkflowOutput.isSafe(file) else {
            throw ComfyUIError.connection(
                "ComfyUI listed an output with an unsafe name: \(Escaping.escape(file.subfolder))/"
                    + Escaping.escape(file.filename), retryable: false)
        }
        var output = WorkflowOutput(
            nodeID: nodeID, classType: classType, kind: kind, mediaType: mediaType, key: key,
            filename: file.filename, subfolder: file.subfolder, type: file.type, size: 0, sha256: "")
        if !options.fetchOutputs { return output }
        if let directory = options.outputDirectory {
            let folder = file.subfolder.isEmpty ? directory : directory + "/" + file.subfolder
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                throw ComfyUIError.io("cannot create the output directory \(Escaping.escape(folder)): \(error)")
            }
            let path = folder + "/" + file.filename
            let (size, sha256) = try await client.download(file, to: path)
            output.size = size
            output.sha256 = sha256
            output.localPath = path
            if mediaType == "image/png" { output.imageDataSHA256 = PNGChunks.imageDataSHA256(ofFile: path) }
        } else {
            let bytes = try await client.view(file)
            output.size = Int64(bytes.count)
            output.sha256 = SHA256.hash(bytes).hex
            if mediaType == "image/png" { output.imageDataSHA256 = PNGChunks.imageDataSHA256(of: bytes) }
        }
        return output
    }

    // MARK: - Helpers

    static func seconds(_ duration: Duration) -> Double {
        let (s, atto) = duration.components
        return Double(s) + Double(atto) / 1e18
    }

    static func sample(_ stats: SystemStats, into memory: inout MemoryReport) {
        memory.ramTotal = stats.ramTotal
        memory.vramTotal = stats.vramTotal
        memory.peakRAMUsed = max(memory.peakRAMUsed, stats.ramTotal - stats.ramFree)
        memory.peakVRAMUsed = max(memory.peakVRAMUsed, stats.vramTotal - stats.vramFree)
    }

    /// VmRSS of a process from /proc (Linux), bytes.
    static func residentSetSize(pid: Int32) -> Int64? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 2, let kb = Int64(fields[1]) { return kb * 1024 }
        }
        return nil
    }
}

/// The runner's latest `/system_stats` sample, shared by its jobs (see `WorkflowRunOptions.sampleMemory`).
final class MemorySampleCache: Sendable {
    private let latest = Mutex<(at: ContinuousClock.Instant, stats: SystemStats)?>(nil)

    /// The latest sample when it is younger than `age`.
    func recent(within age: Duration) -> SystemStats? {
        latest.withLock { value in
            guard let value, ContinuousClock.now - value.at < age else { return nil }
            return value.stats
        }
    }

    /// Records a sample taken now.
    func record(_ stats: SystemStats) { latest.withLock { $0 = (ContinuousClock.now, stats) } }
}

/// Deletes finished prompts' ComfyUI history entries in batches, off the jobs' critical path
/// (`WorkflowRunOptions.deleteHistory`): every request is a transfer of its own, and a trivial job's few requests are
/// most of its cost, so one `POST /history` serves up to `batchSize` jobs. At most `batchSize` entries, or `delay` of
/// jobs, are left in ComfyUI at any time.
final class HistoryJanitor: Sendable {
    /// Prompts per delete request (a delete is sent as soon as this many are pending).
    static let batchSize = 16
    /// The longest a finished prompt's entry waits for its delete.
    static let delay: Duration = .seconds(1)

    private struct Pending: Sendable {
        var byServer: [String: (client: ComfyUIClient, ids: [String], logger: Logger)] = [:]
        var count = 0
        var timer: Task<Void, Never>?
    }
    private let pending = Mutex(Pending())

    /// Queues `promptID`'s entry on `client`'s server for deletion.
    func enqueue(_ promptID: String, client: ComfyUIClient, logger: Logger) {
        let now = pending.withLock { state -> Bool in
            let key = client.baseURL.absoluteString
            state.byServer[key, default: (client, [], logger)].ids.append(promptID)
            state.count += 1
            if state.count >= Self.batchSize { return true }
            if state.timer == nil {
                state.timer = Task { [weak self] in
                    try? await Task.sleep(for: Self.delay)
                    await self?.flush()
                }
            }
            return false
        }
        if now { Task { await flush() } }
    }

    /// Sends every pending delete now and waits for the answers.
    func flush() async {
        let batches = pending.withLock { state in
            let batches = Array(state.byServer.values)
            state.byServer = [:]
            state.count = 0
            // Not cancelled: the timer may be the task running this flush (its requests must not be cancelled); a
            // stale timer that fires later sends whatever is pending then, early.
            state.timer = nil
            return batches
        }
        for batch in batches {
            do {
                try await batch.client.deleteHistory(promptIDs: batch.ids, timeout: .seconds(10))
            } catch {
                batch.logger.debug(
                    "could not delete \(batch.ids.count) ComfyUI history entries: \(error)")
            }
        }
    }
}

/// What a runner needs from a supervisor for one job.
struct SupervisedConnection: Sendable {
    let client: ComfyUIClient
    let process: ProcessExecution?
    let generation: Int
    var supervisor: ComfyUISupervisor? = nil
}
