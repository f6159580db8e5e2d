import ComfyCrypto
import ComfyLock
import Foundation
import Logging
import TestSupport
import Testing

@testable import ComfyHandler

/// `--trusted-keys` in the worker: a lock signed by a trusted key deploys (a real version built from the fixture
/// lock, served by the ComfyUI stand-in); an unsigned lock, a lock signed by another key, and a lock altered after
/// signing are start-up errors naming the reason, before the worker fetches, writes or starts anything.
@Suite(.serialized) struct SignedLockStartupTests {
    static let logger = Logger(label: "t")

    static func sign(_ lockPath: String, with key: MinisignSecretKey) throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: lockPath)))
        let signature = try LockSigning.sign(lockBytes: bytes, lockPath: lockPath, key: key, timestamp: 1)
        try signature.fileText.write(
            toFile: LockSigning.signaturePath(forLock: lockPath), atomically: true, encoding: .utf8)
    }

    @Test func signedLockDeploysAndAlteredOneIsRefused() async throws {
        let fixture = try HandlerVersionFixture()
        let version = try await fixture.build()
        let key = try MinisignSecretKey.generate()
        try Self.sign(fixture.lockPath, with: key)
        var options = fixture.options(directory: version, onDrift: .fail)
        options.lockPath = fixture.lockPath
        options.trustedKeys = TrustedKeys([key.publicKey])
        let worker = try await WorkerStartup.prepare(options, logger: Self.logger)
        let readiness = await worker.readiness()
        #expect(readiness.ready, "\(readiness.reasons)")
        await worker.shutdown()

        // Signed by a key the worker does not trust.
        options.trustedKeys = TrustedKeys([try MinisignSecretKey.generate().publicKey])
        await Self.expectRefused(options, "is signed by key \(key.id), which is not a trusted key")

        // Altered after signing (one byte of the tag), signature beside it unchanged.
        options.trustedKeys = TrustedKeys([key.publicKey])
        let text = try String(contentsOfFile: fixture.lockPath, encoding: .utf8)
        try text.replacingOccurrences(of: "handler-fixture", with: "handler-fixturf")
            .write(toFile: fixture.lockPath, atomically: true, encoding: .utf8)
        await Self.expectRefused(options, "was changed after it was signed")

        // Unsigned.
        try FileManager.default.removeItem(atPath: LockSigning.signaturePath(forLock: fixture.lockPath))
        await Self.expectRefused(options, "is not signed")
    }

    @Test func trustedKeysWithoutALockIsAStartupError() async throws {
        var options = WorkerOptions(comfyUIURL: "http://127.0.0.1:9")
        options.trustedKeys = TrustedKeys([try MinisignSecretKey.generate().publicKey])
        await Self.expectRefused(options, "--trusted-keys needs a lock")
    }

    @Test func theExecutableTakesTheFlagAndTheEnvironmentVariable() async throws {
        let comfy = try ComfyUIStandIn.start()
        defer { comfy.stop() }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let key = try MinisignSecretKey.generate()
        let keys = dir.appending("keys")
        try FileManager.default.createDirectory(at: keys, withIntermediateDirectories: true)
        try key.publicKey.fileText.write(to: keys.appendingPathComponent("ops.pub"), atomically: true, encoding: .utf8)
        let lockPath = try WorkerStartupTests.writeLock(in: dir)
        try Self.sign(lockPath, with: key)
        let job = String(
            decoding: CanonicalJSON.encode(["input": ["workflow": HandlerEndToEndTests.probe]]), as: UTF8.self)
        let arguments = ["--comfyui-url", comfy.baseURL.absoluteString, "--lock", lockPath, "--test-input", job]
        let signed = try Subprocess.run(
            HandlerEndToEndTests.handler, arguments, environment: ["COMFYLOCK_TRUSTED_KEYS": keys.path])
        #expect(signed.status == 0, "\(signed.standardError)")
        // Altered after signing: refused at start-up through the environment variable and through the flag.
        let text = try String(contentsOfFile: lockPath, encoding: .utf8)
        try text.replacingOccurrences(of: "\"tag\":\"t\"", with: "\"tag\":\"u\"")
            .write(toFile: lockPath, atomically: true, encoding: .utf8)
        let altered = try Subprocess.run(
            HandlerEndToEndTests.handler, arguments, environment: ["COMFYLOCK_TRUSTED_KEYS": keys.path])
        #expect(altered.status != 0)
        #expect(altered.standardError.contains("was changed after it was signed"), "\(altered.standardError)")
        let flagged = try Subprocess.run(HandlerEndToEndTests.handler, arguments + ["--trusted-keys", keys.path])
        #expect(flagged.status != 0)
        #expect(flagged.standardError.contains("was changed after it was signed"), "\(flagged.standardError)")
        // Without either, today's behaviour: the altered lock is used.
        let unchecked = try Subprocess.run(HandlerEndToEndTests.handler, arguments)
        #expect(unchecked.status == 0, "\(unchecked.standardError)")
    }

    static func expectRefused(_ options: WorkerOptions, _ reason: String) async {
        do {
            let worker = try await WorkerStartup.prepare(options, logger: logger)
            await worker.shutdown()
            Issue.record("accepted; expected a refusal: \(reason)")
        } catch let error as StartupError {
            #expect(error.message.contains(reason), "\(error.message)")
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }
}
