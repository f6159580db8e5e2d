import ComfyCrypto
import Foundation
import TestSupport
import Testing

@Suite("CRC32C, MD5, base64url, RSA, RS256 JWTs")
struct CryptoTests {
    @Test("CRC32C matches the RFC 3720 test vectors and the check value")
    func crc32cVectors() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).reversed().map { UInt8($0) }) == 0x113F_DB5C)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        #expect(CRC32C().base64 == "AAAAAA==")
    }

    @Test("CRC32C is independent of how the bytes are split and aligned")
    func crc32cStreaming() {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<100_003).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let whole = CRC32C.checksum(bytes)
        for split in [1, 7, 8, 9, 4096, 65_537] {
            var crc = CRC32C()
            var index = 0
            while index < bytes.count {
                let end = min(bytes.count, index + split)
                crc.update(bytes[index..<end])
                index = end
            }
            #expect(crc.value == whole, "split \(split)")
        }
    }

    @Test("CRC32C and MD5 agree with Google's google-crc32c and Python's hashlib on random data")
    func crc32cMatchesGoogle() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let file = dir.appending("data.bin")
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<(1 << 20) + 13).map { _ in UInt8.random(in: 0...255, using: &generator) }
        try Data(bytes).write(to: file)
        let script = """
            import base64, google_crc32c, hashlib, sys
            data = open(sys.argv[1], 'rb').read()
            print(base64.b64encode(google_crc32c.Checksum(data).digest()).decode())
            print(base64.b64encode(hashlib.md5(data).digest()).decode())
            """
        let result = try Subprocess.run(TestPaths.python.path, ["-c", script, file.path])
        #expect(result.status == 0, "\(result.standardError)")
        let lines = result.standardOutput.split(separator: "\n").map(String.init)
        var crc = CRC32C()
        crc.update(bytes)
        #expect(lines.first == crc.base64)
        #expect(lines.last == Data(InsecureMD5.hash(bytes)).base64EncodedString())
    }

    @Test("MD5 of known strings")
    func md5Known() {
        #expect(Data(InsecureMD5.hash([])).base64EncodedString() == "1B2M2Y8AsgTpgAmY7PhCfg==")
        #expect(
            InsecureMD5.hash(Array("abc".utf8)).map { String(format: "%02x", $0) }.joined()
                == "900150983cd24fb0d6963f7d28e17f72")
    }

    @Test("base64url round-trips without padding or + /")
    func base64url() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 37 + 250) }
            let text = Base64URL.encode(bytes)
            #expect(!text.contains("=") && !text.contains("+") && !text.contains("/"))
            #expect(Base64URL.decode(text) == bytes)
        }
        #expect(Base64URL.encode([0xfb, 0xff]) == "-_8")
    }

    @Test("RSA: bad PEM is refused without echoing it; the public key matches the openssl CLI's")
    func rsaKeys() throws {
        #expect(throws: CryptoError.self) {
            try RSAPrivateKey(pem: "-----BEGIN PRIVATE KEY-----\nnotakey\n-----END PRIVATE KEY-----")
        }
        do {
            _ = try RSAPrivateKey(pem: "SECRETMATERIAL")
            Issue.record("a non-PEM text loaded as a key")
        } catch let error as CryptoError {
            #expect(error.isKeyError)
            #expect(!error.message.contains("SECRETMATERIAL"))
        }
        let pem = try CryptoFixtures.privateKeyPEM()
        let key = try RSAPrivateKey(pem: pem)
        #expect(try key.publicKeyPEM() == (try CryptoFixtures.publicKeyPEMFromOpenSSL(pem)))
        #expect(!key.description.contains("MII"))
    }

    @Test("RS256 JWTs: sign then verify round-trips the claims; a forged payload or a bad header does not verify")
    func rs256() throws {
        struct Claims: Codable, Equatable { var sub: String; var n: Int }
        let pem = try CryptoFixtures.privateKeyPEM()
        let key = try RSAPrivateKey(pem: pem)
        let publicKey = try RSAPublicKey(pem: try CryptoFixtures.publicKeyPEMFromOpenSSL(pem))
        let token = try RS256JWT.sign(claims: Claims(sub: "a/b", n: 7), keyID: "k1", with: key)
        #expect(RS256JWT.verify(token, as: Claims.self, with: publicKey) == Claims(sub: "a/b", n: 7))
        let parts = token.split(separator: ".").map(String.init)
        let header = try #require(Base64URL.decode(parts[0]))
        #expect(String(decoding: header, as: UTF8.self) == #"{"alg":"RS256","kid":"k1","typ":"JWT"}"#)
        let forged = Base64URL.encode(Array(#"{"n":8,"sub":"a/b"}"#.utf8))
        #expect(
            RS256JWT.verify([parts[0], forged, parts[2]].joined(separator: "."), as: Claims.self, with: publicKey)
                == nil)
        let none = Base64URL.encode(Array(#"{"alg":"none","typ":"JWT"}"#.utf8))
        #expect(
            RS256JWT.verify([none, parts[1], parts[2]].joined(separator: "."), as: Claims.self, with: publicKey) == nil)
        #expect(RS256JWT.verify("a.b", as: Claims.self, with: publicKey) == nil)
    }
}

/// The dummy service account's RSA key (Tests/Fixtures/vectors/gcs, Google's conformance fixture).
enum CryptoFixtures {
    static let keyFile = TestPaths.repositoryRoot.appendingPathComponent(
        "Tests/Fixtures/vectors/gcs/test_service_account.not-a-test.json")

    /// The private key PEM.
    static func privateKeyPEM() throws -> String {
        let json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: keyFile)) as? [String: Any])
        return try #require(json["private_key"] as? String)
    }

    /// The public key of `pem`, derived independently by the `openssl` command-line tool.
    static func publicKeyPEMFromOpenSSL(_ pem: String) throws -> String {
        let result = try Subprocess.run("/usr/bin/openssl", ["pkey", "-pubout"], input: Data(pem.utf8))
        try #require(result.status == 0, "openssl pkey failed: \(result.standardError)")
        return result.standardOutput
    }
}
