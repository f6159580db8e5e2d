import ComfyTransport
public import Foundation

/// An OAuth 2.0 access token. Its description never shows the value.
public struct AccessToken: Sendable, CustomStringConvertible {
    /// The bearer token (secret).
    public let value: String
    /// When it expires, if known.
    public let expiresAt: Date?

    /// Creates a token.
    public init(value: String, expiresAt: Date?) {
        self.value = value
        self.expiresAt = expiresAt
    }

    /// Never shows the token.
    public var description: String {
        "AccessToken(<redacted>\(expiresAt.map { ", expires \($0)" } ?? ""))"
    }
}

/// Where access tokens come from, in lookup order (see `CredentialResolver`).
public enum AuthMethod: Sendable, Hashable, CustomStringConvertible {
    /// `STORAGE_EMULATOR_HOST` is set: no authentication.
    case emulator
    /// A raw access token from `GCS_ACCESS_TOKEN` / `GOOGLE_OAUTH_ACCESS_TOKEN`.
    case accessTokenEnvironment
    /// A service-account key file; the associated value is the account's email.
    case serviceAccount(email: String)
    /// An `authorized_user` credentials file (refresh token).
    case authorizedUser
    /// The GCE/GKE metadata server at the given host.
    case metadataServer(host: String)

    /// A short human-readable description (no secret).
    public var description: String {
        switch self {
        case .emulator: "emulator (no authentication)"
        case .accessTokenEnvironment: "access token from the environment"
        case .serviceAccount(let email): "service account \(email)"
        case .authorizedUser: "authorized user (refresh token)"
        case .metadataServer(let host): "metadata server \(host)"
        }
    }
}

/// Fetches a fresh token (no caching; `TokenCache` caches).
protocol TokenFetcher: Sendable {
    func fetch() async throws -> AccessToken
    /// Strings that must never appear in messages (keys, refresh tokens, secrets).
    var secrets: [String] { get }
}

/// Caches one token and refreshes it shortly before expiry; concurrent callers share one refresh.
actor TokenCache {
    private let fetcher: any TokenFetcher
    private var current: AccessToken?
    private var refreshing: Task<AccessToken, any Error>?
    /// Refresh this many seconds before expiry (Google's libraries use a few minutes).
    private let margin: Double
    private(set) var fetchCount = 0

    init(fetcher: any TokenFetcher, refreshMargin: Double = 300) {
        self.fetcher = fetcher
        margin = refreshMargin
    }

    func token(now: Date = Date()) async throws -> AccessToken {
        if let current, isFresh(current, now: now) { return current }
        if let refreshing { return try await refreshing.value }
        let fetcher = self.fetcher
        let task = Task { try await fetcher.fetch() }
        refreshing = task
        fetchCount += 1
        defer { refreshing = nil }
        do {
            let token = try await task.value
            current = token
            return token
        } catch {
            throw error
        }
    }

    /// Forgets `token` (e.g. after a 401) so the next call fetches a new one.
    func invalidate(_ token: AccessToken) {
        if current?.value == token.value { current = nil }
    }

    private func isFresh(_ token: AccessToken, now: Date) -> Bool {
        guard let expiresAt = token.expiresAt else { return true }
        return expiresAt.timeIntervalSince(now) > margin
    }
}

/// A fixed token from the environment.
struct StaticTokenFetcher: TokenFetcher {
    let token: String
    func fetch() async throws -> AccessToken { AccessToken(value: token, expiresAt: nil) }
    var secrets: [String] { [token] }
}

/// Parses an OAuth token response (`access_token`, `expires_in`).
func parseTokenResponse(
    _ response: HTTPResponse, from what: String, url: String, secrets: [String]
) throws
    -> AccessToken
{
    guard response.status == 200 else {
        throw GCSError.token(
            "\(what): HTTP \(response.status) from \(url)"
                + (response.gcsErrorDetail(scrubbing: secrets).map { ": " + $0 } ?? ""),
            status: response.status, transient: RetryPolicy.isRetryableStatus(response.status))
    }
    guard let json = response.jsonObject, let value = json["access_token"] as? String, !value.isEmpty else {
        throw GCSError.token("\(what): the answer from \(url) has no access_token")
    }
    let expiresIn = (json["expires_in"] as? NSNumber)?.doubleValue ?? 3600
    return AccessToken(value: value, expiresAt: Date().addingTimeInterval(expiresIn))
}

