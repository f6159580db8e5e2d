import ComfyLock
import ComfyServer
import Foundation
import TestSupport
import Testing

/// Opt-in: the same checks on a real ComfyUI (CPU, no weights). `COMFYUI_URL` attaches to a running one;
/// `COMFYUI_DIR` (a checkout with `venv/bin/python`, or `COMFYUI_PYTHON`) launches one (slow: 1-3 min to start).
/// Skipped — visibly, in the test report — when neither is set.
@Suite(
    "Real ComfyUI (opt-in: COMFYUI_URL or COMFYUI_DIR)", .serialized,
    .enabled(
        if: ProcessInfo.processInfo.environment["COMFYUI_URL"] != nil
            || ProcessInfo.processInfo.environment["COMFYUI_DIR"] != nil,
        "set COMFYUI_URL or COMFYUI_DIR to run against a real ComfyUI"))
struct RealComfyUITests {
    static func supervisor(_ scratch: TemporaryDirectory) async throws -> ComfyUISupervisor {
        let env = ProcessInfo.processInfo.environment
        if let url = env["COMFYUI_URL"] {
            return try await ComfyUISupervisor.attach(url: URL(string: url)!, readyTimeout: .seconds(60))
        }
        let dir = env["COMFYUI_DIR"]!
        var configuration = ComfyUISupervisor.LaunchConfiguration(
            python: env["COMFYUI_PYTHON"] ?? dir + "/venv/bin/python", mainScript: dir + "/main.py",
            inputDirectory: scratch.appending("input").path, outputDirectory: scratch.appending("output").path,
            tempDirectory: scratch.appending("temp").path, extraArguments: ["--cpu"],
            readyTimeout: .seconds(900))
        configuration.logFile = scratch.appending("comfyui.log").path
        return try await ComfyUISupervisor.launch(configuration)
    }

    @Test("the weight-free probe runs end to end; PNG has the prompt; an identical prompt is cached; errors are named")
    func probe() async throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        let supervisor = try await Self.supervisor(scratch)
        let runner = WorkflowRunner(supervisor: supervisor)
        // A prefix unique to this run, so an attached server's cache cannot serve the first job.
        let unique = "comfylock-\(UUID().uuidString.prefix(8))"
        let text = Workflows.probe.replacingOccurrences(of: "\"probe\"", with: "\"\(unique)\"")
        let out = scratch.appending("out").path
        let first = try await runner.run(try Workflows.parse(text), options: WorkflowRunOptions(outputDirectory: out))
        #expect(first.outputs.count == 1)
        let image = try #require(first.outputs.first)
        #expect(image.kind == .image && image.mediaType == "image/png")
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: try #require(image.localPath))))
        #expect(PNGChunks.textMetadata(of: bytes)["prompt"]?.contains(unique) == true)
        #expect(image.imageDataSHA256 != nil)
        #expect(!first.cached)
        let second = try await runner.run(try Workflows.parse(text))
        #expect(second.cached)
        #expect(second.outputs.map(\.sha256) == first.outputs.map(\.sha256))

        let missing = try await #require(throws: ComfyUIError.self) {
            try await runner.run(try Workflows.parse(#"{"1":{"class_type":"NoSuchNodeXYZ","inputs":{}}}"#))
        }
        #expect(missing.kind == .validation && missing.nodeID == "1")
        var options = WorkflowRunOptions()
        options.validate = false
        let refused = try await #require(throws: ComfyUIError.self) {
            try await runner.run(
                try Workflows.parse(#"{"3":{"class_type":"SaveImage","inputs":{"filename_prefix":"x"}}}"#),
                options: options)
        }
        #expect(refused.kind == .validation)
        #expect(refused.nodeErrors.first?.errors.first?.inputName == "images")
        await supervisor.stop()
    }
}
