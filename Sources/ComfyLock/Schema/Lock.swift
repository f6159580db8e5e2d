/// A ComfyUI deployment pinned down to the byte: ComfyUI commit, custom nodes, Python packages, models and reference
/// workflows. Schema versions 1 and 2 (`schemaVersion`); see docs/lock-format.md for every field.
///
/// The schema version is not chosen by the writer: it is the lowest version that can hold the content
/// (`schemaVersion` is computed). Version 2 added recorded workflow expectations (`WorkflowEntry.recording` and the
/// per-node fields of `ExpectedOutput`); a lock without them is written as version 1, byte for byte as before, so
/// existing locks keep their digests and older comfylock builds keep reading them.
///
/// Collections are kept sorted by a stable key when encoded (`LockFile.encode` sorts them), so the canonical bytes
/// and the digest do not depend on insertion order. A lock holds no timestamps and no machine-specific paths.
public struct Lock: Codable, Hashable, Sendable {
    /// The newest schema version this type reads and writes.
    public static let currentSchemaVersion = 2
    /// Every schema version this type reads.
    public static let supportedSchemaVersions: ClosedRange<Int> = 1...2

    /// The schema version of the document: 2 when a workflow carries a recording (`repro record`) or per-node
    /// expected-output fields, else 1. Computed from the content, so the bytes depend on nothing else.
    public var schemaVersion: Int { workflows.contains(where: \.needsSchemaVersion2) ? 2 : 1 }
    /// A human-chosen name of this deployment (e.g. `sdxl-prod`).
    public var tag: String
    /// The tool that wrote the lock, `"comfylock <version>"`.
    public var createdBy: String
    /// The ComfyUI checkout.
    public var comfyui: ComfyUIPin
    /// Custom nodes under `custom_nodes/`, sorted by name.
    public var customNodes: [CustomNode]
    /// Python interpreter and packages; `nil` until pinned.
    public var python: PythonPins?
    /// Model files under the models root, sorted by path.
    public var models: [ModelEntry]
    /// Reference workflows with their expected outputs, sorted by name.
    public var workflows: [WorkflowEntry]

    /// A lock (its schema version follows from the content).
    public init(
        tag: String, createdBy: String, comfyui: ComfyUIPin, customNodes: [CustomNode] = [], python: PythonPins? = nil,
        models: [ModelEntry] = [], workflows: [WorkflowEntry] = []
    ) {
        self.tag = tag
        self.createdBy = createdBy
        self.comfyui = comfyui
        self.customNodes = customNodes
        self.python = python
        self.models = models
        self.workflows = workflows
    }

    private enum CodingKeys: String, CodingKey {
        case schemaVersion, tag, createdBy, comfyui, customNodes, python, models, workflows
    }

    /// Decodes through any `Decoder` (e.g. `JSONDecoder`), reading `schemaVersion` first: an unsupported version is
    /// a `DecodingError` saying which versions this build reads. `LockFile.decode` is the strict reader (unknown
    /// members, exact JSON paths); this conformance is for programs that embed a lock in their own Codable types.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let version = try container.decode(Int.self, forKey: .schemaVersion)
        guard Lock.supportedSchemaVersions.contains(version) else {
            throw DecodingError.dataCorruptedError(
                forKey: .schemaVersion, in: container,
                debugDescription:
                    "unsupported lock schemaVersion \(version); this comfylock reads schemaVersion 1 and 2")
        }
        tag = try container.decode(String.self, forKey: .tag)
        createdBy = try container.decode(String.self, forKey: .createdBy)
        comfyui = try container.decode(ComfyUIPin.self, forKey: .comfyui)
        customNodes = try container.decode([CustomNode].self, forKey: .customNodes)
        python = try container.decodeIfPresent(PythonPins.self, forKey: .python)
        models = try container.decode([ModelEntry].self, forKey: .models)
        workflows = try container.decode([WorkflowEntry].self, forKey: .workflows)
        if version < schemaVersion {
            throw DecodingError.dataCorruptedError(
                forKey: .schemaVersion, in: container,
                debugDescription:
                    "recorded workflow expectations need schemaVersion 2; the document declares \(version)")
        }
    }

    /// Encodes through any `Encoder`; agrees with the canonical form (absent optionals omitted).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(schemaVersion, forKey: .schemaVersion)
        try container.encode(tag, forKey: .tag)
        try container.encode(createdBy, forKey: .createdBy)
        try container.encode(comfyui, forKey: .comfyui)
        try container.encode(customNodes, forKey: .customNodes)
        try container.encodeIfPresent(python, forKey: .python)
        try container.encode(models, forKey: .models)
        try container.encode(workflows, forKey: .workflows)
    }

    /// A copy with every collection sorted by its stable key (what `LockFile.encode` writes).
    public func sorted() -> Lock {
        var copy = self
        copy.customNodes.sort { CanonicalJSON.utf16Precedes($0.name, $1.name) }
        copy.models.sort { CanonicalJSON.utf16Precedes($0.path, $1.path) }
        copy.workflows.sort { CanonicalJSON.utf16Precedes($0.name, $1.name) }
        if var python = copy.python {
            python.packages.sort { CanonicalJSON.utf16Precedes($0.name, $1.name) }
            for index in python.packages.indices {
                python.packages[index].artifacts.sort { CanonicalJSON.utf16Precedes($0.filename, $1.filename) }
            }
            copy.python = python
        }
        for index in copy.workflows.indices {
            copy.workflows[index].expectedOutputs.sort { CanonicalJSON.utf16Precedes($0.name, $1.name) }
            copy.workflows[index].recording?.seeds.sort {
                $0.node != $1.node
                    ? CanonicalJSON.utf16Precedes($0.node, $1.node)
                    : CanonicalJSON.utf16Precedes($0.input, $1.input)
            }
        }
        return copy
    }
}

