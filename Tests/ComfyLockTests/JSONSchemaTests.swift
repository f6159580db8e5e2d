import ComfyLock
import Foundation
import TestSupport
import Testing

/// docs/lock.schema.json checked by an independent validator (Python `jsonschema`, Draft 2020-12, from the test venv):
/// the locks ComfyLock accepts are schema-valid, and hostile ones are schema-invalid.
@Suite("JSON Schema agrees with the validator")
struct JSONSchemaTests {
    static let checker = """
        import json, sys, jsonschema
        schema = json.load(open(sys.argv[1]))
        jsonschema.Draft202012Validator.check_schema(schema)
        validator = jsonschema.Draft202012Validator(schema)
        print(json.dumps({name: len(list(validator.iter_errors(json.load(open(name))))) for name in sys.argv[2:]}))
        """

    @Test("valid locks pass the schema and invalid ones fail it")
    func schemaAgrees() throws {
        guard FileManager.default.isExecutableFile(atPath: TestPaths.python.path) else {
            Issue.record("test venv missing: run scripts/bootstrap.sh")
            return
        }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var valid: [String: Lock] = [
            "full": Fixtures.fullLock(), "minimal": Fixtures.minimalLock(), "recorded": Fixtures.recordedLock(),
        ]
        for url in try Self.shippedLocks() { valid[url.lastPathComponent] = try LockFile.read(from: url) }
        var invalid: [String: Lock] = [:]
        var lock = Fixtures.fullLock()
        lock.models[0].path = "../../etc/passwd"
        invalid["traversal"] = lock
        lock = Fixtures.fullLock()
        lock.models[0].sha256 = "ABC"
        invalid["bad-sha"] = lock
        lock = Fixtures.fullLock()
        lock.models[0].sources = ["https://user:pass@example.com/x"]
        invalid["credentials"] = lock
        lock = Fixtures.fullLock()
        lock.customNodes[0].commit = Fixtures.commitA  // a registry node with a commit
        invalid["kind-fields"] = lock
        lock = Fixtures.fullLock()
        lock.python?.packages[0].artifacts = []
        invalid["unhashed"] = lock
        lock = Fixtures.fullLock()
        lock.customNodes[0].name = "../x"
        invalid["node-name"] = lock
        // Recorded workflows (schema version 2).
        func recorded(_ change: (inout WorkflowEntry) -> Void) -> Lock {
            var lock = Fixtures.recordedLock()
            let index = lock.workflows.firstIndex { $0.recording != nil }!
            change(&lock.workflows[index])
            return lock
        }
        invalid["recorded-bad-digest"] = recorded { $0.recording?.lockDigest = "abc" }
        invalid["recorded-by-path"] = recorded {
            $0.inline = nil
            $0.path = "workflows/noise.json"
        }
        invalid["recorded-output-without-node"] = recorded { $0.expectedOutputs[0].node = nil }
        invalid["recorded-output-kind"] = recorded { $0.expectedOutputs[0].kind = "hologram" }
        invalid["recorded-image-hash"] = recorded { $0.expectedOutputs[0].imageDataSha256 = "ABC" }
        var paths: [String: String] = [:]
        for (name, lock) in valid.merging(invalid, uniquingKeysWith: { a, _ in a }) {
            let url = dir.appending("\(name).lock.json")
            try LockFile.write(lock, to: url)
            paths[name] = url.path
            // The validator's verdict, to compare with the schema's.
            #expect(LockValidator.isValid(lock) == (valid[name] != nil), "\(name)")
        }
        let schema = TestPaths.repositoryRoot.appendingPathComponent("docs/lock.schema.json").path
        let result = try Subprocess.run(
            TestPaths.python.path, ["-c", Self.checker, schema] + paths.keys.sorted().map { paths[$0]! })
        #expect(result.status == 0, "\(result.standardError)")
        let counts = try #require(
            try JSONParser.parse(result.standardOutput.trimmingCharacters(in: .newlines)).objectValue)
        for name in valid.keys { #expect(counts[paths[name]!] == 0, "\(name) should match the schema") }
        for name in invalid.keys {
            #expect((counts[paths[name]!]?.numberValue ?? 0) > 0, "\(name) should not match the schema")
        }
    }

    /// Every lock the repository ships (`lockfiles/*.json`): readme, run.sh and the worker image use them.
    static func shippedLocks() throws -> [URL] {
        let dir = TestPaths.repositoryRoot.appendingPathComponent("lockfiles")
        return try FileManager.default.contentsOfDirectory(at: dir, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "json" }.sorted { $0.path < $1.path }
    }

    @Test("every shipped lock, byte for byte as shipped, matches the schema, decodes and validates")
    func shippedLocksMatchSchema() throws {
        guard FileManager.default.isExecutableFile(atPath: TestPaths.python.path) else {
            Issue.record("test venv missing: run scripts/bootstrap.sh")
            return
        }
        let locks = try Self.shippedLocks()
        #expect(locks.contains { $0.lastPathComponent == "example.lock.json" })
        for url in locks {
            let lock = try LockFile.read(from: url)
            // Registry nodes of the examples are not pinned: pinning downloads from api.comfy.org, which this machine
            // cannot reach (`comfy-cli lock pin-registry` is the operator's step); that warning alone is allowed.
            let findings = LockValidator.validate(lock).filter { $0.rule != "registry-unpinned" }
            #expect(findings.isEmpty, "\(url.lastPathComponent): \(findings)")
            // Shipped in canonical form, so `lock fmt` would not rewrite it and its digest is what the file hashes to.
            #expect(try LockFile.readBytes(url) == LockFile.encode(lock), "\(url.lastPathComponent) is not canonical")
        }
        let schema = TestPaths.repositoryRoot.appendingPathComponent("docs/lock.schema.json").path
        // The files themselves, not a re-encoding: what a user downloads is what the schema checks.
        let result = try Subprocess.run(TestPaths.python.path, ["-c", Self.checker, schema] + locks.map(\.path))
        #expect(result.status == 0, "\(result.standardError)")
        let counts = try #require(
            try JSONParser.parse(result.standardOutput.trimmingCharacters(in: .newlines)).objectValue)
        for url in locks { #expect(counts[url.path] == 0, "\(url.lastPathComponent) does not match the schema") }
    }
}
