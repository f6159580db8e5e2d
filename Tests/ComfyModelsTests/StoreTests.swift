import ComfyCrypto
import ComfyLock
import ComfyModels
import ComfyTransport
import Foundation
import Synchronization
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A store in a temp dir, a served model file, and a client with quick retries.
final class StoreFixture {
    let file: ServedFile
    private(set) var store: ModelStore
    let sha256: String

    /// Changes the store's settings (ranged download knobs, retries).
    func tune(_ change: (inout ModelStore) -> Void) { change(&store) }

    init(size: Int = 400_000, lowSpeedTime: Duration = .seconds(60)) throws {
        file = try ServedFile(size: size)
        let client = HTTPClient(configuration: .init(lowSpeedTime: lowSpeedTime, credentials: .none))
        store = ModelStore(
            root: file.dir.appending("store"), client: client,
            retryPolicy: RetryPolicy(maxAttempts: 4, initialDelay: .milliseconds(10), maxDelay: .milliseconds(100)))
        sha256 = SHA256.hash(file.bytes).hex
    }

    var size: Int64 { Int64(file.bytes.count) }
    var source: String { file.url.absoluteString }
    var blob: URL { store.blobURL(sha256: sha256) }

    func blobBytes() throws -> [UInt8] { Array(try Data(contentsOf: blob)) }

    /// Files left in the blobs directory other than complete blobs.
    func leftovers() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: store.blobsDirectory.path).filter { $0.count != 64 }
    }

    func gets() throws -> [LoggedRequest] { try file.server.requests().filter { $0.method == "GET" } }
}

@Suite("Model store: fetch with verify, resume, faults, materialize, stat cache")
struct StoreTests {
    @Test("a fetched blob is verified, read-only, tagged, and reused without a request")
    func fetchAndReuse() async throws {
        let f = try StoreFixture()
        let (url, origin) = try await f.store.ensureBlob(sha256: f.sha256, size: f.size, sources: [f.source])
        #expect(origin == .downloaded(from: f.source))
        #expect(url == f.blob)
        #expect(try f.blobBytes() == f.file.bytes)
        let st = try #require(try FileStat.of(path: url.path))
        #expect(try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? Int == 0o444)
        #expect(st.size == f.size)
        #expect(FileManager.default.fileExists(atPath: f.store.root.appendingPathComponent("CACHEDIR.TAG").path))
        #expect(try f.leftovers().isEmpty)
        let again = try await f.store.ensureBlob(sha256: f.sha256, size: f.size, sources: [f.source])
        #expect(again.origin == .store)
        #expect(try f.gets().count == 1)
    }

    @Test(
        "transient faults end with a correct blob",
        arguments: [
            ("close", HTTPFault.closeAt(123_456)), ("500", .status(500)), ("503", .status(503)),
            ("429", .status(429, retryAfter: "1")), ("408", .status(408)), ("truncate", .truncate(to: 1000)),
            ("corrupt", .corrupt(at: 4242)), ("ignore-range", .ignoreRange()),
        ])
    func transientFaults(name: String, fault: HTTPFault) async throws {
        let f = try StoreFixture()
        try f.file.server.inject(fault, path: f.file.path)
        let (_, origin) = try await f.store.ensureBlob(sha256: f.sha256, size: f.size, sources: [f.source])
        #expect(origin == .downloaded(from: f.source), "\(name)")
        #expect(try f.blobBytes() == f.file.bytes, "\(name)")
        #expect(try f.leftovers().isEmpty, "\(name)")
    }

    @Test("a stalled server times out and the retry resumes")
    func stallThenResume() async throws {
        let f = try StoreFixture(lowSpeedTime: .seconds(1))
        try f.file.server.inject(.stall(at: 200_000, seconds: 20), path: f.file.path)
        _ = try await f.store.ensureBlob(sha256: f.sha256, size: f.size, sources: [f.source])
        #expect(try f.blobBytes() == f.file.bytes)
        let gets = try f.gets()
        #expect(gets.count == 2)
        #expect(gets.last?.range == "bytes=200000-")
    }

