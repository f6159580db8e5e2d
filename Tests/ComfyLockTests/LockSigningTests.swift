import ComfyCLI
import ComfyCrypto
import ComfyLock
import Foundation
import TestSupport
import Testing

/// Signed locks: the Ed25519 / BLAKE2b primitives against published vectors, minisign's file formats, the refusal
/// reasons, the CLI's exit codes and file modes, and interop both ways with the real `minisign` binary.
@Suite("Lock signing (minisign)")
struct LockSigningTests {
    static let minisign = "/usr/bin/minisign"

    static func lockBytes(tag: String = "signed") -> [UInt8] {
        LockFile.encode(
            Lock(
                tag: tag, createdBy: "comfylock test",
                comfyui: ComfyUIPin(url: "https://example.com/ComfyUI.git", commit: String(repeating: "a", count: 40))))
    }

    static func write(_ bytes: [UInt8], _ url: URL) throws { try Data(bytes).write(to: url) }

    static func cli(_ arguments: [String]) async -> CLIRun { await InProcessCLI.run(arguments) }

    // MARK: - Primitives

    @Test("Ed25519 over OpenSSL matches RFC 8032 test vector 1 (empty message)")
    func ed25519Vector() throws {
        let seed = Hex.decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")!
        let key = try Ed25519PrivateKey(seed: seed)
        #expect(Hex.encode(key.publicKey.bytes) == "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
        let signature = try key.signature(for: [])
        #expect(
            Hex.encode(signature)
                == "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        )
        #expect(key.publicKey.isValidSignature(signature, for: []))
        #expect(!key.publicKey.isValidSignature(signature, for: [0]))
    }

