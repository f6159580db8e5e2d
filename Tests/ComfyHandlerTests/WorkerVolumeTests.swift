import ComfyHandler
import Foundation
import TestSupport
import Testing

/// The worker volume check on real directories. Read-only mounts, a full file system and a non-root worker on a
/// root-owned volume need mounts or another uid: scripts/docker_smoke.sh checks those with real bind mounts (`:ro`),
/// a 1 MiB tmpfs and `--user` inside the built image.
@Suite("Worker volume")
struct WorkerVolumeTests {
    @Test("An absent mount point means: run from the image alone")
    func absent() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let volume = WorkerVolume(mountPoint: dir.appending("runpod-volume").path)
        #expect(try volume.check() == .absent)
        #expect(!FileManager.default.fileExists(atPath: volume.root))
    }

    @Test("A usable volume gets the layout: store, versions, scratch")
    func layout() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let volume = WorkerVolume(mountPoint: dir.path)
        guard case .ready(let free) = try volume.check() else {
            Issue.record("expected a ready volume")
            return
        }
        #expect(free > 0)
        for path in [volume.store, volume.versions, volume.scratch] {
            var isDirectory: ObjCBool = false
            #expect(FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue)
        }
        #expect(volume.store == dir.path + "/comfylock/store")
        // No probe file is left behind, and a second check is fine (idempotent).
        #expect(try FileManager.default.contentsOfDirectory(atPath: volume.scratch).isEmpty)
        #expect(try volume.check() != .absent)
    }

    @Test("A file where the volume should be is refused, naming the path")
    func notADirectory() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let path = dir.appending("runpod-volume").path
        _ = FileManager.default.createFile(atPath: path, contents: Data("x".utf8))
        let error = try #require(throws: WorkerVolumeError.self) { try WorkerVolume(mountPoint: path).check() }
        #expect(error.message.contains(path))
        #expect(error.message.contains("not a directory"))
    }

    @Test("Less free space than the minimum is a full volume, with the numbers")
    func full() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let error = try #require(throws: WorkerVolumeError.self) {
            try WorkerVolume(mountPoint: dir.path).check(minimumFreeBytes: Int64.max)
        }
        #expect(error.isFull)
        #expect(error.message.contains("is full"))
        #expect(error.message.contains("store gc"))
    }

    @Test("A layout entry that is a file (cannot become a directory) is a clear error")
    func blockedLayout() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.path + "/comfylock", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: dir.path + "/comfylock/store", contents: Data())
        let error = try #require(throws: WorkerVolumeError.self) { try WorkerVolume(mountPoint: dir.path).check() }
        #expect(error.message.contains("comfylock/store"))
    }
}
