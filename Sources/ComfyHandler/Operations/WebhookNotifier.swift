import ComfyCrypto
public import ComfyLock
import ComfySupport
public import ComfyTransport
public import Foundation
public import Logging
import Synchronization

/// The operator's webhook settings (trusted: flags and the worker's environment, never a job).
public struct WebhookConfiguration: Sendable {
    /// Where every job's answer goes when the job names no `webhook` of its own (`nil`: only jobs that name one).
    public var defaultURL: URL?
    /// The signing key (`nil`: deliveries are sent without `webhook-signature`, and a warning is logged at start).
    public var secret: [UInt8]?
    /// Deliver to private, loopback and link-local addresses too (`--allow-private-webhooks`; off by default).
    public var allowPrivate: Bool
    /// Attempts and backoff (a delivery is retried on connection errors, timeouts, 408, 429 and 5xx).
    public var retry: RetryPolicy
    /// The time limit of one attempt.
    public var timeout: Duration

    /// Settings; defaults: 5 attempts, 1 s doubling to 30 s, 10 s per attempt, public addresses only.
    public init(
        defaultURL: URL? = nil, secret: [UInt8]? = nil, allowPrivate: Bool = false,
        retry: RetryPolicy = RetryPolicy(maxAttempts: 5, initialDelay: .seconds(1), maxDelay: .seconds(30)),
        timeout: Duration = .seconds(10)
    ) {
        self.defaultURL = defaultURL
        self.secret = secret
        self.allowPrivate = allowPrivate
        self.retry = retry
        self.timeout = timeout
    }

    /// The key of a Standard Webhooks secret: `whsec_<base64>` is base64-decoded; any other text is used as its
    /// UTF-8 bytes. `nil` for an empty secret or a `whsec_` value that is not base64.
    public static func key(fromSecret secret: String) -> [UInt8]? {
        let trimmed = secret.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { return nil }
        if trimmed.hasPrefix("whsec_") {
            guard let data = Data(base64Encoded: String(trimmed.dropFirst("whsec_".count))), !data.isEmpty else {
                return nil
            }
            return [UInt8](data)
        }
        return Array(trimmed.utf8)
    }
}

/// Completion webhooks, the Standard Webhooks way: after a job is answered (completed or failed; never a stopped
/// job) its status document is POSTed to the job's `webhook` (RunPod's `/run` convention) or the configured URL,
/// with `webhook-id` (the job id), `webhook-timestamp` (Unix seconds of the attempt) and
/// `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`.
///
/// Rules: at most one delivery per job id for the life of the worker (a re-delivered job id is not notified
/// again); retried with backoff on connection errors, timeouts, 408, 429 and 5xx; redirects are not followed; the
/// host is resolved and every address checked against the private-address rule (loopback, RFC 1918, CGNAT,
/// link-local, metadata, ULA, ...) unless the operator allows private destinations, and the connection is pinned
/// to the checked address (`HTTPRequest.connectAddress`), so DNS rebinding cannot move it. URLs with credentials
/// are refused. The payload is the answer itself (outputs, or the redacted structured error); the secret never
/// appears in it or in a log line, and logs name only the destination's scheme and host.
public final class WebhookNotifier: Sendable {
    /// The settings.
    public let configuration: WebhookConfiguration
    let http: HTTPClient
    let logger: Logger
    let metrics: WorkerMetrics
    struct State {
        var notified: Set<String> = []
        var order: [String] = []
        var inFlight: [Int: Task<Void, Never>] = [:]
        var next = 0
    }
    let state = Mutex(State())
    /// Job ids remembered for the at-most-once rule.
    static let remembered = 100_000

    /// A notifier; outcomes are counted in `metrics` (`webhook_deliveries_total{result}`).
    public init(
        configuration: WebhookConfiguration, metrics: WorkerMetrics, httpClient: HTTPClient = .shared,
        logger: Logger = Logger(label: "comfylock.handler.webhook")
    ) {
        self.configuration = configuration
        self.http = httpClient
        self.metrics = metrics
        self.logger = logger
    }

    /// Why a job's `webhook` value is refused before any request (`nil` when it is acceptable).
    public func refusal(for text: String) -> String? {
        guard text.utf8.count <= 2048, let url = URL(string: text) else { return "the webhook is not a URL" }
        return AddressPolicy.refusal(for: url, allowPrivate: configuration.allowPrivate)
    }

