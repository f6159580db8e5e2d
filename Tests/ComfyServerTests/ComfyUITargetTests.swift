import ComfyLock
import ComfyServer
import Foundation
import TestSupport
import Testing

/// `ComfyUITarget`, the choice `comfy-cli run` and `comfy-cli repro` share: a version directory launched with the
/// ComfyUI stand-in as its main.py (a real child process), or a running stand-in attached by URL.
@Suite("ComfyUITarget", .serialized)
struct ComfyUITargetTests {
    @Test("url: only http(s) URLs with a host")
    func url() {
        #expect(ComfyUITarget.url("http://127.0.0.1:8188")?.port == 8188)
        #expect(ComfyUITarget.url("https://comfy.example") != nil)
        for bad in ["ftp://h/", "file:///tmp/x", "127.0.0.1:8188", "http://", ""] {
            #expect(ComfyUITarget.url(bad) == nil, "\(bad)")
        }
    }

    @Test("a version: refused before launch without ComfyUI/main.py; launched with its arguments and log file")
    func version() async throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        let empty = root.appending("empty").path
        let missing = ComfyUITarget.version(directory: empty, arguments: [])
        let error = try await #require(throws: ComfyUIError.self) { try await missing.start() }
        #expect(error.kind == .unavailable)
        #expect(error.message.contains("no ComfyUI/main.py in \(empty)"), "\(error)")

        let directory = try StandInVersionDirectory.create(at: root.url).path
        let target = ComfyUITarget.version(directory: directory, arguments: ["--cpu"])
        #expect(target.versionDirectory == directory)
        let configuration = try #require(target.launchConfiguration)
        #expect(configuration.extraArguments == ["--cpu"])
        #expect(configuration.logFile == directory + "/comfyui.log")
        #expect(configuration.mainScript == directory + "/ComfyUI/main.py")
        let supervisor = try await target.start()
        let pid = try #require(await supervisor.startup?.pid)
        #expect(pid > 0)
        let stats = try await supervisor.client.systemStats(timeout: .seconds(30))
        let argv = (stats.json["system"]?["argv"]?.arrayValue ?? []).compactMap(\.stringValue)
        #expect(argv.contains("--cpu"), "\(argv)")
        await supervisor.stop()
        #expect(FileManager.default.fileExists(atPath: directory + "/comfyui.log"))
    }

    @Test("running: attached, no process of its own")
    func running() async throws {
        let standIn = try ComfyUIStandIn.start()
        defer { standIn.stop() }
        #expect(ComfyUITarget.running(standIn.baseURL).launchConfiguration == nil)
        let supervisor = try await ComfyUITarget.running(standIn.baseURL).start()
        #expect(supervisor.pid == nil)
        await supervisor.stop()
    }

    @Test("isWorkflowFailure: the workflow's own failures, not ComfyUI's or the environment's")
    func workflowFailure() {
        #expect(ComfyUIError.validation("x", nodeErrors: []).isWorkflowFailure)
        #expect(
            ComfyUIError.execution(nodeID: "1", classType: "K", exceptionType: "E", exceptionMessage: "x")
                .isWorkflowFailure)
        #expect(ComfyUIError.interrupted(nodeID: nil, classType: nil).isWorkflowFailure)
        #expect(ComfyUIError.timeout(after: 1, stage: "s", restarted: false).isWorkflowFailure)
        for error in [
            ComfyUIError.crashed("x"), .connection("x"), .unavailable("x"), .invalidWorkflow("x"), .io("x"),
        ] {
            #expect(!error.isWorkflowFailure, "\(error.kind)")
        }
    }
}
