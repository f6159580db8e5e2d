import ComfyCrypto
import ComfyModels
import ComfyTransport
import Foundation
import TestSupport
import Testing

/// Parallel ranged download of one blob (issue 18 P3b) against the loopback fault server: faults in one range,
/// resume of only the missing ranges (server byte counts asserted), the fallback to one stream, and never a
/// corrupt file at a target.
@Suite("Ranged parallel download: per-range faults, resume, fallback")
struct RangedDownloadTests {
    static let chunk = 64 << 10

    /// 1 MB served, 4 connections, 64 KiB ranges (16 ranges), quick retries.
    static func fixture(connections: Int = 4, maxAttempts: Int = 4) throws -> StoreFixture {
        let f = try StoreFixture(size: 1_000_000)
        f.tune { store in
            store.rangedConnections = connections
            store.rangedThreshold = 0
            store.rangeChunkSize = Int64(chunk)
            store.retryPolicy = RetryPolicy(
                maxAttempts: maxAttempts, initialDelay: .milliseconds(10), maxDelay: .milliseconds(50))
        }
        return f
    }

    /// The body GETs, each with its `Range` start.
    static func rangeStarts(_ f: StoreFixture) throws -> [Int?] {
        try f.gets().map { request in
            request.range.flatMap { Int($0.dropFirst(6).split(separator: "-").first ?? "") }
        }
    }

    @Test("ranges over 4 connections: the right bytes, every range once, hashed once, server sent exactly the size")
    func plainRanged() async throws {
        let f = try Self.fixture()
        let target = f.file.dir.appending("out/model.bin")
        try FileManager.default.createDirectory(
            at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        let (origin, _) = try await f.store.fetch(sha256: f.sha256, size: f.size, sources: [f.source], to: target)
        #expect(origin == .downloaded(from: f.source))
        #expect(Array(try Data(contentsOf: target)) == f.file.bytes)
        let starts = try Self.rangeStarts(f)
        #expect(starts.count == 16, "\(starts)")
        #expect(Set(starts.compactMap { $0 }) == Set(stride(from: 0, to: 1_000_000, by: Self.chunk)))
        #expect(try f.file.server.bytesSent(path: f.file.path) == f.size)
        // Every range after the probe carries the probe's validator.
        #expect(try f.gets().dropFirst().allSatisfy { $0.headers["if-range"] != nil })
        #expect(try f.leftovers().isEmpty)
    }

    @Test(
        "a fault in one range is retried for the rest of that range only",
        arguments: [
            ("drop", HTTPFault.closeAt(5 * chunk + 1000).inRange(startingAt: 5 * chunk)),
            ("503", HTTPFault.status(503).inRange(startingAt: 3 * chunk)),
            ("short body", HTTPFault.shortBody(1000).inRange(startingAt: 7 * chunk)),
            ("truncated answer", HTTPFault.truncate(to: 2000).inRange(startingAt: 9 * chunk)),
        ])
    func faultInOneRange(name: String, fault: HTTPFault) async throws {
        let f = try Self.fixture()
        try f.file.server.inject(fault, path: f.file.path)
        _ = try await f.store.ensureBlob(sha256: f.sha256, size: f.size, sources: [f.source])
        #expect(try f.blobBytes() == f.file.bytes, "\(name)")
        // Nothing fetched twice: the retry asks from where the faulty answer stopped (file bytes: 2xx bodies).
        let fileBytes = try f.gets().filter { $0.status < 300 }.reduce(Int64(0)) { $0 + $1.bytesSent }
        #expect(fileBytes == f.size, "\(name)")
        let starts = try Self.rangeStarts(f)
        #expect(starts.count == 17, "\(name): \(starts)")
        #expect(try f.leftovers().isEmpty, "\(name)")
    }

    @Test("wrong bytes in one range: the whole-file hash refuses it, a fresh download is right; twice: nothing placed")
    func wrongBytesInOneRange() async throws {
        let f = try Self.fixture()
        try f.file.server.inject(
            .corrupt(at: 4 * Self.chunk + 77).inRange(startingAt: 4 * Self.chunk), path: f.file.path)
        _ = try await f.store.ensureBlob(sha256: f.sha256, size: f.size, sources: [f.source])
        #expect(try f.blobBytes() == f.file.bytes)

        let g = try Self.fixture()
        try g.file.server.inject(
            .corrupt(at: 4 * Self.chunk + 77, times: 5).inRange(startingAt: 4 * Self.chunk), path: g.file.path)
        let target = g.file.dir.appending("models/m.bin")
        try FileManager.default.createDirectory(
            at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
        await #expect(throws: ModelError.self) {
            try await g.store.fetch(sha256: g.sha256, size: g.size, sources: [g.source], to: target)
        }
        #expect(!FileManager.default.fileExists(atPath: target.path))
        #expect(!FileManager.default.fileExists(atPath: g.blob.path))
        #expect(try FileManager.default.contentsOfDirectory(atPath: target.deletingLastPathComponent().path).isEmpty)
    }

    @Test("a run that fails in one range keeps the others: the next run fetches only the missing bytes")
    func resumeAcrossRuns() async throws {
        let f = try Self.fixture()
        // A range that keeps failing with a final status: this run gives up, the ranges done so far stay.
        try f.file.server.inject(.status(404, times: 50).inRange(startingAt: 10 * Self.chunk), path: f.file.path)
        await #expect(throws: (any Error).self) {
            try await f.store.ensureBlob(sha256: f.sha256, size: f.size, sources: [f.source])
        }
        // What the partial's meta file says was received, per range.
        let meta = try String(contentsOfFile: f.blob.path + ".partial.meta", encoding: .utf8)
        let kept = meta.split(separator: "\n").filter { $0.hasPrefix("range ") }
            .compactMap { Int64($0.split(separator: " ")[2]) }.reduce(0, +)
        #expect(kept > 0 && kept < f.size, "\(meta)")
        try f.file.server.reset()
        _ = try await f.store.ensureBlob(sha256: f.sha256, size: f.size, sources: [f.source])
        #expect(try f.blobBytes() == f.file.bytes)
        // Server byte counts: the second run sent exactly what the first had not delivered.
        let second = try f.file.server.bytesSent(path: f.file.path)
        #expect(second == f.size - kept, "kept \(kept), second run \(second)")
        #expect(try f.gets().allSatisfy { $0.range != nil && $0.headers["if-range"] != nil })
    }

