import ComfyCrypto
import ComfyLock
import ComfyServer
import ComfySupport
import ComfyTransport
import Foundation
import Logging
import Synchronization
import TestSupport
import Testing

@testable import ComfyHandler

#if canImport(Glibc)
    import Glibc
#endif

/// The worker end to end on the ComfyUI stand-in (real HTTP + WebSocket, real PNGs) and the RunPod stand-in.
@Suite(.serialized) struct HandlerEndToEndTests {
    static let probe: JSONValue = [
        "1": [
            "class_type": "EmptyImage", "inputs": ["width": 16, "height": 16, "batch_size": 1, "color": 16_711_680],
        ],
        "2": ["class_type": "ImageInvert", "inputs": ["image": ["1", 0]]],
        "3": ["class_type": "SaveImage", "inputs": ["images": ["2", 0], "filename_prefix": "probe"]],
    ]

    static func sleepGraph(_ seconds: Double) -> JSONValue {
        [
            "1": ["class_type": "EmptyImage", "inputs": ["width": 8, "height": 8, "batch_size": 1, "color": 0]],
            "2": ["class_type": "StandInSleep", "inputs": ["value": ["1", 0], "seconds": .number(seconds)]],
            "3": ["class_type": "SaveImage", "inputs": ["images": ["2", 0], "filename_prefix": "slept"]],
        ]
    }

    static let crashGraph: JSONValue = [
        "1": ["class_type": "EmptyImage", "inputs": ["width": 8, "height": 8, "batch_size": 1, "color": 0]],
        "2": ["class_type": "StandInCrash", "inputs": ["value": ["1", 0]]],
        "3": ["class_type": "SaveImage", "inputs": ["images": ["2", 0], "filename_prefix": "never"]],
    ]

    static func launchOptions(scratch: TemporaryDirectory) -> WorkerOptions {
        var options = WorkerOptions(limits: JobLimits(), scratch: scratch.path)
        options.launch = (ComfyUIStandIn.python, ComfyUIStandIn.script.path, [])
        return options
    }

