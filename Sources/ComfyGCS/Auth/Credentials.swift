public import ComfyCrypto
public import Foundation

/// A Google service-account key (the JSON file downloaded from IAM). Its description never shows the key.
public struct ServiceAccountKey: Sendable, CustomStringConvertible {
    /// `client_email`: the service account's address (JWT issuer, signed-URL credential).
    public let clientEmail: String
    /// `private_key_id`: sent as the JWT `kid`.
    public let privateKeyID: String?
    /// `project_id`, when the file names one.
    public let projectID: String?
    /// `token_uri`: where the JWT is exchanged for an access token.
    public let tokenURI: String
    /// The RSA private key.
    public let privateKey: RSAPrivateKey

    /// Creates a key from its parts.
    public init(
        clientEmail: String, privateKey: RSAPrivateKey, privateKeyID: String? = nil, projectID: String? = nil,
        tokenURI: String = GoogleEndpoints.tokenURI
    ) {
        self.clientEmail = clientEmail
        self.privateKey = privateKey
        self.privateKeyID = privateKeyID
        self.projectID = projectID
        self.tokenURI = tokenURI
    }

    /// Never shows key material.
    public var description: String { "ServiceAccountKey(\(clientEmail), private key redacted)" }
}

/// `authorized_user` credentials (what `gcloud auth application-default login` writes): a refresh token.
public struct AuthorizedUserCredentials: Sendable, CustomStringConvertible {
    /// OAuth client id.
    public let clientID: String
    /// OAuth client secret (secret: never printed).
    public let clientSecret: String
    /// The refresh token (secret: never printed).
    public let refreshToken: String
    /// Token endpoint (default Google's).
    public let tokenURI: String
    /// `quota_project_id`, when present.
    public let quotaProjectID: String?

    /// Creates credentials from their parts.
    public init(
        clientID: String, clientSecret: String, refreshToken: String, tokenURI: String = GoogleEndpoints.tokenURI,
        quotaProjectID: String? = nil
    ) {
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.refreshToken = refreshToken
        self.tokenURI = tokenURI
        self.quotaProjectID = quotaProjectID
    }

    /// Never shows the secret or the refresh token.
    public var description: String { "AuthorizedUserCredentials(client \(clientID), secrets redacted)" }
}

/// Google's well-known endpoints.
public enum GoogleEndpoints {
    /// OAuth 2.0 token endpoint.
    public static let tokenURI = "https://oauth2.googleapis.com/token"
    /// The JSON API base.
    public static let storageAPI = "https://storage.googleapis.com"
    /// The metadata server's default host.
    public static let metadataHost = "metadata.google.internal"
    /// The OAuth scope for read/write object access.
    public static let readWriteScope = "https://www.googleapis.com/auth/devstorage.read_write"
}

/// A parsed credentials JSON file (`GOOGLE_APPLICATION_CREDENTIALS`).
public enum CredentialsFile: Sendable {
    /// `"type": "service_account"`.
    case serviceAccount(ServiceAccountKey)
    /// `"type": "authorized_user"`.
    case authorizedUser(AuthorizedUserCredentials)

    /// Reads and parses a credentials file; errors name the path and field, never a value.
    public static func load(path: String) throws -> CredentialsFile {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            let reason = FileManager.default.fileExists(atPath: path) ? "it is not readable" : "no such file"
            throw GCSError.credentials("cannot read credentials file \(path): \(reason)")
        }
        return try parse(data, source: path)
    }

    /// Parses credentials JSON; `source` names it in errors.
    public static func parse(_ data: Data, source: String) throws -> CredentialsFile {
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw GCSError.credentials("credentials file \(source) is not a JSON object")
        }
        func field(_ name: String) throws -> String {
            guard let value = object[name] as? String, !value.isEmpty else {
                throw GCSError.credentials("credentials file \(source): field \"\(name)\" is missing or not a string")
            }
            return value
        }
        func optional(_ name: String) -> String? { (object[name] as? String).flatMap { $0.isEmpty ? nil : $0 } }
        guard let type = object["type"] as? String else {
            throw GCSError.credentials(
                "credentials file \(source): field \"type\" is missing (expected \"service_account\" or "
                    + "\"authorized_user\")")
        }
        switch type {
        case "service_account":
            let email = try field("client_email")
            let pem = try field("private_key")
            let key: RSAPrivateKey
            do {
                key = try RSAPrivateKey(pem: pem)
            } catch let error as CryptoError {
                throw GCSError.credentials("credentials file \(source): field \"private_key\": \(error.message)")
            }
            return .serviceAccount(
                ServiceAccountKey(
                    clientEmail: email, privateKey: key, privateKeyID: optional("private_key_id"),
                    projectID: optional("project_id"), tokenURI: optional("token_uri") ?? GoogleEndpoints.tokenURI))
        case "authorized_user":
            return .authorizedUser(
                AuthorizedUserCredentials(
                    clientID: try field("client_id"), clientSecret: try field("client_secret"),
                    refreshToken: try field("refresh_token"),
                    tokenURI: optional("token_uri") ?? GoogleEndpoints.tokenURI,
                    quotaProjectID: optional("quota_project_id")))
        default:
            throw GCSError.credentials(
                "credentials file \(source): type \"\(type.debugEscaped)\" is not supported (expected "
                    + "\"service_account\" or \"authorized_user\")")
        }
    }
}