/// Sends a token request with a few quick retries on transient failures.
func sendTokenRequest(
    _ request: HTTPRequest, transport: GCSTransport, policy: RetryPolicy, what: String, secrets: [String]
) async throws -> AccessToken {
    let started = ContinuousClock.now
    var attempt = 1
    while true {
        do {
            let response = try await transport.send(request, progress: nil)
            return try parseTokenResponse(response, from: what, url: request.urlText, secrets: secrets)
        } catch let error as GCSError {
            if let delay = policy.gcsRetryDelay(
                after: error, attempt: attempt, elapsed: ContinuousClock.now - started, idempotency: .idempotent)
            {
                try await Task.sleep(for: delay)
                attempt += 1
                continue
            }
            if error.kind == .transport {
                throw GCSError(.token, "\(what): \(error.message)", underlying: error, transient: true)
            }
            throw error
        }
    }
}

func formEncode(_ fields: [(String, String)]) -> [UInt8] {
    Array(fields.map { "\($0.0.gcsQueryEncoded)=\($0.1.gcsQueryEncoded)" }.joined(separator: "&").utf8)
}

/// Service account: a signed JWT exchanged at the key's `token_uri`.
struct ServiceAccountTokenFetcher: TokenFetcher {
    let key: ServiceAccountKey
    let scopes: [String]
    let transport: GCSTransport
    let policy: RetryPolicy

    func fetch() async throws -> AccessToken {
        let assertion = try ServiceAccountAssertion.make(for: key, scopes: scopes)
        let request = try GCSTransport.request(
            .post, key.tokenURI, headers: ["Content-Type": "application/x-www-form-urlencoded"],
            body: .bytes(
                formEncode([
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion),
                ])), timeout: .seconds(60))
        return try await sendTokenRequest(
            request, transport: transport, policy: policy,
            what: "token exchange for service account \(key.clientEmail)", secrets: secrets + [assertion])
    }

    var secrets: [String] { [] }
}

/// Authorized user: a refresh-token grant.
struct AuthorizedUserTokenFetcher: TokenFetcher {
    let credentials: AuthorizedUserCredentials
    let transport: GCSTransport
    let policy: RetryPolicy

    func fetch() async throws -> AccessToken {
        let request = try GCSTransport.request(
            .post, credentials.tokenURI, headers: ["Content-Type": "application/x-www-form-urlencoded"],
            body: .bytes(
                formEncode([
                    ("grant_type", "refresh_token"), ("client_id", credentials.clientID),
                    ("client_secret", credentials.clientSecret), ("refresh_token", credentials.refreshToken),
                ])), timeout: .seconds(60))
        return try await sendTokenRequest(
            request, transport: transport, policy: policy, what: "refresh-token grant", secrets: secrets)
    }

    var secrets: [String] { [credentials.clientSecret, credentials.refreshToken] }
}

/// The GCE/GKE metadata server (`Metadata-Flavor: Google`).
struct MetadataServerTokenFetcher: TokenFetcher {
    let host: String
    let scopes: [String]
    let transport: GCSTransport
    let policy: RetryPolicy

    static func baseURL(host: String) -> String { "http://\(host)/computeMetadata/v1" }

    func fetch() async throws -> AccessToken {
        let scopeQuery = scopes.isEmpty ? "" : "?scopes=" + scopes.joined(separator: ",").gcsQueryEncoded
        let url = Self.baseURL(host: host) + "/instance/service-accounts/default/token" + scopeQuery
        let request = try GCSTransport.request(.get, url, headers: ["Metadata-Flavor": "Google"], timeout: .seconds(15))
        let started = ContinuousClock.now
        var attempt = 1
        while true {
            do {
                let response = try await transport.send(request, progress: nil)
                if response.status == 200, response.headers["Metadata-Flavor"] != "Google" {
                    throw GCSError.token(
                        "metadata server \(host) answered without \"Metadata-Flavor: Google\": it is not a metadata "
                            + "server (check GCE_METADATA_HOST)")
                }
                return try parseTokenResponse(response, from: "metadata server token", url: url, secrets: [])
            } catch let error as GCSError {
                if let delay = policy.gcsRetryDelay(
                    after: error, attempt: attempt, elapsed: ContinuousClock.now - started, idempotency: .idempotent)
                {
                    try await Task.sleep(for: delay)
                    attempt += 1
                    continue
                }
                if error.kind == .transport {
                    throw GCSError.token(
                        "no metadata server at \(host): \(error.message). Outside Google Cloud set "
                            + "GOOGLE_APPLICATION_CREDENTIALS (a key file) or GCS_ACCESS_TOKEN", transient: true)
                }
                throw error
            }
        }
    }

    var secrets: [String] { [] }
}
