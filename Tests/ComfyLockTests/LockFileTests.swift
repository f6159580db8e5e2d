import ComfyCrypto
import ComfyLock
import Foundation
import TestSupport
import Testing

@Suite("lock files: schema, canonical bytes, atomic writes, digest")
struct LockFileTests {
    @Test("encode → decode round-trips every field, and the bytes are canonical with one newline")
    func roundTrip() throws {
        let lock = Fixtures.fullLock()
        let bytes = LockFile.encode(lock)
        #expect(bytes.last == 0x0A)
        #expect(bytes.dropLast().last != 0x0A)
        let decoded = try LockFile.decode(bytes)
        #expect(decoded == lock.sorted())
        #expect(LockFile.encode(decoded) == bytes)
        // The body is its own canonical form.
        #expect(try CanonicalJSON.canonicalize(Array(bytes.dropLast())) == Array(bytes.dropLast()))
    }

    @Test("collections are sorted, so insertion order does not change the bytes or the digest")
    func orderIndependent() {
        let lock = Fixtures.fullLock()
        var shuffled = lock
        shuffled.models.reverse()
        shuffled.customNodes.reverse()
        shuffled.workflows.reverse()
        shuffled.python?.packages.reverse()
        #expect(LockFile.encode(shuffled) == LockFile.encode(lock))
        #expect(LockFile.digest(shuffled) == LockFile.digest(lock))
        let text = LockFile.encode(lock).text
        let first = try! #require(text.range(of: "checkpoints/sd_xl"))
        let second = try! #require(text.range(of: "loras/detail"))
        #expect(first.lowerBound < second.lowerBound)
    }