    /// Delivers job `jobID`'s answer in the background (to `jobURL`, else the configured URL; nothing when neither
    /// is set or this job id was notified before).
    public func notify(jobID: String, outcome: JobOutcome, jobURL: String?) {
        guard let target = jobURL ?? configuration.defaultURL?.absoluteString else { return }
        let document: JSONValue
        switch outcome {
        case .completed(let output):
            document = ["id": .string(jobID), "status": "COMPLETED", "output": output.json]
        case .failed(let failure, _):
            document = ["id": .string(jobID), "status": "FAILED", "error": failure.json]
        case .stopped:
            return
        }
        let key = state.withLock { state -> Int? in
            guard state.notified.insert(jobID).inserted else { return nil }
            state.order.append(jobID)
            if state.order.count > Self.remembered {
                state.notified.remove(state.order.removeFirst())
            }
            state.next += 1
            return state.next
        }
        guard let key else {
            logger.info("webhook for this job id was sent before; not sent again", metadata: ["job_id": "\(jobID)"])
            return
        }
        let body = CanonicalJSON.encode(document)
        let task = Task {
            await self.deliver(jobID: jobID, target: target, body: body)
            _ = self.state.withLock { $0.inFlight.removeValue(forKey: key) }
        }
        state.withLock { state in
            // The task may have finished already (then it removed nothing): keep only unfinished ones.
            state.inFlight[key] = task
        }
    }

    /// Waits for every delivery in flight (before the process exits).
    public func drain() async {
        while let task = state.withLock({ $0.inFlight.values.first }) {
            await task.value
            state.withLock { state in
                for (key, value) in state.inFlight where value == task { state.inFlight.removeValue(forKey: key) }
            }
        }
    }

    /// The Standard Webhooks signature header value for `body` under `key`.
    public static func signature(id: String, timestamp: Int64, body: [UInt8], key: [UInt8]) -> String {
        let signed = Array("\(id).\(timestamp).".utf8) + body
        return "v1," + Data(HMACSHA256.authenticationCode(for: signed, key: key)).base64EncodedString()
    }

    /// Where a delivery goes, for logs (scheme and host only: paths and queries can carry tokens).
    static func shown(_ url: URL) -> String {
        "\(url.scheme ?? "?")://\(url.host ?? "?")"
    }

    func deliver(jobID: String, target: String, body: [UInt8]) async {
        var log = logger
        log[metadataKey: "job_id"] = .string(jobID)
        if let refusal = refusal(for: target) {
            metrics.webhook("refused")
            log.warning("webhook refused: \(refusal)")
            return
        }
        guard let url = URL(string: target), let host = url.host else { return }
        let policy = configuration.retry
        var attempt = 1
        while true {
            // Resolve and check every address, then connect to the checked one (no second lookup by libcurl).
            let addresses = await Task.detached { AddressPolicy.resolve(host: host) }.value
            let usable = configuration.allowPrivate ? addresses : addresses.filter(\.isPublic)
            if addresses.isEmpty {
                log.warning("webhook to \(Self.shown(url)): the host does not resolve (attempt \(attempt))")
            } else if usable.count < addresses.count || usable.isEmpty {
                metrics.webhook("refused")
                log.warning(
                    "webhook refused: \(Self.shown(url)) resolves to a private address (private destinations are not allowed on this worker)"
                )
                return
            } else {
                let timestamp = Int64(Date().timeIntervalSince1970)
                var headers: HTTPHeaders = [:]
                headers.add(name: "Content-Type", value: "application/json")
                headers.add(name: "webhook-id", value: jobID)
                headers.add(name: "webhook-timestamp", value: "\(timestamp)")
                if let key = configuration.secret {
                    headers.add(
                        name: "webhook-signature",
                        value: Self.signature(id: jobID, timestamp: timestamp, body: body, key: key))
                }
                var request = HTTPRequest(
                    method: .post, url: url, headers: headers, body: .bytes(body), followRedirects: false,
                    useEnvironmentCredentials: false, timeout: configuration.timeout)
                request.connectAddress = usable[0].address
                do {
                    let response = try await http.send(request, retry: RetryPolicy.none)
                    if (200..<300).contains(response.status) {
                        metrics.webhook("delivered")
                        log.info("webhook delivered to \(Self.shown(url)) (attempt \(attempt))")
                        return
                    }
                    log.warning("webhook to \(Self.shown(url)) answered \(response.status) (attempt \(attempt))")
                    if !RetryPolicy.isRetryableStatus(response.status) {
                        metrics.webhook("failed")
                        return
                    }
                } catch {
                    if Task.isCancelled { return }
                    let reason = Redaction.redact(String(describing: error))
                    log.warning("webhook to \(Self.shown(url)) failed (attempt \(attempt)): \(reason)")
                }
            }
            guard attempt < policy.maxAttempts else { break }
            do {
                try await Task.sleep(for: policy.delay(beforeRetry: attempt))
            } catch {
                return
            }
            attempt += 1
        }
        metrics.webhook("failed")
        log.error("webhook to \(Self.shown(url)) failed after \(attempt) attempt(s)")
    }
}
