import ComfySupport
import ComfyTransport
import Foundation
import Logging

/// ComfyGCS's requests over ComfyTransport's `HTTPClient` (libcurl) — the product's one HTTP stack.
///
/// The client is configured for GCS: no retries (ComfyGCS decides, see `RetryPolicy.gcsRetryDelay` and the
/// resumable upload's state machine), no redirects, no per-host environment credentials (GCS requests carry their
/// own bearer token). `send` throws `GCSError` (`.transport`, transient when a retry may help) for connection
/// failures and timeouts, and `CancellationError` when the task is cancelled. It never retries.
struct GCSTransport: Sendable {
    let client: HTTPClient
    let logger: Logger

    init(
        client: HTTPClient = GCSTransport.sharedClient,
        logger: Logger = Logger(label: "comfylock.gcs", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
        self.client = client
        self.logger = logger
    }

    /// One client per process for GCS (connection reuse across requests).
    static let sharedClient = HTTPClient(
        configuration: HTTPClient.Configuration(
            connectTimeout: .seconds(20), lowSpeedLimit: 1, lowSpeedTime: .seconds(120), maxRedirects: 0,
            credentials: .none, retryPolicy: .none, maxBufferedBodySize: 16 << 20))

    /// A request as ComfyGCS sends it: no redirects, no environment credentials. `timeout` bounds one attempt;
    /// `nil` for none (large chunks rely on the transport's low-speed limit).
    static func request(
        _ method: HTTPMethod, _ url: String, headers: HTTPHeaders = [:], body: HTTPRequestBody? = nil,
        timeout: Duration? = .seconds(120)
    ) throws -> HTTPRequest {
        guard let parsed = URL(string: url) else {
            throw GCSError(.configuration, "not a valid URL: \(Redaction.redact(url, secrets: []))")
        }
        return HTTPRequest(
            method: method, url: parsed, headers: headers, body: body, followRedirects: false,
            useEnvironmentCredentials: false, timeout: timeout)
    }

    /// Sends `request` once; `progress` is told the request-body bytes sent so far.
    func send(_ request: HTTPRequest, progress: (@Sendable (Int64) -> Void)?) async throws -> HTTPResponse {
        let handler: HTTPProgressHandler? = progress.map { report in { @Sendable event in report(event.bytesSent) } }
        let shown = Redaction.redactURL(request.url.absoluteString)
        logger.debug("gcs request", metadata: ["method": "\(request.method)", "url": "\(shown)"])
        do {
            let response = try await client.send(request, retry: RetryPolicy.none, progress: handler)
            logger.debug("gcs response", metadata: ["url": "\(shown)", "status": "\(response.status)"])
            return response
        } catch let error as HTTPError {
            if error.isCancellation { throw CancellationError() }
            let detail = Redaction.redact(error.message, secrets: [])  // names the URL (session ids scrubbed)
            // curl 65 (CURLE_SEND_FAIL_REWIND): a reused connection died while the body was being sent and libcurl
            // could not replay the body itself. The connection failed; the request is safe to send again.
            let transient = error.isConnectionFailure || error.isTimeout || error.isRetryable || error.curlCode == 65
            logger.notice("gcs transport error", metadata: ["error": "\(detail)", "transient": "\(transient)"])
            throw GCSError(.transport, "\(request.method): \(detail)", underlying: nil, transient: transient)
        }
    }
}

extension HTTPResponse {
    /// The JSON body as a dictionary, when it is one.
    var jsonObject: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] }

    /// A short, secret-free description of a GCS or OAuth error body: GCS's `error.message`, or OAuth's `error` +
    /// `error_description`, or the first line of a text body; scrubbed of `secrets`.
    func gcsErrorDetail(scrubbing secrets: [String]) -> String? {
        var detail: String?
        if let json = jsonObject {
            if let error = json["error"] as? [String: Any], let message = error["message"] as? String {
                detail = message
            } else if let error = json["error"] as? String {
                detail = error
                if let description = json["error_description"] as? String { detail! += ": " + description }
            }
        } else if !body.isEmpty {
            let text = String(decoding: body.prefix(300), as: UTF8.self)
            detail = text.split(whereSeparator: \.isNewline).first.map(String.init)
        }
        guard let detail else { return nil }
        return Redaction.redact(String(detail.prefix(300)), secrets: secrets)
    }
}

extension HTTPRequest {
    /// The URL as text (for messages; callers redact).
    var urlText: String { url.absoluteString }
}

extension String {
    /// Percent-encoding for a query value or a path segment (RFC 3986 unreserved characters stay).
    var gcsQueryEncoded: String { V4Signer.percentEncode(self, keepSlash: false) }
}
