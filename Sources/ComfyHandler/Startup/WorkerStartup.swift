public import ComfyGCS
public import ComfyLock
import ComfyModels
public import ComfyRuntime
import ComfyServer
import ComfySupport
import ComfyTransport
import Foundation
public import Logging
import Synchronization

/// What to do when the environment does not match the lock.
public enum DriftPolicy: String, Sendable, Hashable, CaseIterable {
    /// Refuse jobs: the worker stays up and answers every job with the drift (default).
    case fail
    /// Build a fresh version from the lock next to the drifted one and use it.
    case repair
    /// Log the drift and run jobs anyway.
    case warn
}

/// Whether missing models are fetched into the store at start.
public enum ModelFetchPolicy: String, Sendable, Hashable, CaseIterable {
    /// When the network volume is mounted (the store is on it).
    case auto
    /// Always (into whichever store is in use).
    case always
    /// Never: a missing model is drift.
    case never
}

/// When the lock's models are fetched.
public enum ModelLoading: String, Sendable, Hashable, CaseIterable {
    /// Every missing model at start (per `ModelFetchPolicy`), before the worker is ready.
    case eager
    /// Only the models each job's workflow names, before that job is queued (`fetch_ms` in its timings).
    case lazy
}

/// The operator's start-up options (trusted).
public struct WorkerOptions: Sendable {
    /// Attach to this ComfyUI instead of launching one.
    public var comfyUIURL: String?
    /// The lock file.
    public var lockPath: String?
    /// A version directory (its `comfylock.lock.json` is the lock unless `lockPath` is given).
    public var versionDirectory: String?
    /// A version name under `root`.
    public var versionName: String?
    /// The versions root.
    public var root: String?
    /// Drift policy.
    public var onDrift: DriftPolicy
    /// A warmup workflow: a lock workflow name or a file.
    public var warmup: String?
    /// Job limits.
    public var limits: JobLimits
    /// Where per-job scratch files go (default: the volume's scratch, else the temp directory).
    public var scratch: String?
    /// Launch this program as ComfyUI instead of a version's `venv/bin/python ComfyUI/main.py` (an explicit
    /// interpreter + script, e.g. a ComfyUI checkout outside a version, or the tests' ComfyUI stand-in).
    public var launch: (python: String, mainScript: String, arguments: [String])?
    /// The network volume (checked at start; its scratch directory holds per-job files when mounted).
    public var volume = WorkerVolume()
    /// Extra arguments for a ComfyUI the worker starts (e.g. `--cpu` where there is no GPU); ignored when attaching.
    public var comfyUIArguments: [String] = []
    /// The least free space a mounted volume must have.
    public var volumeMinimumFreeBytes = WorkerVolume.defaultMinimumFreeBytes
    /// The model store root (default: the volume's store when it is mounted, else `ModelStore.defaultStore()`).
    public var store: String?
    /// Fetch missing models into the store at start (default: when the volume is mounted).
    public var fetchModels: ModelFetchPolicy = .auto
    /// Accept a lock whose Python pins carry no hashes (`LockValidator.Level.safe` instead of `.complete`).
    public var allowUnpinned = false
    /// Mirror rewriting for git and model URLs (repair, model fetch); the front end reads it from the environment.
    public var rewriter = URLRewriter()
    /// The Python step of version status and repair (`nil`: the Python environment is not checked or rebuilt).
    public var python: (any PythonEnvironmentProvider)? = RuntimePythonEnvironment.fromEnvironment()
    /// How a repair rebuilds the venv (offline, wheelhouse, interpreter).
    public var pythonBuild = PythonBuildOptions()
    /// Require the lock to carry a signature (`L.minisig`) by one of these keys (`--trusted-keys`); `nil`: no check.
    public var trustedKeys: TrustedKeys?
    /// GCS delivery (`output.mode: "gcs"`): the bucket, prefix and credentials from the worker's environment or the
    /// metadata server (`GCSConfiguration.fromEnvironment` in the front end); `nil` or no bucket: not offered.
    public var gcs: GCSConfiguration?
    /// Signed URL lifetime in seconds when a job does not give `sign_expires`.
    public var gcsSignExpires = 3600
    /// When models are fetched (`--models eager|lazy`; lazy needs a version and its lock).
    public var models: ModelLoading = .eager
    /// Follow jobs on one long-lived ComfyUI WebSocket (default) rather than one per job.
    public var sharedSocket = true
    /// Completion webhooks (`nil`: none, not even for jobs that name one).
    public var webhooks: WebhookConfiguration?
    /// The worker's metrics (`GET /metrics`); a fresh registry by default.
    public var metrics = WorkerMetrics()

