import Foundation

/// minisign's file formats (https://jedisct1.github.io/minisign/): public keys, secret keys (unencrypted, or
/// password-protected with scrypt as `minisign -G` writes them by default) and
/// signatures (prehashed `ED` — BLAKE2b-512 of the message, minisign ≥ 0.10's default — written and read; legacy
/// `Ed` read). Files written here are read by the `minisign` tool and the other way round.
public enum Minisign {
    /// The prefix of the first line of every minisign file.
    public static let untrustedPrefix = "untrusted comment: "
    /// The prefix of a signature's third line.
    public static let trustedPrefix = "trusted comment: "
    /// minisign's limit on a trusted comment.
    public static let maxTrustedCommentBytes = 8192
    /// minisign's limit on an untrusted comment.
    public static let maxCommentBytes = 1024

    static let algorithmLegacy: [UInt8] = Array("Ed".utf8)
    static let algorithmPrehashed: [UInt8] = Array("ED".utf8)
    static let kdfNone: [UInt8] = [0, 0]
    static let kdfScrypt: [UInt8] = Array("Sc".utf8)
    static let checksumBLAKE2b: [UInt8] = Array("B2".utf8)

    /// The lines of a small text file (`\n` or `\r\n`), without empty trailing lines.
    static func lines(_ text: String) -> [String] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
        }
        while let last = lines.last, last.trimmingCharacters(in: .whitespaces).isEmpty { lines.removeLast() }
        return lines
    }

    static func base64(_ line: String, what: String, count: Int) throws(SigningError) -> [UInt8] {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        guard trimmed.utf8.count <= 4 * ((count + 2) / 3) + 4, let data = Data(base64Encoded: trimmed) else {
            throw SigningError.format("\(what): not base64")
        }
        guard data.count == count else {
            throw SigningError.format("\(what): expected \(count) bytes after base64 decoding, found \(data.count)")
        }
        return [UInt8](data)
    }

    static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    static func isOneLine(_ text: String) -> Bool { !text.contains("\n") && !text.contains("\r") }

    /// minisign's printed form of a key id: 16 uppercase hex digits of the 8 bytes read as a little-endian integer.
    static func keyIDText(_ id: [UInt8]) -> String {
        let digits = Array("0123456789ABCDEF")
        return String(id.reversed().flatMap { [digits[Int($0 >> 4)], digits[Int($0 & 0x0f)]] })
    }
}

/// A minisign public key: an 8-byte key id and an Ed25519 key.
public struct MinisignPublicKey: Hashable, Sendable {
    /// The 8-byte key id (random, chosen at key generation; signatures name it).
    public let keyID: [UInt8]
    /// The Ed25519 key.
    public let key: Ed25519PublicKey

    /// A key from its parts; `keyID` must be 8 bytes.
    public init(keyID: [UInt8], key: Ed25519PublicKey) {
        precondition(keyID.count == 8, "a minisign key id has 8 bytes")
        self.keyID = keyID
        self.key = key
    }

    /// The key id as minisign prints it (16 uppercase hex digits).
    public var id: String { Minisign.keyIDText(keyID) }

    /// The base64 line (what `minisign -P` takes).
    public var base64: String { Minisign.base64(Minisign.algorithmLegacy + keyID + key.bytes) }

    /// The public key file: `untrusted comment: minisign public key ID` and the base64 line, newline-terminated.
    public var fileText: String { "\(Minisign.untrustedPrefix)minisign public key \(id)\n\(base64)\n" }

    /// Parses one base64 key line (`Ed` + key id + key).
    public init(base64 line: String) throws(SigningError) {
        let raw = try Minisign.base64(line, what: "public key", count: 42)
        guard Array(raw[0..<2]) == Minisign.algorithmLegacy else {
            throw SigningError.format("public key: unsupported signature algorithm (expected Ed25519, \"Ed\")")
        }
        guard let key = Ed25519PublicKey(bytes: Array(raw[10..<42])) else { throw SigningError.format("public key") }
        self.init(keyID: Array(raw[2..<10]), key: key)
    }

    /// Parses a public key file, or several concatenated: each key is an optional `untrusted comment:` line and a
    /// base64 line. Throws for any other line, and for a file without a key.
    public static func parseFile(_ text: String) throws(SigningError) -> [MinisignPublicKey] {
        var keys: [MinisignPublicKey] = []
        for (index, line) in Minisign.lines(text).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || line.hasPrefix(Minisign.untrustedPrefix) { continue }
            do { keys.append(try MinisignPublicKey(base64: trimmed)) } catch {
                throw SigningError.format("line \(index + 1): \(error.message)")
            }
        }
        guard !keys.isEmpty else { throw SigningError.format("no minisign public key in the file") }
        return keys
    }
}

