import Foundation
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// A server process the tests start on 127.0.0.1 and stop in `defer` (the emulator, the fault proxy, the token and
/// metadata stand-ins). Its stdout/stderr go to a log file in `directory` for diagnosis.
final class LoopbackServer: @unchecked Sendable {
    // @unchecked: `process` is only started and stopped by the owning test; Process itself is thread-safe for that.
    let process: Process
    let port: Int
    let logFile: URL
    var url: String { "http://127.0.0.1:\(port)" }

    private init(process: Process, port: Int, logFile: URL) {
        self.process = process
        self.port = port
        self.logFile = logFile
    }

    /// Starts one of the Python helper scripts; it prints `PORT <n>` when listening.
    static func script(_ name: String, _ arguments: [String], logDirectory: URL) throws -> LoopbackServer {
        let process = Process()
        process.executableURL = TestPaths.python
        process.arguments = [TestPaths.testScripts.appendingPathComponent(name).path] + arguments
        let logFile = logDirectory.appendingPathComponent("\(name)-\(UUID().uuidString.prefix(8)).log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = try FileHandle(forWritingTo: logFile)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let (ready, text) = ServerReadyLine.port(from: pipe.fileHandleForReading, prefix: "PORT ")
        guard let port = ready else {
            kill(process)
            let log = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
            throw TestServerError("\(name) did not start: \(text) \(log)")
        }
        return LoopbackServer(process: process, port: port, logFile: logFile)
    }

    /// Starts gcp-storage-emulator (in memory, bucket `test-bucket`) through TestSupport's `GCSEmulator`: it binds
    /// port 0 and reports the port, so there is no race for a free one.
    static func emulator(logDirectory: URL) throws -> LoopbackServer {
        let emulator = try GCSEmulator(logDirectory: logDirectory)
        return LoopbackServer(process: emulator.process, port: emulator.port, logFile: emulator.logFile)
    }

    /// Stops the process and waits for it. SIGKILL: children spawned from the test runner's threads inherit a
    /// signal mask that blocks SIGTERM, so `terminate()` would not stop them.
    func stop() {
        Self.kill(process)
    }

    static func kill(_ process: Process) {
        if process.isRunning { _ = Glibc.kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    static func canConnect(port: Int) -> Bool { LoopbackSocket.accepts(port: port) }
}

struct TestServerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Reads objects back with Google's own Python client (`google-cloud-storage`) pointed at the emulator.
enum GoogleClientReader {
    struct Object: Decodable {
        var size: Int64
        var crc32c: String
        var md5Hash: String
        var generation: String
        var contentType: String?
    }

    /// Downloads `object` from `test-bucket` into `destination` and returns the metadata the client sees.
    static func download(object: String, emulator: String, to destination: URL) throws -> Object {
        let script = """
            import json, sys
            from google.cloud import storage
            client = storage.Client(project="test")
            blob = client.bucket("test-bucket").blob(sys.argv[1])
            blob.reload()
            meta = {"size": blob.size, "crc32c": blob.crc32c, "md5Hash": blob.md5_hash,
                    "generation": str(blob.generation), "contentType": blob.content_type}
            blob.download_to_filename(sys.argv[2])
            print(json.dumps(meta))
            """
        let result = try Subprocess.run(
            TestPaths.python.path, ["-c", script, object, destination.path],
            environment: ["STORAGE_EMULATOR_HOST": emulator])
        guard result.status == 0 else { throw TestServerError("google-cloud-storage failed: \(result.standardError)") }
        return try JSONDecoder().decode(Object.self, from: Data(result.standardOutput.utf8))
    }
}

/// Test data: a file of `size` pseudo-random bytes.
func makeRandomFile(_ url: URL, size: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) throws {
    var state = seed
    var bytes = [UInt8](repeating: 0, count: size)
    bytes.withUnsafeMutableBytes { raw in
        var offset = 0
        while offset < size {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            var word = state
            for _ in 0..<8 where offset < size {
                raw[offset] = UInt8(truncatingIfNeeded: word >> 56)
                word <<= 8
                offset += 1
            }
        }
    }
    try Data(bytes).write(to: url)
}

/// The fault proxy's request log.
struct ProxyLogEntry: Decodable {
    var method: String
    var path: String
    var contentRange: String?
    var xGoogHash: String?
    var authorization: Bool
    var length: Int
    var action: String?
}

func readProxyLog(_ url: URL) throws -> [ProxyLogEntry] {
    guard let text = try? String(contentsOf: url, encoding: .utf8) else { return [] }
    return try text.split(separator: "\n").map { try JSONDecoder().decode(ProxyLogEntry.self, from: Data($0.utf8)) }
}
