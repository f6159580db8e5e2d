public import ComfyLock
import Foundation

/// A file or text a workflow produced, before delivery.
public struct ProducedOutput: Sendable, Hashable {
    /// The node that produced it.
    public var nodeID: String
    /// That node's class.
    public var classType: String
    /// What it is.
    public var kind: OutputKind
    /// The file name (`nil` for text).
    public var filename: String?
    /// The media type.
    public var mediaType: String
    /// Size in bytes.
    public var size: Int64
    /// SHA-256 of the bytes, 64 lowercase hex.
    public var sha256: String
    /// Where the bytes are on this machine (a file output), read by the delivery.
    public var localPath: String?
    /// The text (a text output).
    public var text: String?

    /// A produced output.
    public init(
        nodeID: String, classType: String, kind: OutputKind, filename: String?, mediaType: String, size: Int64,
        sha256: String, localPath: String? = nil, text: String? = nil
    ) {
        self.nodeID = nodeID
        self.classType = classType
        self.kind = kind
        self.filename = filename
        self.mediaType = mediaType
        self.size = size
        self.sha256 = sha256
        self.localPath = localPath
        self.text = text
    }
}

/// What an executor returns for a finished graph.
public struct ExecutionResult: Sendable, Hashable {
    /// ComfyUI's prompt id.
    public var promptID: String
    /// Every output, in node-id then file order.
    public var outputs: [ProducedOutput]
    /// Milliseconds from the job's start to ComfyUI starting it (inputs prepared, prompt queued).
    public var queueMS: Int64
    /// Milliseconds ComfyUI ran.
    public var runMS: Int64
    /// Peak memory during the run, when known.
    public var peakMemory: Int64?
    /// Peak RAM in use on ComfyUI's host during the run (from `/system_stats`), when sampled.
    public var peakRAM: Int64?
    /// Peak VRAM in use during the run (from `/system_stats`), when sampled and the device has VRAM.
    public var peakVRAM: Int64?
    /// Files the job put into ComfyUI's directories (inputs, outputs), removed after delivery.
    public var cleanupPaths: [String]

    /// A result.
    public init(
        promptID: String, outputs: [ProducedOutput], queueMS: Int64 = 0, runMS: Int64 = 0, peakMemory: Int64? = nil,
        cleanupPaths: [String] = [], peakRAM: Int64? = nil, peakVRAM: Int64? = nil
    ) {
        self.peakRAM = peakRAM
        self.peakVRAM = peakVRAM
        self.promptID = promptID
        self.outputs = outputs
        self.queueMS = queueMS
        self.runMS = runMS
        self.peakMemory = peakMemory
        self.cleanupPaths = cleanupPaths
    }
}

/// Events an executor reports while it runs a job.
public struct ExecutionEvents: Sendable {
    /// ComfyUI accepted the prompt.
    public var promptQueued: @Sendable (String) -> Void
    /// Progress: `{"node", "value", "max"}` or any JSON the executor chooses.
    public var progress: @Sendable (JSONValue) -> Void
    /// An output node finished (so a delivery can start uploading before the whole graph is done).
    public var outputReady: @Sendable (ProducedOutput) -> Void

    /// Events; each defaults to ignoring.
    public init(
        promptQueued: @escaping @Sendable (String) -> Void = { _ in },
        progress: @escaping @Sendable (JSONValue) -> Void = { _ in },
        outputReady: @escaping @Sendable (ProducedOutput) -> Void = { _ in }
    ) {
        self.promptQueued = promptQueued
        self.progress = progress
        self.outputReady = outputReady
    }
}

/// Runs validated jobs on a ComfyUI server (the ComfyServer-backed executor implements it; tests may provide
/// others). Contract: throw `JobFailure` for a failed run; when the calling task is cancelled, interrupt the prompt
/// on the server and throw `CancellationError`.
public protocol JobExecuting: Sendable {
    /// Runs `job` (its id is safe for file and object names) and returns what it produced.
    func execute(_ job: JobInput, jobID: String, events: ExecutionEvents) async throws -> ExecutionResult

    /// Whether a failure leaves the server unable to run more jobs (the worker then asks to be replaced).
    func needsReplacement(after failure: JobFailure) async -> Bool

    /// Finishes deferred work (e.g. batched ComfyUI history deletes) before the worker exits.
    func finish() async
}

extension JobExecuting {
    /// Default: out-of-memory errors need a fresh worker; other failures do not.
    public func needsReplacement(after failure: JobFailure) async -> Bool { failure.kind == .outOfMemory }

    /// Default: nothing deferred.
    public func finish() async {}
}

/// Job ids become file and object names: only ids of 1-128 characters from `[A-Za-z0-9._:-]`, not `.`/`..`.
public enum JobID {
    /// Whether `id` is safe to use as one path component.
    public static func isSafe(_ id: String) -> Bool {
        guard (1...128).contains(id.utf8.count), id != ".", id != ".." else { return false }
        return id.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x2E || byte == 0x5F || byte == 0x3A || byte == 0x2D
        }
    }

    /// A new random id for local jobs (`local-` + UUID).
    public static func make() -> String { "local-" + UUID().uuidString.lowercased() }
}
