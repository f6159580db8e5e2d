import ComfyLock
import ComfyModels
import ComfyRuntime
import Foundation
import TestSupport
import Testing

/// The library half of `version list` and `version remove` (`VersionCatalog`, `VersionRemoval`), called directly
/// on real versions built from the fixture's git repositories and model server (the CLI tests drive the same code
/// through `comfy-cli`).
@Suite("Version catalog and removal (library)")
struct VersionCatalogTests {
    @Test("list: only directories with a lock copy, sorted, with their metadata; hidden and plain ones skipped")
    func list() async throws {
        let fixture = try RuntimeFixture()
        #expect(VersionCatalog.list(root: fixture.versions).isEmpty, "a missing root lists nothing")
        _ = try await fixture.builder().create(name: "b", lock: fixture.lock(tag: "tb"), options: .pythonless)
        _ = try await fixture.builder().create(name: "a", lock: fixture.lock(tag: "ta"), options: .pythonless)
        try FileManager.default.createDirectory(
            at: fixture.versions.appendingPathComponent("plain"), withIntermediateDirectories: true)
        // A version whose metadata is unreadable is still listed, with unknown fields.
        let broken = fixture.versions.appendingPathComponent("c")
        try FileManager.default.createDirectory(at: broken, withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: VersionLayout(directory: broken).lockFile)
        try Data("not json".utf8).write(to: VersionLayout(directory: broken).metadataFile)
        let listed = VersionCatalog.list(root: fixture.versions)
        #expect(listed.map(\.name) == ["a", "b", "c"])
        #expect(listed.map(\.tag) == ["ta", "tb", nil])
        #expect(listed[0].lockDigest == LockFile.digest(fixture.lock(tag: "ta")))
        #expect(listed[0].models == "shared")
        #expect(listed[2].lockDigest == nil && listed[2].models == nil)
        #expect(listed[0].path == fixture.versions.appendingPathComponent("a").path)
    }

    @Test("directory: a bad name is invalidName, a missing version is notFound, naming the root")
    func directory() async throws {
        let fixture = try RuntimeFixture()
        _ = try await fixture.builder().create(name: "v", lock: fixture.lock(), options: .pythonless)
        #expect(try VersionCatalog.directory(root: fixture.versions, name: "v").lastPathComponent == "v")
        for bad in ["..", "../v", "", ".hidden", "-x", "a/b"] {
            let error = try #require(throws: RuntimeError.self, "\(bad)") {
                try VersionCatalog.directory(root: fixture.versions, name: bad)
            }
            #expect("\(error)".contains("not allowed"), "\(error)")
        }
        let missing = try #require(throws: RuntimeError.self) {
            try VersionCatalog.directory(root: fixture.versions, name: "nope")
        }
        #expect("\(missing)".contains("no version 'nope' in \(fixture.versions.path)"), "\(missing)")
    }

    @Test("removal: the root may not be / or home; a dry run deletes nothing; a run frees only the version's blobs")
    func removal() async throws {
        let fixture = try RuntimeFixture()
        let home = fixture.temp.appending("home")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        _ = try await fixture.builder().create(name: "keep", lock: fixture.lock(), options: .pythonless)
        _ = try await fixture.builder().create(name: "victim", lock: fixture.lock(), options: .pythonless)

        for root in [URL(fileURLWithPath: "/"), home] {
            let removal = VersionRemoval(root: root, name: "victim", store: fixture.modelStore, home: home.path)
            let error = try #require(throws: RuntimeError.self) { try removal.plan() }
            #expect("\(error)".contains("as a versions root"), "\(error)")
        }
        let removal = VersionRemoval(root: fixture.versions, name: "victim", store: fixture.modelStore, home: home.path)
        let dry = try await removal.run(dryRun: true)
        #expect(dry.dryRun && !dry.removed && dry.freedBlobs.isEmpty)
        #expect(dry.entries.last == fixture.versions.appendingPathComponent("victim").path)
        #expect(dry.bytes > 0)
        #expect(FileManager.default.fileExists(atPath: fixture.versions.appendingPathComponent("victim").path))

        let done = try await removal.run(dryRun: false)
        #expect(done.removed && done.entries == dry.entries)
        #expect(!FileManager.default.fileExists(atPath: fixture.versions.appendingPathComponent("victim").path))
        // Every blob "victim" used is still used by "keep": none is freed.
        #expect(done.freedBlobs.isEmpty, "\(done.freedBlobs)")
        for model in fixture.lock().models {
            #expect(FileManager.default.fileExists(atPath: fixture.modelStore.blobURL(sha256: model.sha256).path))
        }
        #expect(VersionCatalog.list(root: fixture.versions).map(\.name) == ["keep"])
        // Removing "keep" (the last user) frees its blobs.
        let last = try await VersionRemoval(
            root: fixture.versions, name: "keep", store: fixture.modelStore, home: home.path
        ).run(dryRun: false)
        #expect(Set(last.freedBlobs) == Set(fixture.lock().models.map(\.sha256)), "\(last.freedBlobs)")
        #expect(last.freedBytes == fixture.lock().models.reduce(0) { $0 + $1.size })
    }
}
