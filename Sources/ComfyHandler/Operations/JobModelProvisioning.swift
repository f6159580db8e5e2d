public import ComfyLock

/// Makes the locked models a job's workflow needs present before it is queued (`--models lazy`).
public protocol JobModelProvisioning: Sendable {
    /// Resolves which lock models `workflow`'s loader inputs name and makes each present (fetched, verified and
    /// placed when missing; concurrent jobs needing the same model wait on one download). Throws `JobFailure`
    /// (`validation` for a model file the lock does not list; `unavailable` for a fetch that failed). Cache hits,
    /// misses and bytes fetched are counted in `metrics`.
    func provide(for workflow: [String: JSONValue], metrics: WorkerMetrics) async throws
}