/// The cost of a password-protected secret key: libsodium's scrypt limits, as minisign stores them in the key file.
public struct MinisignKeyCost: Sendable, Equatable {
    /// libsodium's `opslimit`.
    public var opsLimit: UInt64
    /// libsodium's `memlimit` (bytes).
    public var memLimit: UInt64

    /// A cost from its two limits.
    public init(opsLimit: UInt64, memLimit: UInt64) {
        self.opsLimit = opsLimit
        self.memLimit = memLimit
    }

    /// What `minisign -G` uses (libsodium's "sensitive" limits: N = 2^20, r = 8, p = 1 — 1 GiB and a few seconds).
    public static let minisignDefault = MinisignKeyCost(opsLimit: 33_554_432, memLimit: 1_073_741_824)

    /// scrypt's N, r and p for these limits: libsodium's `pickparams`, which minisign's files rely on.
    var scryptParameters: (n: UInt64, r: UInt64, p: UInt64) {
        let ops = max(opsLimit, 32768)
        let r: UInt64 = 8
        var logN: UInt64 = 1
        if ops < memLimit / 32 {
            let maxN = ops / (r * 4)
            while logN < 63, (UInt64(1) << logN) <= maxN / 2 { logN += 1 }
            return (UInt64(1) << logN, r, 1)
        }
        let maxN = memLimit / (r * 128)
        while logN < 63, (UInt64(1) << logN) <= maxN / 2 { logN += 1 }
        let maxRP = min((ops / 4) / (UInt64(1) << logN), 0x3fff_ffff)
        return (UInt64(1) << logN, r, max(maxRP / r, 1))
    }
}

/// A minisign secret key: unencrypted (`minisign -G -W`, `comfy-cli key generate`) or password-protected (scrypt,
/// minisign's default; `comfy-cli key generate --encrypt`).
public struct MinisignSecretKey: Sendable {
    /// The 8-byte key id.
    public let keyID: [UInt8]
    /// The Ed25519 private key.
    public let privateKey: Ed25519PrivateKey

    /// A new random key pair (random seed and key id).
    public static func generate() throws(SigningError) -> MinisignSecretKey {
        MinisignSecretKey(keyID: try SecureRandom.bytes(8), privateKey: try Ed25519PrivateKey.generate())
    }

    /// A key from its parts.
    public init(keyID: [UInt8], privateKey: Ed25519PrivateKey) {
        precondition(keyID.count == 8, "a minisign key id has 8 bytes")
        self.keyID = keyID
        self.privateKey = privateKey
    }

    /// The public half.
    public var publicKey: MinisignPublicKey { MinisignPublicKey(keyID: keyID, key: privateKey.publicKey) }

    /// The key id as minisign prints it.
    public var id: String { Minisign.keyIDText(keyID) }

    /// The secret key file in minisign's layout, unencrypted (KDF "\0\0", zero salt/limits/checksum — exactly what
    /// `minisign -G -W` writes). Secret: write it only to a 0600 file; never print it.
    public var fileText: String {
        var raw = Minisign.algorithmLegacy + Minisign.kdfNone + Minisign.checksumBLAKE2b
        raw += [UInt8](repeating: 0, count: 32 + 8 + 8)
        raw += keyID + privateKey.seed + privateKey.publicKey.bytes
        raw += [UInt8](repeating: 0, count: 32)
        return "\(Minisign.untrustedPrefix)minisign secret key (unencrypted)\n\(Minisign.base64(raw))\n"
    }

    /// The secret key file in minisign's layout, protected by `password`: a random salt, scrypt at `cost`, the key
    /// id, key and BLAKE2b checksum XORed with the derived stream — what `minisign -G` writes, and readable by it.
    /// Secret all the same: write it only to a 0600 file.
    public func encryptedFileText(
        password: [UInt8], cost: MinisignKeyCost = .minisignDefault
    ) throws(SigningError)
        -> String
    {
        let salt = try SecureRandom.bytes(32)
        var secret = keyID + privateKey.seed + privateKey.publicKey.bytes
        secret += Self.checksum(keyID: keyID, secret: Array(secret[8..<72]))
        let stream = try Self.keyStream(password: password, salt: salt, cost: cost)
        for index in secret.indices { secret[index] ^= stream[index] }
        var raw = Minisign.algorithmLegacy + Minisign.kdfScrypt + Minisign.checksumBLAKE2b + salt
        raw += Self.littleEndian(cost.opsLimit) + Self.littleEndian(cost.memLimit) + secret
        return "\(Minisign.untrustedPrefix)minisign encrypted secret key\n\(Minisign.base64(raw))\n"
    }

