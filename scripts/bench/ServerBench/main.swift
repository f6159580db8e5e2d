// Benchmarks of ComfyServer against the ComfyUI stand-in (see scripts/bench/comfyui-run.sh and docs/benchmarks.md):
//   1. per-job overhead of WorkflowRunner.run over a minimal raw client (POST /prompt + WebSocket wait for
//      `executing null` + /history + /view) on the same server, interleaved;
//   2. attach-to-ready (ComfyUISupervisor.attach on a running server);
//   3. crash detection (SIGKILL the supervised child → the supervisor's `.crashed` event).
// Usage: comfylock-bench-server PYTHON STANDIN_SCRIPT [JOBS]
import ComfyLock
import ComfyServer
import ComfyTransport
import Foundation
import Logging
import WSClient

#if canImport(Glibc)
    import Glibc
#endif

let arguments = CommandLine.arguments
guard arguments.count >= 3 else {
    FileHandle.standardError.write(Data("usage: comfylock-bench-server PYTHON STANDIN_SCRIPT [JOBS]\n".utf8))
    exit(2)
}
let python = arguments[1]
let script = arguments[2]
let jobs = arguments.count > 3 ? Int(arguments[3]) ?? 30 : 30
let work = NSTemporaryDirectory() + "comfylock-bench-\(getpid())"
try FileManager.default.createDirectory(atPath: work + "/ComfyUI", withIntermediateDirectories: true)
try FileManager.default.createDirectory(atPath: work + "/venv/bin", withIntermediateDirectories: true)
try? FileManager.default.createSymbolicLink(atPath: work + "/venv/bin/python", withDestinationPath: python)
try """
import glob, os, runpy, site, sys
for d in glob.glob(\(String(reflecting: (python as NSString).deletingLastPathComponent + "/../lib/python*/site-packages"))):
    site.addsitedir(d)
sys.argv[0] = \(String(reflecting: script))
sys.argv += ['--base-directory', os.path.dirname(os.path.abspath(__file__))]
runpy.run_path(sys.argv[0], run_name='__main__')
""".write(toFile: work + "/ComfyUI/main.py", atomically: true, encoding: .utf8)
defer { try? FileManager.default.removeItem(atPath: work) }

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.isEmpty ? 0 : sorted[sorted.count / 2]
}
func ms(_ d: Duration) -> Double { Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15 }
func fmt(_ v: Double) -> String { String(format: "%.2f ms", v) }

func workflow(seed: Int) throws -> Workflow {
    try Workflow(
        bytes: Array(
            """
            {"1":{"class_type":"StandInNoise","inputs":{"seed":\(seed),"width":64,"height":64}},
             "2":{"class_type":"SaveImage","inputs":{"images":["1",0],"filename_prefix":"bench"}}}
            """.utf8))
}

var logger = Logger(label: "bench")
logger.logLevel = .error
let clock = ContinuousClock()
var configuration = ComfyUISupervisor.LaunchConfiguration.version(directory: work)
configuration.restartPolicy = .init(maxCrashes: 1000, initialDelay: .milliseconds(10))
configuration.stopGrace = .seconds(2)
let supervisor = try await ComfyUISupervisor.launch(configuration, logger: logger)
let client = supervisor.client
let http = HTTPClient.shared

/// The minimal raw client: POST /prompt, wait on the WebSocket for `executing null`, GET /history, GET /view.
func rawJob(_ workflow: Workflow) async throws {
    let clientID = UUID().uuidString.lowercased()
    let url = client.webSocketURL(clientID: clientID)
    let base = client.baseURL.absoluteString
    try await WebSocketClient.connect(url: url, logger: logger) { inbound, _, _ in
        let body = CanonicalJSON.encode(.object(["prompt": workflow.json, "client_id": .string(clientID)]))
        let posted = try await http.send(
            HTTPRequest(
                method: .post, url: URL(string: base + "/prompt")!, headers: ["Content-Type": "application/json"],
                body: .bytes(body)), retry: RetryPolicy.none)
        let promptID = try JSONParser.parse(posted.body)["prompt_id"]!.stringValue!
        for try await message in inbound.messages(maxSize: 1 << 24) {
            guard case .text(let text) = message, let json = try? JSONParser.parse(text) else { continue }
            if json["type"] == "executing", json["data"]?["node"] == .null, json["data"]?["prompt_id"]?.stringValue == promptID {
                break
            }
        }
        let history = try await http.send(HTTPRequest(url: URL(string: base + "/history/" + promptID)!))
        let outputs = try JSONParser.parse(history.body)[promptID]!["outputs"]!.objectValue!
        for (_, output) in outputs {
            for image in output["images"]?.arrayValue ?? [] {
                let name = image["filename"]!.stringValue!
                _ = try await http.send(HTTPRequest(url: URL(string: base + "/view?filename=\(name)&type=output")!))
            }
        }
    }
}

let runner = WorkflowRunner(supervisor: supervisor, logger: logger)
// Warm up both paths.
try await rawJob(try workflow(seed: 1))
_ = try await runner.run(try workflow(seed: 2))
var raw: [Double] = []
var library: [Double] = []
for i in 0..<jobs {
    let a = clock.now
    try await rawJob(try workflow(seed: 1000 + i))
    raw.append(ms(clock.now - a))
    let b = clock.now
    _ = try await runner.run(try workflow(seed: 100_000 + i))
    library.append(ms(clock.now - b))
}
print("jobs: \(jobs) interleaved (noise 64x64 → SaveImage)")
print("raw client median:      \(fmt(median(raw)))")
print("WorkflowRunner median:  \(fmt(median(library)))")
print("overhead (median diff): \(fmt(median(library) - median(raw)))")

var attach: [Double] = []
for _ in 0..<jobs {
    let a = clock.now
    let attached = try await ComfyUISupervisor.attach(url: client.baseURL, logger: logger)
    attach.append(ms(clock.now - a))
    await attached.stop()
}
print("attach-to-ready median: \(fmt(median(attach)))")

func measureCrashes(count: Int) async throws -> [Double] {
    var detection: [Double] = []
    var iterator = supervisor.events.makeAsyncIterator()
    for _ in 0..<count {
        // Wait until ready (a job runs), then kill the child and time the supervisor's crash event.
        _ = try await runner.run(try workflow(seed: Int.random(in: 0..<1_000_000)))
        guard let pid = supervisor.pid else { break }
        let killedAt = clock.now
        kill(pid, SIGKILL)
        while let event = await iterator.next() {
            if case .crashed(_, let at) = event {
                detection.append(ms(at - killedAt))
                break
            }
        }
    }
    return detection
}
let detection = try await measureCrashes(count: min(jobs, 15))
print("crash detected median:  \(fmt(median(detection))) (max \(fmt(detection.max() ?? 0)), n=\(detection.count))")
await supervisor.stop()