/// The ComfyUI git checkout a lock runs.
public struct ComfyUIPin: Codable, Hashable, Sendable {
    /// Git URL of the ComfyUI repository.
    public var url: String
    /// The commit, 40 lowercase hex characters.
    public var commit: String
    /// An optional human-readable ref (tag or `git describe`), informational only.
    public var ref: String?

    /// A ComfyUI pin.
    public init(url: String, commit: String, ref: String? = nil) {
        self.url = url
        self.commit = commit
        self.ref = ref
    }
}

/// One custom node: a git checkout, a Comfy registry package, or a single file, under `custom_nodes/<name>`.
public struct CustomNode: Codable, Hashable, Sendable {
    /// Where the node comes from.
    public enum Kind: String, Codable, Hashable, Sendable, CaseIterable {
        /// A git repository checked out at `commit`.
        case git
        /// A Comfy registry package `registryId` at `version`.
        case registry
        /// A single Python file with a known `sha256`.
        case file
    }

    /// The directory (or file) name under `custom_nodes/`: one safe path component.
    public var name: String
    /// Where the node comes from.
    public var kind: Kind
    /// Git URL (git), download URL (file, optional), or archive URL (registry, once pinned).
    public var url: String?
    /// Git commit, 40 lowercase hex (git).
    public var commit: String?
    /// Registry package id (registry).
    public var registryId: String?
    /// Registry package version (registry).
    public var version: String?
    /// SHA-256 of the file (file), or of the archive (registry, once pinned), 64 lowercase hex.
    public var sha256: String?
    /// Registry nodes, once pinned: the hash of the extracted tree (`RegistryTree` in ComfyRuntime), 64 lowercase hex.
    public var treeHash: String?
    /// Whether ComfyUI loads the node (disabled nodes are kept but not loaded).
    public var enabled: Bool

    /// A custom node.
    public init(
        name: String, kind: Kind, url: String? = nil, commit: String? = nil, registryId: String? = nil,
        version: String? = nil, sha256: String? = nil, enabled: Bool = true, treeHash: String? = nil
    ) {
        self.treeHash = treeHash
        self.name = name
        self.kind = kind
        self.url = url
        self.commit = commit
        self.registryId = registryId
        self.version = version
        self.sha256 = sha256
        self.enabled = enabled
    }
}

/// The Python interpreter and every installed package, pinned with artifact hashes.
public struct PythonPins: Codable, Hashable, Sendable {
    /// Interpreter version, `"3.11"` or `"3.11.7"`.
    public var version: String
    /// Platform tag the artifacts were chosen for, e.g. `manylinux_2_36_x86_64`.
    public var platform: String
    /// Package index URLs used for resolution (first = primary).
    public var indexUrls: [String]
    /// Packages, sorted by name.
    public var packages: [PythonPackage]

    /// Python pins.
    public init(version: String, platform: String, indexUrls: [String] = [], packages: [PythonPackage] = []) {
        self.version = version
        self.platform = platform
        self.indexUrls = indexUrls
        self.packages = packages
    }
}