    /// Options.
    public init(
        comfyUIURL: String? = nil, lockPath: String? = nil, versionDirectory: String? = nil, versionName: String? = nil,
        root: String? = nil, onDrift: DriftPolicy = .fail, warmup: String? = nil, limits: JobLimits = JobLimits(),
        scratch: String? = nil
    ) {
        self.comfyUIURL = comfyUIURL
        self.lockPath = lockPath
        self.versionDirectory = versionDirectory
        self.versionName = versionName
        self.root = root
        self.onDrift = onDrift
        self.warmup = warmup
        self.limits = limits
        self.scratch = scratch
    }
}

/// What `/ready` reports.
public struct Readiness: Sendable, Hashable {
    /// Whether the worker takes jobs now.
    public var ready: Bool
    /// Why not (empty when ready).
    public var reasons: [String]

    /// A readiness report.
    public init(ready: Bool, reasons: [String] = []) {
        self.ready = ready
        self.reasons = reasons
    }
}

/// A start-up error that stops the worker before it can serve (bad flags, unreadable lock): exit 2.
public struct StartupError: Error, CustomStringConvertible, Sendable {
    /// What is wrong.
    public let message: String
    init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}

/// A worker after start-up: the runner every mode uses, readiness, and shutdown of the ComfyUI it started.
public final class PreparedWorker: Sendable {
    /// The job runner.
    public let runner: JobRunner
    /// The metrics every job is recorded in (`GET /metrics`).
    public var metrics: WorkerMetrics { runner.metrics }
    let supervisor: ComfyUISupervisor?
    let notReady: [String]
    /// Warmup time in milliseconds, when a warmup ran.
    public let warmupMS: Int64?

    init(runner: JobRunner, supervisor: ComfyUISupervisor?, notReady: [String], warmupMS: Int64?) {
        self.runner = runner
        self.supervisor = supervisor
        self.notReady = notReady
        self.warmupMS = warmupMS
    }

    /// Ready = start-up applied without a fail-closed reason and ComfyUI answering.
    public func readiness() async -> Readiness {
        var reasons = notReady
        if let supervisor, reasons.isEmpty {
            do {
                _ = try await supervisor.client.systemStats(retry: RetryPolicy.none, timeout: .seconds(5))
            } catch {
                reasons.append("ComfyUI does not answer: \(error)")
            }
        }
        return Readiness(ready: reasons.isEmpty, reasons: reasons)
    }

    /// Waits for webhooks in flight and the executor's deferred work (batched history deletes), then stops the
    /// ComfyUI this worker launched (an attached one is left running).
    public func shutdown() async {
        await runner.webhooks?.drain()
        await runner.executor.finish()
        await supervisor?.stop()
    }
}

