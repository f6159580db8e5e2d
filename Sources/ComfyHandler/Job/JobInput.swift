public import ComfyLock
public import Foundation

/// A job's input after validation: everything the executor needs, already decoded and checked.
///
/// Built only by `JobValidator` (one rule set, before any side effect). The shape accepted is
/// `{"workflow" | "workflow_name", "images"?, "inputs"?, "output"?, "timeout_s"?, "overrides"?}`; worker-comfyui's
/// `{workflow, images}` input is a subset of it and works unchanged.
public struct JobInput: Sendable, Hashable {
    /// The API-format graph to run (node id → `{class_type, inputs}`), with `overrides` already applied.
    public var workflow: [String: JSONValue]
    /// The lock workflow name the graph came from, when the job named one.
    public var workflowName: String?
    /// Files to place in ComfyUI's input directory before the run (inline images and `inputs`).
    public var files: [InputFile]
    /// Where outputs go.
    public var output: OutputRequest
    /// The run's time limit.
    public var timeout: Duration
    /// The overrides that were applied (`"<node>.<input>"` → value), kept for the result and logs.
    public var overrides: [String: JSONValue]

    /// A validated job input.
    public init(
        workflow: [String: JSONValue], workflowName: String? = nil, files: [InputFile] = [],
        output: OutputRequest = OutputRequest(), timeout: Duration = .seconds(600), overrides: [String: JSONValue] = [:]
    ) {
        self.workflow = workflow
        self.workflowName = workflowName
        self.files = files
        self.output = output
        self.timeout = timeout
        self.overrides = overrides
    }
}

/// One input file of a job, by its (validated, single-component) name.
public struct InputFile: Sendable, Hashable {
    /// Where the bytes come from.
    public enum Source: Sendable, Hashable {
        /// Bytes given inline (base64 or a data URI), already decoded.
        case data([UInt8])
        /// A URL to download (http/https; its host already checked against the private-address rule).
        case url(URL)
    }

    /// The file name in ComfyUI's input directory (one path component, no `..`, no control characters).
    public var name: String
    /// The bytes or where to get them.
    public var source: Source
    /// The expected SHA-256 (64 lowercase hex), checked after decoding/downloading.
    public var sha256: String?
    /// The JSON path of the entry in the job (`images[0]`, `inputs[2]`), for error details.
    public var path: String

    /// An input file.
    public init(name: String, source: Source, sha256: String? = nil, path: String) {
        self.name = name
        self.source = source
        self.sha256 = sha256
        self.path = path
    }
}

/// How a job wants its outputs delivered.
public struct OutputRequest: Sendable, Hashable {
    /// Delivery modes.
    public enum Mode: String, Sendable, Hashable, CaseIterable {
        /// Inline in the result (`outputs[i].data`), within the worker's total size cap.
        case base64
        /// Uploaded to Google Cloud Storage (`outputs[i].gcs_uri` + `url`).
        case gcs
    }

    /// The mode (default base64).
    public var mode: Mode
    /// An object-name prefix below the worker's configured prefix (GCS mode).
    public var prefix: String?
    /// How long signed URLs stay valid (GCS mode); the worker's default when `nil`.
    public var signExpires: Duration?

    /// An output request.
    public init(mode: Mode = .base64, prefix: String? = nil, signExpires: Duration? = nil) {
        self.mode = mode
        self.prefix = prefix
        self.signExpires = signExpires
    }
}

/// Limits applied to every job (operator configuration, never from the job).
public struct JobLimits: Sendable, Hashable {
    /// Total decoded bytes of inline inputs (images + `inputs[].data`). Default 20 MiB (RunPod's `/runsync` limit).
    public var maxInlineInputBytes: Int
    /// Number of input files (images + inputs).
    public var maxInputCount: Int
    /// Bytes of one downloaded `inputs[].url` file.
    public var maxDownloadBytes: Int64
    /// Nodes in a workflow.
    public var maxWorkflowNodes: Int
    /// Whether `inputs[].url` may name loopback, private, link-local or otherwise non-public addresses.
    public var allowPrivateURLs: Bool
    /// The time limit when the job gives none.
    public var defaultTimeout: Duration
    /// The largest `timeout_s` a job may ask for.
    public var maxTimeout: Duration
    /// Total bytes of base64 outputs in one result (before encoding).
    public var maxInlineOutputBytes: Int
    /// The longest signed-URL expiry a job may ask for (GCS's own maximum is 7 days).
    public var maxSignExpires: Duration

    /// Limits; the defaults suit a RunPod worker.
    public init(
        maxInlineInputBytes: Int = 20 << 20, maxInputCount: Int = 64, maxDownloadBytes: Int64 = 512 << 20,
        maxWorkflowNodes: Int = 5000, allowPrivateURLs: Bool = false, defaultTimeout: Duration = .seconds(600),
        maxTimeout: Duration = .seconds(3600), maxInlineOutputBytes: Int = 20 << 20,
        maxSignExpires: Duration = .seconds(7 * 24 * 3600)
    ) {
        self.maxInlineInputBytes = maxInlineInputBytes
        self.maxInputCount = maxInputCount
        self.maxDownloadBytes = maxDownloadBytes
        self.maxWorkflowNodes = maxWorkflowNodes
        self.allowPrivateURLs = allowPrivateURLs
        self.defaultTimeout = defaultTimeout
        self.maxTimeout = maxTimeout
        self.maxInlineOutputBytes = maxInlineOutputBytes
        self.maxSignExpires = maxSignExpires
    }
}
