import ArgumentParser
import ComfyGCS
import ComfyHandler
import ComfyHandlerHTTP
import ComfyLock
import ComfyRuntime
import Foundation
import Logging
import ServiceLifecycle

// The RunPod / Docker worker: a thin front end over ComfyHandler (see docs/tech.md, "Worker").

/// Operator options shared by every mode (trusted: they come from the operator, never from a job).
struct StartupArguments: ParsableArguments {
    @Option(name: .customLong("comfyui-url"), help: "Attach to a running ComfyUI at this URL instead of starting one.")
    var comfyUIURL: String?

    @Option(name: .customLong("lock"), help: "The lock the environment must match.")
    var lock: String?

    @Option(name: .customLong("version-dir"), help: "A version directory made by comfy-cli version create.")
    var versionDirectory: String?

    @Option(name: .customLong("version"), help: "A version name under --root.")
    var version: String?

    @Option(name: .customLong("root"), help: "The versions root for --version.")
    var root: String?

    @Option(
        name: .customLong("on-drift"),
        help: "What to do when the environment drifts from the lock: fail, repair or warn.")
    var onDrift: String = DriftPolicy.fail.rawValue

    @Option(
        name: .customLong("warmup"),
        help: "A workflow (lock workflow name or API-format file) to run before taking jobs.")
    var warmup: String?

    @Flag(
        name: .customLong("allow-private-urls"), help: "Let jobs download inputs from private and loopback addresses.")
    var allowPrivateURLs = false

    @Option(name: .customLong("max-inline-output-bytes"), help: "The largest total of base64 outputs in one result.")
    var maxInlineOutputBytes: Int = JobLimits().maxInlineOutputBytes

    @Option(name: .customLong("max-inline-input-bytes"), help: "The largest total of inline inputs in one job.")
    var maxInlineInputBytes: Int = JobLimits().maxInlineInputBytes

    @Option(
        name: .customLong("comfyui-arg"),
        help: "Pass an argument to a started ComfyUI, e.g. --comfyui-arg=--cpu (repeatable; also COMFYUI_ARGS).")
    var comfyUIArguments: [String] = []
    @Flag(name: .customLong("allow-unpinned"), help: "Accept a lock whose Python packages carry no hashes.")
    var allowUnpinned = false

    @Option(
        name: .customLong("volume"), help: "Where the network volume is mounted (absent: run from the image alone).")
    var volume = WorkerVolume.defaultMountPoint

    @Option(name: .customLong("store"), help: "The model store (default: the volume's store when it is mounted).")
    var store: String?

    @Option(
        name: .customLong("fetch-models"),
        help: "Fetch missing models into the store at start: auto (when the volume is mounted), always or never.")
    var fetchModels: String = ModelFetchPolicy.auto.rawValue

    @Option(
        name: .customLong("models"),
        help: "Fetch missing models at start (eager) or only those each job's workflow names, before it runs (lazy).")
    var models: String = ModelLoading.eager.rawValue

    @Option(name: .customLong("wheelhouse"), help: "Directory of pinned artifacts for a repair's Python rebuild.")
    var wheelhouse: String?

    @Flag(
        name: .customLong("offline"), help: "Rebuild Python during a repair with no index access (needs --wheelhouse).")
    var offline = false

    @Option(
        name: .customLong("trusted-keys"),
        help:
            "Refuse a lock not signed by one of these minisign public keys (a *.pub file or a directory; also COMFYLOCK_TRUSTED_KEYS)."
    )
    var trustedKeys: String?

    @Option(
        name: .customLong("gcs-sign-expires"),
        help: "Signed URL lifetime in seconds for GCS outputs when a job gives no sign_expires (at most 604800).")
    var gcsSignExpires = 3600

    @Option(
        name: .customLong("webhook"),
        help: "POST every job's answer here, signed, when the job names no webhook of its own.")
    var webhook: String?

    @Option(
        name: .customLong("webhook-secret-file"),
        help: "A file holding the webhook signing secret (whsec_<base64> or text; also COMFY_HANDLER_WEBHOOK_SECRET).")
    var webhookSecretFile: String?

    @Flag(
        name: .customLong("allow-private-webhooks"),
        help: "Let webhooks go to private, loopback and link-local addresses.")
    var allowPrivateWebhooks = false

    @Flag(name: .customLong("no-webhooks"), help: "Send no webhooks, not even for jobs that name one.")
    var noWebhooks = false

