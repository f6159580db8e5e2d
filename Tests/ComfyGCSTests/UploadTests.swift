import ComfyTransport
import Foundation
import TestSupport
import Testing

@testable import ComfyGCS

/// Fast retries for tests (the policy's shape is tested in ConfigurationTests).
let testRetryPolicy = RetryPolicy(
    maxAttempts: 8, initialDelay: .milliseconds(50), maxDelay: .milliseconds(500), totalTimeout: .seconds(60))

/// One emulator (and its temp dir) per test, stopped afterwards.
func withEmulator<T>(_ body: (LoopbackServer, TemporaryDirectory) async throws -> T) async throws -> T {
    let dir = try TemporaryDirectory(prefix: "comfygcs")
    defer { dir.remove() }
    let emulator = try LoopbackServer.emulator(logDirectory: dir.url)
    defer { emulator.stop() }
    return try await body(emulator, dir)
}

func startProxy(
    upstream: LoopbackServer, dir: TemporaryDirectory, faults: String = "[]", iam: String? = nil,
    tokensFile: URL? = nil
) throws -> (LoopbackServer, URL) {
    let log = dir.appending("proxy-\(UUID().uuidString.prefix(6)).jsonl")
    var arguments = ["--upstream", upstream.url, "--faults", faults, "--log", log.path]
    if let iam { arguments += ["--iam-permissions", iam] }
    if let tokensFile { arguments += ["--valid-tokens-file", tokensFile.path] }
    return (try LoopbackServer.script("gcs_fault_proxy.py", arguments, logDirectory: dir.url), log)
}

func emulatorClient(_ endpoint: String, credentials: String? = nil) throws -> GCSClient {
    try GCSClient(
        configuration: GCSConfiguration(bucket: "test-bucket", credentialsPath: credentials, emulatorHost: endpoint),
        purpose: .upload, retryPolicy: testRetryPolicy)
}

/// Uploads must be read back byte-for-byte by Google's client with the same checksums we report.
func expectReadBack(_ result: UploadResult, original: URL, emulator: LoopbackServer, dir: TemporaryDirectory) throws {
    let copy = dir.appending("readback-\(UUID().uuidString.prefix(6))")
    let seen = try GoogleClientReader.download(object: result.object, emulator: emulator.url, to: copy)
    #expect(try Data(contentsOf: copy) == Data(contentsOf: original))
    #expect(seen.size == result.size)
    #expect(seen.crc32c == result.crc32c)
    #expect(seen.md5Hash == result.md5)
    #expect(seen.generation == result.generation)
}

@Suite("Uploads to the real GCS emulator, read back by google-cloud-storage")
struct UploadTests {
    @Test("a small file goes in one media upload and reads back identical")
    func smallUpload() async throws {
        try await withEmulator { emulator, dir in
            let file = dir.appending("image.png")
            try makeRandomFile(file, size: 100_003)
            let client = try emulatorClient(emulator.url)
            let result = try await client.upload(file: file.path, as: "outputs/job-1/image.png")
            #expect(result.method == "simple")
            #expect(result.uri == "gs://test-bucket/outputs/job-1/image.png")
            #expect(result.contentType == "image/png")
            try expectReadBack(result, original: file, emulator: emulator, dir: dir)
        }
    }

    @Test("an empty file uploads")
    func emptyUpload() async throws {
        try await withEmulator { emulator, dir in
            let file = dir.appending("empty.bin")
            try Data().write(to: file)
            let result = try await emulatorClient(emulator.url).upload(file: file.path, as: "empty.bin")
            #expect(result.size == 0)
            #expect(result.method == "resumable")
            #expect(result.crc32c == "AAAAAA==")
            try expectReadBack(result, original: file, emulator: emulator, dir: dir)
        }
    }

    @Test("a multi-chunk resumable upload (256 KiB chunks) reads back identical; progress reaches the total")
    func resumableUpload() async throws {
        try await withEmulator { emulator, dir in
            let file = dir.appending("video.mp4")
            let size = 6 * 256 * 1024 + 12_345
            try makeRandomFile(file, size: size)
            let (proxy, log) = try startProxy(upstream: emulator, dir: dir)
            defer { proxy.stop() }
            let last = LockedValue<Int64>(0)
            let result = try await emulatorClient(proxy.url).upload(
                file: file.path, as: "run/video.mp4",
                options: UploadOptions(resumableThreshold: 0, chunkSize: 256 * 1024)
            ) { progress in last.set(progress.bytesSent) }
            #expect(result.method == "resumable")
            #expect(last.get() == Int64(size))
            try expectReadBack(result, original: file, emulator: emulator, dir: dir)
            let chunks = try readProxyLog(log).filter { $0.method == "PUT" && $0.length > 0 }
            #expect(chunks.count == 7)
            #expect(chunks.allSatisfy { $0.length == 256 * 1024 || $0.length == 12_345 })
            #expect(chunks.last?.xGoogHash?.contains("crc32c=\(result.crc32c)") == true)
        }
    }