    @Test func attachedJobReturnsAVerifiedPNGAndNamesTheEnvironment() async throws {
        let comfy = try ComfyUIStandIn.start()
        defer { comfy.stop() }
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let worker = try await WorkerStartup.prepare(
            WorkerOptions(comfyUIURL: comfy.baseURL.absoluteString, scratch: scratch.path), logger: Logger(label: "t"))
        defer { Task { await worker.shutdown() } }
        #expect(await worker.readiness().ready)
        let outcome = await worker.runner.run(id: "e2e-1", input: ["workflow": Self.probe])
        guard case .completed(let output) = outcome else {
            Issue.record("expected outputs, got \(outcome)")
            return
        }
        let image = try #require(output.outputs.first)
        #expect(image.nodeID == "3")
        #expect(image.kind == .image)
        #expect(image.mediaType == "image/png")
        guard case .base64(let data) = image.payload, let bytes = Data(base64Encoded: data) else {
            Issue.record("expected base64")
            return
        }
        #expect(Array(bytes.prefix(4)) == [0x89, 0x50, 0x4E, 0x47])
        #expect(SHA256.hash(bytes).hex == image.sha256)
        #expect(Int64(bytes.count) == image.size)
        #expect(output.lockDigest == nil, "attached without a lock")
        #expect(output.environment.handlerVersion == ComfyLockVersion.current)
        #expect(!output.promptID.isEmpty)
        // The job's scratch files are gone after delivery.
        #expect((try? FileManager.default.contentsOfDirectory(atPath: scratch.path + "/e2e-1")) == nil)
        // So is the prompt's entry in ComfyUI's history (the worker read it once; ComfyUI's memory stays flat): the
        // batched delete goes out within a second, or at shutdown.
        let historyURL = comfy.baseURL.appendingPathComponent("history/" + output.promptID)
        var entry: JSONValue = .null
        for _ in 0..<40 {
            let history = try await HTTPClient.shared.send(
                HTTPRequest(url: historyURL, useEnvironmentCredentials: false), retry: RetryPolicy.none)
            entry = try JSONParser.parse(history.body)
            if entry == [:] { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(entry == [:], "GET /history/{id} answers {} shortly after the job")
        // A job right before shutdown: shutdown sends the pending delete (no waiting for the batch timer).
        guard case .completed(let last) = await worker.runner.run(id: "e2e-2", input: ["workflow": Self.probe]) else {
            Issue.record("the second job failed")
            return
        }
        await worker.shutdown()
        let lastEntry = try await HTTPClient.shared.send(
            HTTPRequest(
                url: comfy.baseURL.appendingPathComponent("history/" + last.promptID), useEnvironmentCredentials: false
            ), retry: RetryPolicy.none)
        #expect(try JSONParser.parse(lastEntry.body) == [:], "shutdown flushed the batched delete")
    }

    /// Two output nodes with a slow node between them: the first node's file is downloaded and handed to the
    /// delivery (`outputReady`) while the graph still runs — ComfyUI's queue still holds the prompt at that moment
    /// (asked from the callback; the slow node leaves seconds of margin).
    @Test func outputsAreFetchedAsEachNodeFinishes() async throws {
        let comfy = try ComfyUIStandIn.start()
        defer { comfy.stop() }
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let supervisor = try await ComfyUISupervisor.attach(url: comfy.baseURL, logger: Logger(label: "t"))
        let executor = ComfyServerExecutor(supervisor: supervisor, limits: JobLimits(), scratch: scratch.path)
        let graph: JSONValue = [
            "1": ["class_type": "EmptyImage", "inputs": ["width": 8, "height": 8, "batch_size": 1, "color": 255]],
            "2": ["class_type": "SaveImage", "inputs": ["images": ["1", 0], "filename_prefix": "first"]],
            "3": ["class_type": "StandInSleep", "inputs": ["value": ["1", 0], "seconds": 8]],
            "4": ["class_type": "ImageInvert", "inputs": ["image": ["3", 0]]],
            "5": ["class_type": "SaveImage", "inputs": ["images": ["4", 0], "filename_prefix": "second"]],
        ]
        let job = try JobValidator().validate(["workflow": graph]).get()
        let log = Mutex<[String]>([])
        // Node 3 sleeps 8 s, so the probe below finds the prompt running even in a loaded full test run (at 4 s a
        // full run once answered the probe only after the prompt had finished).
        let queueProbe = Mutex<Task<Int, any Error>?>(nil)
        let queueURL = comfy.baseURL.appendingPathComponent("queue")
        let events = ExecutionEvents(outputReady: { output in
            let onDisk = output.localPath.map { FileManager.default.fileExists(atPath: $0) } ?? false
            log.withLock { $0.append("ready \(output.nodeID) \(onDisk)") }
            guard output.nodeID == "2" else { return }
            queueProbe.withLock {
                $0 = Task {
                    let response = try await HTTPClient.shared.send(
                        HTTPRequest(url: queueURL, useEnvironmentCredentials: false), retry: RetryPolicy.none)
                    return try JSONParser.parse(response.body)["queue_running"]?.arrayValue?.count ?? -1
                }
            }
        })
        let result = try await executor.execute(job, jobID: "stream-1", events: events)
        let order = log.withLock { $0 }
        #expect(order == ["ready 2 true", "ready 5 true"], "each file once, the first one first: \(order)")
        let probe = try #require(queueProbe.withLock { $0 }, "node 2's file was never handed over")
        #expect(try await probe.value == 1, "the prompt was still running when node 2's file was ready")
        #expect(result.outputs.map(\.nodeID) == ["2", "5"])
        for output in result.outputs {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: try #require(output.localPath)))
            #expect(SHA256.hash(Array(bytes)).hex == output.sha256)
            #expect(Int64(bytes.count) == output.size)
        }
        JobRunner.cleanup(result.cleanupPaths)
    }

    @Test func unknownNodeClassAndBadLinkAreValidationErrors() async throws {
        let comfy = try ComfyUIStandIn.start()
        defer { comfy.stop() }
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let worker = try await WorkerStartup.prepare(
            WorkerOptions(comfyUIURL: comfy.baseURL.absoluteString, scratch: scratch.path), logger: Logger(label: "t"))
        defer { Task { await worker.shutdown() } }
        let graph: JSONValue = [
            "1": ["class_type": "NoSuchNode", "inputs": [:]],
            "2": ["class_type": "SaveImage", "inputs": ["images": ["1", 0], "filename_prefix": "x"]],
        ]
        let failure = try #require(await worker.runner.run(id: "bad-class", input: ["workflow": graph]).failure)
        #expect(failure.kind == .validation)
        #expect(
            failure.details.contains { $0.path == "input.workflow.\"1\"" && $0.message.contains("NoSuchNode") },
            "\(failure.details)")
        #expect(!failure.retryable)
    }

    @Test func launchedComfyUICrashIsAnsweredAndTheWorkerKeepsServing() async throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let worker = try await WorkerStartup.prepare(Self.launchOptions(scratch: scratch), logger: Logger(label: "t"))
        defer { Task { await worker.shutdown() } }
        let crashed = await worker.runner.run(id: "crash-1", input: ["workflow": Self.crashGraph])
        let failure = try #require(crashed.failure)
        #expect(failure.kind == .crashed)
        #expect(failure.retryable)
        let next = await worker.runner.run(id: "after-crash", input: ["workflow": Self.probe])
        guard case .completed = next else {
            Issue.record("the worker did not serve after the crash: \(next)")
            return
        }
    }