    func validate() throws {
        if let webhook {
            guard let url = URL(string: webhook), ["http", "https"].contains(url.scheme?.lowercased() ?? "") else {
                throw ValidationError("--webhook must be an http(s) URL")
            }
        }
        guard DriftPolicy(rawValue: onDrift) != nil else {
            throw ValidationError("--on-drift must be fail, repair or warn")
        }
        guard ModelLoading(rawValue: models) != nil else { throw ValidationError("--models must be eager or lazy") }
        guard ModelFetchPolicy(rawValue: fetchModels) != nil else {
            throw ValidationError("--fetch-models must be auto, always or never")
        }
        if offline && wheelhouse == nil { throw ValidationError("--offline needs --wheelhouse DIR") }
        guard (1...604_800).contains(gcsSignExpires) else {
            throw ValidationError("--gcs-sign-expires must be 1 to 604800 seconds")
        }
    }

    /// The options; mirror rewriting (`COMFYLOCK_GIT_MIRROR`, ...) is read from `environment` here, in the front end.
    func options(environment: [String: String]) throws -> WorkerOptions {
        var limits = JobLimits()
        limits.allowPrivateURLs = allowPrivateURLs
        limits.maxInlineOutputBytes = maxInlineOutputBytes
        limits.maxInlineInputBytes = maxInlineInputBytes
        var options = WorkerOptions(
            comfyUIURL: comfyUIURL, lockPath: lock, versionDirectory: versionDirectory, versionName: version,
            root: root, onDrift: DriftPolicy(rawValue: onDrift) ?? .fail, warmup: warmup, limits: limits)
        // COMFYUI_ARGS (space-separated, as worker-comfyui's images take it) for images whose CMD is fixed.
        let fromEnvironment = (environment["COMFYUI_ARGS"] ?? "")
            .split(separator: " ").map(String.init)
        options.comfyUIArguments = fromEnvironment + comfyUIArguments
        options.allowUnpinned = allowUnpinned
        options.volume = WorkerVolume(mountPoint: volume)
        options.store = store
        options.fetchModels = ModelFetchPolicy(rawValue: fetchModels) ?? .auto
        options.models = ModelLoading(rawValue: models) ?? .eager
        // COMFY_HANDLER_SOCKET=per-job: a ComfyUI WebSocket per job instead of the worker's one shared socket (the A/B
        // row of scripts/bench/handler.sh; anything else keeps the shared socket).
        options.sharedSocket = environment["COMFY_HANDLER_SOCKET"] != "per-job"
        options.pythonBuild = PythonBuildOptions(offline: offline, wheelhouse: wheelhouse)
        options.rewriter = try URLRewriter.fromEnvironment(environment)
        // GCS delivery: GCS_BUCKET, GCS_PREFIX, GOOGLE_APPLICATION_CREDENTIALS, ... (never from a job).
        options.gcs = GCSConfiguration.fromEnvironment(environment)
        options.gcsSignExpires = gcsSignExpires
        if !noWebhooks {
            // The secret comes from a file or the environment only (never a flag value, which `ps` shows).
            var secretText = environment["COMFY_HANDLER_WEBHOOK_SECRET"]
            if let file = webhookSecretFile {
                guard let data = FileManager.default.contents(atPath: file), data.count <= 4096 else {
                    throw ValidationError("--webhook-secret-file: cannot read \(file) (at most 4096 bytes)")
                }
                secretText = String(decoding: data, as: UTF8.self)
            }
            var secret: [UInt8]?
            if let secretText, !secretText.isEmpty {
                guard let key = WebhookConfiguration.key(fromSecret: secretText) else {
                    throw ValidationError("the webhook secret is empty or a whsec_ value that is not base64")
                }
                secret = key
            }
            options.webhooks = WebhookConfiguration(
                defaultURL: webhook.flatMap(URL.init(string:)), secret: secret, allowPrivate: allowPrivateWebhooks)
        }
        options.python = RuntimePythonEnvironment(environment: environment, mirrors: options.rewriter)
        if let keys = trustedKeys ?? environment["COMFYLOCK_TRUSTED_KEYS"].flatMap({ $0.isEmpty ? nil : $0 }) {
            do { options.trustedKeys = try TrustedKeys.load([keys]) } catch { throw ValidationError(error.message) }
        }
        return options
    }
}