/// Start-up, fail-closed: resolve the lock and version, check the version against the lock (fast: models through
/// the stat cache), apply the drift policy, launch or attach to ComfyUI, run the warmup.
public enum WorkerStartup {
    /// Prepares a worker. Throws `StartupError` only for what makes serving impossible (bad flags, an unreadable or
    /// invalid lock, an unusable volume, ComfyUI that cannot start); drift with `--on-drift fail` (or a failed repair)
    /// does not throw: the worker stays up and every job reports it.
    ///
    /// Order: flags → the lock, loaded and validated by `LockFile.load` before any side effect → the volume check →
    /// version status (missing models fetched into the store when configured) → the drift policy (repair re-verifies)
    /// → ComfyUI → the runner → the warmup.
    public static func prepare(_ options: WorkerOptions, logger: Logger) async throws -> PreparedWorker {
        let clock = ContinuousClock()
        var phaseStart = clock.now
        var phases: [(String, Int64)] = []
        func endPhase(_ name: String) {
            let now = clock.now
            phases.append((name, (now - phaseStart).milliseconds))
            phaseStart = now
        }
        // 1. Flags, then the lock (validated before anything is written or run).
        var versionDirectory = options.versionDirectory.map { URL(fileURLWithPath: $0) }
        if versionDirectory != nil && options.versionName != nil {
            throw StartupError("give --version-dir or --version, not both")
        }
        if versionDirectory == nil, let name = options.versionName {
            do { try VersionName.validate(name) } catch { throw StartupError("--version: \(error)") }
            let root = options.root.map { URL(fileURLWithPath: $0) } ?? VersionsRoot.fromEnvironment()
            versionDirectory = root.appendingPathComponent(name)
        }
        if options.comfyUIURL != nil && versionDirectory != nil {
            throw StartupError("give --comfyui-url or a version (--version-dir / --version), not both")
        }
        if options.comfyUIURL == nil && versionDirectory == nil && options.launch == nil {
            throw StartupError("nothing to run: give --comfyui-url URL, --version-dir DIR, or --version NAME --root R")
        }
        var lock: Lock?
        if let path = options.lockPath ?? versionDirectory.map({ VersionLayout(directory: $0).lockFile.path }) {
            lock = try loadLock(path, options: options, optional: options.lockPath == nil)
        } else if options.trustedKeys != nil {
            throw StartupError("--trusted-keys needs a lock to check: give --lock, --version-dir or --version")
        }
        let lockDigest = lock.map(LockFile.digest)
        var identity = EnvironmentIdentity(comfyUICommit: lock?.comfyui.commit)

        endPhase("lock")
        // 2. The volume: checked (and its layout made) before anything is written there.
        let volumeReady: Bool
        do {
            if case .ready = try options.volume.check(minimumFreeBytes: options.volumeMinimumFreeBytes) {
                volumeReady = true
                logger.info("network volume \(options.volume.mountPoint) is ready (store \(options.volume.store))")
            } else {
                volumeReady = false
                logger.info("no network volume at \(options.volume.mountPoint): running from the image alone")
            }
        } catch {
            throw StartupError("\(error)")
        }
        let store: ModelStore
        if let explicit = options.store {
            store = ModelStore(root: URL(fileURLWithPath: explicit))
        } else if volumeReady {
            store = ModelStore(root: URL(fileURLWithPath: options.volume.store))
        } else {
            store = ModelStore.fromEnvironment()
        }
        var scratch = options.scratch ?? (NSTemporaryDirectory() + "/comfy-handler-scratch")
        if volumeReady && options.scratch == nil { scratch = options.volume.scratch }
        try? FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)

        endPhase("volume")
        // 3. Version status, missing models, the drift policy.
        var notReady: [String] = []
        var startupFailure: JobFailure?
        var lazyModels: LazyModelProvisioner?
        if options.models == .lazy && (versionDirectory == nil || lock == nil) {
            throw StartupError("--models lazy needs a version and its lock (--version-dir or --version NAME --root R)")
        }
        if let directory = versionDirectory, let lock {
            let fetch: Bool
            switch options.fetchModels {
            case .auto: fetch = volumeReady
            case .always: fetch = true
            case .never: fetch = false
            }
            let check = await VersionCheck(
                directory: directory, lock: lock, store: store, options: options, fetchMissingModels: fetch,
                metrics: options.metrics, lazyModels: options.models == .lazy, logger: logger
            ).run()
            if options.models == .lazy {
                lazyModels = LazyModelProvisioner(
                    lock: lock, directory: directory, store: store, rewriter: options.rewriter, missing: check.deferred,
                    logger: logger)
            }
            startupFailure = check.failure
            identity.versionDigest = check.versionDigest
            identity.drift = check.warning
        }
        if let startupFailure { notReady.append(startupFailure.message) }

