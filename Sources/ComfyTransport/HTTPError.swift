import ComfySupport
public import Foundation

/// An error from the HTTP transport. Messages name the (redacted) URL and say what was expected; they never contain
/// credentials (headers are never included, URLs lose user info and secret-looking query values).
public struct HTTPError: Error, CustomStringConvertible, Sendable {
    private enum Code: Sendable, Equatable {
        case invalidURL, connection, timeout, tls, status, tooManyRedirects, cancelled, bodyTooLarge, sinkFailed
        case requestBody, transfer
    }

    private let code: Code
    /// A one-line message naming the URL and what went wrong.
    public let message: String
    /// The redacted URL of the request (or of the redirect hop) that failed.
    public let url: String
    /// The HTTP status, for `unexpectedStatus` errors.
    public let status: Int?
    /// The server's `Retry-After`, if it sent one.
    public let retryAfter: Duration?
    /// The libcurl result code, for transfer-level failures.
    public let curlCode: Int?
    /// The underlying error (e.g. what a sink threw), if any.
    public let underlying: (any Error & Sendable)?
    /// The first bytes of an error response's body (decoded as UTF-8, at most 512 characters), if any.
    public let bodyExcerpt: String?

    private init(
        _ code: Code, _ message: String, url: String, status: Int? = nil, retryAfter: Duration? = nil,
        curlCode: Int? = nil, underlying: (any Error & Sendable)? = nil, bodyExcerpt: String? = nil
    ) {
        self.code = code
        self.message = message
        self.url = url
        self.status = status
        self.retryAfter = retryAfter
        self.curlCode = curlCode
        self.underlying = underlying
        self.bodyExcerpt = bodyExcerpt
    }

    /// The message.
    public var description: String { message }

    // MARK: Factories

    /// The URL is not an absolute http(s) URL.
    public static func invalidURL(_ url: String, reason: String) -> HTTPError {
        let shown = Redaction.redactURL(url)
        return HTTPError(.invalidURL, "invalid URL \(shown): \(reason)", url: shown)
    }

    /// The server answered with a status the caller did not accept. The body excerpt is server text: it is
    /// scrubbed through `Redaction` of `secrets` (what the request carried), `Authorization:` values, URL user info
    /// and credential query values before it is kept or shown.
    public static func unexpectedStatus(
        _ status: Int, url: URL, expected: String = "2xx", retryAfter: Duration? = nil, bodyExcerpt: String? = nil,
        secrets: [String] = []
    ) -> HTTPError {
        let shown = Redaction.redactURL(url.absoluteString)
        let bodyExcerpt = bodyExcerpt.map { SecretScrubber.scrub($0, extra: secrets) }
        var message = "HTTP \(status) from \(shown) (expected \(expected))"
        if let bodyExcerpt, !bodyExcerpt.isEmpty {
            message += ": " + Escaping.escaped(bodyExcerpt, limit: 200)
        }
        return HTTPError(
            .status, message, url: shown, status: status, retryAfter: retryAfter, bodyExcerpt: bodyExcerpt)
    }

    /// More redirects than allowed.
    public static func tooManyRedirects(url: URL, limit: Int) -> HTTPError {
        let shown = Redaction.redactURL(url.absoluteString)
        return HTTPError(.tooManyRedirects, "more than \(limit) redirects starting from \(shown)", url: shown)
    }

    /// The task was cancelled; the transfer was aborted.
    public static func cancelled(url: URL) -> HTTPError {
        let shown = Redaction.redactURL(url.absoluteString)
        return HTTPError(.cancelled, "transfer from \(shown) cancelled", url: shown)
    }

    /// A buffered response body exceeded the limit.
    public static func bodyTooLarge(url: URL, limit: Int) -> HTTPError {
        let shown = Redaction.redactURL(url.absoluteString)
        return HTTPError(
            .bodyTooLarge, "response body from \(shown) is larger than \(limit) bytes (stream it to a sink instead)",
            url: shown)
    }

    /// The response sink threw.
    public static func sinkFailed(url: URL, underlying: any Error & Sendable) -> HTTPError {
        let shown = Redaction.redactURL(url.absoluteString)
        return HTTPError(.sinkFailed, "receiving \(shown) failed: \(underlying)", url: shown, underlying: underlying)
    }

    /// The request body could not be read (e.g. the file region is gone or shorter than declared).
    public static func requestBody(url: URL, reason: String) -> HTTPError {
        let shown = Redaction.redactURL(url.absoluteString)
        return HTTPError(.requestBody, "cannot send the request body to \(shown): \(reason)", url: shown)
    }

    /// A libcurl failure (connection, timeout, TLS, truncated body...).
    static func curl(code: Int, detail: String, url: URL) -> HTTPError {
        let shown = Redaction.redactURL(url.absoluteString)
        let kind: Code
        switch code {
        // resolve, connect, send, recv, empty reply, partial body, HTTP/2 and HTTP/3 stream errors
        case 6, 7, 5, 55, 56, 52, 18, 16, 92, 95: kind = .connection
        case 28: kind = .timeout
        case 35, 51, 53, 54, 58, 59, 60, 64, 66, 77, 80, 82, 83, 90, 91: kind = .tls
        default: kind = .transfer
        }
        let what: String
        switch kind {
        case .connection: what = "connection failed"
        case .timeout: what = "timed out"
        case .tls: what = "TLS failure"
        default: what = "transfer failed"
        }
        return HTTPError(kind, "\(what) for \(shown): \(detail) (curl \(code))", url: shown, curlCode: code)
    }

    // MARK: Classification

    /// True when the transfer was aborted because the task was cancelled.
    public var isCancellation: Bool { code == .cancelled }
    /// True for connection-level failures (refused, reset, DNS, truncated body, empty reply).
    public var isConnectionFailure: Bool { code == .connection }
    /// True for connect or low-speed (stall) timeouts.
    public var isTimeout: Bool { code == .timeout }
    /// True for TLS handshake or certificate verification failures.
    public var isTLSFailure: Bool { code == .tls }
    /// True for `unexpectedStatus` errors (see `status`).
    public var isUnexpectedStatus: Bool { code == .status }
    /// True when the redirect limit was hit.
    public var isTooManyRedirects: Bool { code == .tooManyRedirects }
    /// True when a sink threw (see `underlying`).
    public var isSinkFailure: Bool { code == .sinkFailed }

    /// Whether `RetryPolicy` retries this error: connection failures, timeouts, a TLS connect error, and the
    /// statuses 408, 429 and 5xx. Never other 4xx, cancellation, certificate failures or sink errors.
    public var isRetryable: Bool {
        switch code {
        case .connection, .timeout: return true
        case .tls: return curlCode == 35  // handshake interrupted; certificate problems are final
        case .status: return status.map(RetryPolicy.isRetryableStatus) ?? false
        default: return false
        }
    }
}
