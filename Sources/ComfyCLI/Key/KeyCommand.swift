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
        abstract:
            "Write a new Ed25519 key pair in minisign format (the secret key mode 0600, unencrypted unless --encrypt).")

    @Option(
        name: [.short, .customLong("output")],
        help:
            "A directory (gets comfylock.key and comfylock.pub) or the secret key file (the public key goes beside it as NAME.pub)."
    )
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

    func run() async throws {
        let files = SigningKeyFiles(output: output)
        do { try files.refuseExisting(replace: force) } catch { throw CLI.fail(error.message) }
        let encrypted = encrypt || password.passwordFile != nil
        var secret: [UInt8] = encrypted ? try password.password(for: "the new secret key", confirm: true) : []
        defer { secret = [UInt8](repeating: 0, count: secret.count) }
        let key: MinisignSecretKey
        do {
            key = try LockSigning.generateKeyPair(files, replace: force, password: encrypted ? secret : nil)
        } catch {
            throw CLI.fail(error.message)
        }
        let (secretPath, publicPath) = (files.secretKey, files.publicKey)
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
