import ComfyCrypto
import Foundation
import TestSupport
import Testing

@Suite("BLAKE2b of any length, scrypt, password-protected minisign keys")
struct PasswordKeyTests {
    /// Inputs `(i * 7 + 3) & 0xff` of these lengths; digests from Python's hashlib.blake2b (digest_size 32).
    @Test(
        "BLAKE2b-256 matches Python's hashlib across block boundaries",
        arguments: [
            (0, "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"),
            (1, "e88bd757ad5b9bedf372d8d3f0cf6c962a469db61a265f6418e1ffed86da29ec"),
            (127, "c9ae3859964b35f04c54b36d33cf299d7290ee621005d28e51598a943560aaaa"),
            (128, "f0501d06597880592bc49234eef100ec1ff349058d0e9d9b753504e24af86dd6"),
            (129, "a34a4e1e03c541dfbf3099c4b6c143c022ced65c28bd7e8a10e0a098461aecf0"),
            (256, "d93ebb9c802f5630ab22516fd82b6c21bc8bd551d531349b715f046ed11ed871"),
            (1000, "d62b6c768ce1afc8367e0498ab2f8e3f7c178c35b1429f14c4604b545d200f52"),
        ])
    func blake2b256(length: Int, digest: String) {
        let input = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }
        #expect(Hex.encode(BLAKE2b.hash(input, length: 32)) == digest)
    }

    @Test("BLAKE2b with a 64-byte digest equals OpenSSL's BLAKE2b-512; \"abc\" at 32 bytes is the known vector")
    func blake2bAgainstOpenSSL() {
        #expect(
            Hex.encode(BLAKE2b.hash(Array("abc".utf8), length: 32))
                == "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319")
        var generator = SystemRandomNumberGenerator()
        for length in [0, 5, 128, 300, 4096] {
            let input = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(BLAKE2b.hash(input, length: 64) == BLAKE2b512.hash(input), "length \(length)")
        }
    }

    @Test("scrypt matches RFC 7914's test vector; a cost needing more than 4 GiB is refused")
    func scryptVector() throws {
        let out = try Scrypt.derive(
            password: Array("password".utf8), salt: Array("NaCl".utf8), n: 1024, r: 8, p: 16, length: 64)
        #expect(
            Hex.encode(out)
                == "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b3731622eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640"
        )
        #expect(throws: SigningError.self) {
            try Scrypt.derive(password: [1], salt: [2], n: 1 << 24, r: 8, p: 1, length: 32)
        }
        #expect(throws: SigningError.self) {
            try Scrypt.derive(password: [1], salt: [2], n: 1000, r: 8, p: 1, length: 32)
        }
    }

    @Test("an encrypted key round-trips with its password; no password or a wrong one is refused, not misread")
    func encryptedRoundTrip() throws {
        let key = try MinisignSecretKey.generate()
        let cheap = MinisignKeyCost(opsLimit: 1 << 20, memLimit: 1 << 24)
        let text = try key.encryptedFileText(password: Array("correct horse".utf8), cost: cheap)
        #expect(MinisignSecretKey.isEncrypted(fileText: text))
        #expect(!MinisignSecretKey.isEncrypted(fileText: key.fileText))
        let reread = try MinisignSecretKey(fileText: text, password: Array("correct horse".utf8))
        #expect(reread.keyID == key.keyID && reread.privateKey.seed == key.privateKey.seed)
        #expect(throws: SigningError.encryptedKey()) { try MinisignSecretKey(fileText: text) }
        #expect(throws: SigningError.wrongPassword()) {
            try MinisignSecretKey(fileText: text, password: Array("correct horsf".utf8))
        }
        // The key material is not in the file in the clear.
        let raw = [UInt8](Data(base64Encoded: String(text.split(separator: "\n")[1]))!)
        #expect(!Self.contains(raw, key.privateKey.seed))
        // An unencrypted key ignores a password.
        #expect(try MinisignSecretKey(fileText: key.fileText, password: [1, 2]).keyID == key.keyID)
    }

    @Test("a key file asking for an absurd scrypt cost is refused before any derivation")
    func hostileCost() throws {
        // minisign's default cost (1 GiB, N = 2^20) is checked against the real minisign in LockSigningTests.
        let key = try MinisignSecretKey.generate()
        let text = try key.encryptedFileText(password: [1], cost: MinisignKeyCost(opsLimit: 32768, memLimit: 1 << 20))
        var raw = [UInt8](Data(base64Encoded: String(text.split(separator: "\n")[1]))!)
        for index in 38..<54 { raw[index] = 0xff }  // opslimit and memlimit: 2^64 - 1
        let hostile = "untrusted comment: x\n" + Data(raw).base64EncodedString() + "\n"
        #expect(throws: SigningError.self) { try MinisignSecretKey(fileText: hostile, password: [1]) }
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        return (0...(haystack.count - needle.count)).contains { Array(haystack[$0..<($0 + needle.count)]) == needle }
    }
}
