import ComfyCrypto
import ComfyLock
import Foundation
import Synchronization

@testable import ComfyHandler

/// An executor for the worker-loop tests that need no ComfyUI behaviour beyond "takes time, fails, reports
/// progress": the node classes `TestSleep {seconds}`, `TestFail {message}`, `TestOOM`, `TestText {text}` are
/// interpreted here. (The end-to-end tests use the real ComfyServer executor on the ComfyUI stand-in instead.)
final class ScriptedExecutor: JobExecuting {
    struct Log: Sendable {
        var started: [String] = []
        var interrupted: [String] = []
        var finished: [String] = []
    }
    let log = Mutex(Log())

    func execute(_ job: JobInput, jobID: String, events: ExecutionEvents) async throws -> ExecutionResult {
        log.withLock { $0.started.append(jobID) }
        let promptID = "prompt-\(jobID)"
        events.promptQueued(promptID)
        var outputs: [ProducedOutput] = []
        do {
            for id in job.workflow.keys.sorted() {
                let node = job.workflow[id]!
                let inputs = node["inputs"]?.objectValue ?? [:]
                switch node["class_type"]?.stringValue {
                case "TestSleep":
                    let seconds = inputs["seconds"]?.numberValue ?? 0.1
                    let steps = 10
                    for step in 1...steps {
                        try await Task.sleep(for: .milliseconds(Int(seconds * 1000) / steps))
                        events.progress([
                            "node": .string(id), "value": .number(Double(step)), "max": .number(Double(steps)),
                        ])
                    }
                case "TestFail":
                    throw JobFailure(
                        kind: .execution, message: inputs["message"]?.stringValue ?? "failed", nodeID: id,
                        classType: "TestFail")
                case "TestOOM":
                    throw JobFailure(
                        kind: .outOfMemory, message: "CUDA out of memory", nodeID: id, classType: "TestOOM")
                case "TestText":
                    let text = inputs["text"]?.stringValue ?? ""
                    outputs.append(
                        ProducedOutput(
                            nodeID: id, classType: "TestText", kind: .text, filename: nil, mediaType: "text/plain",
                            size: Int64(text.utf8.count), sha256: SHA256.hash(Array(text.utf8)).hex, text: text))
                default:
                    break
                }
            }
        } catch is CancellationError {
            log.withLock { $0.interrupted.append(jobID) }
            throw CancellationError()
        }
        log.withLock { $0.finished.append(jobID) }
        return ExecutionResult(promptID: promptID, outputs: outputs, queueMS: 1, runMS: 2)
    }

    static func job(_ nodes: [(String, String, JSONValue)]) -> JSONValue {
        var graph: [String: JSONValue] = [:]
        for (id, cls, inputs) in nodes { graph[id] = ["class_type": .string(cls), "inputs": inputs] }
        return ["workflow": .object(graph)]
    }

    static func runner(
        _ executor: ScriptedExecutor = ScriptedExecutor(), startupFailure: JobFailure? = nil
    ) -> JobRunner {
        JobRunner(
            validator: JobValidator(), executor: executor,
            environment: WorkerEnvironment(
                lockDigest: String(repeating: "a", count: 64),
                identity: EnvironmentIdentity(comfyUICommit: String(repeating: "c", count: 40), versionDigest: "v1"),
                startupFailure: startupFailure))
    }
}
