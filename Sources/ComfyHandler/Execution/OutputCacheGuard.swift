import ComfyCrypto
import ComfyLock
import Synchronization

/// Keeps ComfyUI's execution cache from answering a job with output files this worker already removed — without
/// changing the prompt, so the same workflow gives the same output bytes in every job (ComfyUI embeds the prompt in
/// PNG metadata: any per-job change to it, such as a job-specific `filename_prefix`, changes every image's sha256).
///
/// ComfyUI caches a node's result under its input signature: its class and inputs, with every link replaced by the
/// linked node's signature (node ids do not count). An output node whose signature is unchanged since the previous
/// prompt is not run again: its history entry names the files of that earlier run. So after each job the guard keeps
/// the signatures of the nodes that produced output files; before the next one, if any node of the new graph has one
/// of those signatures, the caller first queues a tiny unrelated prompt (`ReproWorkflowRunner.flushWorkflow`), which
/// evicts ComfyUI's classic cache, and the job's nodes really run. Jobs that share nothing with the previous job's
/// output nodes (the usual case: another seed, another input) keep every cached upstream node.
final class OutputCacheGuard: Sendable {
    private let delivered = Mutex<Set<String>>([])

    /// The input signature of every node of `graph` (API format), memoized; a link to a missing node or a cycle
    /// yields a signature that names it, so a malformed graph never matches a recorded one by accident.
    static func signatures(of graph: [String: JSONValue]) -> [String: String] {
        var memo: [String: String] = [:]
        var visiting: Set<String> = []
        func signature(_ id: String) -> String {
            if let known = memo[id] { return known }
            guard case .object(let node)? = graph[id], !visiting.contains(id) else { return "unresolved:" + id }
            visiting.insert(id)
            defer { visiting.remove(id) }
            var inputs: [String: JSONValue] = [:]
            if case .object(let given)? = node["inputs"] {
                for (name, value) in given {
                    if case .array(let link) = value, link.count == 2, case .string(let source) = link[0],
                        case .number(let slot) = link[1]
                    {
                        inputs[name] = .array([.string("link"), .string(signature(source)), .number(slot)])
                    } else {
                        inputs[name] = value
                    }
                }
            }
            let canonical = CanonicalJSON.encode(
                .object(["class_type": node["class_type"] ?? .null, "inputs": .object(inputs)]))
            let result = SHA256.hash(canonical).hex
            memo[id] = result
            return result
        }
        for id in graph.keys { _ = signature(id) }
        return memo
    }

    /// True when a node of `graph` has the signature of an output node of the previous job (whose files are gone).
    func needsFlush(_ graph: [String: JSONValue]) -> Bool {
        let recorded = delivered.withLock { $0 }
        guard !recorded.isEmpty else { return false }
        return !recorded.isDisjoint(with: Self.signatures(of: graph).values)
    }

    /// Records the nodes of `graph` that produced output files, after their files were handed over and removed.
    func record(_ graph: [String: JSONValue], outputNodes: Set<String>) {
        let signatures = Self.signatures(of: graph)
        let produced = Set(outputNodes.compactMap { signatures[$0] })
        delivered.withLock { $0 = produced }
    }

    /// Forgets the previous job (after a flush, or when ComfyUI restarted with an empty cache).
    func reset() { delivered.withLock { $0 = [] } }
}
