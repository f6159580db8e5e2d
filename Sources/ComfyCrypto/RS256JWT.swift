public import Foundation

/// Compact RS256 JSON Web Tokens (RFC 7519 / RFC 7515): `header.claims.signature`, each part base64url without
/// padding, signed with RSASSA-PKCS1-v1_5 over SHA-256.
public enum RS256JWT {
    private struct Header: Codable {
        var alg = "RS256"
        var typ = "JWT"
        var kid: String?
    }

    /// Signs `claims` (encoded with sorted keys, slashes unescaped) with `key`; `keyID` goes in the header's `kid`.
    public static func sign<Claims: Encodable>(
        claims: Claims, keyID: String?, with key: RSAPrivateKey
    ) throws
        -> String
    {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let header = try encoder.encode(Header(kid: keyID))
        let body = try encoder.encode(claims)
        let signingInput = Base64URL.encode(header) + "." + Base64URL.encode(body)
        let signature = try key.signSHA256(Array(signingInput.utf8))
        return signingInput + "." + Base64URL.encode(signature)
    }

    /// Verifies `token` with `publicKey` and decodes its claims as `Claims`; `nil` when the token is malformed, its
    /// header does not say RS256, or the signature does not verify.
    public static func verify<Claims: Decodable>(
        _ token: String, as claims: Claims.Type, with publicKey: RSAPublicKey
    )
        -> Claims?
    {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Base64URL.decode(String(parts[0])),
            let claimBytes = Base64URL.decode(String(parts[1])), let signature = Base64URL.decode(String(parts[2])),
            let header = try? JSONDecoder().decode(Header.self, from: Data(headerBytes)), header.alg == "RS256"
        else { return nil }
        let input = Array("\(parts[0]).\(parts[1])".utf8)
        guard publicKey.verifySHA256(signature: signature, message: input) else { return nil }
        return try? JSONDecoder().decode(Claims.self, from: Data(claimBytes))
    }
}
