import ArgumentParser
import ComfyCrypto
import ComfyLock
import ComfySupport
import Foundation

/// `comfy-cli key`: signing keys for locks.
struct KeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key", abstract: "Make signing keys for locks (minisign format).",
        subcommands: [KeyGenerateCommand.self])
}

/// `comfy-cli key generate -o DIR|FILE`: a minisign key pair; the secret key file gets mode 0600 and is never printed.
struct KeyGenerateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "generate",
        abstract: "Write a new Ed25519 key pair in minisign format (the secret key mode 0600, unencrypted unless --encrypt).")

    @Option(
        name: [.short, .customLong("output")],
        help: "A directory (gets comfylock.key and comfylock.pub) or the secret key file (the public key goes beside it as NAME.pub).")
    var output: String
    @Flag(name: .long, help: "Replace existing key files.")
    var force = false
    @Flag(
        name: .long,
        help: "Protect the secret key with a password (scrypt, as minisign -G does; implied by --password-file).")
    var encrypt = false
    @OptionGroup var password: KeyPasswordOptions
    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }

    struct Report: Encodable {
        var keyID: String
        var publicKey: String
        var publicKeyFile: String
        var secretKeyFile: String
        var encrypted: Bool
    }

    /// The secret and public key paths for `-o`.
    static func paths(_ output: String) -> (secret: String, public: String) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: output, isDirectory: &isDirectory), isDirectory.boolValue {
            let dir = output as NSString
            return (dir.appendingPathComponent("comfylock.key"), dir.appendingPathComponent("comfylock.pub"))
        }
        let base = output.hasSuffix(".key") ? String(output.dropLast(4)) : output
        return (output, base + ".pub")
    }

    func run() async throws {
        let (secretPath, publicPath) = Self.paths(output)
        for path in [secretPath, publicPath] where !force && FileManager.default.fileExists(atPath: path) {
            throw CLI.fail("\(Escaping.quoted(path)) exists; pass --force to replace it")
        }
        let encrypted = encrypt || password.passwordFile != nil
        var secret: [UInt8] = encrypted ? try password.password(for: "the new secret key", confirm: true) : []
        defer { secret = [UInt8](repeating: 0, count: secret.count) }
        let key: MinisignSecretKey
        let secretText: String
        do {
            key = try MinisignSecretKey.generate()
            secretText = encrypted ? try key.encryptedFileText(password: secret) : key.fileText
        } catch { throw CLI.fail(error.message) }
        do {
            // The secret key is created 0600 (O_EXCL partial file, then renamed): never readable by others.
            try AtomicFile.write(Array(secretText.utf8), to: secretPath, permissions: 0o600)
            try AtomicFile.write(Array(key.publicKey.fileText.utf8), to: publicPath, permissions: 0o644)
        } catch {
            throw CLI.fail(String(describing: error))
        }
        let report = Report(
            keyID: key.id, publicKey: key.publicKey.base64, publicKeyFile: publicPath, secretKeyFile: secretPath,
            encrypted: encrypted)
        if json {
            try Console.current.json(report)
        } else {
            Console.current.out("key \(key.id)")
            let protection = encrypted ? "password-protected" : "unencrypted"
            Console.current.out("secret key: \(secretPath) (mode 0600, \(protection); keep it secret)")
            Console.current.out("public key: \(publicPath)")
            Console.current.out("verify with: minisign -V -P \(key.publicKey.base64) -m LOCK")
        }
    }
}
