import ComfyCrypto
import Foundation
import TestSupport
import Testing

@testable import ComfyGCS

@Suite("Credentials files and RS256 JWTs")
struct AuthTests {
    @Test("a JWT assertion carries iss/scope/aud/iat/exp and verifies with the openssl-derived public key")
    func jwtVerifies() throws {
        let key = try GCSFixtures.serviceAccount()
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let token = try ServiceAccountAssertion.make(for: key, scopes: ["s1", "s2"], now: now)
        let publicKey = try RSAPublicKey(pem: try GCSFixtures.publicKeyPEMFromOpenSSL())
        let claims = try #require(RS256JWT.verify(token, as: ServiceAccountAssertion.Claims.self, with: publicKey))
        #expect(claims.iss == "test-iam-credentials@dummy-project-id.iam.gserviceaccount.com")
        #expect(claims.scope == "s1 s2")
        #expect(claims.aud == "https://oauth2.googleapis.com/token")
        #expect(claims.iat == 1_700_000_000)
        #expect(claims.exp == 1_700_003_600)
        // The header names the key and the algorithm.
        let header = try #require(Base64URL.decode(String(token.split(separator: ".")[0])))
        let headerJSON = try #require(try JSONSerialization.jsonObject(with: Data(header)) as? [String: String])
        #expect(headerJSON["alg"] == "RS256")
        #expect(headerJSON["typ"] == "JWT")
        #expect(headerJSON["kid"] == "ffffffffffffffffffffffffffffffffffffffff")
    }

    @Test("a tampered JWT does not verify")
    func jwtTampered() throws {
        let key = try GCSFixtures.serviceAccount()
        let token = try ServiceAccountAssertion.make(for: key, scopes: ["s"])
        let parts = token.split(separator: ".").map(String.init)
        let forgedClaims = Base64URL.encode(
            Array(#"{"aud":"x","exp":9999999999,"iat":0,"iss":"evil","scope":"s"}"#.utf8))
        let publicKey = try RSAPublicKey(pem: try key.privateKey.publicKeyPEM())
        #expect(RS256JWT.verify(token, as: ServiceAccountAssertion.Claims.self, with: publicKey) != nil)
        #expect(
            RS256JWT.verify(
                [parts[0], forgedClaims, parts[2]].joined(separator: "."), as: ServiceAccountAssertion.Claims.self,
                with: publicKey) == nil)
        #expect(RS256JWT.verify("a.b", as: ServiceAccountAssertion.Claims.self, with: publicKey) == nil)
    }

    @Test("credentials files: both types parse; every malformed case names the file and field, never a secret")
    func credentialsParsing() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let user = dir.appending("user.json")
        try
            #"{"type":"authorized_user","client_id":"cid","client_secret":"S3CRET-VALUE","refresh_token":"R3FRESH-VALUE"}"#
            .write(to: user, atomically: true, encoding: .utf8)
        guard case .authorizedUser(let credentials) = try CredentialsFile.load(path: user.path) else {
            Issue.record("expected authorized_user")
            return
        }
        #expect(credentials.tokenURI == "https://oauth2.googleapis.com/token")
        #expect(!"\(credentials)".contains("S3CRET") && !"\(credentials)".contains("R3FRESH"))
        guard case .serviceAccount(let account) = try CredentialsFile.load(path: GCSFixtures.keyFile.path) else {
            Issue.record("expected service_account")
            return
        }
        #expect(!"\(account)".contains("PRIVATE"))

        let cases: [(String, String)] = [
            (#"{"type":"authorized_user","client_id":"c","client_secret":"S3CRET-VALUE"}"#, "refresh_token"),
            (
                #"{"type":"service_account","private_key":"-----BEGIN PRIVATE KEY-----\nS3CRET-VALUE\n-----END PRIVATE KEY-----\n"}"#,
                "client_email"
            ),
            (#"{"type":"service_account","client_email":"a@b","private_key":"S3CRET-VALUE"}"#, "private_key"),
            (#"{"type":"external_account"}"#, "external_account"),
            (#"{"client_id":"x"}"#, "type"),
            ("[1,2]", "not a JSON object"),
        ]
        for (index, (json, expected)) in cases.enumerated() {
            let file = dir.appending("bad\(index).json")
            try json.write(to: file, atomically: true, encoding: .utf8)
            do {
                _ = try CredentialsFile.load(path: file.path)
                Issue.record("case \(index) parsed")
            } catch let error as GCSError {
                #expect(error.kind == .credentials)
                #expect(error.message.contains(file.path), "\(error.message)")
                #expect(error.message.contains(expected), "\(error.message)")
                #expect(!error.message.contains("S3CRET"), "\(error.message)")
            }
        }
        #expect(throws: GCSError.self) { try CredentialsFile.load(path: dir.appending("missing.json").path) }
    }
}
