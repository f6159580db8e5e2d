public import Foundation

/// RS256 JSON Web Tokens for the service-account OAuth flow (RFC 7519 / RFC 7523).
public enum JWT {
    /// The claims Google's token endpoint expects.
    public struct Claims: Codable, Sendable, Equatable {
        /// Issuer: the service account's email.
        public var iss: String
        /// Space-separated OAuth scopes.
        public var scope: String
        /// Audience: the token endpoint.
        public var aud: String
        /// Issued at (seconds since 1970).
        public var iat: Int64
        /// Expiry (seconds since 1970), at most one hour after `iat`.
        public var exp: Int64

        /// Creates claims.
        public init(iss: String, scope: String, aud: String, iat: Int64, exp: Int64) {
            self.iss = iss
            self.scope = scope
            self.aud = aud
            self.iat = iat
            self.exp = exp
        }
    }

    private struct Header: Codable { var alg = "RS256"; var typ = "JWT"; var kid: String? }

    /// A signed assertion `header.claims.signature` (base64url), for `key` with `scopes`, valid one hour from `now`.
    public static func assertion(for key: ServiceAccountKey, scopes: [String], now: Date = Date()) throws -> String {
        let iat = Int64(now.timeIntervalSince1970.rounded(.down))
        let claims = Claims(
            iss: key.clientEmail, scope: scopes.joined(separator: " "), aud: key.tokenURI, iat: iat, exp: iat + 3600)
        return try sign(claims: claims, keyID: key.privateKeyID, with: key.privateKey)
    }

    /// Signs `claims` with RS256.
    public static func sign(claims: Claims, keyID: String?, with key: RSAPrivateKey) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let header = try encoder.encode(Header(kid: keyID))
        let body = try encoder.encode(claims)
        let signingInput = Base64.urlEncode(header) + "." + Base64.urlEncode(body)
        let signature = try key.signSHA256(Array(signingInput.utf8))
        return signingInput + "." + Base64.urlEncode(signature)
    }

    /// Verifies an RS256 token with `publicKey` and returns its claims; `nil` when malformed or the signature is bad.
    public static func verify(_ token: String, with publicKey: RSAPublicKey) -> Claims? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Base64.urlDecode(String(parts[0])),
            let claimBytes = Base64.urlDecode(String(parts[1])), let signature = Base64.urlDecode(String(parts[2])),
            let header = try? JSONDecoder().decode(Header.self, from: Data(headerBytes)), header.alg == "RS256"
        else { return nil }
        let input = Array("\(parts[0]).\(parts[1])".utf8)
        guard publicKey.verifySHA256(signature: signature, message: input) else { return nil }
        return try? JSONDecoder().decode(Claims.self, from: Data(claimBytes))
    }
}
