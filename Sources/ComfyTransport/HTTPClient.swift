public import ComfySupport
public import Foundation
public import Logging
import Synchronization

/// The one HTTP client of ComfyLock, over libcurl.
///
/// Every transfer runs `curl_easy_perform` on a dedicated thread (never on Swift's cooperative pool) and is bridged
/// back with a continuation resumed exactly once. Cancelling the calling task aborts the transfer. Redirects are
/// followed by the client itself (bounded by `Configuration.maxRedirects`), so credentials are re-decided at every
/// hop and dropped when a redirect leaves the host. Easy handles are pooled so connections are kept alive between
/// requests.
public final class HTTPClient: Sendable {
    /// Client-wide settings.
    public struct Configuration: Sendable {
        /// Limit for establishing a connection (TCP + TLS).
        public var connectTimeout: Duration
        /// A transfer slower than `lowSpeedLimit` bytes per second for `lowSpeedTime` is aborted as a timeout
        /// (catches stalled servers without limiting how long a large download may take).
        public var lowSpeedLimit: Int
        /// See `lowSpeedLimit`.
        public var lowSpeedTime: Duration
        /// Most redirects followed for one request.
        public var maxRedirects: Int
        /// A PEM CA bundle to verify servers with, instead of the system's; `nil` for libcurl's default
        /// (`fromEnvironment()` takes `$COMFYLOCK_CA_BUNDLE`). TLS peer and host verification are always on.
        public var caBundlePath: String?
        /// Per-host credentials added to requests (none by default; `fromEnvironment()` takes them from the
        /// process environment).
        public var credentials: HostCredentials
        /// Retries applied by `send` when the caller passes none.
        public var retryPolicy: RetryPolicy
        /// Largest body `send` buffers in memory.
        public var maxBufferedBodySize: Int
        /// The `User-Agent` sent unless a request sets its own.
        public var userAgent: String
        /// libcurl's receive buffer (larger chunks mean fewer sink calls on fast links); the default, 512 KiB, is
        /// libcurl's maximum.
        public var receiveBufferSize: Int

        /// The defaults: 30 s connect, abort below 1 byte/s for 60 s, 10 redirects, no credentials, no CA bundle,
        /// `RetryPolicy.default`, 64 MiB buffered bodies, 512 KiB receive buffer. Nothing is read from the
        /// environment (see `fromEnvironment()`).
        public init(
            connectTimeout: Duration = .seconds(30), lowSpeedLimit: Int = 1, lowSpeedTime: Duration = .seconds(60),
            maxRedirects: Int = 10, caBundlePath: String? = nil, credentials: HostCredentials = .none,
            retryPolicy: RetryPolicy = .default, maxBufferedBodySize: Int = 64 << 20,
            userAgent: String = "comfylock/\(ComfyLockVersion.current) (libcurl)", receiveBufferSize: Int = 512 << 10
        ) {
            self.connectTimeout = connectTimeout
            self.lowSpeedLimit = lowSpeedLimit
            self.lowSpeedTime = lowSpeedTime
            self.maxRedirects = maxRedirects
            self.caBundlePath = caBundlePath
            self.credentials = credentials
            self.retryPolicy = retryPolicy
            self.maxBufferedBodySize = maxBufferedBodySize
            self.userAgent = userAgent
            self.receiveBufferSize = receiveBufferSize
        }

        /// The defaults, plus what the process environment configures: per-host credentials (`HostCredentials`)
        /// and `$COMFYLOCK_CA_BUNDLE` (when set and non-empty). The front ends' entry point.
        public static func fromEnvironment(
            _ environment: [String: String] = ProcessInfo.processInfo.environment
        )
            -> Configuration
        {
            var configuration = Configuration(credentials: .fromEnvironment(environment))
            if let bundle = environment["COMFYLOCK_CA_BUNDLE"], !bundle.isEmpty { configuration.caBundlePath = bundle }
            return configuration
        }
    }

    /// The settings of this client.
    public let configuration: Configuration
    /// Where the client logs requests (debug), retries (notice) and failures; URLs redacted, never headers.
    public let logger: Logger
    let pool = HandlePool()
    /// The threads transfers run on: the process-wide pool (a test passes its own to count them).
    let threads: TransferThreads

