public import ComfyLock
import ComfySupport

/// One problem found in a job's input: where (a JSON path into the job's `input`) and what.
public struct ValidationDetail: Sendable, Hashable, CustomStringConvertible {
    /// The JSON path, e.g. `workflow.3.inputs`, `images[1].name`, `input` for the whole document.
    public var path: String
    /// What is wrong, in one sentence (hostile strings already escaped).
    public var message: String

    /// A detail.
    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    /// `path: message`.
    public var description: String { "\(path): \(message)" }
}

/// Why a job produced no output: the structured error every mode reports
/// (`{"error": kind, "message", "node_id"?, "class_type"?, "retryable", "details"?, "log_tail"?}`).
public struct JobFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// The error kinds (the `error` member).
    public struct Kind: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// The wire name.
        public let rawValue: String
        /// A kind by wire name.
        public init(rawValue: String) { self.rawValue = rawValue }
        /// The job's input is malformed or refused (`details` lists every problem).
        public static let validation = Kind(rawValue: "validation")
        /// The environment does not match the lock (start-up check); every job reports it while the worker is up.
        public static let drift = Kind(rawValue: "drift")
        /// ComfyUI refused or failed the graph (a node raised).
        public static let execution = Kind(rawValue: "execution")
        /// The run exceeded its time limit.
        public static let timeout = Kind(rawValue: "timeout")
        /// The job was stopped or interrupted.
        public static let interrupted = Kind(rawValue: "interrupted")
        /// ComfyUI died during the run.
        public static let crashed = Kind(rawValue: "crashed")
        /// ComfyUI ran out of (GPU or host) memory.
        public static let outOfMemory = Kind(rawValue: "out_of_memory")
        /// ComfyUI could not be reached.
        public static let unavailable = Kind(rawValue: "unavailable")
        /// Outputs could not be delivered (inline cap exceeded, upload failed).
        public static let delivery = Kind(rawValue: "delivery")
        /// A bug or an unexpected condition in the worker.
        public static let `internal` = Kind(rawValue: "internal")
        /// The wire name.
        public var description: String { rawValue }
    }

    /// The kind.
    public var kind: Kind
    /// One readable sentence (secrets redacted).
    public var message: String
    /// The failing node, when known.
    public var nodeID: String?
    /// The failing node's class, when known.
    public var classType: String?
    /// Whether sending the same job again may succeed.
    public var retryable: Bool
    /// Validation problems (kind `validation`).
    public var details: [ValidationDetail]
    /// The last lines of ComfyUI's log, when they help (redacted).
    public var logTail: [String]

    /// A failure; `message` and `logTail` are passed through `Redaction`.
    public init(
        kind: Kind, message: String, nodeID: String? = nil, classType: String? = nil, retryable: Bool = false,
        details: [ValidationDetail] = [], logTail: [String] = []
    ) {
        self.kind = kind
        self.message = Redaction.redact(message)
        self.nodeID = nodeID
        self.classType = classType
        self.retryable = retryable
        self.details = details
        self.logTail = logTail.map { Redaction.redact($0) }
    }

    /// A validation failure listing `details` (the message summarises them).
    public static func validation(_ details: [ValidationDetail]) -> JobFailure {
        let summary =
            details.count == 1
            ? "invalid job input: \(details[0])" : "invalid job input: \(details.count) problems, first \(details[0])"
        return JobFailure(kind: .validation, message: summary, details: details)
    }

    /// A validation failure with one detail.
    public static func validation(path: String, _ message: String) -> JobFailure {
        validation([ValidationDetail(path: path, message: message)])
    }

    /// The structured error document.
    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "error": .string(kind.rawValue), "message": .string(message), "retryable": .bool(retryable),
        ]
        if let nodeID { object["node_id"] = .string(nodeID) }
        if let classType { object["class_type"] = .string(classType) }
        if !details.isEmpty {
            object["details"] = .array(
                details.map { .object(["path": .string($0.path), "message": .string($0.message)]) })
        }
        if !logTail.isEmpty { object["log_tail"] = .array(logTail.map { .string($0) }) }
        return .object(object)
    }

    /// `kind: message`.
    public var description: String { "\(kind): \(message)" }
}

/// Escapes a hostile string for a message: control characters as `\u{..}`, at most `limit` characters.
enum Escape {
    static func quoted(_ text: String, limit: Int = 80) -> String {
        var out = ""
        var count = 0
        for scalar in text.unicodeScalars {
            if count >= limit {
                out += "…"
                break
            }
            if scalar.value < 0x20 || scalar.value == 0x7F || (0x80..<0xA0).contains(scalar.value)
                || scalar == "\"" || scalar == "\\"
            {
                out += scalar == "\"" ? "\\\"" : scalar == "\\" ? "\\\\" : "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
            count += 1
        }
        return "\"\(out)\""
    }
}
