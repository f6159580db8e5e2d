import ComfyLock
import ComfyModels
import ComfyRuntime
import ComfyServer
import ComfySupport
import Foundation
import Logging
import Synchronization

/// `--models lazy`: the worker starts without the lock's missing models and, before each job is queued, fetches
/// only the ones that job's workflow names.
///
/// Which models: `ComfyServer.WorkflowReferences` reads the workflow's loader inputs (`ckpt_name`, `lora_name`, …, and
/// model-file-like values of other inputs) and matches them against the lock's `models`. A reference the lock does
/// not provide refuses the job (`validation`, naming the node input): the lock stays the only source of truth, so a
/// job cannot make the worker download or use a file nobody locked. Each needed model that is not in the version yet
/// goes through the same path as the start-up fetch (`VersionCheck.fetchAndPlace`: `ModelStore.ensureBlob` — hashed
/// while it downloads, size and sha256 checked, fsynced and renamed, resumable, one download per blob across
/// processes by its `flock` — then placed into the version by hard link/reflink/symlink under the store and version
/// locks). Concurrent jobs needing the same model wait on one in-process download task. Models present at start
/// (verified by the start-up status, through the stat cache) and models placed since are not checked again.
final class LazyModelProvisioner: JobModelProvisioning {
    let lock: Lock
    let directory: URL
    let store: ModelStore
    let rewriter: URLRewriter
    let logger: Logger
    struct State {
        var present: Set<String>
        var inFlight: [String: Task<Void, any Error>] = [:]
    }
    let state: Mutex<State>

    /// A provisioner for version `directory` of `lock`; `missing` are the lock paths not in the version at start.
    init(lock: Lock, directory: URL, store: ModelStore, rewriter: URLRewriter, missing: [String], logger: Logger) {
        self.lock = lock
        self.directory = directory
        self.store = store
        self.rewriter = rewriter
        self.logger = logger
        let missingSet = Set(missing)
        state = Mutex(State(present: Set(lock.models.map(\.path).filter { !missingSet.contains($0) })))
    }

    func provide(for workflow: [String: JSONValue], metrics: WorkerMetrics) async throws {
        let references: WorkflowReferences
        do {
            references = try WorkflowReferences(json: .object(workflow))
        } catch {
            throw JobFailure.validation(path: "input.workflow", "cannot read the workflow's model references: \(error)")
        }
        let match = references.match(models: lock.models)
        if !match.missing.isEmpty {
            let details = match.missing.map { reference in
                ValidationDetail(
                    path: "input.workflow.\(Escape.quoted(reference.nodeID))"
                        + (reference.input.map { ".inputs.\($0)" } ?? ""),
                    message: "\(reference.classType): model \(Escape.quoted(reference.value))"
                        + (reference.folder.map { " (\($0))" } ?? "") + " is not in the worker's lock")
            }
            throw JobFailure(
                kind: .validation,
                message: "the workflow names \(match.missing.count) model file(s) the lock does not list; this worker "
                    + "fetches only locked models", retryable: false, details: details)
        }
        var needed: [ModelEntry] = []
        var seen: Set<String> = []
        for found in match.found where seen.insert(found.model.path).inserted { needed.append(found.model) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for model in needed {
                group.addTask { try await self.ensure(model, metrics: metrics) }
            }
            try await group.waitForAll()
        }
    }

    /// Makes `model` present in the version: a hit when it is there, otherwise one download shared by every job
    /// that needs it meanwhile.
    func ensure(_ model: ModelEntry, metrics: WorkerMetrics) async throws {
        enum Step {
            case present
            case wait(Task<Void, any Error>)
        }
        let step = state.withLock { state -> Step in
            if state.present.contains(model.path) { return .present }
            if let task = state.inFlight[model.path] { return .wait(task) }
            let task = Task { [directory, store, rewriter, logger] in
                _ = try await VersionCheck.fetchAndPlace(
                    [model], directory: directory, store: store, rewriter: rewriter, metrics: metrics, logger: logger)
            }
            state.inFlight[model.path] = task
            return .wait(task)
        }
        switch step {
        case .present:
            metrics.modelNeeded(hit: true)
        case .wait(let task):
            do {
                try await task.value
                state.withLock { state in
                    state.present.insert(model.path)
                    state.inFlight[model.path] = nil
                }
            } catch {
                state.withLock { state in
                    if state.inFlight[model.path] == task { state.inFlight[model.path] = nil }
                }
                if error is CancellationError { throw error }
                throw JobFailure(
                    kind: .unavailable,
                    message: "cannot fetch locked model \(Escape.quoted(model.path)): "
                        + Redaction.redact(String(describing: error)), retryable: true)
            }
        }
    }
}