    @Test("dropped connections, a partial persist, 503 and 429 on chunks: the upload resumes from the server's Range")
    func faultyChunks() async throws {
        try await withEmulator { emulator, dir in
            let file = dir.appending("big.bin")
            try makeRandomFile(file, size: 8 * 256 * 1024 + 777, seed: 7)
            let faults = """
                [{"on":"chunk","index":1,"action":"drop"},{"on":"chunk","index":3,"action":"503"},
                 {"on":"chunk","index":4,"action":"429"},{"on":"chunk","index":6,"action":"persist-partial"},
                 {"on":"status","index":1,"action":"503"}]
                """
            let (proxy, log) = try startProxy(upstream: emulator, dir: dir, faults: faults)
            defer { proxy.stop() }
            let result = try await emulatorClient(proxy.url).upload(
                file: file.path, as: "faulty.bin", options: UploadOptions(resumableThreshold: 0, chunkSize: 512 * 1024))
            try expectReadBack(result, original: file, emulator: emulator, dir: dir)
            let entries = try readProxyLog(log)
            let actions = entries.compactMap(\.action)
            for expected in ["drop", "503", "429", "persist-partial", "status"] {
                #expect(actions.contains(expected), "no \(expected) in \(actions)")
            }
            #expect(!actions.contains("misaligned"), "a chunk did not start where the server's data ended")
            // After the partial persist the next chunk starts mid-chunk (at a 256 KiB multiple), from the Range.
            // 512 KiB chunks: chunk 6 starts at 1572864; half of it (262144 bytes) was stored, so one starts at 1835008.
            #expect(entries.contains { $0.contentRange == "bytes 1835008-2097928/2097929" })
        }
    }

    @Test("a session that expires (410) is restarted from byte 0 and completes")
    func sessionRestart() async throws {
        try await withEmulator { emulator, dir in
            let file = dir.appending("restart.bin")
            try makeRandomFile(file, size: 3 * 256 * 1024 + 5, seed: 11)
            let (proxy, log) = try startProxy(
                upstream: emulator, dir: dir, faults: #"[{"on":"chunk","index":2,"action":"410"}]"#)
            defer { proxy.stop() }
            let result = try await emulatorClient(proxy.url).upload(
                file: file.path, as: "restart.bin", options: UploadOptions(resumableThreshold: 0, chunkSize: 256 * 1024)
            )
            try expectReadBack(result, original: file, emulator: emulator, dir: dir)
            let inits = try readProxyLog(log).filter { $0.method == "POST" && $0.path.contains("uploadType=resumable") }
            #expect(inits.count == 2)
        }
    }

    @Test("a checksum mismatch in the server's answer is an error and the corrupt object is deleted")
    func integrityMismatch() async throws {
        try await withEmulator { emulator, dir in
            let file = dir.appending("c.bin")
            try makeRandomFile(file, size: 2 * 256 * 1024 + 1, seed: 3)
            let (proxy, _) = try startProxy(
                upstream: emulator, dir: dir,
                faults:
                    #"[{"on":"final","index":0,"action":"corrupt-crc"},{"on":"media","index":0,"action":"corrupt-crc"}]"#
            )
            defer { proxy.stop() }
            let client = try emulatorClient(proxy.url)
            for (name, threshold) in [("resumable.bin", Int64(0)), ("simple.bin", Int64(1 << 30))] {
                do {
                    _ = try await client.upload(
                        file: file.path, as: name,
                        options: UploadOptions(resumableThreshold: threshold, chunkSize: 256 * 1024))
                    Issue.record("\(name): a corrupt upload was reported as uploaded")
                } catch let error as GCSError {
                    #expect(error.kind == .integrityMismatch)
                    #expect(error.message.contains("crc32c") && error.message.contains(name))
                }
                #expect(throws: (any Error).self, "\(name) should have been deleted") {
                    try GoogleClientReader.download(object: name, emulator: emulator.url, to: dir.appending("gone"))
                }
            }
        }
    }

