internal import ComfySupport

/// One reason ComfyUI gave for refusing a node's inputs (an entry of `node_errors[id].errors` in a 400 from
/// `/prompt`), or one found by `WorkflowValidator` before queueing.
public struct NodeErrorDetail: Sendable, Hashable, Codable {
    /// ComfyUI's error type, e.g. `required_input_missing`, `value_not_in_list`, `return_type_mismatch`.
    public var type: String
    /// The human message, e.g. "Value not in list".
    public var message: String
    /// Details, e.g. "ckpt_name: 'x.safetensors' not in [...]".
    public var details: String
    /// The input it is about (`extra_info.input_name`), when known.
    public var inputName: String?

    /// A detail.
    public init(type: String, message: String, details: String = "", inputName: String? = nil) {
        self.type = type
        self.message = message
        self.details = details
        self.inputName = inputName
    }
}

/// The errors of one node (an entry of `node_errors` in ComfyUI's answer).
public struct NodeError: Sendable, Hashable, Codable {
    /// The node id in the workflow.
    public var nodeID: String
    /// Its class type.
    public var classType: String
    /// What is wrong with it.
    public var errors: [NodeErrorDetail]
    /// The output nodes that depend on it.
    public var dependentOutputs: [String]

    /// A node error.
    public init(nodeID: String, classType: String, errors: [NodeErrorDetail], dependentOutputs: [String] = []) {
        self.nodeID = nodeID
        self.classType = classType
        self.errors = errors
        self.dependentOutputs = dependentOutputs
    }

    /// "node 3 (SaveImage): images: Required input is missing".
    public var summary: String {
        // Node ids and class types come from the workflow, messages from the server: all shown escaped.
        let reasons = errors.map { detail -> String in
            let input = detail.inputName.map { "\(Escaping.escape($0)): " } ?? ""
            let extra =
                detail.details.isEmpty || detail.details == detail.inputName
                ? "" : " (\(Escaping.escape(detail.details)))"
            return input + Escaping.escape(detail.message) + extra
        }
        return "node \(Escaping.escape(nodeID)) (\(Escaping.escape(classType))): " + reasons.joined(separator: "; ")
    }
}