@main
struct ComfyHandlerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "comfy-handler",
        abstract: "Runs ComfyUI jobs as a RunPod worker, as one local job, or behind a local HTTP API.",
        discussion: """
            With RUNPOD_WEBHOOK_GET_JOB set it is a RunPod serverless worker. Otherwise it runs one job from \
            --test-input (JSON text or a file; default test_input.json) and prints {"output": ...} or \
            {"error": ...}, exiting 1 on error. `comfy-handler serve` starts the local HTTP API.
            """,
        subcommands: [Serve.self])

    @OptionGroup(title: "Environment") var startup: StartupArguments

    @Option(
        name: .customLong("test-input"), help: "One job's input as JSON text or a file path (default test_input.json).")
    var testInput: String?

    @Option(
        name: .customLong("metrics-port"),
        help: "As a RunPod worker, also serve GET /metrics (Prometheus) on this port (0 picks a free one).")
    var metricsPort: Int?

    @Option(name: .customLong("metrics-host"), help: "The address the --metrics-port server listens on.")
    var metricsHost = "127.0.0.1"

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let runPod: RunPodConfiguration?
        do {
            runPod = try RunPodConfiguration.fromEnvironment(environment)
        } catch {
            FileHandle.standardError.write(Data("comfy-handler: \(error)\n".utf8))
            throw ExitCode(2)
        }
        let logger = HandlerLogging.bootstrap(environment: environment, runPod: runPod != nil)
        if let runPod, testInput == nil {
            let worker = try await HandlerMain.prepare(startup, environment: environment, logger: logger)
            let loop = RunPodWorker(configuration: runPod, runner: worker.runner, logger: logger)
            let service = RunPodService(worker: loop, prepared: worker)
            var services: [any Service] = [service]
            if let metricsPort {
                let host = metricsHost
                services.append(
                    HandlerHTTPAPI.metricsApplication(
                        metrics: worker.metrics, host: host, port: metricsPort, logger: logger
                    ) { port in
                        logger.notice("metrics on http://\(host):\(port)/metrics")
                        FileHandle.standardError.write(Data("METRICS \(port)\n".utf8))
                    })
            }
            let group = ServiceGroup(
                configuration: .init(services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
            return
        }
        // One local job.
        let input: JSONValue?
        do {
            input = try LocalJob.readTestInput(testInput ?? "test_input.json")
        } catch {
            LocalJob.printDocument(JobFailure(kind: .validation, message: "\(error)").json)
            throw ExitCode(1)
        }
        let worker = try await HandlerMain.prepare(startup, environment: environment, logger: logger)
        let outcome = await worker.runner.run(id: JobID.make(), input: input)
        await worker.shutdown()
        switch outcome {
        case .completed(let output):
            LocalJob.printDocument(["output": output.json])
        case .failed(let failure, _):
            LocalJob.printDocument(failure.json)
            throw ExitCode(1)
        case .stopped:
            LocalJob.printDocument(JobFailure(kind: .interrupted, message: "the job was stopped").json)
            throw ExitCode(1)
        }
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serves the local HTTP API (RunPod-shaped routes).")

    @OptionGroup(title: "Environment") var startup: StartupArguments

    @Option(help: "The address to listen on.") var host = "127.0.0.1"
    @Option(help: "The port to listen on (0 picks a free one).") var port = 8000

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        let logger = HandlerLogging.bootstrap(environment: environment, runPod: false)
        let worker = try await HandlerMain.prepare(startup, environment: environment, logger: logger)
        let api = HandlerHTTPAPI(
            queue: LocalJobQueue(runner: worker.runner), readiness: { await worker.readiness() })
        let app = api.application(host: host, port: port, logger: logger) { port in
            logger.notice("listening on http://\(host):\(port)")
            FileHandle.standardError.write(Data("READY \(port)\n".utf8))
        }
        let group = ServiceGroup(
            configuration: .init(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        await worker.shutdown()
    }
}

/// The RunPod loop as a service: graceful shutdown stops taking jobs and lets the running one finish.
struct RunPodService: Service {
    let worker: RunPodWorker
    let prepared: PreparedWorker

    func run() async throws {
        await withGracefulShutdownHandler {
            await worker.run()
        } onGracefulShutdown: {
            worker.shutdown()
        }
        await prepared.shutdown()
    }
}

enum HandlerMain {
    /// Applies the start-up options; a start-up that cannot even begin (bad flags, unreadable lock) exits 2.
    static func prepare(
        _ arguments: StartupArguments, environment: [String: String], logger: Logger
    ) async throws
        -> PreparedWorker
    {
        do {
            return try await WorkerStartup.prepare(try arguments.options(environment: environment), logger: logger)
        } catch {
            logger.critical("start-up failed: \(error)")
            FileHandle.standardError.write(Data("comfy-handler: \(error)\n".utf8))
            throw ExitCode(2)
        }
    }
}