    @Test("a file changed between runs (If-Range answered 200): the ranged partial is dropped, one stream fetches it")
    func changedValidator() async throws {
        let f = try Self.fixture()
        try f.file.server.inject(.status(404, times: 50).inRange(startingAt: 10 * Self.chunk), path: f.file.path)
        _ = try? await f.store.ensureBlob(sha256: f.sha256, size: f.size, sources: [f.source])
        try f.file.server.reset()
        try f.file.server.setETag("\"v2\"", path: f.file.path)
        // The server now answers If-Range with 200 (whole file): ranges are dropped, one stream fetches it again.
        _ = try await f.store.ensureBlob(sha256: f.sha256, size: f.size, sources: [f.source])
        #expect(try f.blobBytes() == f.file.bytes)
        #expect(try f.leftovers().isEmpty)
    }

    @Test("a server without Range support: one stream fetches the whole file")
    func fallbackWithoutRanges() async throws {
        let f = try Self.fixture()
        try f.file.server.inject(.ignoreRange(times: 100), path: f.file.path)
        _ = try await f.store.ensureBlob(sha256: f.sha256, size: f.size, sources: [f.source])
        #expect(try f.blobBytes() == f.file.bytes)
        let gets = try f.gets()
        #expect(gets.count == 2, "\(gets.map(\.range))")
        #expect(gets.first?.range != nil)
        #expect(gets.last?.range == nil)
        #expect(try f.leftovers().isEmpty)
    }

    @Test("one connection, or a blob under the threshold, is one stream")
    func singleStreamWhenSmall() async throws {
        let f = try Self.fixture(connections: 1)
        _ = try await f.store.ensureBlob(sha256: f.sha256, size: f.size, sources: [f.source])
        #expect(try f.gets().map(\.range) == [nil])
        let g = try Self.fixture()
        g.tune { $0.rangedThreshold = 2_000_000 }
        _ = try await g.store.ensureBlob(sha256: g.sha256, size: g.size, sources: [g.source])
        #expect(try g.gets().map(\.range) == [nil])
    }
}