    @Test("permanent faults leave no blob and a clear error", arguments: ["404", "corrupt", "short"])
    func permanentFaults(kind: String) async throws {
        let f = try StoreFixture()
        switch kind {
        case "404": try f.file.server.inject(.status(404), path: f.file.path)
        case "corrupt": try f.file.server.inject(.corrupt(at: 10, times: 100), path: f.file.path)
        default: try f.file.server.inject(.truncate(to: 5000, times: 100), path: f.file.path)
        }
        let error = try await #require(throws: ModelError.self) {
            try await f.store.ensureBlob(sha256: f.sha256, size: f.size, sources: [f.source])
        }
        #expect(error.isFetchFailure)
        let expectedText = ["404": "HTTP 404", "corrupt": "sha256 mismatch", "short": "size mismatch"][kind]!
        #expect(error.message.contains(expectedText), "\(error.message)")
        #expect(error.message.contains(f.file.path))
        #expect(!FileManager.default.fileExists(atPath: f.blob.path))
        #expect(try f.leftovers().filter { !$0.hasSuffix(".partial") && !$0.hasSuffix(".meta") }.isEmpty)
    }

    @Test("a resumed transfer fetches only the missing bytes")
    func resumeFetchesOnlyMissingBytes() async throws {
        let f = try StoreFixture()
        try f.file.server.inject(.closeAt(150_000), path: f.file.path)
        _ = try await f.store.ensureBlob(sha256: f.sha256, size: f.size, sources: [f.source])
        #expect(try f.blobBytes() == f.file.bytes)
        let gets = try f.gets()
        #expect(gets.map(\.range) == [nil, "bytes=150000-"])
        #expect(try f.file.server.bytesSent(path: f.file.path) == f.size)
    }

    @Test("a partial left by a cancelled run is resumed by the next run")
    func cancelledRunResumes() async throws {
        let f = try StoreFixture()
        try f.file.server.inject(.stall(at: 100_000, seconds: 30), path: f.file.path)
        let started = AsyncStream<Void>.makeStream()
        let store = f.store
        let (sha, size, source) = (f.sha256, f.size, f.source)
        let task = Task {
            try await store.ensureBlob(sha256: sha, size: size, sources: [source]) { p in
                if p.bytesDone >= 100_000 { started.continuation.yield() }
            }
        }
        for await _ in started.stream { break }
        task.cancel()
        let result = await task.result
        #expect(throws: (any Error).self) { try result.get() }
        #expect(!FileManager.default.fileExists(atPath: f.blob.path))
        _ = try await f.store.ensureBlob(sha256: f.sha256, size: f.size, sources: [f.source])
        #expect(try f.blobBytes() == f.file.bytes)
        #expect(try f.gets().last?.range == "bytes=100000-")
        #expect(try f.file.server.bytesSent(path: f.file.path) == f.size)
    }

    @Test("a changed validator or an ignored Range restarts the download cleanly")
    func restartOnChangedValidator() async throws {
        let f = try StoreFixture()
        try f.file.server.inject(.closeAt(100_000), path: f.file.path)
        try f.file.server.inject(.ignoreRange(), path: f.file.path)
        _ = try await f.store.ensureBlob(sha256: f.sha256, size: f.size, sources: [f.source])
        #expect(try f.blobBytes() == f.file.bytes)
        #expect(try f.file.server.bytesSent(path: f.file.path) == 100_000 + f.size)

        let g = try StoreFixture()
        try g.file.server.inject(.closeAt(100_000), path: g.file.path)
        var once = g.store
        once.retryPolicy = .none
        await #expect(throws: ModelError.self) {
            try await once.ensureBlob(sha256: g.sha256, size: g.size, sources: [g.source])
        }
        // The file changes on the server (new validator) before the next run resumes.
        try g.file.server.setETag("\"changed\"", path: g.file.path)
        _ = try await g.store.ensureBlob(sha256: g.sha256, size: g.size, sources: [g.source])
        #expect(try g.blobBytes() == g.file.bytes)
        let gets = try g.gets()
        #expect(gets.count == 2)
        #expect(gets[1].headers["if-range"] != nil)
        #expect(gets[1].status == 200)
    }

    @Test("mirrors are tried in order; a wrong size is refused before downloading it all")
    func mirrorsAndSize() async throws {
        let f = try StoreFixture()
        let missing = f.file.server.url("/missing.bin").absoluteString
        let (_, origin) = try await f.store.ensureBlob(sha256: f.sha256, size: f.size, sources: [missing, f.source])
        #expect(origin == .downloaded(from: f.source))

        let g = try StoreFixture()
        let error = try await #require(throws: ModelError.self) {
            try await g.store.ensureBlob(sha256: g.sha256, size: g.size + 1, sources: [g.source])
        }
        #expect(error.message.contains("size mismatch"))
        #expect(!FileManager.default.fileExists(atPath: g.blob.path))
    }

    @Test("concurrent fetches of one blob in a process download it once")
    func concurrentFetchesDownloadOnce() async throws {
        let f = try StoreFixture()
        let store = f.store
        let (sha, size, source) = (f.sha256, f.size, f.source)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask { _ = try await store.ensureBlob(sha256: sha, size: size, sources: [source]) }
            }
            try await group.waitForAll()
        }
        #expect(try f.gets().count == 1)
        #expect(try f.blobBytes() == f.file.bytes)
    }

    @Test(
        "materialize by hardlink, copy and symlink replaces the target atomically",
        arguments: [
            MaterializeMode.hardlink, .copy, .symlink, .auto,
        ])
    func materialize(mode: MaterializeMode) async throws {
        let f = try StoreFixture()
        _ = try await f.store.ensureBlob(sha256: f.sha256, size: f.size, sources: [f.source])
        let target = f.file.dir.appending("models/checkpoints/x.safetensors")
        try FileManager.default.createDirectory(
            at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("old".utf8).write(to: target)
        let method = try f.store.materialize(sha256: f.sha256, to: target, mode: mode)
        #expect(Array(try Data(contentsOf: target)) == f.file.bytes)
        let blobStat = try #require(try FileStat.of(path: f.blob.path))
        let targetStat = try #require(try FileStat.of(path: target.path))
        switch mode {
        case .hardlink: #expect(method == .hardlink && targetStat.inode == blobStat.inode)
        case .copy: #expect(method == .copy && targetStat.inode != blobStat.inode)
        case .symlink:
            #expect(method == .symlink)
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: target.path) == f.blob.path)
        default: #expect(method == .reflink || method == .hardlink || method == .copy)
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: target.deletingLastPathComponent().path)
        #expect(names == ["x.safetensors"])
    }

    @Test("materialize refuses a blob that is not in the store")
    func materializeMissing() throws {
        let f = try StoreFixture()
        let target = f.file.dir.appending("models/x.bin")
        #expect(throws: ModelError.self) { try f.store.materialize(sha256: f.sha256, to: target) }
        #expect(!FileManager.default.fileExists(atPath: target.path))
    }

    @Test("a corrupt blob in the store is quarantined, not served")
    func corruptBlobQuarantined() async throws {
        let f = try StoreFixture()
        _ = try await f.store.ensureBlob(sha256: f.sha256, size: f.size, sources: [f.source])
        try flipByte(at: 7, of: f.blob)
        #expect(try f.store.verifiedBlob(sha256: f.sha256) == nil)
        #expect(!FileManager.default.fileExists(atPath: f.blob.path))
        let quarantined = try FileManager.default.subpathsOfDirectory(atPath: f.store.quarantineDirectory.path)
        #expect(quarantined.contains { $0.hasSuffix(f.sha256) })
        let (_, origin) = try await f.store.ensureBlob(sha256: f.sha256, size: f.size, sources: [f.source])
        #expect(origin == .downloaded(from: f.source))
    }

    @Test("the stat cache answers for unchanged files and misses after an in-place change")
    func statCache() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let cache = StatCache(directory: dir.appending("cache"))
        let file = dir.appending("f.bin")
        try Data(ServedFile.pattern(size: 10_000, seed: 1)).write(to: file)
        usleep(200_000)  // older than the racy window, so the result may be cached
        let first = try cache.hash(path: file.path)
        #expect(!first.fromCache)
        let second = try cache.hash(path: file.path)
        #expect(second.fromCache && second.sha256 == first.sha256)
        #expect(try !cache.hash(path: file.path, deep: true).fromCache)
        // Same size, same mtime restored: the ctime still changes, so the cache must miss.
        let before = try #require(try FileStat.of(path: file.path))
        try flipByte(at: 0, of: file)
        var times = [
            timespec(
                tv_sec: Int(before.mtimeNanoseconds / 1_000_000_000),
                tv_nsec: Int(before.mtimeNanoseconds % 1_000_000_000)),
            timespec(
                tv_sec: Int(before.mtimeNanoseconds / 1_000_000_000),
                tv_nsec: Int(before.mtimeNanoseconds % 1_000_000_000)),
        ]
        #expect(utimensat(AT_FDCWD, file.path, &times, 0) == 0)
        let third = try cache.hash(path: file.path)
        #expect(!third.fromCache)
        #expect(third.sha256 != first.sha256)
    }

    @Test("a file hashed right after it was written is not cached (racy timestamps)")
    func racyNotCached() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let cache = StatCache(directory: dir.appending("cache"))
        let file = dir.appending("f.bin")
        try Data("fresh".utf8).write(to: file)
        _ = try cache.hash(path: file.path)
        #expect(cache.lookup(path: file.path) == nil)
    }

    @Test("the default store is $COMFYLOCK_STORE, else ~/.cache/comfylock")
    func defaultRoot() {
        #expect(
            ModelStore.defaultRoot(environment: ["COMFYLOCK_STORE": "/srv/store", "HOME": "/h"]).path == "/srv/store")
        #expect(ModelStore.defaultRoot(environment: ["HOME": "/h"]).path == "/h/.cache/comfylock")
    }

    @Test("import adds a local file after checking its hash")
    func importFile() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = ModelStore(root: dir.appending("store"))
        let bytes = ServedFile.pattern(size: 50_000, seed: 9)
        let file = dir.appending("in.bin")
        try Data(bytes).write(to: file)
        #expect(throws: ModelError.self) {
            try store.importFile(at: file, expectedSHA256: String(repeating: "0", count: 64))
        }
        let (sha, size) = try store.importFile(at: file)
        #expect(sha == SHA256.hash(bytes).hex && size == 50_000)
        #expect(store.containsBlob(sha256: sha))
    }
}

