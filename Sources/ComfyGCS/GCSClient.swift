public import ComfyTransport
import Foundation
public import Logging

/// A Google Cloud Storage client over the product's one HTTP stack: authentication (service account, authorized
/// user, metadata server, raw token, emulator), uploads with integrity checks, permission checks and V4 signed URLs.
///
/// Create one per configuration and share it: tokens are cached and refreshed inside.
public final class GCSClient: Sendable {
    /// The validated configuration.
    public let configuration: GCSConfiguration
    /// Where tokens come from.
    public let authMethod: AuthMethod
    /// Retry policy for every request (GCS's rule on top: see `gcsRetryDelay`).
    public let retryPolicy: RetryPolicy
    /// The bucket (validated to be set).
    public let bucket: String

    let transport: GCSTransport
    let tokens: TokenCache?
    let secrets: [String]
    /// Where the client logs (uploads, retries, token refreshes); secrets never reach it.
    public let logger: Logger

    /// Validates `configuration` for `purpose` (one error listing every problem), then finds credentials in this
    /// order:
    /// 1. an emulator (`emulatorHost`): no authentication (signing still uses the key file if one is given);
    /// 2. a raw access token (`accessToken`), used as is;
    /// 3. a credentials file (`credentialsPath`): `service_account` → an RS256 JWT (iss, scope
    ///    `devstorage.read_write`, aud = `token_uri`, iat, exp = iat + 1 h, `kid`) exchanged at the key's
    ///    `token_uri`; `authorized_user` → the refresh-token grant;
    /// 4. gcloud's application-default file (under `cloudSDKConfigDirectory`, else
    ///    `~/.config/gcloud/application_default_credentials.json`);
    /// 5. the metadata server (`http://<metadataHost>/computeMetadata/v1/instance/service-accounts/default/token`,
    ///    `Metadata-Flavor: Google`; an answer without that header is refused: not a metadata server).
    ///
    /// When none works, the error says which variables to set. Share one client: tokens are cached per client.
    /// Logs go to `logger` (default: nowhere): uploads, token refreshes, retries — never a token or key.
    public convenience init(
        configuration: GCSConfiguration, purpose: GCSConfiguration.Purpose = .upload,
        retryPolicy: RetryPolicy = .googleCloudStorage,
        logger: Logger = Logger(label: "comfylock.gcs", factory: { _ in SwiftLogNoOpLogHandler() })
    ) throws {
        try self.init(
            configuration: configuration, purpose: purpose, retryPolicy: retryPolicy,
            transport: GCSTransport(logger: logger), logger: logger)
    }

    init(
        configuration: GCSConfiguration, purpose: GCSConfiguration.Purpose, retryPolicy: RetryPolicy,
        transport: GCSTransport,
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

    /// A valid access token, or `nil` for the emulator. The token is cached and refreshed 5 minutes before it
    /// expires; concurrent callers await the same refresh (one in-flight task). A request answered 401 drops the
    /// cached token and is retried once with a fresh one.
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
        _ request: HTTPRequest, idempotency: RequestIdempotency, progress: (@Sendable (Int64) -> Void)? = nil
    ) async throws -> HTTPResponse {
        let started = ContinuousClock.now
        var attempt = 1
        var refreshedAfter401 = false
        while true {
            try Task.checkCancellation()
            let token = try await accessToken()
            do {
                let response = try await transport.send(authorize(request, with: token), progress: progress)
                if response.status == 401, let token, let tokens, !refreshedAfter401 {
                    await tokens.invalidate(token)
                    refreshedAfter401 = true
                    continue
                }
                if RetryPolicy.isRetryableStatus(response.status) {
                    let error = GCSError.http("request", status: response.status, url: request.urlText, detail: nil)
                    if let delay = retryPolicy.gcsRetryDelay(
                        after: error, attempt: attempt, elapsed: ContinuousClock.now - started,
                        idempotency: idempotency, retryAfter: response.head.retryAfter)
                    {
                        try await Task.sleep(for: delay)
                        attempt += 1
                        continue
                    }
                }
                return response
            } catch let error as GCSError where error.kind == .transport {
                if let delay = retryPolicy.gcsRetryDelay(
                    after: error, attempt: attempt, elapsed: ContinuousClock.now - started, idempotency: idempotency)
                {
                    try await Task.sleep(for: delay)
                    attempt += 1
                    continue
                }
                throw error
            }
        }
    }

    /// `request` with `token` as its bearer credential (none for the emulator).
    func authorize(_ request: HTTPRequest, with token: AccessToken?) -> HTTPRequest {
        guard let token else { return request }
        var authorized = request
        authorized.headers.add(name: "Authorization", value: "Bearer \(token.value)")
        return authorized
    }

    /// An HTTP error for `response`, with a secret-free detail.
    func httpError(_ what: String, _ response: HTTPResponse, url: String) -> GCSError {
        GCSError.response(what, response, url: url, authMethod: authMethod, secrets: secrets)
    }

    func objectURL(_ object: String) -> String {
        "\(endpoint)/storage/v1/b/\(bucket.gcsQueryEncoded)/o/\(object.gcsQueryEncoded)"
    }
}