    @Test("a simple upload is retried on 503 only with a precondition (ifGenerationMatch=0 is sent)")
    func simpleUploadRetries() async throws {
        try await withEmulator { emulator, dir in
            let file = dir.appending("s.png")
            try makeRandomFile(file, size: 5000)
            let (proxy, log) = try startProxy(
                upstream: emulator, dir: dir,
                faults: #"[{"on":"media","index":0,"action":"503"},{"on":"media","index":1,"action":"503"}]"#)
            defer { proxy.stop() }
            let client = try emulatorClient(proxy.url)
            do {
                _ = try await client.upload(file: file.path, as: "s.png")
                Issue.record("a non-idempotent upload was retried")
            } catch let error as GCSError {
                #expect(error.status == 503)
                #expect(error.message.contains("gs://test-bucket/s.png"))
            }
            let result = try await client.upload(
                file: file.path, as: "s.png", options: UploadOptions(ifGenerationMatch: 0))
            try expectReadBack(result, original: file, emulator: emulator, dir: dir)
            let media = try readProxyLog(log).filter { $0.path.contains("uploadType=media") }
            #expect(media.count == 3)
            #expect(media.last?.path.contains("ifGenerationMatch=0") == true)
        }
    }

    @Test("412 on a create-only upload says the object exists")
    func preconditionFailed() async throws {
        try await withEmulator { emulator, dir in
            let file = dir.appending("p.bin")
            try makeRandomFile(file, size: 300_000)
            let (proxy, _) = try startProxy(
                upstream: emulator, dir: dir, faults: #"[{"on":"init","index":0,"action":"412"}]"#)
            defer { proxy.stop() }
            await #expect(throws: GCSError.self) {
                do {
                    _ = try await emulatorClient(proxy.url).upload(
                        file: file.path, as: "p.bin",
                        options: UploadOptions(ifGenerationMatch: 0, resumableThreshold: 0))
                } catch let error as GCSError {
                    #expect(error.kind == .preconditionFailed)
                    #expect(error.message.contains("gs://test-bucket/p.bin already exists"))
                    throw error
                }
            }
        }
    }

    @Test("a refused connection is a transport error naming the URL, after bounded retries")
    func connectionRefused() async throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let file = dir.appending("x.bin")
        try makeRandomFile(file, size: 10)
        let reserved = try LoopbackPort.refusing()
        defer { withExtendedLifetime(reserved) {} }
        let port = reserved.port
        let client = try GCSClient(
            configuration: GCSConfiguration(bucket: "test-bucket", emulatorHost: "http://127.0.0.1:\(port)"),
            retryPolicy: RetryPolicy(
                maxAttempts: 3, initialDelay: .milliseconds(10), maxDelay: .milliseconds(50), totalTimeout: .seconds(5))
        )
        do {
            _ = try await client.upload(file: file.path, as: "x.bin", options: UploadOptions(ifGenerationMatch: 0))
            Issue.record("uploaded to nothing")
        } catch let error as GCSError {
            #expect(error.kind == .transport)
            #expect(error.message.contains("127.0.0.1:\(port)"))
        }
    }

    @Test("bad options and names are refused before any request")
    func badOptions() async throws {
        let client = try GCSClient(
            configuration: GCSConfiguration(bucket: "test-bucket", emulatorHost: "http://127.0.0.1:1"))
        await #expect(throws: GCSError.self) {
            _ = try await client.upload(file: "/etc/hostname", as: "x", options: UploadOptions(chunkSize: 1000))
        }
        await #expect(throws: GCSError.self) { _ = try await client.upload(file: "/etc/hostname", as: "../x") }
        await #expect(throws: GCSError.self) { _ = try await client.upload(file: "/nonexistent/file", as: "x") }
        await #expect(throws: GCSError.self) { _ = try await client.upload(file: "/tmp", as: "x") }
    }
}

/// A value shared with a `@Sendable` callback.
final class LockedValue<T: Sendable>: @unchecked Sendable {
    // @unchecked: every access goes through `lock`.
    private let lock = NSLock()
    private var value: T
    init(_ value: T) { self.value = value }
    func set(_ newValue: T) { lock.withLock { value = newValue } }
    func get() -> T { lock.withLock { value } }
}