    /// A client with `configuration`, logging to `logger` (default: nowhere).
    public convenience init(
        configuration: Configuration = Configuration(),
        logger: Logger = Logger(label: "comfylock.http", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.init(configuration: configuration, logger: logger, threads: .shared)
    }

    init(
        configuration: Configuration,
        logger: Logger = Logger(label: "comfylock.http", factory: { _ in SwiftLogNoOpLogHandler() }),
        threads: TransferThreads
    ) {
        self.logger = logger
        CurlGlobal.ensureInitialized()
        self.configuration = configuration
        self.threads = threads
    }

    /// A process-wide client configured from the process environment (`Configuration.fromEnvironment()`): the
    /// default of clients that take an `HTTPClient` parameter, for front ends that do not pass their own.
    public static let shared = HTTPClient(configuration: .fromEnvironment())

    /// The libcurl version string (for `--version` style diagnostics).
    public static var libcurlVersion: String { CurlGlobal.versionString }

    /// Sends `request` and buffers the response body (up to `maxBufferedBodySize`).
    ///
    /// Retryable failures (connection errors, timeouts, 408/429/5xx) are retried with `retry` (default: the
    /// configuration's policy; pass `.none` to handle them yourself). After the last attempt a retryable status is
    /// returned as a response, not thrown; connection-level failures are thrown as `HTTPError`. Any other status
    /// (including 4xx) is returned at once for the caller to inspect.
    public func send(
        _ request: HTTPRequest, retry: RetryPolicy? = nil, progress: HTTPProgressHandler? = nil
    ) async throws -> HTTPResponse {
        let policy = retry ?? configuration.retryPolicy
        let started = ContinuousClock.now
        var attempt = 1
        while true {
            do {
                logger.debug(
                    "request",
                    metadata: [
                        "method": "\(request.method.rawValue)", "url": "\(shown(request))",
                        "attempt": "\(attempt)",
                    ])
                let outcome = try await perform(request, mode: .buffer, progress: progress)
                let response = HTTPResponse(head: outcome.head, body: outcome.body)
                logger.debug("response", metadata: ["url": "\(shown(request))", "status": "\(response.status)"])
                if attempt < policy.maxAttempts, RetryPolicy.isRetryableStatus(response.status) {
                    let asked = response.head.retryAfter
                    let delay = policy.delay(beforeRetry: attempt, retryAfter: asked)
                    if asked == nil || asked! <= policy.maxRetryAfter,
                        policy.allowsRetry(elapsed: ContinuousClock.now - started, delay: delay)
                    {
                        logger.notice(
                            "retrying",
                            metadata: [
                                "url": "\(shown(request))", "status": "\(response.status)",
                                "attempt": "\(attempt)", "delay": "\(delay)",
                            ])
                        try await Task.sleep(for: delay)
                        attempt += 1
                        continue
                    }
                }
                return response
            } catch let error as HTTPError where error.isRetryable && attempt < policy.maxAttempts {
                let delay = policy.delay(beforeRetry: attempt, retryAfter: error.retryAfter)
                guard policy.allowsRetry(elapsed: ContinuousClock.now - started, delay: delay) else { throw error }
                logger.notice(
                    "retrying", metadata: ["error": "\(error.message)", "attempt": "\(attempt)", "delay": "\(delay)"])
                try await Task.sleep(for: delay)
                attempt += 1
            }
        }
    }

    /// Streams the body of a 2xx response into `sink` (one attempt; redirects followed) and returns its head.
    ///
    /// Any other final status throws `HTTPError.unexpectedStatus` (with `status`, `retryAfter` and a short body
    /// excerpt) and nothing reaches the sink. No automatic retry: a sink has state, so the caller decides how to
    /// resume (e.g. a `Range` request continuing a partial file) and can use `RetryPolicy.run` around this call.
    @discardableResult
    public func stream(
        _ request: HTTPRequest, to sink: any HTTPBodySink, progress: HTTPProgressHandler? = nil
    ) async throws -> HTTPResponseHead {
        logger.debug("stream", metadata: ["method": "\(request.method.rawValue)", "url": "\(shown(request))"])
        let outcome = try await perform(request, mode: .sink(sink), progress: progress)
        logger.debug("stream response", metadata: ["url": "\(shown(request))", "status": "\(outcome.head.status)"])
        guard outcome.head.isSuccess else {
            throw HTTPError.unexpectedStatus(
                outcome.head.status, url: outcome.head.url, retryAfter: outcome.head.retryAfter,
                bodyExcerpt: Self.excerpt(outcome.body), secrets: secrets(of: request))
        }
        return outcome.head
    }

    /// Every credential value this request may carry: the values of its sensitive headers (and the token after an
    /// auth scheme), and every secret of the configured `HostCredentials`. Error text built from what a server
    /// returned is scrubbed of all of them (a server may echo the request back).
    public func secrets(of request: HTTPRequest) -> [String] {
        var out = configuration.credentials.secrets
        for field in request.headers {
            let name = field.name.lowercased()
            guard Self.isSensitiveHeader(name) else { continue }
            out.append(field.value)
            if let space = field.value.firstIndex(of: " ") {
                out.append(field.value[field.value.index(after: space)...].trimmingCharacters(in: .whitespaces))
            }
        }
        return out.filter { $0.count >= 4 }
    }

    static func isSensitiveHeader(_ lowercasedName: String) -> Bool {
        ["authorization", "proxy-authorization", "cookie", "x-api-key", "x-goog-api-key", "private-token"]
            .contains(lowercasedName) || lowercasedName.contains("token") || lowercasedName.contains("secret")
    }
    private func shown(_ request: HTTPRequest) -> String { Redaction.redactURL(request.url.absoluteString) }

    static func excerpt(_ body: [UInt8]) -> String? {
        guard !body.isEmpty else { return nil }
        let text = String(decoding: body.prefix(512), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? nil : text
    }

    /// Runs one request (all its redirect hops) on a dedicated thread.
    func perform(
        _ request: HTTPRequest, mode: TransferMode, progress: HTTPProgressHandler?
    ) async throws
        -> TransferOutcome
    {
        try Self.validate(request.url)
        let cancel = CancellationFlag()
        let job = TransferJob(
            request: request, mode: mode, configuration: configuration, pool: pool, cancel: cancel,
            progress: progress)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation {
                (continuation: CheckedContinuation<TransferOutcome, any Error>) in
                threads.run {
                    let result = job.run()
                    // Resumed once the thread counts as idle again, so the caller's next request finds it.
                    return { continuation.resume(with: result) }
                }
            }
        } onCancel: {
            cancel.set()
        }
    }

    static func validate(_ url: URL) throws {
        guard let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            throw HTTPError.invalidURL(url.absoluteString, reason: "expected an http or https URL")
        }
        guard let host = url.host, !host.isEmpty else {
            throw HTTPError.invalidURL(url.absoluteString, reason: "expected a host name")
        }
    }
}

