/// A ComfyUI deployment pinned down to the byte: ComfyUI commit, custom nodes, Python packages, models and reference
/// workflows. This is schema version 1 (`schemaVersion: 1`); see docs/lock-format.md for every field.
///
/// Collections are kept sorted by a stable key when encoded (`LockFile.encode` sorts them), so the canonical bytes
/// and the digest do not depend on insertion order. A lock holds no timestamps and no machine-specific paths.
public struct Lock: Codable, Hashable, Sendable {
    /// The schema version this type reads and writes.
    public static let currentSchemaVersion = 1

    /// The schema version of the document (always `Lock.currentSchemaVersion` for this type).
    public var schemaVersion: Int
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

    /// A lock of the current schema version.
    public init(
        schemaVersion: Int = Lock.currentSchemaVersion, tag: String, createdBy: String, comfyui: ComfyUIPin,
        customNodes: [CustomNode] = [], python: PythonPins? = nil, models: [ModelEntry] = [],
        workflows: [WorkflowEntry] = []
    ) {
        self.schemaVersion = schemaVersion
        self.tag = tag
        self.createdBy = createdBy
        self.comfyui = comfyui
        self.customNodes = customNodes
        self.python = python
        self.models = models
        self.workflows = workflows
    }

    /// Decodes through any `Decoder` (e.g. `JSONDecoder`), reading `schemaVersion` first: a version other than 1 is
    /// a `DecodingError` saying which version this build reads. `LockFile.decode` is the strict reader (unknown
    /// members, exact JSON paths); this conformance is for programs that embed a lock in their own Codable types.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let version = try container.decode(Int.self, forKey: .schemaVersion)
        guard version == Lock.currentSchemaVersion else {
            throw DecodingError.dataCorruptedError(
                forKey: .schemaVersion, in: container,
                debugDescription: "unsupported lock schemaVersion \(version); this comfylock reads schemaVersion 1")
        }
        schemaVersion = version
        tag = try container.decode(String.self, forKey: .tag)
        createdBy = try container.decode(String.self, forKey: .createdBy)
        comfyui = try container.decode(ComfyUIPin.self, forKey: .comfyui)
        customNodes = try container.decode([CustomNode].self, forKey: .customNodes)
        python = try container.decodeIfPresent(PythonPins.self, forKey: .python)
        models = try container.decode([ModelEntry].self, forKey: .models)
        workflows = try container.decode([WorkflowEntry].self, forKey: .workflows)
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
    /// Git URL (git), or download URL (file, optional).
    public var url: String?
    /// Git commit, 40 lowercase hex (git).
    public var commit: String?
    /// Registry package id (registry).
    public var registryId: String?
    /// Registry package version (registry).
    public var version: String?
    /// SHA-256 of the file, 64 lowercase hex (file).
    public var sha256: String?
    /// Whether ComfyUI loads the node (disabled nodes are kept but not loaded).
    public var enabled: Bool

    /// A custom node.
    public init(
        name: String, kind: Kind, url: String? = nil, commit: String? = nil, registryId: String? = nil,
        version: String? = nil, sha256: String? = nil, enabled: Bool = true
    ) {
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
    /// The workflow itself, or `nil` when given by path.
    public var inline: JSONValue?
    /// Outputs the workflow must produce, sorted by name.
    public var expectedOutputs: [ExpectedOutput]

    /// A workflow entry.
    public init(name: String, path: String? = nil, inline: JSONValue? = nil, expectedOutputs: [ExpectedOutput] = []) {
        self.name = name
        self.path = path
        self.inline = inline
        self.expectedOutputs = expectedOutputs
    }
}

/// One output file a workflow must produce.
public struct ExpectedOutput: Codable, Hashable, Sendable {
    /// Output file name (e.g. `probe_00001_.png`).
    public var name: String
    /// SHA-256 of the file bytes, 64 lowercase hex.
    public var sha256: String
    /// SHA-256 of the decoded pixels (ignores metadata), 64 lowercase hex, when recorded.
    public var pixelsSha256: String?

    /// An expected output.
    public init(name: String, sha256: String, pixelsSha256: String? = nil) {
        self.name = name
        self.sha256 = sha256
        self.pixelsSha256 = pixelsSha256
    }
}
