import Logging
import ComfySupport
import ComfyTransport
import Foundation

/// ComfyGCS's requests over ComfyTransport's `HTTPClient` (libcurl) — the product's one HTTP stack.
///
/// The client is configured for GCS: no retries (ComfyGCS decides, see `GCSRetryPolicy` and the resumable
/// recovery), no redirects, no per-host environment credentials (GCS requests carry their own bearer token).
struct CurlGCSTransport: GCSTransport {
    let client: HTTPClient
    let logger: Logger

    init(
        client: HTTPClient = CurlGCSTransport.sharedClient,
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

    func send(_ request: GCSHTTPRequest, progress: (@Sendable (Int64) -> Void)?) async throws -> GCSHTTPResponse {
        guard let url = URL(string: request.url) else {
            throw GCSError(.configuration, "not a valid URL: \(Redaction.redact(request.url, secrets: []))")
        }
        let body: HTTPRequestBody? =
            switch request.body {
            case .none: nil
            case .bytes(let bytes): .bytes(bytes)
            case .fileRegion(let path, let offset, let length): .fileRegion(path: path, offset: offset, length: length)
            }
        let httpRequest = HTTPRequest(
            method: HTTPMethod(rawValue: request.method), url: url, headers: HTTPHeaders(request.headers), body: body,
            followRedirects: false, useEnvironmentCredentials: false,
            timeout: request.timeout.map { .milliseconds(Int64($0 * 1000)) })
        let handler: HTTPProgressHandler? = progress.map { report in { @Sendable event in report(event.bytesSent) } }
        let shown = Redaction.redactURL(request.url)
        logger.debug("gcs request", metadata: ["method": "\(request.method)", "url": "\(shown)"])
        do {
            let response = try await client.send(httpRequest, retry: RetryPolicy.none, progress: handler)
            logger.debug("gcs response", metadata: ["url": "\(shown)", "status": "\(response.head.status)"])
            var headers: [String: String] = [:]
            for field in response.head.headers {
                let name = field.name.lowercased()
                headers[name] = headers[name].map { $0 + ", " + field.value } ?? field.value
            }
            return GCSHTTPResponse(status: response.head.status, headers: headers, body: response.body)
        } catch let error as HTTPError {
            if error.isCancellation { throw CancellationError() }
            let detail = Redaction.redact(error.message, secrets: [])  // names the URL (session ids scrubbed)
            // curl 65 (CURLE_SEND_FAIL_REWIND): a reused connection died while the body was being sent and libcurl
            // could not replay the body itself. The connection failed; the request is safe to send again.
            let transient = error.isConnectionFailure || error.isTimeout || error.isRetryable || error.curlCode == 65
            logger.notice("gcs transport error", metadata: ["error": "\(detail)", "transient": "\(transient)"])
            throw GCSError(
                .transport, "\(request.method): \(detail)", underlying: nil, transient: transient)
        }
    }
}
