public import ComfyCrypto
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Why a lock signature was refused, or why the trusted keys could not be read.
public struct LockSignatureError: Error, Sendable, CustomStringConvertible {
    private enum Code: Sendable, Hashable {
        case unsigned
        case malformed
        case untrustedKey
        case tampered
        case trustedComment
        case digestMismatch
        case notCanonical
        case keys
        case key
        case io
    }

    private let code: Code
    /// A one-line explanation naming the file and the reason (hostile text escaped).
    public let message: String

    private init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// True when the lock itself failed the check (unsigned, signed by an untrusted key, changed after signing,
    /// an unreadable signature): exit 1. False for operator-side problems (trusted keys, the secret key, I/O): exit 2.
    public var isCheckFailure: Bool {
        switch code {
        case .unsigned, .malformed, .untrustedKey, .tampered, .trustedComment, .digestMismatch: true
        case .notCanonical, .keys, .key, .io: false
        }
    }

    /// No signature file beside the lock.
    public static func unsigned(lock: String, signature: String) -> LockSignatureError {
        LockSignatureError(
            .unsigned, "\(Escaping.quoted(lock)) is not signed: no signature file \(Escaping.quoted(signature))")
    }

    /// The signature file is not a minisign signature.
    public static func malformed(signature: String, _ detail: String) -> LockSignatureError {
        LockSignatureError(.malformed, "\(Escaping.quoted(signature)): not a valid minisign signature: \(detail)")
    }

    /// The signature names a key that is not trusted.
    public static func untrustedKey(lock: String, keyID: String, trusted: [String]) -> LockSignatureError {
        LockSignatureError(
            .untrustedKey,
            "\(Escaping.quoted(lock)) is signed by key \(keyID), which is not a trusted key (trusted: "
                + "\(trusted.joined(separator: ", ")))")
    }

    /// The signature does not match the lock's bytes.
    public static func tampered(lock: String, keyID: String) -> LockSignatureError {
        LockSignatureError(
            .tampered,
            "\(Escaping.quoted(lock)) was changed after it was signed (the signature by key \(keyID) does not match "
                + "its bytes)")
    }

    /// The global signature does not match the trusted comment.
    public static func trustedComment(signature: String, keyID: String) -> LockSignatureError {
        LockSignatureError(
            .trustedComment,
            "\(Escaping.quoted(signature)): the trusted comment was changed after signing (the global signature by "
                + "key \(keyID) does not match it)")
    }

    /// The trusted comment names another lock digest than the signed bytes have.
    public static func digestMismatch(lock: String, signed: String, actual: String) -> LockSignatureError {
        LockSignatureError(
            .digestMismatch,
            "\(Escaping.quoted(lock)): the signature's trusted comment names lock digest \(Escaping.escaped(signed)), "
                + "but the signed lock has digest \(actual)")
    }

    /// Signing refused: the file is not in canonical form.
    public static func notCanonical(lock: String) -> LockSignatureError {
        LockSignatureError(
            .notCanonical,
            "\(Escaping.quoted(lock)) is not in canonical form; run `comfy-cli lock fmt` first (the signature covers "
                + "the file's exact bytes)")
    }

    /// The trusted keys could not be read.
    public static func keys(_ path: String, _ detail: String) -> LockSignatureError {
        LockSignatureError(.keys, "trusted keys \(Escaping.quoted(path)): \(detail)")
    }

    /// The secret key could not be used.
    public static func key(_ path: String, _ detail: String) -> LockSignatureError {
        LockSignatureError(.key, "secret key \(Escaping.quoted(path)): \(detail)")
    }

    /// A file could not be read or written.
    public static func io(_ detail: String) -> LockSignatureError { LockSignatureError(.io, detail) }

    /// The message.
    public var description: String { message }
}

/// The public keys a lock signature must come from: `--trusted-keys DIR|FILE` / `--trusted-key PUB`.
public struct TrustedKeys: Sendable {
    /// The keys, in the order read.
    public let keys: [MinisignPublicKey]

    /// Wraps keys.
    public init(_ keys: [MinisignPublicKey]) { self.keys = keys }

    /// At most this many bytes per key file, and this many key files in a directory.
    public static let maxKeyFileBytes = 64 << 10
    /// At most this many key files in a trusted-keys directory.
    public static let maxKeyFiles = 1000

