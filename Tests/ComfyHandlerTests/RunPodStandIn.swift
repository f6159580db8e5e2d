import ComfyLock
import ComfyTransport
import Foundation
import Synchronization
import TestSupport

#if canImport(Glibc)
    import Glibc
#endif

/// scripts/testsupport/runpod_standin.py run for one test: RunPod's job endpoints on loopback (the real control
/// plane cannot run here), recording every take, result, progress post and heartbeat.
final class RunPodStandIn: Sendable {
    let port: Int
    let apiKey: String
    private let process: Mutex<Process?>

    init(apiKey: String = "rp-test-key-\(UInt32.random(in: 1000...9999))", longPoll: Double = 1.0) throws {
        self.apiKey = apiKey
        let process = Process()
        let python =
            FileManager.default.isExecutableFile(atPath: TestPaths.python.path)
            ? TestPaths.python.path : "/usr/bin/python3"
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [
            TestPaths.testScripts.appendingPathComponent("runpod_standin.py").path, "--port", "0", "--api-key", apiKey,
            "--long-poll", String(longPoll),
        ]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let (ready, _) = ServerReadyLine.port(from: out.fileHandleForReading)
        guard let port = ready else {
            kill(process.processIdentifier, SIGKILL)
            throw POSIXError(.ECONNREFUSED)
        }
        self.port = port
        self.process = Mutex(process)
    }

    deinit { stop() }

    func stop() {
        process.withLock { process in
            guard let running = process else { return }
            if running.isRunning {
                kill(running.processIdentifier, SIGKILL)
                running.waitUntilExit()
            }
            process = nil
        }
    }

    var base: String { "http://127.0.0.1:\(port)" }

    /// The variables the platform sets for a worker.
    func environment(workerID: String = "pod-test", pingMS: Int = 200) -> [String: String] {
        [
            "RUNPOD_WEBHOOK_GET_JOB": "\(base)/v2/ep1/job-take/$ID?gpu=TEST",
            "RUNPOD_WEBHOOK_POST_OUTPUT": "\(base)/v2/ep1/job-done/$RUNPOD_POD_ID/$ID?gpu=TEST",
            "RUNPOD_WEBHOOK_PING": "\(base)/v2/ep1/ping/$RUNPOD_POD_ID",
            "RUNPOD_AI_API_KEY": apiKey, "RUNPOD_POD_ID": workerID, "RUNPOD_PING_INTERVAL": String(pingMS),
        ]
    }

    @discardableResult
    func control(_ path: String, _ body: JSONValue) async throws -> JSONValue {
        let response = try await HTTPClient.shared.send(
            HTTPRequest(
                method: .post, url: URL(string: base + path)!, headers: ["Content-Type": "application/json"],
                body: .bytes(CanonicalJSON.encode(body)), useEnvironmentCredentials: false),
            retry: RetryPolicy.none)
        return try JSONParser.parse(response.body)
    }

    func enqueue(_ jobs: [JSONValue]) async throws { try await control("/_control/jobs", ["jobs": .array(jobs)]) }

    func log() async throws -> JSONValue {
        let response = try await HTTPClient.shared.send(
            HTTPRequest(url: URL(string: base + "/_control/log")!, useEnvironmentCredentials: false),
            retry: RetryPolicy.none)
        return try JSONParser.parse(response.body)
    }

    /// Results posted for `id` (progress excluded).
    func results(_ id: String) async throws -> [JSONValue] {
        try await log()["results"]?[id]?.arrayValue ?? []
    }

    /// Waits until `condition` holds on the log (polling), up to `timeout`.
    func waitFor(
        timeout: Duration = .seconds(180), _ condition: (JSONValue) -> Bool
    ) async throws -> JSONValue {
        let deadline = ContinuousClock.now + timeout
        while true {
            let current = try await log()
            if condition(current) { return current }
            if ContinuousClock.now > deadline { return current }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}