/// One Python distribution: a version with hashed artifacts, or a VCS checkout.
public struct PythonPackage: Codable, Hashable, Sendable {
    /// PEP 503 normalized name (lowercase, runs of `-_.` → `-`).
    public var name: String
    /// The version.
    public var version: String
    /// Wheels/sdists that may be installed, sorted by filename; empty for a VCS package.
    public var artifacts: [PythonArtifact]
    /// The VCS checkout, for packages installed from a repository.
    public var vcs: VCSPin?

    /// A Python package.
    public init(name: String, version: String, artifacts: [PythonArtifact] = [], vcs: VCSPin? = nil) {
        self.name = name
        self.version = version
        self.artifacts = artifacts
        self.vcs = vcs
    }

    /// PEP 503 normalization: lowercase, every run of `-`, `_`, `.` replaced by one `-`.
    public static func normalize(_ name: String) -> String {
        var out = ""
        var inRun = false
        for character in name.lowercased() {
            if character == "-" || character == "_" || character == "." {
                if !inRun { out.append("-") }
                inRun = true
            } else {
                out.append(character)
                inRun = false
            }
        }
        return out
    }
}

/// One downloadable wheel or sdist with its hash.
public struct PythonArtifact: Codable, Hashable, Sendable {
    /// Download URL.
    public var url: String
    /// SHA-256, 64 lowercase hex.
    public var sha256: String
    /// The file name (`name-version-tags.whl` / `.tar.gz`).
    public var filename: String

    /// An artifact.
    public init(url: String, sha256: String, filename: String) {
        self.url = url
        self.sha256 = sha256
        self.filename = filename
    }
}

/// A package installed from a version-control repository.
public struct VCSPin: Codable, Hashable, Sendable {
    /// Repository URL.
    public var url: String
    /// Commit, 40 lowercase hex.
    public var commit: String

    /// A VCS pin.
    public init(url: String, commit: String) {
        self.url = url
        self.commit = commit
    }
}

/// One model file under the models root.
public struct ModelEntry: Codable, Hashable, Sendable {
    /// Relative path under the models root, e.g. `checkpoints/x.safetensors`.
    public var path: String
    /// Size in bytes.
    public var size: Int64
    /// SHA-256, 64 lowercase hex.
    public var sha256: String
    /// Download URLs: first = primary, the rest are mirrors. Never with credentials.
    public var sources: [String]
    /// The Hugging Face file this model comes from, when it does.
    public var huggingface: HuggingFaceRef?

    /// A model entry.
    public init(path: String, size: Int64, sha256: String, sources: [String] = [], huggingface: HuggingFaceRef? = nil) {
        self.path = path
        self.size = size
        self.sha256 = sha256
        self.sources = sources
        self.huggingface = huggingface
    }
}

/// A file in a Hugging Face repository at a fixed revision.
public struct HuggingFaceRef: Codable, Hashable, Sendable {
    /// `owner/name`.
    public var repo: String
    /// A commit SHA (preferred) or ref.
    public var revision: String
    /// The file's path inside the repository.
    public var file: String

    /// A Hugging Face reference.
    public init(repo: String, revision: String, file: String) {
        self.repo = repo
        self.revision = revision
        self.file = file
    }
}

/// A reference workflow and the outputs it must reproduce.
public struct WorkflowEntry: Codable, Hashable, Sendable {
    /// Unique name.
    public var name: String
    /// Relative path of the workflow JSON (API format), or `nil` when inline.
    public var path: String?
    /// The workflow itself (ComfyUI API format), or `nil` when given by path.
    public var inline: JSONValue?
    /// Outputs the workflow must produce, sorted by name.
    public var expectedOutputs: [ExpectedOutput]
    /// How the expectations were recorded (`comfy-cli repro record`); schema version 2.
    public var recording: WorkflowRecording?

    /// A workflow entry.
    public init(
        name: String, path: String? = nil, inline: JSONValue? = nil, expectedOutputs: [ExpectedOutput] = [],
        recording: WorkflowRecording? = nil
    ) {
        self.name = name
        self.path = path
        self.inline = inline
        self.expectedOutputs = expectedOutputs
        self.recording = recording
    }

    /// True when the entry uses members that schema version 1 does not have.
    public var needsSchemaVersion2: Bool {
        recording != nil || expectedOutputs.contains(where: \.needsSchemaVersion2)
    }
}