    /// Reads trusted keys: a directory (every regular `*.pub` file in it, sorted by name; at least one key) or a
    /// file (one or more minisign public keys). Each path may be given; their keys are combined.
    public static func load(_ paths: [String]) throws(LockSignatureError) -> TrustedKeys {
        var keys: [MinisignPublicKey] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw LockSignatureError.keys(path, "does not exist")
            }
            if isDirectory.boolValue {
                let names: [String]
                do { names = try FileManager.default.contentsOfDirectory(atPath: path) } catch {
                    throw LockSignatureError.keys(path, "cannot list the directory")
                }
                let files = names.filter { $0.hasSuffix(".pub") && !$0.hasPrefix(".") }.sorted()
                guard files.count <= maxKeyFiles else {
                    throw LockSignatureError.keys(path, "more than \(maxKeyFiles) key files")
                }
                for name in files { keys += try keysOfFile((path as NSString).appendingPathComponent(name)) }
                guard !files.isEmpty else { throw LockSignatureError.keys(path, "the directory has no *.pub key file") }
            } else {
                keys += try keysOfFile(path)
            }
        }
        return TrustedKeys(keys)
    }

    private static func keysOfFile(_ path: String) throws(LockSignatureError) -> [MinisignPublicKey] {
        let bytes: [UInt8]
        do {
            bytes = try BoundedInput.read(path, limits: InputLimits(maxBytes: maxKeyFileBytes), what: "public key")
        } catch { throw LockSignatureError.keys(path, error.description) }
        do { return try MinisignPublicKey.parseFile(String(decoding: bytes, as: UTF8.self)) } catch {
            throw LockSignatureError.keys(path, error.message)
        }
    }

    /// The key with this id, if trusted.
    public func key(id: [UInt8]) -> MinisignPublicKey? { keys.first { $0.keyID == id } }
}

/// A verified lock signature.
public struct LockSignatureVerification: Sendable, Codable, Equatable {
    /// The id of the trusted key that signed (minisign's printed form).
    public var keyID: String
    /// The signature's trusted comment (escaped for printing).
    public var trustedComment: String
    /// The lock digest of the signed bytes.
    public var lockDigest: String
    /// `prehashed` (minisign `ED`) or `legacy` (`Ed`).
    public var algorithm: String
    /// The signature file.
    public var signatureFile: String
}

/// Lock signatures: what is signed, where the signature lives, how it is checked.
///
/// The signature is a minisign signature (prehashed, `ED`) of the lock file's exact bytes — which `comfy-cli lock
/// sign` requires to be the canonical form (`LockFile.encode`: RFC 8785 bytes + newline), so the signed bytes are a
/// function of the lock digest and back. It lives beside the lock as `L.minisig` (minisign's own default name), so
/// signing never changes the lock or its digest, and `minisign -V -m L -p KEY.pub` verifies it. The trusted comment
/// records `lock-digest:<sha256>`; verification refuses a signature whose trusted comment names another digest.
public enum LockSigning {
    /// At most this many bytes of a signature file.
    public static let maxSignatureBytes = 16 << 10

    /// The signature file beside a lock: `L.minisig`.
    public static func signaturePath(forLock path: String) -> String { path + ".minisig" }

    /// The trusted comment written by `lock sign`: minisign's default fields plus the lock digest.
    public static func trustedComment(lockDigest: String, fileName: String, timestamp: Int) -> String {
        "timestamp:\(timestamp)\tfile:\(Escaping.escaped(fileName))\thashed\tlock-digest:\(lockDigest)"
    }

    /// The `lock-digest:` field of a trusted comment, when present.
    public static func lockDigest(inTrustedComment comment: String) -> String? {
        for field in comment.split(separator: "\t") where field.hasPrefix("lock-digest:") {
            return String(field.dropFirst("lock-digest:".count))
        }
        return nil
    }

