import ComfyCrypto
import Foundation

/// The signed assertion of the service-account OAuth flow (RFC 7523): RS256 claims Google's token endpoint expects.
enum ServiceAccountAssertion {
    /// The claims Google's token endpoint expects.
    struct Claims: Codable, Sendable, Equatable {
        /// Issuer: the service account's email.
        var iss: String
        /// Space-separated OAuth scopes.
        var scope: String
        /// Audience: the token endpoint.
        var aud: String
        /// Issued at (seconds since 1970).
        var iat: Int64
        /// Expiry (seconds since 1970), one hour after `iat`.
        var exp: Int64
    }

    /// A signed assertion for `key` with `scopes`, valid one hour from `now`.
    static func make(for key: ServiceAccountKey, scopes: [String], now: Date = Date()) throws -> String {
        let iat = Int64(now.timeIntervalSince1970.rounded(.down))
        let claims = Claims(
            iss: key.clientEmail, scope: scopes.joined(separator: " "), aud: key.tokenURI, iat: iat, exp: iat + 3600)
        do {
            return try RS256JWT.sign(claims: claims, keyID: key.privateKeyID, with: key.privateKey)
        } catch let error as CryptoError {
            throw GCSError.key("signing the token assertion of \(key.clientEmail): \(error.message)")
        }
    }
}