/// Set from the task's cancellation handler, read by the transfer thread's callbacks.
final class CancellationFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .relaxed) }
    var isSet: Bool { value.load(ordering: .relaxed) }
}

enum TransferMode: Sendable {
    case buffer
    case sink(any HTTPBodySink)
}

struct TransferOutcome: Sendable {
    var head: HTTPResponseHead
    /// The buffered body (`.buffer`), or an excerpt of a non-2xx body (`.sink`).
    var body: [UInt8]
}

/// Long-lived transfer threads: a transfer runs on an idle one (no thread creation per request); a new thread is
/// started only when none is idle, so a blocking transfer never waits for another. Idle threads beyond `keepIdle`
/// exit after `idleTimeout`.
///
/// Why: a transfer blocks its thread in libcurl, so it cannot run on the cooperative pool. Starting an OS thread per
/// request cost the worker up to one scheduler tick (4 ms here) per ComfyUI request whenever both cores were busy —
/// jobs snapped to a 4 ms grid and throughput fell behind a single-threaded client (docs/benchmarks.md, P5 round 5).
final class TransferThreads: @unchecked Sendable {
    // @unchecked: all state is guarded by `condition`.
    /// A unit of work: the blocking part runs on a pool thread and returns what to do once that thread counts as
    /// idle again (resume the caller), so a caller that sends its next request at once reuses the same thread.
    typealias Item = @Sendable () -> @Sendable () -> Void

    /// The pool every `HTTPClient` uses.
    static let shared = TransferThreads()
    private let condition = NSCondition()
    private var work: [Item] = []
    /// Threads not running an item: waiting, about to wait, or just started (each takes from `work` before waiting).
    private var idle = 0
    private var threads = 0
    private var startedTotal = 0
    /// How many idle threads stay when there is no work.
    let keepIdle: Int
    /// How long a thread beyond `keepIdle` waits for work before it exits.
    let idleTimeout: TimeInterval

    init(keepIdle: Int = 4, idleTimeout: TimeInterval = 30) {
        self.keepIdle = keepIdle
        self.idleTimeout = idleTimeout
    }

    /// Threads alive now, and threads ever started (for tests).
    var counts: (alive: Int, started: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (threads, startedTotal)
    }

    /// Runs `item` on an idle thread, or on a new one when every thread is busy.
    func run(_ item: @escaping Item) {
        condition.lock()
        work.append(item)
        if idle >= work.count {
            condition.signal()
            condition.unlock()
            return
        }
        threads += 1
        idle += 1
        startedTotal += 1
        condition.unlock()
        let thread = Thread { [self] in loop() }
        thread.name = "comfylock-http"
        thread.stackSize = 1 << 21
        thread.start()
    }

    private func loop() {
        condition.lock()
        while true {
            while work.isEmpty {
                let signalled = condition.wait(until: Date(timeIntervalSinceNow: idleTimeout))
                if !signalled && work.isEmpty && threads > keepIdle {
                    threads -= 1
                    idle -= 1
                    condition.unlock()
                    return
                }
            }
            let item = work.removeFirst()
            idle -= 1
            condition.unlock()
            let then = item()
            condition.lock()
            idle += 1
            condition.unlock()
            then()
            condition.lock()
        }
    }
}