    /// Signs a lock's bytes: they must decode as a lock, pass the safe validation level and be in canonical form.
    public static func sign(
        lockBytes: [UInt8], lockPath: String, key: MinisignSecretKey, timestamp: Int
    ) throws(LockSignatureError) -> MinisignSignature {
        let lock: Lock
        do { lock = try LockFile.decode(lockBytes) } catch {
            throw LockSignatureError.io("\(Escaping.quoted(lockPath)): \(error)")
        }
        let errors = LockValidator.errors(lock, level: .safe)
        guard errors.isEmpty else {
            throw LockSignatureError.io("\(LockError.invalidLock(file: Escaping.escaped(lockPath), errors))")
        }
        guard LockFile.encode(lock) == lockBytes else { throw LockSignatureError.notCanonical(lock: lockPath) }
        let comment = trustedComment(
            lockDigest: LockFile.digest(lock), fileName: (lockPath as NSString).lastPathComponent, timestamp: timestamp)
        do { return try MinisignSignature.sign(lockBytes, with: key, trustedComment: comment) } catch {
            throw LockSignatureError.io("signing failed: \(error.message)")
        }
    }

    /// Verifies a signature of `lockBytes` against the trusted keys; throws the reason for refusal. Does not decode
    /// the lock beyond computing the digest for the report (an undecodable lock reports digest "").
    public static func verify(
        lockBytes: [UInt8], signatureText: String, trusted: TrustedKeys, lockPath: String, signaturePath: String
    ) throws(LockSignatureError) -> LockSignatureVerification {
        let signature: MinisignSignature
        do { signature = try MinisignSignature(fileText: signatureText) } catch {
            throw LockSignatureError.malformed(signature: signaturePath, error.message)
        }
        guard let key = trusted.key(id: signature.keyID) else {
            throw LockSignatureError.untrustedKey(
                lock: lockPath, keyID: signature.keyIDText, trusted: trusted.keys.map(\.id))
        }
        switch signature.failure(for: lockBytes, key: key) {
        case .otherKey?, .message?: throw LockSignatureError.tampered(lock: lockPath, keyID: key.id)
        case .trustedComment?: throw LockSignatureError.trustedComment(signature: signaturePath, keyID: key.id)
        case nil: break
        }
        var digest = ""
        if let lock = try? LockFile.decode(lockBytes) { digest = LockFile.digest(lock) }
        if let named = lockDigest(inTrustedComment: signature.trustedComment), named != digest {
            throw LockSignatureError.digestMismatch(lock: lockPath, signed: named, actual: digest)
        }
        return LockSignatureVerification(
            keyID: key.id, trustedComment: Escaping.escaped(signature.trustedComment, limit: 1000), lockDigest: digest,
            algorithm: signature.algorithm.rawValue, signatureFile: signaturePath)
    }

    /// Reads a signature file (bounded); `nil` when it does not exist.
    public static func readSignature(_ path: String) throws(LockSignatureError) -> String? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            let bytes = try BoundedInput.read(path, limits: InputLimits(maxBytes: maxSignatureBytes), what: "signature")
            return String(decoding: bytes, as: UTF8.self)
        } catch { throw LockSignatureError.malformed(signature: path, error.description) }
    }
}

extension LockFile {
    /// `load(path:limits:level:)` for a deployment that requires a trusted signature: reads the lock's bytes once,
    /// verifies the signature beside it (`signaturePath`, default `L.minisig`) against `trusted` over exactly those
    /// bytes, then decodes and validates the same bytes — all before the caller has any side effect. Throws
    /// `LockSignatureError` (unsigned, untrusted key, changed after signing) or `LockError` (an invalid lock).
    public static func loadSigned(
        path: String, signaturePath: String? = nil, trusted: TrustedKeys, limits: InputLimits = .default,
        level: LockValidator.Level = .complete
    ) throws -> (lock: Lock, signature: LockSignatureVerification) {
        guard path != "-" || signaturePath != nil else {
            throw LockSignatureError.io("a signed lock cannot be read from standard input without its signature file")
        }
        let bytes = try BoundedInput.read(path, limits: limits, what: "lock")
        let sigPath = signaturePath ?? LockSigning.signaturePath(forLock: path)
        guard let text = try LockSigning.readSignature(sigPath) else {
            throw LockSignatureError.unsigned(lock: path, signature: sigPath)
        }
        let verification = try LockSigning.verify(
            lockBytes: bytes, signatureText: text, trusted: trusted, lockPath: path, signaturePath: sigPath)
        let lock = try decode(bytes)
        let errors = LockValidator.errors(lock, level: level)
        guard errors.isEmpty else { throw LockError.invalidLock(file: Escaping.escaped(path), errors) }
        return (lock, verification)
    }
}