    @Test func runPodLoopOnStandInsAnswersEveryJobOnce() async throws {
        let comfy = try ComfyUIStandIn.start()
        defer { comfy.stop() }
        let runpod = try RunPodStandIn()
        defer { runpod.stop() }
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let prepared = try await WorkerStartup.prepare(
            WorkerOptions(comfyUIURL: comfy.baseURL.absoluteString, scratch: scratch.path), logger: Logger(label: "t"))
        defer { Task { await prepared.shutdown() } }
        let configuration = try #require(try RunPodConfiguration.fromEnvironment(runpod.environment(pingMS: 250)))
        let worker = RunPodWorker(configuration: configuration, runner: prepared.runner)
        try await runpod.enqueue([
            ["id": "p1", "input": ["workflow": Self.probe]],
            ["id": "m1", "input": ["workflow": ["1": ["class_type": "NoSuchNode", "inputs": [:]]]]],
            ["id": "m2", "input": "nope"],
            ["id": "s1", "input": ["workflow": Self.sleepGraph(20)]],
            ["id": "p2", "input": ["workflow": Self.probe, "overrides": ["1.width": 24]]],
        ])
        let run = Task { await worker.run() }
        _ = try await runpod.waitFor(timeout: .seconds(60)) { log in
            (log["pings"]?.arrayValue ?? []).contains { $0["job_id"] == "s1" }
        }
        try await Task.sleep(for: .milliseconds(500))
        try await runpod.control("/_control/stop", ["ids": ["s1"]])
        let log = try await runpod.waitFor(timeout: .seconds(60)) {
            ($0["results"]?["p2"]?.arrayValue?.count ?? 0) >= 1
        }
        worker.shutdown()
        await run.value
        let results = try #require(log["results"]?.objectValue)
        #expect(Set(results.keys) == ["p1", "m1", "m2", "p2"])
        for (id, posts) in results { #expect(posts.arrayValue?.count == 1, "\(id) answered once") }
        let p1 = results["p1"]?.arrayValue?.first?["body"]?["output"]
        #expect(p1?["outputs"]?.arrayValue?.first?["media_type"] == "image/png")
        let m1 = RunPodWorkerTests.decodeError(results["m1"]?.arrayValue?.first)
        #expect(m1?["error"] == "validation")
        #expect((log["progress"]?["s1"]?.arrayValue?.count ?? 0) >= 1, "progress from ComfyUI's events")
        #expect(log["late"]?.arrayValue?.isEmpty == true)
        // The stopped prompt was interrupted on ComfyUI: the queue is empty afterwards.
        let queue = try await HTTPClient.shared.send(
            HTTPRequest(url: comfy.baseURL.appendingPathComponent("queue"), useEnvironmentCredentials: false),
            retry: RetryPolicy.none)
        let queueJSON = try JSONParser.parse(queue.body)
        #expect(queueJSON["queue_running"]?.arrayValue?.isEmpty == true)
    }

    // MARK: - The executable

    static var handler: String { TestPaths.productsDirectory.appendingPathComponent("comfy-handler").path }

    @Test func testInputModePrintsOneDocument() async throws {
        let comfy = try ComfyUIStandIn.start()
        defer { comfy.stop() }
        let job = String(decoding: CanonicalJSON.encode(["input": ["workflow": Self.probe]]), as: UTF8.self)
        let ok = try Subprocess.run(Self.handler, ["--comfyui-url", comfy.baseURL.absoluteString, "--test-input", job])
        #expect(ok.status == 0, "\(ok.standardError)")
        let document = try JSONParser.parse(ok.standardOutput)
        #expect(document.objectValue?.keys.sorted() == ["output"])
        let data = document["output"]?["outputs"]?.arrayValue?.first?["data"]?.stringValue ?? ""
        #expect(Data(base64Encoded: data)?.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]))
        #expect(ok.standardOutput.filter { $0 == "\n" }.count == 1)

        let bad = try Subprocess.run(
            Self.handler,
            ["--comfyui-url", comfy.baseURL.absoluteString, "--test-input", #"{"input": {"workflow": {}}}"#])
        #expect(bad.status == 1)
        let error = try JSONParser.parse(bad.standardOutput)
        #expect(error["error"] == "validation")
        #expect(error["details"]?.arrayValue?.first?["path"] == "input.workflow")

        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try Data(job.utf8).write(to: dir.appending("test_input.json"))
        let fromFile = try Subprocess.run(
            Self.handler, ["--comfyui-url", comfy.baseURL.absoluteString], currentDirectory: dir.url)
        #expect(fromFile.status == 0, "default test_input.json: \(fromFile.standardError)")
        let noInput = try Subprocess.run(
            Self.handler, ["--comfyui-url", comfy.baseURL.absoluteString, "--test-input", #"{"workflow": {}}"#])
        #expect(noInput.status == 1)
    }

    @Test func runPodModeSIGTERMMidJobAnswersAndExits() async throws {
        let comfy = try ComfyUIStandIn.start()
        defer { comfy.stop() }
        let runpod = try RunPodStandIn()
        defer { runpod.stop() }
        var environment = ProcessInfo.processInfo.environment.merging(runpod.environment(pingMS: 300)) { $1 }
        environment["RUNPOD_ENDPOINT_ID"] = "ep1"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.handler)
        process.arguments = ["--comfyui-url", comfy.baseURL.absoluteString]
        process.environment = environment
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try await runpod.enqueue([
            ["id": "first", "input": ["workflow": Self.probe]],
            ["id": "long", "input": ["workflow": Self.sleepGraph(3)]],
        ])
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        _ = try await runpod.waitFor(timeout: .seconds(60)) { log in
            (log["pings"]?.arrayValue ?? []).contains { $0["job_id"] == "long" }
        }
        kill(process.processIdentifier, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(30)
        while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!process.isRunning, "the worker exits after SIGTERM")
        #expect(process.terminationStatus == 0)
        let log = try await runpod.log()
        #expect(log["results"]?["first"]?.arrayValue?.count == 1)
        let long = log["results"]?["long"]?.arrayValue ?? []
        #expect(long.count == 1, "the job running at SIGTERM is answered once")
        #expect(long.first?["body"]?["output"]?["outputs"] != nil, "it finished within the grace period")
        let answeredAt = long.first?["t"]?.numberValue ?? -1
        let takesAfterTerm = (log["takes"]?.arrayValue ?? []).filter { ($0["t"]?.numberValue ?? 0) > answeredAt }
        #expect(takesAfterTerm.isEmpty, "no take after the last answer")
        let lines = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .split(separator: "\n")
        #expect(!lines.isEmpty)
        #expect(lines.allSatisfy { (try? JSONParser.parse(String($0)))?["level"] != nil }, "JSON-lines logs")
        #expect(!lines.joined().contains(runpod.apiKey), "the API key never reaches a log")
    }

    @Test func serveModeOverARealSocket() async throws {
        let comfy = try ComfyUIStandIn.start()
        defer { comfy.stop() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.handler)
        process.arguments = ["serve", "--port", "0", "--comfyui-url", comfy.baseURL.absoluteString]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        var text = ""
        while !text.contains("READY ") {
            let chunk = err.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            text += String(decoding: chunk, as: UTF8.self)
        }
        let port = try #require(
            text.split(separator: "\n").first { $0.hasPrefix("READY ") }.flatMap { Int($0.dropFirst(6)) })
        let base = "http://127.0.0.1:\(port)"
        let ready = try await HTTPClient.shared.send(
            HTTPRequest(url: URL(string: base + "/ready")!, useEnvironmentCredentials: false), retry: RetryPolicy.none)
        #expect(ready.status == 200)
        let response = try await HTTPClient.shared.send(
            HTTPRequest(
                method: .post, url: URL(string: base + "/runsync")!, headers: ["Content-Type": "application/json"],
                body: .bytes(CanonicalJSON.encode(["input": ["workflow": Self.probe]])),
                useEnvironmentCredentials: false),
            retry: RetryPolicy.none)
        let json = try JSONParser.parse(response.body)
        #expect(json["status"] == "COMPLETED")
        #expect(json["output"]?["outputs"]?.arrayValue?.first?["kind"] == "image")
        kill(process.processIdentifier, SIGTERM)
        let deadline = ContinuousClock.now + .seconds(20)
        while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!process.isRunning)
    }
}
