public import ComfyLock
public import ComfySupport

/// The kinds of output a workflow produces.
public enum OutputKind: String, Sendable, Hashable, CaseIterable {
    /// A still image.
    case image
    /// A video (including animated images).
    case video
    /// Audio.
    case audio
    /// Text (no file).
    case text
    /// Any other file.
    case file
}

/// One delivered output of a job (`outputs[i]`).
public struct DeliveredOutput: Sendable, Hashable {
    /// The node that produced it.
    public var nodeID: String
    /// That node's class.
    public var classType: String
    /// What it is.
    public var kind: OutputKind
    /// The file name ComfyUI gave it (`nil` for text).
    public var filename: String?
    /// The media type (`image/png`, `video/mp4`, `text/plain`, ...).
    public var mediaType: String
    /// Size in bytes (UTF-8 bytes for text).
    public var size: Int64
    /// SHA-256 of the bytes, 64 lowercase hex.
    public var sha256: String
    /// How it is delivered.
    public var payload: Payload

    /// The delivery of one output.
    public enum Payload: Sendable, Hashable {
        /// Inline, base64 (`data`).
        case base64(String)
        /// Text inline (`text`).
        case text(String)
        /// Uploaded: `gcs_uri` and a signed `url` (or `nil` when signing is not configured).
        case gcs(uri: String, url: String?)
    }

    /// A delivered output.
    public init(
        nodeID: String, classType: String, kind: OutputKind, filename: String?, mediaType: String, size: Int64,
        sha256: String, payload: Payload
    ) {
        self.nodeID = nodeID
        self.classType = classType
        self.kind = kind
        self.filename = filename
        self.mediaType = mediaType
        self.size = size
        self.sha256 = sha256
        self.payload = payload
    }

    /// The JSON object of this output.
    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "node_id": .string(nodeID), "class_type": .string(classType), "kind": .string(kind.rawValue),
            "media_type": .string(mediaType), "size": .number(Double(size)), "sha256": .string(sha256),
            "filename": filename.map(JSONValue.string) ?? .null,
        ]
        switch payload {
        case .base64(let data): object["data"] = .string(data)
        case .text(let text): object["text"] = .string(text)
        case .gcs(let uri, let url):
            object["gcs_uri"] = .string(uri)
            object["url"] = url.map(JSONValue.string) ?? .null
        }
        return .object(object)
    }
}

/// The environment that produced a result: every result names it.
public struct EnvironmentIdentity: Sendable, Hashable {
    /// The ComfyUI commit (from the version directory or `/system_stats`), when known.
    public var comfyUICommit: String?
    /// The version digest (`comfy-cli version digest`) of the version directory, when running one.
    public var versionDigest: String?
    /// This handler's version.
    public var handlerVersion: String
    /// Set when the worker runs a drifted environment on purpose (`--on-drift warn`): what differs from the lock.
    /// Every result then carries it as `environment.drift`.
    public var drift: String?

    /// An identity.
    public init(
        comfyUICommit: String? = nil, versionDigest: String? = nil, handlerVersion: String = ComfyLockVersion.current
    ) {
        self.comfyUICommit = comfyUICommit
        self.versionDigest = versionDigest
        self.handlerVersion = handlerVersion
    }

    /// `{"comfyui_commit", "version_digest", "handler_version"}`, plus `"drift"` when the environment drifted.
    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "comfyui_commit": comfyUICommit.map(JSONValue.string) ?? .null,
            "version_digest": versionDigest.map(JSONValue.string) ?? .null,
            "handler_version": .string(handlerVersion),
        ]
        if let drift { object["drift"] = .string(drift) }
        return .object(object)
    }
}

/// Where a job's time went, in milliseconds.
public struct JobTimings: Sendable, Hashable {
    /// From taking the job to ComfyUI starting it (validation, inputs, queueing).
    public var queueMS: Int64
    /// ComfyUI's execution.
    public var runMS: Int64
    /// Delivering outputs (encoding or uploading), the part not overlapped with the run.
    public var uploadMS: Int64
    /// Everything, take to result.
    public var totalMS: Int64
    /// Fetching the locked models the workflow needs before queueing it (`--models lazy`); `nil` when the worker
    /// fetches every model at start.
    public var fetchMS: Int64?

    /// Timings.
    public init(queueMS: Int64 = 0, runMS: Int64 = 0, uploadMS: Int64 = 0, totalMS: Int64 = 0, fetchMS: Int64? = nil) {
        self.queueMS = queueMS
        self.runMS = runMS
        self.uploadMS = uploadMS
        self.totalMS = totalMS
        self.fetchMS = fetchMS
    }

    /// `{"queue_ms", "run_ms", "upload_ms", "total_ms"}`, plus `"fetch_ms"` with lazy model fetch.
    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "queue_ms": .number(Double(queueMS)), "run_ms": .number(Double(runMS)),
            "upload_ms": .number(Double(uploadMS)), "total_ms": .number(Double(totalMS)),
        ]
        if let fetchMS { object["fetch_ms"] = .number(Double(fetchMS)) }
        return .object(object)
    }
}

/// A successful job's output (the `output` member of the RunPod result).
public struct JobOutput: Sendable, Hashable {
    /// Every output, in node-id then file order.
    public var outputs: [DeliveredOutput]
    /// ComfyUI's prompt id.
    public var promptID: String
    /// The digest of the lock the worker applied; `nil` only when attached to a ComfyUI without a lock.
    public var lockDigest: String?
    /// The environment that produced it.
    public var environment: EnvironmentIdentity
    /// Where the time went.
    public var timings: JobTimings
    /// Peak (GPU, else host) memory in bytes during the run, when ComfyUI reports it.
    public var peakMemory: Int64?

    /// A job output.
    public init(
        outputs: [DeliveredOutput], promptID: String, lockDigest: String?, environment: EnvironmentIdentity,
        timings: JobTimings, peakMemory: Int64? = nil
    ) {
        self.outputs = outputs
        self.promptID = promptID
        self.lockDigest = lockDigest
        self.environment = environment
        self.timings = timings
        self.peakMemory = peakMemory
    }

    /// The JSON object.
    public var json: JSONValue {
        .object([
            "outputs": .array(outputs.map(\.json)), "prompt_id": .string(promptID),
            "lock_digest": lockDigest.map(JSONValue.string) ?? .null, "environment": environment.json,
            "timings": timings.json, "peak_memory": peakMemory.map { .number(Double($0)) } ?? .null,
        ])
    }
}

/// How a job ended.
public enum JobOutcome: Sendable, Hashable {
    /// Outputs delivered.
    case completed(JobOutput)
    /// No outputs; `refreshWorker` asks the platform to replace this worker (after an unrecoverable ComfyUI state).
    case failed(JobFailure, refreshWorker: Bool)
    /// Stopped by the platform or a client: nothing is posted for it.
    case stopped

    /// The failure, if the job failed.
    public var failure: JobFailure? {
        if case .failed(let failure, _) = self { return failure }
        return nil
    }
}
