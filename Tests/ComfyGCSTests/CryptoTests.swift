import ComfyGCS
import Foundation
import Testing
import TestSupport

@Suite("CRC32C, MD5, base64url, RSA")
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
        #expect(lines.last == Base64.encode(MD5.hash(bytes)))
    }

    @Test("MD5 of known strings")
    func md5Known() {
        #expect(Base64.encode(MD5.hash([])) == "1B2M2Y8AsgTpgAmY7PhCfg==")
        #expect(MD5.hash(Array("abc".utf8)).map { String(format: "%02x", $0) }.joined() == "900150983cd24fb0d6963f7d28e17f72")
    }

    @Test("base64url round-trips without padding or + /")
    func base64url() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 37 + 250) }
            let text = Base64.urlEncode(bytes)
            #expect(!text.contains("=") && !text.contains("+") && !text.contains("/"))
            #expect(Base64.urlDecode(text) == bytes)
        }
        #expect(Base64.urlEncode([0xfb, 0xff]) == "-_8")
    }

    @Test("RSA: bad PEM is refused without echoing it; the public key matches the openssl CLI's")
    func rsaKeys() throws {
        #expect(throws: GCSError.self) { try RSAPrivateKey(pem: "-----BEGIN PRIVATE KEY-----\nnotakey\n-----END PRIVATE KEY-----") }
        do {
            _ = try RSAPrivateKey(pem: "SECRETMATERIAL")
        } catch let error as GCSError {
            #expect(!error.message.contains("SECRETMATERIAL"))
        }
        let key = try RSAPrivateKey(pem: try GCSFixtures.privateKeyPEM())
        #expect(try key.publicKeyPEM() == (try GCSFixtures.publicKeyPEMFromOpenSSL()))
        #expect(!key.description.contains("MII"))
    }
}
