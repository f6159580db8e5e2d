public import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// The real GCS emulator (gcp-storage-emulator from the test venv, in memory, bucket `test-bucket`) for one test,
/// started through `scripts/testsupport/gcs_emulator.py`: it binds port 0 and prints `READY <port>` once it listens,
/// so no test races another for a free port (the emulator's own `start --port` needs the port up front).
///
/// Its log (stderr) goes to a file in the given directory. Stop it with `stop()` (SIGKILL: children of the test
/// runner inherit a blocked SIGTERM); it also exits by itself when the test process dies.
public final class GCSEmulator: @unchecked Sendable {
    // @unchecked: `process` is only started and stopped by the owning test; Process is thread-safe for that.
    /// The emulator process.
    public let process: Process
    /// Its port on 127.0.0.1.
    public let port: Int
    /// Its log file.
    public let logFile: URL
    /// Keeps the read end of its standard output open (it would get EPIPE otherwise).
    private let output: Pipe

    /// `http://127.0.0.1:PORT`: what `STORAGE_EMULATOR_HOST` and the clients get.
    public var url: String { "http://127.0.0.1:\(port)" }

    /// Starts an emulator and returns once it listens; its log file goes into `logDirectory`.
    public init(logDirectory: URL, bucket: String = "test-bucket") throws {
        let process = Process()
        process.executableURL = TestPaths.python
        process.arguments = [
            TestPaths.testScripts.appendingPathComponent("gcs_emulator.py").path, "--host", "127.0.0.1",
            "--default-bucket", bucket,
        ]
        let logFile = logDirectory.appendingPathComponent("emulator-\(UUID().uuidString.prefix(8)).log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = try FileHandle(forWritingTo: logFile)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let (ready, text) = ServerReadyLine.port(from: output.fileHandleForReading)
        guard let port = ready else {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            let log = (try? String(contentsOf: logFile, encoding: .utf8)) ?? ""
            throw StandInError(message: "the GCS emulator did not start: \(text)\n\(log.suffix(2000))")
        }
        self.process = process
        self.port = port
        self.logFile = logFile
        self.output = output
    }

    /// Stops the emulator (SIGKILL) and waits for it.
    public func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }
}