    /// True when the file is a password-protected minisign secret key (so a caller knows to ask for a password
    /// before ``init(fileText:password:)``). False for anything else, including malformed text.
    public static func isEncrypted(fileText text: String) -> Bool {
        let lines = Minisign.lines(text).filter { !$0.hasPrefix(Minisign.untrustedPrefix) }
        guard lines.count == 1, let raw = try? Minisign.base64(lines[0], what: "secret key", count: 158) else {
            return false
        }
        return Array(raw[2..<4]) == Minisign.kdfScrypt
    }

    /// Parses a secret key file; a password-protected one is decrypted with `password` (refused with
    /// `SigningError.encryptedKey()` without one, `SigningError.wrongPassword()` when its checksum does not match).
    /// The public half stored in the file must match the private half. The file's scrypt cost is bounded by
    /// ``Scrypt/maxMemory``.
    public init(fileText text: String, password: [UInt8]? = nil) throws(SigningError) {
        let lines = Minisign.lines(text).filter { !$0.hasPrefix(Minisign.untrustedPrefix) }
        guard lines.count == 1 else { throw SigningError.format("secret key: expected one base64 line") }
        var raw = try Minisign.base64(lines[0], what: "secret key", count: 158)
        guard Array(raw[0..<2]) == Minisign.algorithmLegacy, Array(raw[4..<6]) == Minisign.checksumBLAKE2b else {
            throw SigningError.format("secret key: not a minisign Ed25519 secret key")
        }
        let kdf = Array(raw[2..<4])
        if kdf == Minisign.kdfScrypt {
            guard let password else { throw SigningError.encryptedKey() }
            let cost = MinisignKeyCost(
                opsLimit: Self.readLittleEndian(raw, at: 38), memLimit: Self.readLittleEndian(raw, at: 46))
            let stream = try Self.keyStream(password: password, salt: Array(raw[6..<38]), cost: cost)
            for index in 0..<104 { raw[54 + index] ^= stream[index] }
            let expected = Self.checksum(keyID: Array(raw[54..<62]), secret: Array(raw[62..<126]))
            guard Self.constantTimeEqual(expected, Array(raw[126..<158])) else { throw SigningError.wrongPassword() }
        } else if kdf != Minisign.kdfNone {
            throw SigningError.format("secret key: unknown key derivation")
        }
        let keyID = Array(raw[54..<62])
        let privateKey = try Ed25519PrivateKey(seed: Array(raw[62..<94]))
        guard privateKey.publicKey.bytes == Array(raw[94..<126]) else { throw SigningError.keyMismatch() }
        self.init(keyID: keyID, privateKey: privateKey)
    }

    /// minisign's checksum: BLAKE2b-256 of the algorithm ("Ed"), the key id and the 64-byte secret key.
    private static func checksum(keyID: [UInt8], secret: [UInt8]) -> [UInt8] {
        BLAKE2b.hash(Minisign.algorithmLegacy + keyID + secret, length: 32)
    }

    private static func keyStream(
        password: [UInt8], salt: [UInt8], cost: MinisignKeyCost
    ) throws(SigningError)
        -> [UInt8]
    {
        let (n, r, p) = cost.scryptParameters
        return try Scrypt.derive(password: password, salt: salt, n: n, r: r, p: p, length: 104)
    }

    private static func littleEndian(_ value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> UInt64(8 * $0)) }
    }

    private static func readLittleEndian(_ raw: [UInt8], at offset: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 | UInt64(raw[offset + $1]) << UInt64(8 * $1) }
    }

    private static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// A minisign signature file: algorithm, key id, the signature of the message, a trusted comment and the global
/// signature over signature + trusted comment.
public struct MinisignSignature: Sendable, Equatable {
    /// How the message was signed.
    public enum Algorithm: String, Sendable {
        /// `ED`: the Ed25519 signature covers BLAKE2b-512 of the message (minisign ≥ 0.10's default).
        case prehashed
        /// `Ed`: the Ed25519 signature covers the message itself.
        case legacy
    }

    /// The algorithm.
    public let algorithm: Algorithm
    /// The id of the key that signed.
    public let keyID: [UInt8]
    /// The 64-byte signature of the message (or of its BLAKE2b-512).
    public let signature: [UInt8]
    /// The untrusted comment (may be changed by anyone; never relied on).
    public let untrustedComment: String
    /// The trusted comment (covered by the global signature).
    public let trustedComment: String
    /// The 64-byte signature of `signature + trustedComment`.
    public let globalSignature: [UInt8]