@Suite("Verify and fix a lock's models")
struct VerifierTests {
    @Test("delete a model: verify reports missing, --fix restores it from the store without network")
    func restoreFromStoreOffline() async throws {
        let f = try StoreFixture()
        let root = f.file.dir.appending("models")
        let entry = ModelEntry(path: "checkpoints/x.safetensors", size: f.size, sha256: f.sha256, sources: [f.source])
        let verifier = ModelVerifier(store: f.store, jobs: 2)
        let first = await verifier.verify([entry], root: root, fix: true)
        #expect(first[0].status == .missing && first[0].fixed == true)
        #expect(first[0].restoredFrom == f.source)
        try FileManager.default.removeItem(at: root.appendingPathComponent(entry.path))
        f.file.server.stop()  // no network from here on
        let second = await verifier.verify([entry], root: root, fix: true)
        #expect(second[0].status == .missing)
        #expect(second[0].fixed == true, "\(second[0].error ?? "")")
        #expect(second[0].restoredFrom == "store")
        let third = await verifier.verify([entry], root: root)
        #expect(third[0].status == .ok)
        #expect(third[0].fromCache, "a file placed from a verified blob is known to the stat cache")
    }

    @Test("a corrupt byte is detected, the file quarantined and restored")
    func corruptByteRestored() async throws {
        let f = try StoreFixture()
        let root = f.file.dir.appending("models")
        let entry = ModelEntry(path: "loras/y.safetensors", size: f.size, sha256: f.sha256, sources: [f.source])
        let verifier = ModelVerifier(store: f.store, mode: .copy)
        _ = await verifier.verify([entry], root: root, fix: true)
        let target = root.appendingPathComponent(entry.path)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: target.path)
        try flipByte(at: 1234, of: target)
        f.file.server.stop()
        let checks = await verifier.verify([entry], root: root, fix: true)
        #expect(checks[0].status == .hashMismatch)
        #expect(checks[0].fixed == true, "\(checks[0].error ?? "")")
        #expect(checks[0].restoredFrom == "store")
        let quarantined = try #require(checks[0].quarantinedTo)
        #expect(FileManager.default.fileExists(atPath: quarantined))
        #expect(Array(try Data(contentsOf: target)) == f.file.bytes)
        #expect(await verifier.verify([entry], root: root, deep: true)[0].status == .ok)
    }

    @Test("a corrupted hard-linked model corrupts its blob too: both are caught and re-fetched from the source")
    func corruptHardlinkRefetched() async throws {
        let f = try StoreFixture()
        let root = f.file.dir.appending("models")
        let entry = ModelEntry(path: "vae/z.safetensors", size: f.size, sha256: f.sha256, sources: [f.source])
        let verifier = ModelVerifier(store: f.store, mode: .hardlink)
        _ = await verifier.verify([entry], root: root, fix: true)
        try flipByte(at: 99, of: root.appendingPathComponent(entry.path))
        let checks = await verifier.verify([entry], root: root, fix: true)
        #expect(checks[0].status == .hashMismatch)
        #expect(checks[0].fixed == true)
        #expect(checks[0].restoredFrom == f.source)
        #expect(await verifier.verify([entry], root: root, deep: true)[0].status == .ok)
    }

    @Test("size mismatch is reported without hashing; unsafe paths are refused")
    func sizeMismatchAndPaths() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let root = dir.appending("models")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try Data("abc".utf8).write(to: root.appendingPathComponent("a.bin"))
        let verifier = ModelVerifier(store: ModelStore(root: dir.appending("store")))
        let sha = SHA256.hash(Array("abc".utf8)).hex
        let checks = await verifier.verify(
            [ModelEntry(path: "a.bin", size: 4, sha256: sha), ModelEntry(path: "a.bin", size: 3, sha256: sha)],
            root: root)
        #expect(checks.map(\.status) == [.sizeMismatch, .ok])
        for bad in ["../x", "/etc/passwd", "a/../../b", "a//b", ""] {
            #expect(throws: ModelError.self) { try ModelVerifier.target(for: bad, root: root) }
        }
        try FileManager.default.createSymbolicLink(
            atPath: root.appendingPathComponent("escape").path, withDestinationPath: "/tmp")
        #expect(throws: ModelError.self) { try ModelVerifier.target(for: "escape/x.bin", root: root) }
    }
}

/// Flips one byte of a file in place (making it writable first, and clearing the immutable flag a shared blob
/// carries where permitted: an administrator's override).
func flipByte(at offset: Int, of url: URL) throws {
    BlobProtection.unprotect(url.path)
    chmod(url.path, 0o644)
    let handle = try FileHandle(forUpdating: url)
    defer { try? handle.close() }
    try handle.seek(toOffset: UInt64(offset))
    let byte = try handle.read(upToCount: 1)!.first!
    try handle.seek(toOffset: UInt64(offset))
    try handle.write(contentsOf: [byte ^ 0xFF])
}
