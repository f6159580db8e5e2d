public import ComfyLock

/// One output of a finished workflow: a file ComfyUI wrote (image, animation/video, audio, 3D or other) or a
/// text/JSON value a node returned to the UI.
public struct WorkflowOutput: Sendable, Hashable, Codable {
    /// What kind of output it is.
    public enum Kind: String, Sendable, Hashable, Codable {
        /// A still image (PNG, JPEG, WebP…).
        case image
        /// An animation or a video (GIF/WebP animations, MP4, WebM; VideoHelperSuite's `gifs`).
        case video
        /// Audio (FLAC, WAV, MP3…).
        case audio
        /// A text or JSON value (`text` lists of PreviewAny-style nodes).
        case text
        /// Any other file (3D models, archives, …).
        case file
    }

    /// The node that produced it.
    public var nodeID: String
    /// That node's class type.
    public var classType: String
    /// The kind.
    public var kind: Kind
    /// The media type, e.g. `image/png`, `image/gif`, `audio/wav`, `text/plain`.
    public var mediaType: String
    /// The UI output key it was listed under (`images`, `gifs`, `audio`, `text`, …).
    public var key: String
    /// The file name (empty for text).
    public var filename: String
    /// Its subfolder in ComfyUI's directory.
    public var subfolder: String
    /// `output` or `temp` (empty for text).
    public var type: String
    /// Byte size (of the file, or of the text as UTF-8).
    public var size: Int64
    /// SHA-256 of the bytes (lower-case hex).
    public var sha256: String
    /// For PNGs: SHA-256 of the image chunks without text/time metadata (`PNGChunks.imageDataSHA256`).
    public var imageDataSHA256: String?
    /// The text, for text outputs.
    public var text: String?
    /// Where the file was written locally, when it was downloaded.
    public var localPath: String?

    /// An output.
    public init(
        nodeID: String, classType: String, kind: Kind, mediaType: String, key: String, filename: String = "",
        subfolder: String = "", type: String = "", size: Int64, sha256: String, imageDataSHA256: String? = nil,
        text: String? = nil, localPath: String? = nil
    ) {
        self.nodeID = nodeID
        self.classType = classType
        self.kind = kind
        self.mediaType = mediaType
        self.key = key
        self.filename = filename
        self.subfolder = subfolder
        self.type = type
        self.size = size
        self.sha256 = sha256
        self.imageDataSHA256 = imageDataSHA256
        self.text = text
        self.localPath = localPath
    }

    /// The kind and media type of a file from its UI key and name.
    public static func classify(key: String, filename: String, format: String? = nil) -> (Kind, String) {
        let ext = filename.split(separator: ".").last.map { $0.lowercased() } ?? ""
        let media = format.flatMap { $0.contains("/") ? $0 : nil } ?? mediaTypes[ext] ?? "application/octet-stream"
        let top = media.split(separator: "/").first.map(String.init) ?? ""
        switch key {
        case "gifs", "video", "videos", "animated": return (.video, media)
        case "audio", "audios": return (.audio, media)
        default: break
        }
        switch top {
        case "video": return (.video, media)
        case "audio": return (.audio, media)
        case "image": return (ext == "gif" ? .video : .image, media)
        default: return (.file, media)
        }
    }

    /// One entry of a node's UI output: a file (`{"filename", "subfolder", "type", "format"?}` under `key`), or a text
    /// value under one of the text keys (`text`, `string`, `value`, `values`).
    public enum NodeOutputItem: Sendable, Hashable {
        /// A file the node wrote.
        case file(key: String, file: FileReference, format: String?)
        /// A text (or JSON) value.
        case text(key: String, value: JSONValue)
    }

    /// The entries of one node's UI output in a stable order (keys sorted, then list order); `temp` files only
    /// with `includeTemporary`. The one parser of UI outputs: `WorkflowRunner` collects outputs with it, and front
    /// ends that fetch a node's files as soon as it finishes (`WorkflowEvent.nodeOutput`) use it too.
    public static func items(ofNodeOutput ui: [String: JSONValue], includeTemporary: Bool) -> [NodeOutputItem] {
        var items: [NodeOutputItem] = []
        for key in ui.keys.sorted() {
            guard let entries = ui[key]?.arrayValue else { continue }
            for entry in entries {
                if case .object(let object) = entry, let filename = object["filename"]?.stringValue {
                    let type = object["type"]?.stringValue ?? "output"
                    if type == "temp" && !includeTemporary { continue }
                    let file = FileReference(
                        filename: filename, subfolder: object["subfolder"]?.stringValue ?? "", type: type)
                    items.append(.file(key: key, file: file, format: object["format"]?.stringValue))
                } else if ["text", "string", "value", "values"].contains(key) {
                    items.append(.text(key: key, value: entry))
                }
            }
        }
        return items
    }