    /// The signing key id as minisign prints it.
    public var keyIDText: String { Minisign.keyIDText(keyID) }

    /// Signs `message` (prehashed `ED`) with a trusted comment (one line, at most 8192 bytes).
    public static func sign(
        _ message: [UInt8], with key: MinisignSecretKey, trustedComment: String,
        untrustedComment: String = "signature from minisign secret key"
    ) throws(SigningError) -> MinisignSignature {
        guard Minisign.isOneLine(trustedComment), trustedComment.utf8.count <= Minisign.maxTrustedCommentBytes else {
            throw SigningError.format("the trusted comment must be one line of at most 8192 bytes")
        }
        guard Minisign.isOneLine(untrustedComment), untrustedComment.utf8.count <= Minisign.maxCommentBytes else {
            throw SigningError.format("the untrusted comment must be one line of at most 1024 bytes")
        }
        let signature = try key.privateKey.signature(for: BLAKE2b512.hash(message))
        let global = try key.privateKey.signature(for: signature + Array(trustedComment.utf8))
        return MinisignSignature(
            algorithm: .prehashed, keyID: key.keyID, signature: signature, untrustedComment: untrustedComment,
            trustedComment: trustedComment, globalSignature: global)
    }

    private init(
        algorithm: Algorithm, keyID: [UInt8], signature: [UInt8], untrustedComment: String, trustedComment: String,
        globalSignature: [UInt8]
    ) {
        self.algorithm = algorithm
        self.keyID = keyID
        self.signature = signature
        self.untrustedComment = untrustedComment
        self.trustedComment = trustedComment
        self.globalSignature = globalSignature
    }

    /// Parses a signature file (four lines: untrusted comment, base64 signature, trusted comment, base64 global
    /// signature).
    public init(fileText text: String) throws(SigningError) {
        let lines = Minisign.lines(text)
        guard lines.count == 4 else {
            throw SigningError.format("signature: expected 4 lines (minisign format), found \(lines.count)")
        }
        guard lines[0].hasPrefix(Minisign.untrustedPrefix) else {
            throw SigningError.format("signature: line 1 must start with \"untrusted comment: \"")
        }
        guard lines[2].hasPrefix(Minisign.trustedPrefix) else {
            throw SigningError.format("signature: line 3 must start with \"trusted comment: \"")
        }
        let trusted = String(lines[2].dropFirst(Minisign.trustedPrefix.count))
        guard trusted.utf8.count <= Minisign.maxTrustedCommentBytes else {
            throw SigningError.format("signature: the trusted comment is longer than 8192 bytes")
        }
        let raw = try Minisign.base64(lines[1], what: "signature", count: 74)
        let algorithm: Algorithm
        switch Array(raw[0..<2]) {
        case Minisign.algorithmPrehashed: algorithm = .prehashed
        case Minisign.algorithmLegacy: algorithm = .legacy
        default: throw SigningError.format("signature: unsupported algorithm (expected \"ED\" or \"Ed\")")
        }
        self.init(
            algorithm: algorithm, keyID: Array(raw[2..<10]), signature: Array(raw[10..<74]),
            untrustedComment: String(lines[0].dropFirst(Minisign.untrustedPrefix.count)), trustedComment: trusted,
            globalSignature: try Minisign.base64(lines[3], what: "global signature", count: 64))
    }

    /// The signature file, newline-terminated.
    public var fileText: String {
        let tag = algorithm == .prehashed ? Minisign.algorithmPrehashed : Minisign.algorithmLegacy
        return Minisign.untrustedPrefix + untrustedComment + "\n" + Minisign.base64(tag + keyID + signature) + "\n"
            + Minisign.trustedPrefix + trustedComment + "\n" + Minisign.base64(globalSignature) + "\n"
    }

    /// Why a signature does not verify.
    public enum Failure: Sendable, Equatable {
        /// The signature names a key id that is not the given key's.
        case otherKey
        /// The signature does not match the message (the message was changed after signing, or forged).
        case message
        /// The global signature does not match (the trusted comment was changed after signing).
        case trustedComment
    }

    /// Checks the signature of `message` and the global signature with `key`; `nil` when both are valid.
    public func failure(for message: [UInt8], key: MinisignPublicKey) -> Failure? {
        guard keyID == key.keyID else { return .otherKey }
        let signed = algorithm == .prehashed ? BLAKE2b512.hash(message) : message
        guard key.key.isValidSignature(signature, for: signed) else { return .message }
        guard key.key.isValidSignature(globalSignature, for: signature + Array(trustedComment.utf8)) else {
            return .trustedComment
        }
        return nil
    }
}
