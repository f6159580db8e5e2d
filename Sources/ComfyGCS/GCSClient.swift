public import Logging
import Foundation

/// A Google Cloud Storage client over the product's one HTTP stack: authentication (service account, authorized
/// user, metadata server, raw token, emulator), uploads with integrity checks, permission checks and V4 signed URLs.
///
/// Create one per configuration and share it: tokens are cached and refreshed inside.
public final class GCSClient: Sendable {
    /// The validated configuration.
    public let configuration: GCSConfiguration
    /// Where tokens come from.
    public let authMethod: AuthMethod
    /// Retry policy for every request.
    public let retryPolicy: GCSRetryPolicy
    /// The bucket (validated to be set).
    public let bucket: String

    let transport: any GCSTransport
    let tokens: TokenCache?
    let secrets: [String]
    /// Where the client logs (uploads, retries, token refreshes); secrets never reach it.
    public let logger: Logger

    /// Validates `configuration` for `purpose` (one error listing every problem), then finds credentials in the
    /// documented order (see docs/tech.md, "ComfyGCS").
    /// Logs go to `logger` (default: nowhere): uploads, token refreshes, retries — never a token or key.
    public convenience init(
        configuration: GCSConfiguration, purpose: GCSConfiguration.Purpose = .upload,
        retryPolicy: GCSRetryPolicy = .standard,
        logger: Logger = Logger(label: "comfylock.gcs", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws {
        try self.init(
            configuration: configuration, purpose: purpose, retryPolicy: retryPolicy,
            transport: CurlGCSTransport(logger: logger), logger: logger)
    }

    init(
        configuration: GCSConfiguration, purpose: GCSConfiguration.Purpose, retryPolicy: GCSRetryPolicy,
        transport: any GCSTransport,
        logger: Logger = Logger(label: "comfylock.gcs", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws {
        self.logger = logger
        try configuration.validate(for: purpose)
        let resolved = try CredentialResolver.resolve(configuration, transport: transport, policy: retryPolicy)
        self.configuration = configuration
        self.bucket = configuration.bucket!
        self.retryPolicy = retryPolicy
        self.transport = transport
        self.authMethod = resolved.method
        self.tokens = resolved.cache
        var secrets = resolved.secrets
        if let token = configuration.accessToken { secrets.append(token) }
        self.secrets = secrets
        logger.debug("gcs client ready", metadata: ["bucket": "\(bucket)", "auth": "\(resolved.method)"])
    }

    /// A valid access token (cached; refreshed before expiry; concurrent callers share one refresh), or `nil` for the
    /// emulator.
    public func accessToken() async throws -> AccessToken? {
        guard let tokens else { return nil }
        return try await tokens.token()
    }

    var endpoint: String { configuration.resolvedEndpoint }

    /// `gs://bucket/object`.
    public func uri(of object: String) -> String { "gs://\(bucket)/\(object)" }

    /// Sends `request` with authentication and GCS's retry rules. Returns the final response for any status the
    /// caller must interpret (transient statuses too once retries are exhausted or not allowed); throws transport
    /// errors that could not be retried.
    func execute(
        _ request: GCSHTTPRequest, idempotency: GCSRetryPolicy.Idempotency,
        progress: (@Sendable (Int64) -> Void)? = nil
    ) async throws -> GCSHTTPResponse {
        let started = monotonicSeconds()
        var attempt = 1
        var refreshedAfter401 = false
        while true {
            try Task.checkCancellation()
            var authorized = request
            let token = try await accessToken()
            if let token { authorized.headers.append(("Authorization", "Bearer \(token.value)")) }
            do {
                let response = try await transport.send(authorized, progress: progress)
                if response.status == 401, let token, let tokens, !refreshedAfter401 {
                    await tokens.invalidate(token)
                    refreshedAfter401 = true
                    continue
                }
                if GCSRetryPolicy.isRetryableStatus(response.status) {
                    let error = GCSError.http("request", status: response.status, url: request.url, detail: nil)
                    if let delay = retryPolicy.retryDelay(
                        after: error, attempt: attempt, elapsed: monotonicSeconds() - started, idempotency: idempotency,
                        retryAfter: GCSRetryPolicy.retryAfterSeconds(response.header("Retry-After")))
                    {
                        try await sleepSeconds(delay)
                        attempt += 1
                        continue
                    }
                }
                return response
            } catch let error as GCSError where error.kind == .transport {
                if let delay = retryPolicy.retryDelay(
                    after: error, attempt: attempt, elapsed: monotonicSeconds() - started, idempotency: idempotency)
                {
                    try await sleepSeconds(delay)
                    attempt += 1
                    continue
                }
                throw error
            }
        }
    }

    /// An HTTP error for `response`, with a secret-free detail.
    func httpError(_ what: String, _ response: GCSHTTPResponse, url: String) -> GCSError {
        if response.status == 401 || response.status == 403 {
            return GCSError(
                .permission,
                "\(what): HTTP \(response.status) from \(url) with \(authMethod)"
                    + (response.errorDetail(scrubbing: secrets).map { ": " + $0 } ?? ""), status: response.status)
        }
        return GCSError.http(what, status: response.status, url: url, detail: response.errorDetail(scrubbing: secrets))
    }

    func objectURL(_ object: String) -> String {
        "\(endpoint)/storage/v1/b/\(bucket.gcsQueryEncoded)/o/\(object.gcsQueryEncoded)"
    }
}