    @Test("the digest is the SHA-256 of the canonical bytes without the newline")
    func digest() {
        let lock = Fixtures.minimalLock()
        let body = Array(LockFile.encode(lock).dropLast())
        #expect(LockFile.digest(lock) == SHA256.hash(body).hex)
        #expect(
            body.text
                == #"{"comfyui":{"commit":"0123456789abcdef0123456789abcdef01234567","url":"https://github.com/comfyanonymous/ComfyUI"},"createdBy":"comfylock 0.1.0","customNodes":[],"models":[],"schemaVersion":1,"tag":"minimal","workflows":[]}"#
        )
    }

    @Test("write is atomic, leaves no partial file, and does not rewrite an unchanged lock")
    func atomicWrite() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.appending("a.lock.json")
        #expect(try LockFile.write(Fixtures.fullLock(), to: url))
        let before = try FileManager.default.attributesOfItem(atPath: url.path)[.modificationDate] as? Date
        let inode = try FileManager.default.attributesOfItem(atPath: url.path)[.systemFileNumber] as? Int
        #expect(try LockFile.write(Fixtures.fullLock(), to: url) == false)
        #expect(try FileManager.default.attributesOfItem(atPath: url.path)[.modificationDate] as? Date == before)
        #expect(try FileManager.default.attributesOfItem(atPath: url.path)[.systemFileNumber] as? Int == inode)
        #expect(try LockFile.read(from: url) == Fixtures.fullLock().sorted())
        var changed = Fixtures.fullLock()
        changed.tag = "other"
        #expect(try LockFile.write(changed, to: url))
        #expect(try LockFile.read(from: url).tag == "other")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["a.lock.json"])
        // A failed write (directory missing) leaves nothing behind and names the path.
        let bad = dir.appending("missing/dir/x.lock.json")
        #expect {
            try LockFile.write(changed, to: bad)
        } throws: { error in
            String(describing: error).contains("missing/dir/x.lock.json")
        }
    }

    @Test("an unknown future schemaVersion is a clear error")
    func futureVersion() throws {
        var value = Fixtures.minimalLock().jsonValue.objectValue!
        value["schemaVersion"] = 3
        value["somethingNew"] = ["x": 1]
        let bytes = CanonicalJSON.encode(.object(value))
        #expect {
            try LockFile.decode(bytes)
        } throws: { error in
            let error = try #require(error as? LockError)
            return error.isUnsupportedVersion && error.description.contains("schemaVersion 3")
        }
    }

    @Test(
        "schema violations name the JSON path",
        arguments: [
            (#"{"schemaVersion":1}"#, "$.tag"),
            (#"[]"#, "$"),
            (#"{"tag":"x"}"#, "$.schemaVersion"),
            (#"{"schemaVersion":"1"}"#, "$.schemaVersion"),
            (
                #"{"schemaVersion":1,"tag":"t","createdBy":"c","comfyui":{"url":"u","commit":"c"},"customNodes":[{"name":"n","kind":"svn","enabled":true}],"models":[],"workflows":[]}"#,
                "$.customNodes[0].kind"
            ),
            (
                #"{"schemaVersion":1,"tag":"t","createdBy":"c","comfyui":{"url":"u","commit":"c"},"customNodes":[],"models":[{"path":"a","size":1.5,"sha256":"x","sources":[]}],"workflows":[]}"#,
                "$.models[0].size"
            ),
            (
                #"{"schemaVersion":1,"tag":"t","createdBy":"c","comfyui":{"url":"u","commit":"c","branch":"x"},"customNodes":[],"models":[],"workflows":[]}"#,
                "$.comfyui.branch"
            ),
            (
                #"{"schemaVersion":1,"tag":"t","createdBy":"c","comfyui":{"url":"u","commit":"c"},"customNodes":[],"models":[],"workflows":[],}"#,
                "$.workflows"
            ),
        ])
    func schemaErrors(json: String, path: String) {
        #expect {
            try LockFile.decode(Array(json.utf8))
        } throws: { error in
            let error = try #require(error as? LockError)
            #expect(error.path == path, "\(error)")
            return error.path == path
        }
    }

    @Test("schema version follows the content: 1 without recordings (bytes unchanged), 2 with; v1 refuses v2 members")
    func schemaVersionFollowsContent() throws {
        let plain = Fixtures.fullLock()
        #expect(plain.schemaVersion == 1)
        #expect(LockFile.encode(plain).text.contains("\"schemaVersion\":1,"))
        let recorded = Fixtures.recordedLock()
        #expect(recorded.schemaVersion == 2)
        let bytes = LockFile.encode(recorded)
        #expect(bytes.text.contains("\"schemaVersion\":2,"))
        #expect(try LockFile.decode(bytes) == recorded)
        #expect(try JSONDecoder().decode(Lock.self, from: Data(bytes)) == recorded)
        #expect(try LockFile.decode(Array(try JSONEncoder().encode(recorded))) == recorded)

        // Recording does not change the digest it records: the workflows section is excluded.
        var stripped = recorded
        stripped.workflows.removeAll { $0.recording != nil }
        #expect(LockFile.recordingDigest(recorded) == LockFile.recordingDigest(stripped))
        #expect(LockFile.recordingDigest(recorded) == LockFile.recordingDigest(Fixtures.fullLock()))
        let recording = try #require(recorded.workflows.first { $0.recording != nil }?.recording)
        #expect(recording.changes(since: recorded).isEmpty)
        var changed = recorded
        changed.models[0].sha256 = String(repeating: "c", count: 64)
        changed.customNodes.removeAll { $0.name == "helper.py" }
        changed.tag = "other"
        #expect(
            recording.changes(since: changed).map(\.description) == [
                "customNodes[helper.py] removed", "models[\(changed.models[0].path)] changed", "tag changed",
            ])

        // A document declaring 1 with a version-2 member is refused, naming the member.
        var value = bytes.text.replacingOccurrences(of: "\"schemaVersion\":2,", with: "\"schemaVersion\":1,")
        #expect {
            try LockFile.decode(Array(value.utf8))
        } throws: { error in
            let error = try #require(error as? LockError)
            return error.description.contains("needs schemaVersion 2") && error.path?.contains("workflows") == true
        }
        // A document declaring 2 without version-2 content is read; re-encoding writes 1 (the content decides).
        value = LockFile.encode(plain).text.replacingOccurrences(
            of: "\"schemaVersion\":1,", with: "\"schemaVersion\":2,")
        #expect(LockFile.encode(try LockFile.decode(Array(value.utf8))) == LockFile.encode(plain))
    }

    @Test("the Codable conformance agrees with the canonical encoding")
    func codable() throws {
        let lock = Fixtures.fullLock().sorted()
        let data = try JSONEncoder().encode(lock)
        let viaFoundation = try LockFile.decode(Array(data))
        #expect(viaFoundation == lock)
        #expect(try JSONDecoder().decode(Lock.self, from: Data(LockFile.encode(lock))) == lock)
        // Codable reads schemaVersion first too.
        var future = lock.jsonValue.objectValue!
        future["schemaVersion"] = 3
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(Lock.self, from: Data(CanonicalJSON.encode(.object(future))))
        }
    }

    @Test("PEP 503 normalization")
    func normalize() {
        #expect(PythonPackage.normalize("Foo.Bar__baz-_-Qux") == "foo-bar-baz-qux")
        #expect(PythonPackage.normalize("torch") == "torch")
    }
}
