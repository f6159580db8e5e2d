import ComfyCrypto
import ComfyLock
import Foundation
import Logging
import Testing
import TestSupport

@testable import ComfyHandler

/// `--trusted-keys` in the worker: a lock signed by a trusted key deploys (a real version built from the fixture
/// lock, served by the ComfyUI stand-in); an unsigned lock, a lock signed by another key, and a lock altered after
/// signing are start-up errors naming the reason, before the worker fetches, writes or starts anything.
@Suite(.serialized) struct SignedLockStartupTests {
    static let logger = Logger(label: "t")

    static func sign(_ lockPath: String, with key: MinisignSecretKey) throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: lockPath)))
        let signature = try LockSigning.sign(lockBytes: bytes, lockPath: lockPath, key: key, timestamp: 1)
        try signature.fileText.write(toFile: LockSigning.signaturePath(forLock: lockPath), atomically: true, encoding: .utf8)
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