        endPhase("version_check")
        // 4. ComfyUI.
        var supervisor: ComfyUISupervisor?
        var inputDirectory: String?
        var outputDirectory: String?
        if startupFailure == nil {
            do {
                if let text = options.comfyUIURL {
                    guard let url = URL(string: text) else { throw StartupError("--comfyui-url is not a URL") }
                    supervisor = try await ComfyUISupervisor.attach(url: url, logger: logger)
                } else if versionDirectory != nil || options.launch != nil {
                    var launch: ComfyUISupervisor.LaunchConfiguration
                    if let explicit = options.launch {
                        launch = ComfyUISupervisor.LaunchConfiguration(
                            python: explicit.python, mainScript: explicit.mainScript, extraArguments: explicit.arguments
                        )
                    } else {
                        launch = ComfyUISupervisor.LaunchConfiguration.version(directory: versionDirectory!.path)
                    }
                    launch.extraArguments += options.comfyUIArguments
                    inputDirectory = scratch + "/comfyui-input"
                    outputDirectory = scratch + "/comfyui-output"
                    launch.inputDirectory = inputDirectory
                    launch.outputDirectory = outputDirectory
                    // Previews (and the cache-evicting prompt's PreviewImage) go to scratch too, never into the
                    // version's ComfyUI checkout, whose status must stay clean.
                    let tempDirectory = scratch + "/comfyui-temp"
                    launch.tempDirectory = tempDirectory
                    for dir in [inputDirectory!, outputDirectory!, tempDirectory] {
                        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
                    }
                    supervisor = try await ComfyUISupervisor.launch(launch, logger: logger)
                }
            } catch let error as StartupError {
                throw error
            } catch {
                throw StartupError("ComfyUI did not start: \(error)")
            }
        }

        endPhase("comfyui")
        // 5. The runner.
        let namedWorkflows = Self.workflows(of: lock, relativeTo: versionDirectory, logger: logger)
        var deliveries: [OutputRequest.Mode: any OutputDelivering] = [
            .base64: Base64Delivery(maxTotalBytes: options.limits.maxInlineOutputBytes)
        ]
        if let gcs = options.gcs, gcs.bucket != nil {
            do {
                let client = try GCSClient(configuration: gcs, purpose: .upload, logger: logger)
                deliveries[.gcs] = GCSDelivery(
                    client: client, defaultSignExpires: options.gcsSignExpires, logger: logger)
                logger.info("GCS delivery to gs://\(client.bucket)/\(gcs.normalizedPrefix) (\(client.authMethod))")
            } catch {
                throw StartupError(
                    "GCS delivery is configured but unusable: \(Redaction.redact(String(describing: error)))")
            }
        }
        let validator = JobValidator(
            limits: options.limits, namedWorkflows: namedWorkflows, gcsAvailable: deliveries[.gcs] != nil)
        let executor: any JobExecuting
        if let supervisor {
            executor = ComfyServerExecutor(
                supervisor: supervisor, limits: options.limits, scratch: scratch, inputDirectory: inputDirectory,
                outputDirectory: outputDirectory,
                lockedNodes: lock?.customNodes.filter(\.enabled).map(\.name), sharedSocket: options.sharedSocket,
                logger: logger)
        } else {
            executor = UnavailableExecutor()
        }
        let environment = WorkerEnvironment(lockDigest: lockDigest, identity: identity, startupFailure: startupFailure)
        let metrics = options.metrics
        if let supervisor { metrics.addRestartSource { supervisor.restartCount } }
        var webhooks: WebhookNotifier?
        if let configuration = options.webhooks {
            if configuration.secret == nil {
                logger.warning("webhooks are enabled without a secret: deliveries carry no webhook-signature")
            }
            webhooks = WebhookNotifier(configuration: configuration, metrics: metrics, logger: logger)
        }
        let runner = JobRunner(
            validator: validator, executor: executor,
            deliveries: deliveries, environment: environment, metrics: metrics, webhooks: webhooks, models: lazyModels,
            logger: logger)

