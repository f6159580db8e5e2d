import ComfyLock
import Foundation
import Logging
import TestSupport
import Testing

@testable import ComfyHandler

/// `--comfyui-arg` / `COMFYUI_ARGS`: the operator's extra arguments reach the ComfyUI the worker starts (the stand-in
/// reports its own argv in `/system_stats`, as real ComfyUI does).
@Suite struct ComfyUIArgumentsTests {
    @Test func extraArgumentsReachTheLaunchedComfyUI() async throws {
        let scratch = try TemporaryDirectory()
        defer { scratch.remove() }
        var options = WorkerOptions(limits: JobLimits(), scratch: scratch.path)
        options.launch = (ComfyUIStandIn.python, ComfyUIStandIn.script.path, [])
        options.comfyUIArguments = ["--cpu", "--disable-metadata"]
        let worker = try await WorkerStartup.prepare(options, logger: Logger(label: "t"))
        defer { Task { await worker.shutdown() } }
        let supervisor = try #require(worker.supervisor)
        let stats = try await supervisor.client.systemStats(timeout: .seconds(30))
        let argv = (stats.json["system"]?["argv"]?.arrayValue ?? []).compactMap(\.stringValue)
        let tail = Array(argv.suffix(2))
        #expect(tail == ["--cpu", "--disable-metadata"], "argv: \(argv)")
    }
}