    /// `items(ofNodeOutput:includeTemporary:)` of a UI output as it arrives in an `executed` event.
    public static func items(ofNodeOutput ui: JSONValue, includeTemporary: Bool) -> [NodeOutputItem] {
        guard case .object(let object) = ui else { return [] }
        return items(ofNodeOutput: object, includeTemporary: includeTemporary)
    }

    /// Whether a file reference a server listed is safe to turn into a local path: a plain file name and plain
    /// subfolder components (no `/`, `\`, `..`, control characters).
    public static func isSafe(_ file: FileReference) -> Bool {
        ComfyUIClient.isPlainFilename(file.filename)
            && file.subfolder.split(separator: "/", omittingEmptySubsequences: true).allSatisfy {
                ComfyUIClient.isPlainFilename(String($0))
            }
    }

    static let mediaTypes: [String: String] = [
        "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif",
        "bmp": "image/bmp", "tif": "image/tiff", "tiff": "image/tiff", "avif": "image/avif",
        "mp4": "video/mp4", "webm": "video/webm", "mov": "video/quicktime", "mkv": "video/x-matroska",
        "avi": "video/x-msvideo", "flac": "audio/flac", "wav": "audio/wav", "mp3": "audio/mpeg", "ogg": "audio/ogg",
        "opus": "audio/opus", "m4a": "audio/mp4", "glb": "model/gltf-binary", "gltf": "model/gltf+json",
        "obj": "model/obj", "fbx": "application/octet-stream", "ply": "application/octet-stream",
        "json": "application/json", "txt": "text/plain", "latent": "application/octet-stream",
    ]
}

/// How long the phases of one job took, in seconds.
public struct WorkflowTimings: Sendable, Hashable, Codable {
    /// Uploading inputs.
    public var upload: Double = 0
    /// Validating against `/object_info` and the model lists.
    public var validation: Double = 0
    /// From `POST /prompt` until ComfyUI started it (`execution_start`), when seen.
    public var queued: Double = 0
    /// From the start of execution to completion.
    public var execution: Double = 0
    /// Collecting outputs (history + downloads + hashing).
    public var outputs: Double = 0
    /// The whole job.
    public var total: Double = 0
    /// Per-node execution time (node id → seconds) for the nodes the socket reported.
    public var nodes: [String: Double] = [:]

    /// Zero timings.
    public init() {}
}

/// Memory seen around a job (`/system_stats`), for the memory governor's report.
public struct MemoryReport: Sendable, Hashable, Codable {
    /// Highest RAM in use (total − free) seen during the job, bytes.
    public var peakRAMUsed: Int64 = 0
    /// Highest VRAM in use seen during the job, bytes (0 on CPU).
    public var peakVRAMUsed: Int64 = 0
    /// Highest resident set size of the supervised ComfyUI process seen during the job, bytes (0 when attached).
    public var peakProcessRSS: Int64 = 0
    /// RAM total, bytes.
    public var ramTotal: Int64 = 0
    /// VRAM total, bytes.
    public var vramTotal: Int64 = 0
    /// True when the governor called `/free` after the job.
    public var freed: Bool = false

    /// An empty report.
    public init() {}
}

/// The result of a job that finished.
public struct WorkflowRunResult: Sendable {
    /// ComfyUI's prompt id.
    public let promptID: String
    /// Every output, in node id order then in the order ComfyUI listed them.
    public let outputs: [WorkflowOutput]
    /// Phase timings.
    public let timings: WorkflowTimings
    /// True when ComfyUI served every output node from its cache (an identical prompt ran before: no new file
    /// was written, the outputs are the earlier ones).
    public let cached: Bool
    /// The nodes ComfyUI reported as cached.
    public let cachedNodes: [String]
    /// Outputs ComfyUI dropped as invalid while queueing the rest (its `node_errors` on a 200).
    public let droppedOutputs: [NodeError]
    /// Memory around the job.
    public let memory: MemoryReport
    /// The raw history entry.
    public let history: JSONValue
}
