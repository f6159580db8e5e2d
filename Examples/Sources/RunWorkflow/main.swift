// Run one API-format workflow on ComfyUI and print every output with its sha256, with ComfyServer alone.
//
//     swift run --package-path Examples RunWorkflow WORKFLOW.json URL            # attach to a running ComfyUI
//     swift run --package-path Examples RunWorkflow WORKFLOW.json VERSION_DIR    # start ComfyUI from a version
//
// A version directory is what `comfy-cli version create` builds (`ComfyUI/main.py` + `venv/`); ComfyUI is then
// started on a free loopback port, supervised (crash detection, restarts) and stopped at the end. Completion comes over
// ComfyUI's WebSocket, with a watchdog that cross-checks /history; node classes and model files are checked against
// /object_info before the prompt is queued. Exit 0 when the workflow ran, 1 when it failed, 2 on any other error.
import ComfyServer
import Foundation

let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count == 2 else {
    FileHandle.standardError.write(Data("usage: RunWorkflow WORKFLOW.json (URL | VERSION_DIR)\n".utf8))
    exit(2)
}

do {
    // Workflow(bytes:) refuses oversize input and the UI format (with the "Export (API)" hint).
    let workflow = try Workflow(bytes: Array(try Data(contentsOf: URL(fileURLWithPath: arguments[0]))))
    let supervisor: ComfyUISupervisor
    if let url = URL(string: arguments[1]), url.scheme == "http" || url.scheme == "https" {
        supervisor = try await ComfyUISupervisor.attach(url: url)
    } else {
        var launch = ComfyUISupervisor.LaunchConfiguration.version(directory: arguments[1])
        launch.extraArguments = ProcessInfo.processInfo.environment["COMFYUI_ARGS"]?.split(separator: " ")
            .map(String.init) ?? []  // e.g. COMFYUI_ARGS=--cpu on a machine without a GPU
        supervisor = try await ComfyUISupervisor.launch(launch)
    }
    let runner = WorkflowRunner(supervisor: supervisor)
    do {
        let result = try await runner.run(
            workflow,
            events: { event in FileHandle.standardError.write(Data("\(event)\n".utf8)) })
        for output in result.outputs {
            print("\(output.nodeID) \(output.classType) \(output.kind) \(output.filename) sha256 \(output.sha256)")
        }
        print("prompt \(result.promptID)\(result.cached ? " (served from ComfyUI's cache)" : "")")
        await supervisor.stop()
    } catch let error as ComfyUIError {
        await supervisor.stop()
        FileHandle.standardError.write(Data("workflow failed: \(error)\n".utf8))
        exit(error.kind == .validation || error.kind == .execution ? 1 : 2)
    }
} catch {
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    exit(2)
}
