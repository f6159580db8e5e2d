import ComfyCrypto
import ComfyLock
import Foundation
import TestSupport
import Testing

/// The library half of `comfy-cli key generate`: where the key files go and how they are written.
@Suite("Signing key files (library)")
struct SigningKeyFilesTests {
    @Test("paths: a directory gets comfylock.key/.pub; NAME.key gets NAME.pub; any other path gets PATH.pub")
    func paths() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let inDirectory = SigningKeyFiles(output: dir.path)
        #expect(inDirectory.secretKey == dir.appending("comfylock.key").path)
        #expect(inDirectory.publicKey == dir.appending("comfylock.pub").path)
        let named = SigningKeyFiles(output: dir.appending("release.key").path)
        #expect(named.publicKey == dir.appending("release.pub").path)
        #expect(SigningKeyFiles(output: dir.appending("plain").path).publicKey == dir.appending("plain.pub").path)
    }

    @Test("generateKeyPair: 0600 secret, 0644 public, the pair matches; existing files refused unless replace")
    func generate() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let files = SigningKeyFiles(output: dir.path)
        let key = try LockSigning.generateKeyPair(files)
        let mode = { (path: String) in
            (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue
        }
        #expect(try mode(files.secretKey) == 0o600)
        #expect(try mode(files.publicKey) == 0o644)
        let read = try MinisignSecretKey(fileText: try String(contentsOfFile: files.secretKey, encoding: .utf8))
        #expect(read.id == key.id)
        let published = try MinisignPublicKey.parseFile(try String(contentsOfFile: files.publicKey, encoding: .utf8))
        #expect(published == [key.publicKey])
        // Only the public key exists: still refused, and the existing file is untouched.
        try FileManager.default.removeItem(atPath: files.secretKey)
        let error = try #require(throws: LockSignatureError.self) { try LockSigning.generateKeyPair(files) }
        #expect(error.message.contains("exists") && error.message.contains("comfylock.pub"), "\(error)")
        #expect(!FileManager.default.fileExists(atPath: files.secretKey))
        let replaced = try LockSigning.generateKeyPair(files, replace: true)
        #expect(replaced.id != key.id)
        // With a password: scrypt-protected (a small cost: minisign's default takes 1 GiB), read back only with it.
        let password = Array("correct horse".utf8)
        let protected = try LockSigning.generateKeyPair(
            files, replace: true, password: password, cost: MinisignKeyCost(opsLimit: 1 << 16, memLimit: 1 << 20))
        let text = try String(contentsOfFile: files.secretKey, encoding: .utf8)
        #expect(MinisignSecretKey.isEncrypted(fileText: text))
        #expect(try MinisignSecretKey(fileText: text, password: password).id == protected.id)
        #expect(try mode(files.secretKey) == 0o600)
    }
}
