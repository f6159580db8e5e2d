import ComfyCrypto
import ComfyModels
import ComfyTransport
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The download write path with preallocation on by default (issue 18, P3): a partial file's size stays the bytes
/// written so resume is right, a file system without `fallocate` (ramfs) still downloads, and a full file system
/// (a size-limited tmpfs) fails cleanly — nothing at the target, no blob, no useless retries — and a later run
/// resumes once there is room. Real mounts: needs root and permission to mount, else those tests are disabled.
@Suite("Download write path: preallocation, no fallocate, a full file system")
struct DownloadIOTests {

    /// Mounts a file system of `type` at `dir/mnt` for the duration of `body`.
    static func withMount<T>(
        _ type: String, options: String?, in dir: TemporaryDirectory, _ body: (URL) async throws -> T
    ) async throws -> T {
        let mount = dir.appending("mnt")
        try FileManager.default.createDirectory(at: mount, withIntermediateDirectories: true)
        let mounted = try Subprocess.run(
            "/bin/mount", ["-t", type] + (options.map { ["-o", $0] } ?? []) + [type, mount.path])
        try #require(mounted.status == 0, "mount \(type): \(mounted.standardError)")
        defer { _ = try? Subprocess.run("/bin/umount", [mount.path]) }
        return try await body(mount)
    }

    /// A store at `root` over the fixture's client settings.
    static func store(at root: URL, like f: StoreFixture, ranged: Bool, preallocate: Bool = true) -> ModelStore {
        var store = ModelStore(
            root: root, client: f.store.client,
            retryPolicy: RetryPolicy(maxAttempts: 4, initialDelay: .milliseconds(10), maxDelay: .milliseconds(50)))
        store.downloadIO.preallocate = preallocate
        store.rangedConnections = ranged ? 4 : 1
        store.rangedThreshold = 0
        store.rangeChunkSize = 256 << 10
        return store
    }

    static func blocks(_ path: String) throws -> (size: Int64, allocated: Int64) {
        var st = stat()
        try #require(stat(path, &st) == 0, "stat \(path)")
        return (Int64(st.st_size), Int64(st.st_blocks) * 512)
    }

    @Test("the default preallocates: a dropped download's partial has the size written and the rest reserved; resume")
    func preallocatedPartialResumes() async throws {
        #expect(DownloadIO().preallocate)
        #expect(DownloadIO.fromEnvironment([:]).preallocate)
        #expect(!DownloadIO.fromEnvironment(["COMFYLOCK_DOWNLOAD_IO": "sync,noprealloc"]).preallocate)
        let f = try StoreFixture(size: 4_000_000)
        f.tune { $0.retryPolicy = RetryPolicy(maxAttempts: 1) }
        try f.file.server.inject(.closeAt(1_500_000), path: f.file.path)
        await #expect(throws: (any Error).self) {
            try await f.store.ensureBlob(sha256: f.sha256, size: f.size, sources: [f.source])
        }
        let partial = f.blob.path + ".partial"
        let (size, allocated) = try Self.blocks(partial)
        #expect(size == 1_500_000, "the partial's size is the bytes written")
        #expect(allocated >= f.size, "the rest of the file is reserved (allocated \(allocated))")
        try f.file.server.reset()
        f.tune { $0.retryPolicy = RetryPolicy(maxAttempts: 4, initialDelay: .milliseconds(10)) }
        _ = try await f.store.ensureBlob(sha256: f.sha256, size: f.size, sources: [f.source])
        #expect(try f.blobBytes() == f.file.bytes)
        #expect(try f.gets().map(\.range) == ["bytes=1500000-"])
        #expect(try f.file.server.bytesSent(path: f.file.path) == f.size - 1_500_000)
        #expect(try Self.blocks(f.blob.path).size == f.size)
    }

    @Test(
        .enabled(if: Mounts.canMount, "needs root and permission to mount"),
        arguments: [false, true])
    func fileSystemWithoutFallocate(ranged: Bool) async throws {
        let f = try StoreFixture(size: 1_000_000)
        try await Self.withMount("ramfs", options: nil, in: f.file.dir) { mount in
            // The premise: this file system refuses fallocate (ramfs: EOPNOTSUPP).
            let probe = mount.appendingPathComponent("probe").path
            FileManager.default.createFile(atPath: probe, contents: nil)
            let refused = try Subprocess.run("/usr/bin/fallocate", ["-n", "-l", "65536", probe])
            #expect(refused.status != 0, "ramfs accepted fallocate: \(refused.standardError)")
            let store = Self.store(at: mount.appendingPathComponent("store"), like: f, ranged: ranged)
            let target = mount.appendingPathComponent("out/model.bin")
            try FileManager.default.createDirectory(
                at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            _ = try await store.fetch(sha256: f.sha256, size: f.size, sources: [f.source], to: target)
            #expect(Array(try Data(contentsOf: target)) == f.file.bytes)
            #expect(try f.file.server.bytesSent(path: f.file.path) == f.size)
        }
    }

    @Test(
        "a full file system: a clear no-space error, nothing at the target, no blob, no retry; with room it resumes",
        .enabled(if: Mounts.canMount, "needs root and permission to mount"),
        arguments: [(false, true), (false, false), (true, true), (true, false)])
    func fullFileSystem(ranged: Bool, preallocate: Bool) async throws {
        let f = try StoreFixture(size: 3_000_000)
        try await Self.withMount("tmpfs", options: "size=2m", in: f.file.dir) { mount in
            let store = Self.store(
                at: mount.appendingPathComponent("store"), like: f, ranged: ranged, preallocate: preallocate)
            let target = mount.appendingPathComponent("out/model.bin")
            try FileManager.default.createDirectory(
                at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            do {
                _ = try await store.fetch(sha256: f.sha256, size: f.size, sources: [f.source], to: target)
                Issue.record("a 3 MB download fit into 2 MB")
            } catch let error as ModelError {
                let cause = try #require(error.underlying.first as? ModelError, "\(error)")
                #expect(cause.isNoSpace, "\(cause)")
                #expect(error.message.contains("No space left on device"), "\(error)")
            }
            #expect(!FileManager.default.fileExists(atPath: target.path))
            #expect(!FileManager.default.fileExists(atPath: store.blobURL(sha256: f.sha256).path))
            // Not retried: no range (or the one stream) asked for twice.
            let ranges = try f.gets().map { $0.range ?? "" }
            #expect(Set(ranges).count == ranges.count && (ranged || ranges.count == 1), "\(ranges)")
            let partial = store.blobURL(sha256: f.sha256).path + ".partial"
            let kept = try Self.blocks(partial).size
            if preallocate {
                // Refused before a byte was written, and nothing stays reserved.
                #expect(try Self.blocks(partial).allocated == 0)
            } else if !ranged {
                #expect(kept > 0 && kept <= 2 << 20, "\(kept)")
            }
            // With room, the next run finishes (a single stream resumes after what was written).
            let remounted = try Subprocess.run("/bin/mount", ["-o", "remount,size=8m", mount.path])
            try #require(remounted.status == 0, "\(remounted.standardError)")
            try f.file.server.reset()
            _ = try await store.fetch(sha256: f.sha256, size: f.size, sources: [f.source], to: target)
            #expect(Array(try Data(contentsOf: target)) == f.file.bytes)
            if !ranged {
                #expect(try f.file.server.bytesSent(path: f.file.path) == f.size - kept)
            }
        }
    }
}
