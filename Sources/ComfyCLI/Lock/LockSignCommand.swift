import ArgumentParser
import ComfyCrypto
import ComfyLock
import ComfySupport
import Foundation

/// `comfy-cli lock sign L --key KEY`: writes `L.minisig` (minisign format) beside the lock; the lock is unchanged.
struct LockSignCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign", abstract: "Sign a lock with a minisign secret key, writing L.minisig beside it.")

    @Argument(help: "The lock file (canonical form, as comfy-cli writes it).")
    var file: String
    @Option(name: .long, help: "The secret key file (minisign format, unencrypted or password-protected).")
    var key: String
    @OptionGroup var password: KeyPasswordOptions
    @Option(name: [.short, .long], help: "Where to write the signature (default: the lock path + .minisig).")
    var output: String?
    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }
    @OptionGroup var input: InputOptions

    struct Report: Encodable {
        var file: String
        var signatureFile: String
        var keyID: String
        var lockDigest: String
        var trustedComment: String
    }

    func run() async throws {
        let secret = try LockSigningCLI.readSecretKey(key, password: password)
        let bytes: [UInt8]
        do { bytes = try BoundedInput.read(file, limits: input.limits, what: "lock") } catch {
            throw CLI.fail("\(Escaping.quoted(file)): \(error)")
        }
        let signature: MinisignSignature
        do {
            signature = try LockSigning.sign(
                lockBytes: bytes, lockPath: file, key: secret, timestamp: Int(Date().timeIntervalSince1970))
        } catch { throw CLI.fail(error.message) }
        let target = output ?? LockSigning.signaturePath(forLock: file)
        do { try AtomicFile.write(Array(signature.fileText.utf8), to: target) } catch {
            throw CLI.fail(String(describing: error))
        }
        let digest = LockSigning.lockDigest(inTrustedComment: signature.trustedComment) ?? ""
        if json {
            try Console.current.json(
                Report(
                    file: file, signatureFile: target, keyID: secret.id, lockDigest: digest,
                    trustedComment: Escaping.escaped(signature.trustedComment, limit: 1000)))
        } else {
            Console.current.out("signed \(Escaping.escaped(file)) with key \(secret.id): \(Escaping.escaped(target))")
            Console.current.out("lock digest \(digest)")
        }
    }
}

/// `comfy-cli lock verify L --trusted-key PUB...`: exit 0 when a trusted key signed exactly these bytes, 1 when not.
struct LockVerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a lock's signature against trusted public keys; exit 1 when unsigned, untrusted or changed.")

    @Argument(help: "The lock file.")
    var file: String
    @Option(
        name: .customLong("trusted-key"), parsing: .singleValue,
        help: "A trusted minisign public key file, or a directory of *.pub files (repeatable).")
    var trustedKeys: [String] = []
    @Option(name: .long, help: "The signature file (default: the lock path + .minisig).")
    var signature: String?
    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }
    @OptionGroup var input: InputOptions

    struct Report: Encodable {
        var file: String
        var ok: Bool
        var reason: String?
        var signature: LockSignatureVerification?
    }

    func validate() throws {
        if trustedKeys.isEmpty { throw ValidationError("give at least one --trusted-key PUB") }
    }

    func run() async throws {
        let trusted = try LockSigningCLI.trustedKeys(trustedKeys)
        do {
            let (_, verification) = try LockFile.loadSigned(
                path: file, signaturePath: signature, trusted: trusted, limits: input.limits, level: .safe)
            if json {
                try Console.current.json(Report(file: file, ok: true, signature: verification))
            } else {
                Console.current.out(
                    "\(Escaping.escaped(file)): signature ok, key \(verification.keyID), lock digest "
                        + verification.lockDigest)
                Console.current.out("trusted comment: \(verification.trustedComment)")
            }
        } catch {
            let code = LockSigningCLI.exitCode(error)
            if json {
                try Console.current.json(Report(file: file, ok: false, reason: String(describing: error)))
                throw ExitCode(code)
            }
            throw CLI.fail(String(describing: error), code: code)
        }
    }
}

/// Shared plumbing of signing: reading keys, the trusted-keys option of deploying commands.
enum LockSigningCLI {
    /// The environment variable `--trusted-keys` falls back to.
    static let trustedKeysVariable = "COMFYLOCK_TRUSTED_KEYS"

    /// Reads a minisign secret key; a password-protected one is decrypted with the password from `password`
    /// (asked for only when the key needs one).
    static func readSecretKey(_ path: String, password: KeyPasswordOptions) throws -> MinisignSecretKey {
        let bytes: [UInt8]
        do { bytes = try BoundedInput.read(path, limits: InputLimits(maxBytes: 64 << 10), what: "secret key") } catch {
            throw CLI.fail("secret key \(Escaping.quoted(path)): \(error)")
        }
        let text = String(decoding: bytes, as: UTF8.self)
        var secret: [UInt8]? = nil
        if MinisignSecretKey.isEncrypted(fileText: text) {
            secret = try password.password(for: "secret key \(Escaping.quoted(path))")
        }
        defer { if secret != nil { secret = [UInt8](repeating: 0, count: secret!.count) } }
        do { return try MinisignSecretKey(fileText: text, password: secret) } catch {
            throw CLI.fail("secret key \(Escaping.quoted(path)): \(error.message)")
        }
    }

    /// Reads trusted keys; an unreadable key is a usage error (exit 2).
    static func trustedKeys(_ paths: [String]) throws -> TrustedKeys {
        do { return try TrustedKeys.load(paths) } catch { throw CLI.fail(error.message) }
    }

    /// 1 for a lock that failed the signature check (or is invalid), 2 for everything else.
    static func exitCode(_ error: any Error) -> Int32 {
        if let error = error as? LockSignatureError { return error.isCheckFailure ? 1 : 2 }
        if let error = error as? LockError, error.isInvalidLock { return 1 }
        return 2
    }
}

/// `--trusted-keys DIR|FILE` of the commands that deploy a lock (`version create`); falls back to
/// `COMFYLOCK_TRUSTED_KEYS`. Without either, locks are read as before (no signature needed).
struct TrustedKeysOptions: ParsableArguments {
    @Option(
        name: .customLong("trusted-keys"),
        help:
            "Require the lock to be signed by one of these minisign public keys (a *.pub file or a directory of them; default $COMFYLOCK_TRUSTED_KEYS)."
    )
    var trustedKeys: String?

    /// The configured path: the flag, else the environment variable (empty = unset).
    var path: String? {
        if let trustedKeys { return trustedKeys }
        guard let value = ProcessInfo.processInfo.environment[LockSigningCLI.trustedKeysVariable], !value.isEmpty
        else { return nil }
        return value
    }

    /// Reads the lock: through `LockFile.loadSigned` when trusted keys are configured (refusing an unsigned,
    /// untrusted or changed lock with exit 1 before any side effect), else through `CLI.readLock`.
    func readLock(_ file: String, limits: InputLimits, level: LockValidator.Level) throws -> Lock {
        guard let path else { return try CLI.readLock(file, limits: limits, level: level) }
        let trusted = try LockSigningCLI.trustedKeys([path])
        do {
            let (lock, verification) = try LockFile.loadSigned(
                path: file, trusted: trusted, limits: limits, level: level)
            Console.current.err("signature ok: key \(verification.keyID), lock digest \(verification.lockDigest)")
            return lock
        } catch let error as LockError {
            throw CLI.fail("\(Escaping.quoted(file)): \(error)")
        } catch {
            throw CLI.fail("refused: \(error)", code: LockSigningCLI.exitCode(error))
        }
    }
}
