import ComfyLock
import ComfyServer
import Foundation
import Logging
import Synchronization

/// Downloads each output node's files as soon as the node finishes (ComfyUI's `executed` event, passed on as
/// `WorkflowEvent.nodeOutput`), and hands each one to `ExecutionEvents.outputReady` — so a delivery can upload it
/// while the rest of the graph still runs. When the graph is done, `output(for:)` reconciles the history's complete
/// list with what was fetched: a file whose event was missed (a silent socket, a cached node) is downloaded then.
/// Every file is downloaded once.
final class NodeOutputFetcher: Sendable {
    struct Key: Hashable, Sendable {
        var nodeID: String
        var file: FileReference
    }

    private struct State: Sendable {
        var tasks: [Key: Task<ProducedOutput, any Error>] = [:]
        var count = 0
        var cancelled = false
    }

    let client: ComfyUIClient
    let directory: String
    let onReady: @Sendable (ProducedOutput) -> Void
    let logger: Logger
    private let state = Mutex(State())

    init(
        client: ComfyUIClient, directory: String, onReady: @escaping @Sendable (ProducedOutput) -> Void, logger: Logger
    ) {
        self.client = client
        self.directory = directory
        self.onReady = onReady
        self.logger = logger
    }

    /// Node `nodeID` finished with UI output `ui`: starts downloading each of its (safe, non-temp) files.
    func nodeFinished(_ nodeID: String, classType: String, ui: JSONValue) {
        for item in WorkflowOutput.items(ofNodeOutput: ui, includeTemporary: false) {
            guard case .file(let key, let file, let format) = item, WorkflowOutput.isSafe(file) else { continue }
            _ = start(Key(nodeID: nodeID, file: file), classType: classType, key: key, format: format)
        }
    }

    /// The downloaded file of `output` (a file output of the finished graph): the early download when one ran, else
    /// a download now.
    func output(for output: WorkflowOutput) async throws -> ProducedOutput {
        let file = FileReference(filename: output.filename, subfolder: output.subfolder, type: output.type)
        let task = start(
            Key(nodeID: output.nodeID, file: file), classType: output.classType, key: output.key, format: nil,
            kind: output.kind, mediaType: output.mediaType)
        return try await task.value
    }

    /// Cancels every download still running (the job failed or was stopped).
    func cancelAll() {
        let tasks = state.withLock { state -> [Task<ProducedOutput, any Error>] in
            state.cancelled = true
            return Array(state.tasks.values)
        }
        for task in tasks { task.cancel() }
    }

    private func start(
        _ id: Key, classType: String, key: String, format: String?, kind: WorkflowOutput.Kind? = nil,
        mediaType: String? = nil
    ) -> Task<ProducedOutput, any Error> {
        state.withLock { state in
            if let existing = state.tasks[id] { return existing }
            state.count += 1
            // `<n>-<filename>`: two nodes may list files of the same name in different subfolders.
            let path = directory + "/\(state.count)-" + id.file.filename
            let (classifiedKind, classifiedType) = WorkflowOutput.classify(
                key: key, filename: id.file.filename, format: format)
            let outputKind = OutputKind(rawValue: (kind ?? classifiedKind).rawValue) ?? .file
            let media = mediaType ?? classifiedType
            let client = self.client
            let onReady = self.onReady
            let task = Task<ProducedOutput, any Error> {
                try Task.checkCancellation()
                // A scratch copy, read back for delivery and then removed: no fsync.
                let (size, sha256) = try await client.download(id.file, to: path, durable: false)
                let produced = ProducedOutput(
                    nodeID: id.nodeID, classType: classType, kind: outputKind, filename: id.file.filename,
                    mediaType: media, size: size, sha256: sha256, localPath: path)
                onReady(produced)
                return produced
            }
            state.tasks[id] = task
            if state.cancelled { task.cancel() }
            return task
        }
    }
}
