import ComfyLock
import Foundation
import Logging
import TestSupport
import Testing

@testable import ComfyHandler

/// Start-up fails closed: a version that does not match its lock keeps the worker up but answers every job with
/// the reason; bad flags are start-up errors.
@Suite struct WorkerStartupTests {
    static func writeLock(in dir: TemporaryDirectory, workflows: [WorkflowEntry] = []) throws -> String {
        let lock = Lock(
            tag: "t", createdBy: "comfylock test",
            comfyui: ComfyUIPin(url: "https://example.com/ComfyUI.git", commit: String(repeating: "a", count: 40)),
            workflows: workflows)
        let url = dir.appending("test.lock.json")
        _ = try LockFile.write(lock, to: url)
        return url.path
    }

    @Test func missingVersionFailsClosedButTheWorkerStaysUp() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let lockPath = try Self.writeLock(in: dir)
        let worker = try await WorkerStartup.prepare(
            WorkerOptions(
                lockPath: lockPath, versionDirectory: dir.appending("no-such-version").path, scratch: dir.path),
            logger: Logger(label: "t"))
        let readiness = await worker.readiness()
        #expect(!readiness.ready)
        #expect(readiness.reasons.first?.contains("does not exist") == true)
        for id in ["j1", "j2"] {
            let failure = try #require(
                await worker.runner.run(id: id, input: ["workflow": ["1": ["class_type": "X"]]]).failure)
            #expect(failure.kind == .drift)
            #expect(failure.message.contains("does not exist"))
        }
        #expect(worker.runner.environment.lockDigest?.count == 64)
        #expect(worker.runner.environment.identity.comfyUICommit == String(repeating: "a", count: 40))
    }

    @Test func driftedVersionIsRefusedWithTheReason() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let lockPath = try Self.writeLock(in: dir)
        let version = dir.appending("v1")
        try FileManager.default.createDirectory(at: version, withIntermediateDirectories: true)
        let worker = try await WorkerStartup.prepare(
            WorkerOptions(lockPath: lockPath, versionDirectory: version.path, onDrift: .fail, scratch: dir.path),
            logger: Logger(label: "t"))
        let failure = try #require(
            await worker.runner.run(id: "j", input: ["workflow": ["1": ["class_type": "X"]]]).failure)
        #expect(failure.kind == .drift)
        #expect(failure.message.contains("does not match the lock"))
        #expect(!(await worker.readiness().ready))
    }

    @Test func badFlagsAreStartupErrors() async throws {
        await #expect(throws: StartupError.self) {
            _ = try await WorkerStartup.prepare(WorkerOptions(), logger: Logger(label: "t"))
        }
        await #expect(throws: StartupError.self) {
            _ = try await WorkerStartup.prepare(
                WorkerOptions(comfyUIURL: "http://127.0.0.1:9", versionDirectory: "/tmp"), logger: Logger(label: "t"))
        }
        await #expect(throws: StartupError.self) {
            _ = try await WorkerStartup.prepare(
                WorkerOptions(comfyUIURL: "http://127.0.0.1:9", lockPath: "/no/such/lock.json"),
                logger: Logger(label: "t"))
        }
    }

    @Test func lockWorkflowsAreNamedWorkflows() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Data(#"{"1": {"class_type": "EmptyImage", "inputs": {}}}"#.utf8).write(to: dir.appending("wf.json"))
        let lock = Lock(
            tag: "t", createdBy: "x", comfyui: ComfyUIPin(url: "u", commit: String(repeating: "b", count: 40)),
            workflows: [
                WorkflowEntry(name: "inline", inline: ["1": ["class_type": "A", "inputs": [:]]]),
                WorkflowEntry(name: "file", path: "wf.json"),
            ])
        let named = WorkerStartup.workflows(of: lock, relativeTo: dir.url, logger: Logger(label: "t"))
        #expect(Set(named.keys) == ["inline", "file"])
        #expect(named["file"]?["1"]?["class_type"] == "EmptyImage")
    }
}