    @Test("BLAKE2b-512 over OpenSSL matches RFC 7693's \"abc\" vector")
    func blake2bVector() {
        #expect(
            Hex.encode(BLAKE2b512.hash(Array("abc".utf8)))
                == "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"
        )
    }

    @Test("key files round-trip; an encrypted or inconsistent secret key is refused with the reason")
    func keyFiles() throws {
        let key = try MinisignSecretKey.generate()
        let reread = try MinisignSecretKey(fileText: key.fileText)
        #expect(reread.keyID == key.keyID && reread.privateKey.seed == key.privateKey.seed)
        #expect(try MinisignPublicKey.parseFile(key.publicKey.fileText) == [key.publicKey])
        // Two keys in one file are both read.
        let other = try MinisignSecretKey.generate()
        #expect(try MinisignPublicKey.parseFile(key.publicKey.fileText + other.publicKey.fileText).count == 2)

        var raw = [UInt8](Data(base64Encoded: key.fileText.split(separator: "\n")[1].description)!)
        raw[2] = UInt8(ascii: "S")
        raw[3] = UInt8(ascii: "c")
        let encrypted = "untrusted comment: x\n" + Data(raw).base64EncodedString() + "\n"
        #expect(throws: SigningError.encryptedKey()) { try MinisignSecretKey(fileText: encrypted) }
        raw[2] = 0
        raw[3] = 0
        raw[100] ^= 1  // the stored public half
        let corrupt = "untrusted comment: x\n" + Data(raw).base64EncodedString() + "\n"
        #expect(throws: SigningError.keyMismatch()) { try MinisignSecretKey(fileText: corrupt) }
        #expect(throws: SigningError.self) { try MinisignPublicKey.parseFile("untrusted comment: x\nnot base64!\n") }
    }

    // MARK: - Lock signatures

    @Test("a signature verifies; a changed byte, another key, an edited trusted comment each name their reason")
    func refusalReasons() throws {
        let key = try MinisignSecretKey.generate()
        let bytes = Self.lockBytes()
        let signature = try LockSigning.sign(lockBytes: bytes, lockPath: "l.json", key: key, timestamp: 1)
        let trusted = TrustedKeys([key.publicKey])
        let ok = try LockSigning.verify(
            lockBytes: bytes, signatureText: signature.fileText, trusted: trusted, lockPath: "l", signaturePath: "s")
        #expect(ok.keyID == key.id)
        #expect(ok.algorithm == "prehashed")
        #expect(ok.lockDigest == LockFile.digest(try LockFile.decode(bytes)))
        #expect(signature.trustedComment.contains("lock-digest:\(ok.lockDigest)"))

        func reason(_ bytes: [UInt8], _ text: String, _ keys: TrustedKeys) -> String {
            do {
                _ = try LockSigning.verify(
                    lockBytes: bytes, signatureText: text, trusted: keys, lockPath: "l", signaturePath: "s")
                return "accepted"
            } catch { return error.message }
        }
        var changed = bytes
        changed[changed.count / 2] ^= 0x01
        #expect(reason(changed, signature.fileText, trusted).contains("was changed after it was signed"))
        let stranger = try MinisignSecretKey.generate()
        #expect(reason(bytes, signature.fileText, TrustedKeys([stranger.publicKey])).contains("not a trusted key"))
        let edited = signature.fileText.replacingOccurrences(of: "timestamp:1", with: "timestamp:2")
        #expect(reason(bytes, edited, trusted).contains("trusted comment was changed"))
        #expect(reason(bytes, "garbage\n", trusted).contains("not a valid minisign signature"))
        // A genuine signature whose trusted comment names another lock digest.
        let lying = try MinisignSignature.sign(
            bytes, with: key, trustedComment: "lock-digest:" + String(repeating: "f", count: 64))
        #expect(reason(bytes, lying.fileText, trusted).contains("names lock digest"))
    }

    @Test("only canonical lock bytes are signed, and signing leaves the lock digest unchanged")
    func canonicalOnly() async throws {
        let key = try MinisignSecretKey.generate()
        let bytes = Self.lockBytes()
        var spaced = bytes
        spaced.insert(0x20, at: 1)
        #expect(throws: LockSignatureError.self) {
            _ = try LockSigning.sign(lockBytes: spaced, lockPath: "l", key: key, timestamp: 1)
        }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let lock = dir.appending("l.json")
        try Self.write(bytes, lock)
        let before = LockFile.digest(try LockFile.read(from: lock))
        try Self.write(Array(key.fileText.utf8), dir.appending("k.key"))
        #expect(await Self.cli(["lock", "sign", lock.path, "--key", dir.appending("k.key").path]).code == 0)
        #expect(Array(try Data(contentsOf: lock)) == bytes)
        #expect(LockFile.digest(try LockFile.read(from: lock)) == before)
    }

    @Test("key generate writes a 0600 secret key, never prints it, and does not overwrite")
    func keyGenerate() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let result = await Self.cli(["key", "generate", "-o", dir.path])
        #expect(result.code == 0, "\(result.err)")
        let secretPath = dir.appending("comfylock.key").path
        let attributes = try FileManager.default.attributesOfItem(atPath: secretPath)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let secretLine = try String(contentsOfFile: secretPath, encoding: .utf8).split(separator: "\n")[1]
        #expect(!result.out.contains(secretLine) && !result.err.contains(secretLine))
        let key = try MinisignSecretKey(fileText: try String(contentsOfFile: secretPath, encoding: .utf8))
        let pub = try MinisignPublicKey.parseFile(
            try String(contentsOfFile: dir.appending("comfylock.pub").path, encoding: .utf8))
        #expect(pub == [key.publicKey])
        let again = await Self.cli(["key", "generate", "-o", dir.path])
        #expect(again.code == 2)
        #expect(again.err.contains("exists"))
        // A file name: NAME.key + NAME.pub.
        #expect(await Self.cli(["key", "generate", "-o", dir.appending("release.key").path]).code == 0)
        #expect(FileManager.default.fileExists(atPath: dir.appending("release.pub").path))
    }

    @Test("lock verify exits 0 when signed by a trusted key, 1 when unsigned, untrusted or changed, 2 for bad keys")
    func verifyExitCodes() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        #expect(await Self.cli(["key", "generate", "-o", dir.appending("a.key").path]).code == 0)
        #expect(await Self.cli(["key", "generate", "-o", dir.appending("b.key").path]).code == 0)
        let lock = dir.appending("l.json")
        try Self.write(Self.lockBytes(), lock)
        let unsigned = await Self.cli(["lock", "verify", lock.path, "--trusted-key", dir.appending("a.pub").path])
        #expect(unsigned.code == 1)
        #expect(unsigned.err.contains("is not signed"))
        #expect(await Self.cli(["lock", "sign", lock.path, "--key", dir.appending("a.key").path]).code == 0)
        #expect(FileManager.default.fileExists(atPath: lock.path + ".minisig"))
        let ok = await Self.cli(["lock", "verify", lock.path, "--trusted-key", dir.appending("a.pub").path, "--json"])
        #expect(ok.code == 0, "\(ok.err)")
        #expect(ok.out.contains("\"ok\" : true") || ok.out.contains("\"ok\":true"))
        // A directory of trusted keys holding the right one among others.
        let keys = dir.appending("keys")
        try FileManager.default.createDirectory(at: keys, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: dir.appending("a.pub"), to: keys.appendingPathComponent("a.pub"))
        try FileManager.default.copyItem(at: dir.appending("b.pub"), to: keys.appendingPathComponent("b.pub"))
        #expect(await Self.cli(["lock", "verify", lock.path, "--trusted-key", keys.path]).code == 0)
        let untrusted = await Self.cli(["lock", "verify", lock.path, "--trusted-key", dir.appending("b.pub").path])
        #expect(untrusted.code == 1)
        #expect(untrusted.err.contains("not a trusted key"))
        var bytes = Self.lockBytes()
        bytes[bytes.count - 10] ^= 0x01
        try Self.write(bytes, lock)
        let changed = await Self.cli(["lock", "verify", lock.path, "--trusted-key", dir.appending("a.pub").path])
        #expect(changed.code == 1)
        #expect(changed.err.contains("was changed after it was signed"))
        let missingKey = await Self.cli(["lock", "verify", lock.path, "--trusted-key", dir.appending("none.pub").path])
        #expect(missingKey.code == 2)
        #expect(await Self.cli(["lock", "verify", lock.path]).code == 2)
    }

    @Test("version create --trusted-keys refuses an unsigned or altered lock before any side effect")
    func versionCreateRefuses() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        #expect(await Self.cli(["key", "generate", "-o", dir.path]).code == 0)
        let lock = dir.appending("l.json")
        try Self.write(Self.lockBytes(), lock)
        let root = dir.appending("versions")
        let create = ["version", "create", "v1", "--lock", lock.path, "--root", root.path, "--allow-unpinned"]
        let unsigned = await Self.cli(create + ["--trusted-keys", dir.appending("comfylock.pub").path])
        #expect(unsigned.code == 1)
        #expect(unsigned.err.contains("refused") && unsigned.err.contains("is not signed"), "\(unsigned.err)")
        #expect(!FileManager.default.fileExists(atPath: root.path))
        // Through the environment variable, in the real executable; altered after signing.
        #expect(await Self.cli(["lock", "sign", lock.path, "--key", dir.appending("comfylock.key").path]).code == 0)
        try Self.write(Self.lockBytes(tag: "other"), lock)
        let altered = try Subprocess.comfyCLI(
            create, environment: ["COMFYLOCK_TRUSTED_KEYS": dir.path, "COMFYLOCK_STORE": dir.appending("store").path])
        #expect(altered.status == 1)
        #expect(altered.standardError.contains("was changed after it was signed"), "\(altered.standardError)")
        #expect(!FileManager.default.fileExists(atPath: root.path))
        #expect(!FileManager.default.fileExists(atPath: dir.appending("store").path))
    }

    // MARK: - Interop with the real minisign

    static func run(_ arguments: [String], in dir: TemporaryDirectory) throws -> SubprocessResult {
        try Subprocess.run(minisign, arguments, currentDirectory: dir.url)
    }

    @Test("comfy-cli signatures verify with minisign -V; tampered or wrong-key refused by both")
    func minisignVerifiesOurs() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.minisign), "minisign missing: run scripts/bootstrap.sh")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        #expect(await Self.cli(["key", "generate", "-o", dir.appending("ours.key").path]).code == 0)
        let lock = dir.appending("l.json")
        try Self.write(Self.lockBytes(), lock)
        #expect(await Self.cli(["lock", "sign", lock.path, "--key", dir.appending("ours.key").path]).code == 0)
        let verified = try Self.run(["-V", "-m", "l.json", "-p", "ours.pub"], in: dir)
        #expect(verified.status == 0, "\(verified.standardError)")
        #expect(verified.standardOutput.contains("lock-digest:"))
        // minisign accepts our secret key file too.
        let signedByMinisign = try Self.run(["-S", "-s", "ours.key", "-m", "l.json", "-x", "m.minisig"], in: dir)
        #expect(signedByMinisign.status == 0, "\(signedByMinisign.standardError)")
        #expect(try Self.run(["-V", "-m", "l.json", "-p", "ours.pub", "-x", "m.minisig"], in: dir).status == 0)

        // Wrong key: refused by both.
        #expect(try Self.run(["-G", "-W", "-p", "other.pub", "-s", "other.key"], in: dir).status == 0)
        #expect(try Self.run(["-V", "-m", "l.json", "-p", "other.pub"], in: dir).status != 0)
        #expect(
            await Self.cli(["lock", "verify", lock.path, "--trusted-key", dir.appending("other.pub").path]).code == 1)
        // Tampered: refused by both.
        var bytes = Self.lockBytes()
        bytes[20] ^= 0x01
        try Self.write(bytes, lock)
        #expect(try Self.run(["-V", "-m", "l.json", "-p", "ours.pub"], in: dir).status != 0)
        #expect(
            await Self.cli(["lock", "verify", lock.path, "--trusted-key", dir.appending("ours.pub").path]).code == 1)
    }

    @Test("minisign -S signatures (prehashed and legacy) are accepted by comfy-cli lock verify; tampered refused")
    func weVerifyMinisign() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: Self.minisign), "minisign missing: run scripts/bootstrap.sh")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        #expect(try Self.run(["-G", "-W", "-p", "m.pub", "-s", "m.key"], in: dir).status == 0)
        let lock = dir.appending("l.json")
        try Self.write(Self.lockBytes(), lock)
        #expect(try Self.run(["-S", "-s", "m.key", "-m", "l.json", "-t", "release 1"], in: dir).status == 0)
        #expect(try Self.run(["-S", "-l", "-s", "m.key", "-m", "l.json", "-x", "legacy.sig"], in: dir).status == 0)
        let pub = dir.appending("m.pub").path
        let ok = await Self.cli(["lock", "verify", lock.path, "--trusted-key", pub])
        #expect(ok.code == 0, "\(ok.err)")
        #expect(ok.out.contains("release 1"))
        let legacy = await Self.cli(
            [
                "lock", "verify", lock.path, "--trusted-key", pub, "--signature", dir.appending("legacy.sig").path,
                "--json",
            ])
        #expect(legacy.code == 0, "\(legacy.err)")
        #expect(legacy.out.contains("legacy"))
        // comfy-cli signs with minisign's own (unencrypted) secret key.
        #expect(
            await Self.cli([
                "lock", "sign", lock.path, "--key", dir.appending("m.key").path, "-o", dir.appending("c.sig").path,
            ]).code == 0)
        #expect(try Self.run(["-V", "-m", "l.json", "-p", "m.pub", "-x", "c.sig"], in: dir).status == 0)
        var bytes = Self.lockBytes()
        bytes[bytes.count - 5] ^= 0x01
        try Self.write(bytes, lock)
        #expect(await Self.cli(["lock", "verify", lock.path, "--trusted-key", pub]).code == 1)
    }
}