/// How a workflow's expectations were recorded: the lock they were recorded against and the seeds they depend on.
///
/// `lockDigest` is `LockFile.recordingDigest(_:)`: the digest of the lock **with its `workflows` emptied** (written
/// as the schema version that content needs). Recording changes only the workflows section, so the lock a
/// recording describes keeps the digest the recording holds — recording does not invalidate itself, and recording a
/// second workflow does not invalidate the first. `lockFields` holds one SHA-256 per lock item (see
/// `LockFile.recordingFields(_:)`), so `repro check` can name what changed since, not only that something did.
public struct WorkflowRecording: Codable, Hashable, Sendable {
    /// `LockFile.recordingDigest` of the lock at recording time.
    public var lockDigest: String
    /// Item key (`comfyui`, `customNodes[NAME]`, `python.packages[NAME]`, `models[PATH]`, …) → SHA-256 of that
    /// item's canonical JSON at recording time.
    public var lockFields: [String: String]
    /// The seed inputs of the graph at recording time, sorted by node then input.
    public var seeds: [SeedInput]

    /// A recording.
    public init(lockDigest: String, lockFields: [String: String], seeds: [SeedInput] = []) {
        self.lockDigest = lockDigest
        self.lockFields = lockFields
        self.seeds = seeds
    }
}

/// A seed a recorded workflow depends on: one integer input of one node (`seed`, `noise_seed`, …).
public struct SeedInput: Codable, Hashable, Sendable {
    /// The node id in the API-format graph.
    public var node: String
    /// The input name.
    public var input: String
    /// The seed value (an integer of magnitude at most 2^53, so JSON carries it exactly).
    public var value: Int64

    /// A seed input.
    public init(node: String, input: String, value: Int64) {
        self.node = node
        self.input = input
        self.value = value
    }
}

/// One output a workflow must produce.
///
/// Schema version 1 knew only `name`, `sha256` and `pixelsSha256`. Version 2 (what `repro record` writes) adds
/// where the output comes from — `node`, `index` (its position among that node's outputs), `classType`, `kind` —
/// and what it looked like — `filename`, `mediaType`, `size`, `imageDataSha256`. Recorded outputs are named
/// `NODE:INDEX` and matched that way; the file name is informational (ComfyUI numbers files per run).
public struct ExpectedOutput: Codable, Hashable, Sendable {
    /// Unique name within the workflow (`NODE:INDEX` for recorded outputs; v1: the file name).
    public var name: String
    /// SHA-256 of the file bytes (of the UTF-8 text for text outputs), 64 lowercase hex.
    public var sha256: String
    /// SHA-256 of the decoded pixels (ignores metadata), 64 lowercase hex, when recorded (schema version 1).
    public var pixelsSha256: String?
    /// The node id that produced it (v2).
    public var node: String?
    /// Its index among that node's outputs, from 0 (v2).
    public var index: Int64?
    /// The node's class (`SaveImage`) (v2).
    public var classType: String?
    /// `image`, `video`, `audio`, `text` or `file` (v2).
    public var kind: String?
    /// The file name ComfyUI gave it at recording time (v2; informational).
    public var filename: String?
    /// The media type (`image/png`) (v2).
    public var mediaType: String?
    /// Size in bytes (v2).
    public var size: Int64?
    /// For PNG files: SHA-256 over the image chunks only (IHDR, PLTE, IDAT, …; metadata chunks tEXt/iTXt/zTXt/tIME
    /// left out), 64 lowercase hex (v2). Equal image data with a different `sha256` means only metadata changed.
    public var imageDataSha256: String?

    /// The output kinds a recorded output may have.
    public static let kinds: Set<String> = ["image", "video", "audio", "text", "file"]

    /// An expected output.
    public init(
        name: String, sha256: String, pixelsSha256: String? = nil, node: String? = nil, index: Int64? = nil,
        classType: String? = nil, kind: String? = nil, filename: String? = nil, mediaType: String? = nil,
        size: Int64? = nil, imageDataSha256: String? = nil
    ) {
        self.name = name
        self.sha256 = sha256
        self.pixelsSha256 = pixelsSha256
        self.node = node
        self.index = index
        self.classType = classType
        self.kind = kind
        self.filename = filename
        self.mediaType = mediaType
        self.size = size
        self.imageDataSha256 = imageDataSha256
    }

    /// True when the output uses members that schema version 1 does not have.
    public var needsSchemaVersion2: Bool {
        node != nil || index != nil || classType != nil || kind != nil || filename != nil || mediaType != nil
            || size != nil || imageDataSha256 != nil
    }
}
