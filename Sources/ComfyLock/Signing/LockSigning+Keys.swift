public import ComfyCrypto
internal import ComfySupport
import Foundation

/// The key files `comfy-cli key generate` writes.
public struct SigningKeyFiles: Sendable, Hashable {
    /// The secret key file (mode 0600, unencrypted minisign format).
    public var secretKey: String
    /// The public key file (mode 0644).
    public var publicKey: String

    /// Where the key files for `output` go: a directory gets `comfylock.key` and `comfylock.pub`; any other path
    /// is the secret key file, and the public key goes beside it (`NAME.key` → `NAME.pub`, else `PATH.pub`).
    public init(output: String) {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: output, isDirectory: &isDirectory), isDirectory.boolValue {
            let directory = output as NSString
            secretKey = directory.appendingPathComponent("comfylock.key")
            publicKey = directory.appendingPathComponent("comfylock.pub")
        } else {
            secretKey = output
            publicKey = (output.hasSuffix(".key") ? String(output.dropLast(4)) : output) + ".pub"
        }
    }
}

extension SigningKeyFiles {
    /// Throws (naming the file) when either key file exists, unless `replace`: checked before anything is asked
    /// or written.
    public func refuseExisting(replace: Bool) throws(LockSignatureError) {
        for path in [secretKey, publicKey] where !replace && FileManager.default.fileExists(atPath: path) {
            throw .io("\(Escaping.quoted(path)) exists; pass --force to replace it")
        }
    }
}

extension LockSigning {
    /// Generates a new minisign key pair and writes it to `files`: the secret key 0600 from the first byte (an
    /// `O_EXCL` partial file, then renamed, so it is never readable by others), protected by `password` when one is
    /// given (scrypt at `cost`, as `minisign -G` writes it), the public key 0644. Existing files are refused unless `replace`
    /// (`SigningKeyFiles.refuseExisting`). Returns the key.
    public static func generateKeyPair(
        _ files: SigningKeyFiles, replace: Bool = false, password: [UInt8]? = nil,
        cost: MinisignKeyCost = .minisignDefault
    ) throws(LockSignatureError) -> MinisignSecretKey {
        try files.refuseExisting(replace: replace)
        let key: MinisignSecretKey
        let secretText: String
        do throws(SigningError) {
            key = try MinisignSecretKey.generate()
            if let password {
                secretText = try key.encryptedFileText(password: password, cost: cost)
            } else {
                secretText = key.fileText
            }
        } catch {
            throw .io(error.message)
        }
        do {
            try AtomicFile.write(Array(secretText.utf8), to: files.secretKey, permissions: 0o600)
            try AtomicFile.write(Array(key.publicKey.fileText.utf8), to: files.publicKey, permissions: 0o644)
        } catch {
            throw .io(String(describing: error))
        }
        return key
    }
}
