import ComfyLock
import ComfyServer
import ComfyTransport
import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// The supervisor launching the stand-in as ComfyUI's main.py from a version directory (a real child process).
@Suite("ComfyUISupervisor", .serialized)
struct SupervisorTests {
    func launch(
        _ root: TemporaryDirectory, environment: [String: String] = [:],
        policy: ComfyUISupervisor.RestartPolicy = .init(initialDelay: .milliseconds(50))
    ) async throws -> ComfyUISupervisor {
        let version = try StandInVersionDirectory.create(at: root.url, environment: environment)
        var configuration = ComfyUISupervisor.LaunchConfiguration.version(directory: version.path)
        configuration.extraArguments = ["--cpu"]
        configuration.restartPolicy = policy
        configuration.stopGrace = .seconds(2)
        configuration.readyTimeout = .seconds(300)  // the whole suite shares 2 cores (once > 120 s under heavy I/O)
        configuration.logFile = root.appending("comfyui.log").path
        return try await ComfyUISupervisor.launch(configuration)
    }

    @Test("launch from a version dir: ready report with start-time split and failed custom-node imports; clean stop")
    func launchAndStop() async throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        let supervisor = try await launch(root, environment: ["COMFYUI_STANDIN_FAILING_NODES": "ComfyUI-Broken,Other"])
        let report = try #require(await supervisor.startup)
        #expect(report.failedImports == ["ComfyUI-Broken", "Other"])
        #expect(report.httpUp > 0 && report.nodesLoaded >= 0 && report.total >= report.httpUp)
        #expect(report.nodeClasses > 10)
        #expect(report.comfyUIVersion == "0.3.64-standin")
        let argv = try await supervisor.client.systemStats().json["system"]?["argv"]?.arrayValue?.compactMap(
            \.stringValue)
        #expect(argv?.contains("--disable-auto-launch") == true)
        #expect(argv?.contains("--extra-model-paths-config") == true)
        #expect(argv?.contains("--cpu") == true)
        let pid = try #require(supervisor.pid)
        #expect(supervisor.logTail(200).contains { $0.contains("IMPORT FAILED") })
        let logFile = try String(contentsOfFile: root.appending("comfyui.log").path, encoding: .utf8)
        #expect(logFile.contains("Starting server"))
        await supervisor.stop()
        #expect(!ProcessLiveness.isAlive(pid))
        await #expect(throws: ComfyUIError.self) {
            try await WorkflowRunner(supervisor: supervisor).run(try Workflows.parse(Workflows.probe))
        }
    }

    @Test("a crash mid-job fails that job at once (crashed, retryable, with the log tail); the next job runs")
    func crashMidJob() async throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        let supervisor = try await launch(root)
        let firstPID = try #require(supervisor.pid)
        let runner = WorkflowRunner(supervisor: supervisor)
        var options = WorkflowRunOptions()
        options.watchdogInterval = .seconds(30)  // detection must come from the process exit, not the watchdog
        let error = try await #require(throws: ComfyUIError.self) {
            try await runner.run(try Workflows.parse(Workflows.through("StandInCrash")), options: options)
        }
        #expect(error.kind == .crashed)
        #expect(error.retryable)
        #expect(error.logTail.contains { $0.contains("stand-in crash") })
        let result = try await runner.run(try Workflows.parse(Workflows.probe), options: options)
        #expect(result.outputs.count == 1)
        #expect(await supervisor.crashCount == 1)
        #expect(await supervisor.startup?.attempt == 2)
        #expect(supervisor.pid != firstPID)
        await supervisor.stop()
    }

    @Test("gives up after N crashes in the window with a clear error")
    func givesUp() async throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        let supervisor = try await launch(
            root, policy: .init(maxCrashes: 2, window: .seconds(300), initialDelay: .milliseconds(20)))
        let runner = WorkflowRunner(supervisor: supervisor)
        for _ in 0..<2 {
            let error = try await #require(throws: ComfyUIError.self) {
                try await runner.run(try Workflows.parse(Workflows.through("StandInCrash")))
            }
            #expect(error.kind == .crashed || error.kind == .unavailable)
        }
        let error = try await #require(throws: ComfyUIError.self) {
            try await runner.run(try Workflows.parse(Workflows.probe))
        }
        #expect(error.kind == .unavailable)
        #expect(error.message.contains("giving up"))
        await supervisor.stop()
    }

    @Test("deadline escalation: interrupt ignored → ComfyUI restarted → timeout; the next job runs")
    func deadlineRestarts() async throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        let supervisor = try await launch(root)
        let firstPID = try #require(supervisor.pid)
        let runner = WorkflowRunner(supervisor: supervisor)
        var options = WorkflowRunOptions()
        // The node hangs forever, so the deadline only needs to be long enough to queue the prompt on a loaded machine.
        options.deadline = .seconds(4)
        options.interruptGrace = .seconds(1)
        let log = EventLog()
        let error = try await #require(throws: ComfyUIError.self) {
            try await runner.run(
                try Workflows.parse(Workflows.through("StandInHang")), options: options, events: log.handler)
        }
        #expect(error.kind == .timeout)
        #expect(error.retryable)
        #expect(log.all.contains(.escalation(stage: "the prompt did not stop: restarting ComfyUI")))
        #expect(!ProcessLiveness.isAlive(firstPID))
        #expect(await supervisor.crashCount == 0, "a deliberate restart is not a crash")
        _ = try await runner.run(try Workflows.parse(Workflows.probe))
        await supervisor.stop()
    }

    @Test("memory governor: above the watermark it calls /free and reports peak memory")
    func memoryGovernor() async throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        let supervisor = try await launch(root)
        var options = WorkflowRunOptions()
        options.memoryWatermarks = MemoryWatermarks(ram: 0.0, vram: nil)
        let result = try await WorkflowRunner(supervisor: supervisor).run(
            try Workflows.parse(Workflows.probe), options: options)
        #expect(result.memory.freed)
        #expect(result.memory.peakRAMUsed > 0)
        #expect(result.memory.peakProcessRSS > 0)
        let stats = try await supervisor.client.getStandInStats()
        #expect(stats["free_calls"]?.arrayValue?.count == 1)

        var high = WorkflowRunOptions()
        high.memoryWatermarks = MemoryWatermarks(ram: 1.0, vram: 1.0)
        let quiet = try await WorkflowRunner(supervisor: supervisor).run(
            try Workflows.parse(Workflows.noise(seed: 3)), options: high)
        #expect(!quiet.memory.freed)
        await supervisor.stop()
    }

    @Test("attach by URL: ready when /system_stats and /object_info answer; a dead URL is unavailable")
    func attach() async throws {
        let standIn = try ComfyUIStandIn.start()
        defer { standIn.stop() }
        let supervisor = try await ComfyUISupervisor.attach(url: standIn.baseURL)
        #expect(await supervisor.startup?.pid == nil)
        #expect(supervisor.pid == nil)
        _ = try await WorkflowRunner(supervisor: supervisor).run(try Workflows.parse(Workflows.probe))
        let dead = try LoopbackPort.refusing()  // bound, not listening: refused for as long as it lives
        let error = try await #require(throws: ComfyUIError.self) {
            try await ComfyUISupervisor.attach(
                url: URL(string: "http://127.0.0.1:\(dead.port)")!, readyTimeout: .milliseconds(300))
        }
        #expect(error.kind == .unavailable)
        withExtendedLifetime(dead) {}
    }
}

extension ComfyUIClient {
    /// The stand-in's test-only counters (`GET /standin/stats`).
    func getStandInStats() async throws -> JSONValue {
        let response = try await HTTPClient.shared.send(
            HTTPRequest(url: baseURL.appendingPathComponent("standin/stats")), retry: RetryPolicy.none)
        return try JSONParser.parse(response.body)
    }
}