/// Password-protected secret keys against the real minisign (its default scrypt cost: 1 GiB, about a second each).
@Suite("Lock signing: password-protected keys with the real minisign")
struct EncryptedKeySigningTests {
    static func cli(_ arguments: [String]) async -> CLIRun { await InProcessCLI.run(arguments) }

    static func lockBytes() -> [UInt8] { LockSigningTests.lockBytes(tag: "encrypted key") }

    @Test(
        "minisign's encrypted key signs locks with --password-file or $COMFYLOCK_KEY_PASSWORD; wrong or no password: exit 2, nothing written"
    )
    func minisignEncryptedKey() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: LockSigningTests.minisign),
            "minisign missing: run scripts/bootstrap.sh")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let made = try Subprocess.run(
            LockSigningTests.minisign, ["-G", "-p", "m.pub", "-s", "m.key"], currentDirectory: dir.url,
            input: Data("s3cret pass\ns3cret pass\n".utf8))
        #expect(made.status == 0, "\(made.standardError)")
        #expect(try String(contentsOfFile: dir.appending("m.key").path, encoding: .utf8).contains("encrypted"))
        let lock = dir.appending("l.json")
        try Data(Self.lockBytes()).write(to: lock)
        try Data("s3cret pass\n".utf8).write(to: dir.appending("pw"))
        try Data("not it\n".utf8).write(to: dir.appending("bad"))
        let key = dir.appending("m.key").path

        let signed = await Self.cli([
            "lock", "sign", lock.path, "--key", key, "--password-file", dir.appending("pw").path,
        ])
        #expect(signed.code == 0, "\(signed.err)")
        let verified = try Subprocess.run(
            LockSigningTests.minisign, ["-V", "-m", "l.json", "-p", "m.pub"], currentDirectory: dir.url)
        #expect(verified.status == 0, "\(verified.standardError)")
        #expect(!(signed.out + signed.err).contains("s3cret"))
        try FileManager.default.removeItem(atPath: lock.path + ".minisig")

        let wrong = await Self.cli([
            "lock", "sign", lock.path, "--key", key, "--password-file", dir.appending("bad").path,
        ])
        #expect(wrong.code == 2)
        #expect(wrong.err.contains("wrong password"), "\(wrong.err)")
        #expect(!FileManager.default.fileExists(atPath: lock.path + ".minisig"))
        let none = await Self.cli(["lock", "sign", lock.path, "--key", key])
        #expect(none.code == 2)
        #expect(none.err.contains("--password-file") && none.err.contains("COMFYLOCK_KEY_PASSWORD"), "\(none.err)")
        #expect(!FileManager.default.fileExists(atPath: lock.path + ".minisig"))

        // The environment variable, through the binary (the in-process CLI shares this process's environment).
        let fromEnvironment = try Subprocess.comfyCLI(
            ["lock", "sign", lock.path, "--key", key], environment: ["COMFYLOCK_KEY_PASSWORD": "s3cret pass"])
        #expect(fromEnvironment.status == 0, "\(fromEnvironment.standardError)")
        #expect(!(fromEnvironment.standardOutput + fromEnvironment.standardError).contains("s3cret"))
        #expect(await Self.cli(["lock", "verify", lock.path, "--trusted-key", dir.appending("m.pub").path]).code == 0)
    }

    @Test("on a terminal the password is asked for without echo (twice for a new key); it never shows in the output")
    func terminalPrompt() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let drive = TestPaths.testScripts.appendingPathComponent("pty_drive.py").path
        let generated = try Subprocess.run(
            "/usr/bin/python3",
            [
                drive, "tty-Pa55", TestPaths.comfyCLI.path, "key", "generate", "-o", dir.appending("t.key").path,
                "--encrypt",
            ])
        #expect(generated.status == 0, "\(generated.standardOutput)")
        #expect(
            generated.standardOutput.contains("Password for the new secret key")
                && generated.standardOutput.contains("Password again"))
        #expect(!generated.standardOutput.contains("tty-Pa55"), "the password was echoed: \(generated.standardOutput)")
        let lock = dir.appending("l.json")
        try Data(Self.lockBytes()).write(to: lock)
        let signed = try Subprocess.run(
            "/usr/bin/python3",
            [
                drive, "tty-Pa55", TestPaths.comfyCLI.path, "lock", "sign", lock.path, "--key",
                dir.appending("t.key").path,
            ])
        #expect(signed.status == 0, "\(signed.standardOutput)")
        #expect(!signed.standardOutput.contains("tty-Pa55"))
        let wrong = try Subprocess.run(
            "/usr/bin/python3",
            [
                drive, "other", TestPaths.comfyCLI.path, "lock", "sign", lock.path, "--key",
                dir.appending("t.key").path, "-o", dir.appending("w.sig").path,
            ])
        #expect(wrong.status == 2)
        #expect(wrong.standardOutput.contains("wrong password"))
        #expect(!FileManager.default.fileExists(atPath: dir.appending("w.sig").path))
    }

    @Test("key generate --encrypt writes a key minisign opens with the password and signs with")
    func ourEncryptedKeyInMinisign() async throws {
        try #require(
            FileManager.default.isExecutableFile(atPath: LockSigningTests.minisign),
            "minisign missing: run scripts/bootstrap.sh")
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Data("pa55word\n".utf8).write(to: dir.appending("pw"))
        let generated = await Self.cli(
            [
                "key", "generate", "-o", dir.appending("ours.key").path, "--encrypt", "--password-file",
                dir.appending("pw").path, "--json",
            ])
        #expect(generated.code == 0, "\(generated.err)")
        #expect(
            generated.out.contains("\"encrypted\":true") || generated.out.contains("\"encrypted\" : true"),
            "\(generated.out)")
        let text = try String(contentsOfFile: dir.appending("ours.key").path, encoding: .utf8)
        #expect(MinisignSecretKey.isEncrypted(fileText: text))
        let lock = dir.appending("l.json")
        try Data(Self.lockBytes()).write(to: lock)
        let signed = try Subprocess.run(
            LockSigningTests.minisign, ["-S", "-s", "ours.key", "-m", "l.json", "-x", "m.minisig"],
            currentDirectory: dir.url, input: Data("pa55word\n".utf8))
        #expect(signed.status == 0, "\(signed.standardError)")
        #expect(
            await Self.cli(
                [
                    "lock", "verify", lock.path, "--trusted-key", dir.appending("ours.pub").path, "--signature",
                    dir.appending("m.minisig").path,
                ]).code == 0)
        let refused = try Subprocess.run(
            LockSigningTests.minisign, ["-S", "-s", "ours.key", "-m", "l.json", "-x", "w.minisig"],
            currentDirectory: dir.url, input: Data("wrong\n".utf8))
        #expect(refused.status != 0)
    }
}
