public import ComfyLock
public import Logging

/// `ReproRunning` over ComfyServer's `WorkflowRunner`: every run is made independent of the previous one, then its
/// outputs are hashed (`WorkflowOutput.sha256`, `imageDataSHA256`) and indexed per node.
///
/// ComfyUI caches node results: an identical prompt sent twice is served from the cache and nothing runs (a second
/// run would prove nothing, and `repro check` right after `repro record` on the same server would compare the
/// recording with itself). ComfyUI's classic cache keeps only what the *last* prompt used, so before each run a tiny
/// unrelated prompt is queued (`flushWorkflow`: a 1×1 `EmptyImage` into `PreviewImage`, core nodes, no weights),
/// which evicts every node of the workflow. With `--cache-lru` that does not evict; the run is then reported as
/// `cached` when ComfyUI says so.
public struct ReproWorkflowRunner: ReproRunning {
    /// The runner.
    public let runner: WorkflowRunner
    /// Options for each run (validation on, temp outputs skipped, hashed in memory by default).
    public let options: WorkflowRunOptions
    /// Whether to queue `flushWorkflow` before each run.
    public let flushCache: Bool

    /// A runner.
    public init(runner: WorkflowRunner, options: WorkflowRunOptions = WorkflowRunOptions(), flushCache: Bool = true) {
        self.runner = runner
        self.options = options
        self.flushCache = flushCache
    }

    /// The cache-evicting prompt.
    public static let flushWorkflow: JSONValue = [
        "comfylock_flush_1": [
            "class_type": "EmptyImage", "inputs": ["width": 1, "height": 1, "batch_size": 1, "color": 1],
        ],
        "comfylock_flush_2": ["class_type": "PreviewImage", "inputs": ["images": ["comfylock_flush_1", 0]]],
    ]

    /// See `ReproRunning.run(_:)`.
    public func run(_ workflow: Workflow) async throws -> ReproRun {
        if flushCache {
            var flush = WorkflowRunOptions()
            flush.validate = false
            flush.deadline = options.deadline
            _ = try await runner.run(try Workflow(json: Self.flushWorkflow), options: flush)
        }
        let result = try await runner.run(workflow, options: options)
        return ReproRun(outputs: Self.outputs(result.outputs), cached: result.cached)
    }

    /// Outputs indexed per node, in the runner's order (sorted node ids, then ComfyUI's output keys).
    public static func outputs(_ outputs: [WorkflowOutput]) -> [ReproOutput] {
        var next: [String: Int] = [:]
        return outputs.map { output in
            let index = next[output.nodeID, default: 0]
            next[output.nodeID] = index + 1
            return ReproOutput(
                node: output.nodeID, index: index, classType: output.classType, kind: output.kind.rawValue,
                filename: output.filename.isEmpty ? nil : output.filename, mediaType: output.mediaType,
                size: output.size, sha256: output.sha256, imageDataSHA256: output.imageDataSHA256)
        }
    }
}
