import Foundation

/// minisign's file formats (https://jedisct1.github.io/minisign/): public keys, unencrypted secret keys and
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

/// An unencrypted minisign secret key (`minisign -G -W`, or `comfy-cli key generate`). Password-protected keys
/// (scrypt, minisign's default) are refused with `SigningError.encryptedKey()`.
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

    /// Parses a secret key file. The public half stored in the file must match the private half (the check that
    /// stands in for the checksum an encrypted key needs against a wrong password).
    public init(fileText text: String) throws(SigningError) {
        let lines = Minisign.lines(text).filter { !$0.hasPrefix(Minisign.untrustedPrefix) }
        guard lines.count == 1 else { throw SigningError.format("secret key: expected one base64 line") }
        let raw = try Minisign.base64(lines[0], what: "secret key", count: 158)
        guard Array(raw[0..<2]) == Minisign.algorithmLegacy, Array(raw[4..<6]) == Minisign.checksumBLAKE2b else {
            throw SigningError.format("secret key: not a minisign Ed25519 secret key")
        }
        let kdf = Array(raw[2..<4])
        if kdf == Minisign.kdfScrypt { throw SigningError.encryptedKey() }
        guard kdf == Minisign.kdfNone else { throw SigningError.format("secret key: unknown key derivation") }
        let keyID = Array(raw[54..<62])
        let privateKey = try Ed25519PrivateKey(seed: Array(raw[62..<94]))
        guard privateKey.publicKey.bytes == Array(raw[94..<126]) else { throw SigningError.keyMismatch() }
        self.init(keyID: keyID, privateKey: privateKey)
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