        // 6. Warmup.
        var warmupMS: Int64?
        if let warmup = options.warmup, startupFailure == nil {
            let input: JSONValue
            if namedWorkflows[warmup] != nil {
                input = ["workflow_name": .string(warmup)]
            } else {
                guard let bytes = FileManager.default.contents(atPath: warmup),
                    let graph = try? JSONParser.parse(Array(bytes))
                else { throw StartupError("--warmup \(warmup) is neither a lock workflow nor a readable JSON file") }
                input = ["workflow": graph]
            }
            let started = ContinuousClock.now
            let outcome = await runner.run(id: "warmup", input: input)
            warmupMS = (ContinuousClock.now - started).milliseconds
            if let failure = outcome.failure {
                throw StartupError("the warmup workflow failed: \(failure.description)")
            }
            logger.info("warmup done in \(warmupMS ?? 0) ms")
        }
        endPhase("runner_warmup")
        // One line with where the start went (cold-start figures come from it; see docs/benchmarks.md).
        let total = phases.reduce(Int64(0)) { $0 + $1.1 }
        let summary = phases.map { "\($0.0)=\($0.1)ms" }.joined(separator: " ")
        logger.notice("start-up phases: \(summary) total=\(total)ms")
        return PreparedWorker(runner: runner, supervisor: supervisor, notReady: notReady, warmupMS: warmupMS)
    }

    /// Loads the lock at `path` through `LockFile.load` (bounded read, strict decode, `LockValidator` at `.complete`,
    /// or `.safe` with `allowUnpinned`): a hostile lock is refused here, before the worker writes, fetches or runs
    /// anything. `optional`: the version's own lock, named in the error as such.
    static func loadLock(_ path: String, options: WorkerOptions, optional: Bool) throws -> Lock {
        do {
            let level: LockValidator.Level = options.allowUnpinned ? .safe : .complete
            guard let trusted = options.trustedKeys else { return try LockFile.load(path: path, level: level) }
            // Signature first, over the very bytes then decoded: unsigned / untrusted / changed is refused here.
            return try LockFile.loadSigned(path: path, trusted: trusted, level: level).lock
        } catch {
            let what = optional ? "the version's lock" : "the lock"
            // The error names the file (escaped) and every refused field with its JSON path.
            throw StartupError("cannot use \(what): \(error)")
        }
    }

    /// The lock's workflows by name (inline graphs, or files relative to the version directory).
    static func workflows(of lock: Lock?, relativeTo directory: URL?, logger: Logger) -> [String: JSONValue] {
        var result: [String: JSONValue] = [:]
        for entry in lock?.workflows ?? [] {
            if let inline = entry.inline {
                result[entry.name] = inline
            } else if let path = entry.path, let directory {
                let url = directory.appendingPathComponent(path)
                if let bytes = FileManager.default.contents(atPath: url.path), bytes.count <= 64 << 20,
                    let graph = try? JSONParser.parse(Array(bytes))
                {
                    result[entry.name] = graph
                } else {
                    logger.warning("lock workflow \(entry.name): cannot read \(path)")
                }
            }
        }
        return result
    }
}

/// The executor while ComfyUI is not running (start-up failed closed): every job is answered by the start-up
/// failure before it reaches here, so this only guards against a bug.
struct UnavailableExecutor: JobExecuting {
    func execute(_ job: JobInput, jobID: String, events: ExecutionEvents) async throws -> ExecutionResult {
        throw JobFailure(kind: .unavailable, message: "ComfyUI is not running on this worker", retryable: false)
    }
}
