import ComfyLock
import ComfyProcess
import ComfyRuntime
import Foundation
import TestSupport
import Testing

@Suite("Versions with pinned Python packages (offline wheelhouse, dead index)")
struct VersionPythonTests {
    @Test("offline build: status clean, digest equal across dirs; a changed pin drifts; lock create records the pins")
    func pythonVersion() async throws {
        let versions = try PythonVersionFixture()
        defer { versions.close() }
        let fixture = versions.runtime
        let wheels = versions.wheels
        let (python, options) = (versions.python, versions.options)
        let lock = versions.lock()
        let builder = versions.builder()
        let one = try await builder.create(name: "py1", lock: lock, options: options)
        let two = try await versions.builder(root: fixture.temp.appending("other"))
            .create(name: "py2", lock: lock, options: options)
        #expect(one.digest == two.digest)
        let inspector = versions.inspector
        let dir = fixture.versions.appendingPathComponent("py1")
        let digest = try await inspector.digest(directory: dir)
        #expect(digest.lines.contains { $0.hasPrefix("python alpha==1.0 sha256:") })
        // The venv works after the staging directory was renamed into place.
        let run = try await ProcessRunner.run(
            ProcessCommand(
                dir.appendingPathComponent("venv/bin/python").path, ["-c", "import alpha, shared; print('ok')"]))
        #expect(run.trimmedOutput == "ok")

        // One pin changed: the version drifts from the new lock, and a version built from it has another digest.
        var changed = lock
        changed.python = wheels.pins(["alpha": "1.0", "shared": "1.0", "gamma": "0.5", "delta": "1.0"])
        let status = try await inspector.status(directory: dir, lock: changed)
        #expect(!status.clean)
        #expect(status.drift.contains { $0.area == "python" && $0.subject == "delta" && $0.problem == "missing" })
        // Python drift carries expected / actual per package (version status --json).
        var bumped = lock
        bumped.python = wheels.pins(["alpha": "1.0", "shared": "2.0", "gamma": "0.5"])
        let versionDrift = try await inspector.status(directory: dir, lock: bumped).drift
        #expect(
            versionDrift.contains {
                $0.area == "python" && $0.subject == "shared" && $0.problem == "version" && $0.expected == "2.0"
                    && $0.actual == "1.0"
            }, "\(versionDrift)")
        #expect(LockDiffer.diff(lock, changed).entries.contains { "\($0)".contains("delta") })
        let three = try await builder.create(name: "py3", lock: changed, options: options)
        #expect(three.digest != one.digest)

        // lock create over the version records the same package set (hashes from the previous lock's pins).
        let created = try await LockCreator(store: fixture.modelStore, python: python).create(
            LockCreateRequest(comfyUI: dir.appendingPathComponent("ComfyUI"), tag: lock.tag, previous: lock))
        #expect(created.lock.python?.packages == lock.python?.packages)
        #expect(created.pythonUnresolved.isEmpty)

        // version repair rebuilds a damaged venv from the lock.
        let site = try #require(
            FileManager.default.enumerator(atPath: dir.appendingPathComponent("venv").path)?.allObjects
                .compactMap { $0 as? String }.first { $0.hasSuffix("site-packages/alpha/__init__.py") })
        try "broken = True\n".write(
            to: dir.appendingPathComponent("venv").appendingPathComponent(site), atomically: true, encoding: .utf8)
        #expect(try await !inspector.status(directory: dir, lock: lock).clean)
        let repair = try await builder.repair(name: "py1", options: options)
        #expect(repair.repaired.contains("python"), "\(repair)")
        #expect(repair.clean, "\(repair.after)")
        let after = try await ProcessRunner.run(
            ProcessCommand(
                dir.appendingPathComponent("venv/bin/python").path, ["-c", "import alpha; print(alpha.__version__)"]))
        #expect(after.trimmedOutput == "1.0")
    }
}