/// Why driving ComfyUI failed: the workflow was refused, a node failed, the job was interrupted or timed out,
/// ComfyUI crashed or could not be reached.
///
/// Every message is redacted (`ComfySupport.Redaction`) and hostile server text is escaped, so an error can be
/// printed or returned to a job's caller as is.
public struct ComfyUIError: Error, Sendable, CustomStringConvertible {
    /// The class of failure. Open set: switch with a `default`.
    public struct Kind: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
        /// The stable name (used in JSON reports).
        public let rawValue: String
        /// A kind from its name.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// ComfyUI (or validation before queueing) refused the workflow: see `nodeErrors`.
        public static let validation = Kind(rawValue: "validation")
        /// A node raised an exception while running.
        public static let execution = Kind(rawValue: "execution")
        /// The job was interrupted (by someone else; a deadline gives `.timeout`).
        public static let interrupted = Kind(rawValue: "interrupted")
        /// The job passed its deadline.
        public static let timeout = Kind(rawValue: "timeout")
        /// The ComfyUI process died (during the job or while starting).
        public static let crashed = Kind(rawValue: "crashed")
        /// ComfyUI could not be reached or answered garbage.
        public static let connection = Kind(rawValue: "connection")
        /// ComfyUI is not available: not started, given up after repeated crashes, or stopped.
        public static let unavailable = Kind(rawValue: "unavailable")
        /// The workflow file itself is unusable (not JSON, UI format, not a graph).
        public static let invalidWorkflow = Kind(rawValue: "invalid_workflow")
        /// An input file or an output directory is unusable.
        public static let io = Kind(rawValue: "io")
        /// The name.
        public var description: String { rawValue }
    }

    /// The class of failure.
    public let kind: Kind
    /// One paragraph for people.
    public let message: String
    /// The node it is about, when one is.
    public let nodeID: String?
    /// That node's class type.
    public let classType: String?
    /// Per-node validation errors (from ComfyUI's 400 or from `WorkflowValidator`).
    public let nodeErrors: [NodeError]
    /// True when running the same job again may succeed (crash, connection, restart after a timeout).
    public let retryable: Bool
    /// The last lines of ComfyUI's log, when the supervisor has them (redacted).
    public let logTail: [String]

    private init(
        kind: Kind, message: String, nodeID: String? = nil, classType: String? = nil, nodeErrors: [NodeError] = [],
        retryable: Bool = false, logTail: [String] = []
    ) {
        self.kind = kind
        self.message = Redaction.redact(message)
        self.nodeID = nodeID
        self.classType = classType
        self.nodeErrors = nodeErrors
        self.retryable = retryable
        self.logTail = logTail.map { Redaction.redact($0) }
    }

    /// "message", then the node errors one per line.
    public var description: String {
        var text = message
        for error in nodeErrors { text += "\n  " + error.summary }
        return text
    }

    /// A copy carrying `logTail`.
    public func withLogTail(_ lines: [String]) -> ComfyUIError {
        ComfyUIError(
            kind: kind, message: message, nodeID: nodeID, classType: classType, nodeErrors: nodeErrors,
            retryable: retryable, logTail: lines)
    }

    /// ComfyUI refused the workflow (`/prompt` answered 400) or validation before queueing failed.
    public static func validation(_ message: String, nodeErrors: [NodeError]) -> ComfyUIError {
        let first = nodeErrors.first
        return ComfyUIError(
            kind: .validation, message: message, nodeID: first?.nodeID, classType: first?.classType,
            nodeErrors: nodeErrors)
    }

    /// A node failed while running.
    public static func execution(
        nodeID: String?, classType: String?, exceptionType: String, exceptionMessage: String
    ) -> ComfyUIError {
        let node =
            nodeID.map { "node \(Escaping.escape($0)) (\(Escaping.escape(classType ?? "?"))) failed" } ?? "failed"
        let type = exceptionType.isEmpty ? "" : Escaping.escape(exceptionType) + ": "
        return ComfyUIError(
            kind: .execution, message: "workflow \(node): \(type)\(Escaping.escape(exceptionMessage, limit: 2000))",
            nodeID: nodeID, classType: classType)
    }

    /// The prompt was interrupted by someone else.
    public static func interrupted(nodeID: String?, classType: String?) -> ComfyUIError {
        let at = nodeID.map { " at node \(Escaping.escape($0)) (\(Escaping.escape(classType ?? "?")))" } ?? ""
        return ComfyUIError(
            kind: .interrupted, message: "the prompt was interrupted\(at)", nodeID: nodeID, classType: classType)
    }

    /// The job ran past its deadline; `stage` says how far the escalation went.
    public static func timeout(after seconds: Double, stage: String, restarted: Bool) -> ComfyUIError {
        ComfyUIError(
            kind: .timeout,
            message: "the job passed its deadline of \(Escaping.seconds(seconds)) (\(stage))",
            retryable: restarted)
    }

    /// The ComfyUI process died.
    public static func crashed(_ detail: String, logTail: [String] = []) -> ComfyUIError {
        ComfyUIError(kind: .crashed, message: "ComfyUI crashed: \(detail)", retryable: true, logTail: logTail)
    }

    /// ComfyUI could not be reached or answered something unusable.
    public static func connection(_ detail: String, retryable: Bool = true) -> ComfyUIError {
        ComfyUIError(kind: .connection, message: detail, retryable: retryable)
    }

    /// ComfyUI is not available.
    public static func unavailable(_ detail: String, logTail: [String] = []) -> ComfyUIError {
        ComfyUIError(kind: .unavailable, message: detail, logTail: logTail)
    }

    /// The workflow document is unusable.
    public static func invalidWorkflow(_ detail: String) -> ComfyUIError {
        ComfyUIError(kind: .invalidWorkflow, message: detail)
    }

    /// A local file problem (an input to upload, an output directory).
    public static func io(_ detail: String) -> ComfyUIError {
        ComfyUIError(kind: .io, message: detail)
    }
}

/// Printing untrusted text: the one escaping of the product (`ComfySupport.Escaping`), length bounded.
enum Escaping {
    static func escape(_ text: String, limit: Int = 300) -> String {
        ComfySupport.Escaping.escaped(text, limit: limit)
    }

    static func seconds(_ value: Double) -> String {
        value == value.rounded() ? "\(Int(value)) s" : "\((value * 10).rounded() / 10) s"
    }
}
