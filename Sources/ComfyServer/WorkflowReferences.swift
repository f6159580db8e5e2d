public import ComfyLock

/// What a workflow uses: the node classes (with node ids), the model files its loader inputs name, and the `models`
/// metadata (name, URL, folder) that ComfyUI's editor embeds in UI-format workflows.
///
/// Reads both formats:
/// - **API format** (what `/prompt` takes): `{id: {"class_type", "inputs"}}`, optionally wrapped in `{"prompt": …}`.
///   Inputs are named, so a loader input (`ckpt_name`, `lora_name`, …) gives the model folder exactly.
/// - **UI format** (what the editor saves): `{"nodes": [{"id", "type", "mode", "widgets_values", "properties"}],
///   "links", "definitions": {"subgraphs": [...]}}`. Widget values are positional: for the core loaders the position
///   of each model input is known (`knownWidgetOrder`); for any other node, string widget values that end in
///   a model file extension are reported with no folder (``ModelReference/Origin/fileLikeValue``). Subgraph
///   instances are expanded (node ids `outer:inner`, as ComfyUI's API export names them); frontend-only nodes
///   (`Reroute`, `Note`, `MarkdownNote`, `PrimitiveNode`) are left out. `properties.models`
///   (`[{name, url, directory}]`) becomes ``embeddedModels``; `properties.cnr_id` / `aux_id` / `ver` are kept on the
///   node as the editor's own hint of which node pack provides it.
///
/// The input is untrusted: the document is bounded by the caller's parser (``init(bytes:maxBytes:)`` bounds size and
/// depth), at most ``maxNodes`` nodes are read (subgraph expansion included, nesting at most ``maxSubgraphDepth``),
/// and strings longer than ``maxValueLength`` are not taken as model names. Nothing here does I/O.
public struct WorkflowReferences: Sendable, Hashable {
    /// The two workflow formats.
    public enum Format: String, Sendable, Hashable, Codable {
        /// The API format (`class_type` + `inputs`).
        case api
        /// The UI format (`nodes` + `links`).
        case ui
    }

    /// One node of the workflow.
    public struct NodeUse: Sendable, Hashable, Codable {
        /// The node id (`outer:inner` inside a UI subgraph).
        public var nodeID: String
        /// The node class, e.g. `CheckpointLoaderSimple`.
        public var classType: String
        /// False for a UI node that is muted (mode 2) or bypassed (mode 4): it does not run.
        public var active: Bool
        /// The editor's `properties.cnr_id`: the registry id of the node pack (`comfy-core` for core nodes).
        public var registryID: String?
        /// The editor's `properties.aux_id`: `owner/repo` on GitHub for node packs not in the registry.
        public var auxID: String?
        /// The editor's `properties.ver`: a version or commit of the node pack.
        public var version: String?

        /// A node use.
        public init(
            nodeID: String, classType: String, active: Bool = true, registryID: String? = nil, auxID: String? = nil,
            version: String? = nil
        ) {
            self.nodeID = nodeID
            self.classType = classType
            self.active = active
            self.registryID = registryID
            self.auxID = auxID
            self.version = version
        }
    }

    /// A model file a node names.
    public struct ModelReference: Sendable, Hashable, Codable {
        /// How the reference was found.
        public enum Origin: String, Sendable, Hashable, Codable {
            /// A known loader input (by name in API format, by position for core loaders in UI format).
            case loaderInput
            /// A string value ending in a model file extension on an input (or widget) not known as a loader.
            case fileLikeValue
        }

        /// The node id.
        public var nodeID: String
        /// The node class.
        public var classType: String
        /// The input name, when known (always in API format; for known loaders in UI format).
        public var input: String?
        /// The widget position (UI format).
        public var widgetIndex: Int?
        /// The value: a path relative to the folder, with `/` separators (`\` is turned into `/`).
        public var value: String
        /// The ComfyUI model folder it implies (`checkpoints`, `loras`, …), when known.
        public var folder: String?
        /// How it was found.
        public var origin: Origin
        /// False when the node does not run (UI mode muted/bypassed).
        public var active: Bool

        /// A model reference.
        public init(
            nodeID: String, classType: String, input: String?, widgetIndex: Int? = nil, value: String,
            folder: String?, origin: Origin, active: Bool = true
        ) {
            self.nodeID = nodeID
            self.classType = classType
            self.input = input
            self.widgetIndex = widgetIndex
            self.value = value
            self.folder = folder
            self.origin = origin
            self.active = active
        }

        /// The lock paths (under the models root) this reference can name: `folder/value` for the folder and its
        /// aliases (`WorkflowReferences.folderAliases`); empty when the folder is unknown.
        public var candidatePaths: [String] {
            guard let folder else { return [] }
            return WorkflowReferences.folderAliases(folder).map { $0 + "/" + value }
        }
    }

    /// A UI workflow's `properties.models` entry: a model file the workflow's author says the node needs, with a URL.
    public struct EmbeddedModel: Sendable, Hashable, Codable {
        /// The node id that carries it.
        public var nodeID: String
        /// The file name (`name`), relative to the folder.
        public var name: String
        /// The download URL (`url`), as written (untrusted: validate before fetching).
        public var url: String?
        /// The model folder (`directory`), e.g. `checkpoints`.
        public var directory: String?

        /// An embedded model entry.
        public init(nodeID: String, name: String, url: String?, directory: String?) {
            self.nodeID = nodeID
            self.name = name
            self.url = url
            self.directory = directory
        }

        /// `directory/name`, the lock path it names (nil without a directory).
        public var path: String? { directory.map { $0 + "/" + name } }
    }

    /// The most nodes read (subgraph expansion included).
    public static let maxNodes = 10_000
    /// The deepest subgraph nesting expanded.
    public static let maxSubgraphDepth = 8
    /// The longest string taken as a model name or class type, in UTF-8 bytes.
    public static let maxValueLength = 1024

    /// The format of the document.
    public private(set) var format: Format
    /// The nodes, in a stable order (numeric ids numerically, then the rest).
    public private(set) var nodes: [NodeUse]
    /// The model files the nodes name, in node order.
    public private(set) var models: [ModelReference]
    /// The UI `properties.models` entries, in node order.
    public private(set) var embeddedModels: [EmbeddedModel]

    /// The distinct node classes used, sorted.
    public var classTypes: [String] { Array(Set(nodes.map(\.classType))).sorted() }

    /// Reads a workflow (API or UI format). Throws `ComfyUIError` (`.invalidWorkflow`) when the document is neither,
    /// or holds more than ``maxNodes`` nodes.
    public init(json: JSONValue) throws(ComfyUIError) {
        guard case .object(let document) = json else {
            throw .invalidWorkflow("a workflow must be a JSON object, found \(json.typeDescription)")
        }
        format = .api
        nodes = []
        models = []
        embeddedModels = []
        if case .array(let uiNodes)? = document["nodes"] {
            format = .ui
            var subgraphs: [String: [JSONValue]] = [:]
            for case .object(let subgraph) in document["definitions"]?["subgraphs"]?.arrayValue ?? [] {
                if let id = subgraph["id"]?.stringValue, case .array(let inner)? = subgraph["nodes"] {
                    subgraphs[id] = inner
                }
            }
            var budget = Self.maxNodes
            try readUI(uiNodes, prefix: "", depth: 0, activeParent: true, subgraphs: subgraphs, budget: &budget)
        } else {
            var graph = document
            if graph.count <= 3, case .object(let inner)? = graph["prompt"],
                inner.values.allSatisfy({ $0["class_type"] != nil })
            {
                graph = inner
            }
            guard graph.count <= Self.maxNodes else {
                throw .invalidWorkflow("the workflow has \(graph.count) nodes; at most \(Self.maxNodes) are read")
            }
            for (id, value) in graph {
                guard case .object(let node) = value, let classType = Self.name(node["class_type"]) else {
                    throw .invalidWorkflow(
                        "node \(Escaping.escape(id, limit: 80)) has no class_type (neither an API- nor a UI-format "
                            + "workflow)")
                }
                nodes.append(NodeUse(nodeID: id, classType: classType))
                for (input, value) in (node["inputs"]?.objectValue ?? [:]).sorted(by: { $0.key < $1.key }) {
                    guard let text = Self.name(value) else { continue }
                    if let reference = Self.reference(
                        nodeID: id, classType: classType, input: input, widgetIndex: nil, value: text, active: true)
                    {
                        models.append(reference)
                    }
                }
            }
        }
        guard !nodes.isEmpty else { throw .invalidWorkflow("the workflow has no nodes") }
        let order = Dictionary(
            uniqueKeysWithValues: Self.sortedIDs(Set(nodes.map(\.nodeID))).enumerated().map {
                ($1, $0)
            })
        nodes.sort { order[$0.nodeID]! < order[$1.nodeID]! }
        models.sort {
            (order[$0.nodeID]!, $0.input ?? "", $0.widgetIndex ?? 0) < (
                order[$1.nodeID]!, $1.input ?? "", $1.widgetIndex ?? 0
            )
        }
        embeddedModels.sort { (order[$0.nodeID] ?? 0, $0.name) < (order[$1.nodeID] ?? 0, $1.name) }
    }

    /// Reads a workflow from the bytes of a JSON file (at most `maxBytes`, default `Workflow.maxBytes`; nesting at
    /// most 128).
    public init(bytes: [UInt8], maxBytes: Int = Workflow.maxBytes) throws(ComfyUIError) {
        guard bytes.count <= maxBytes else {
            throw .invalidWorkflow("the workflow is \(bytes.count) bytes; at most \(maxBytes) are accepted")
        }
        let value: JSONValue
        do { value = try JSONParser(maxDepth: 128).parse(bytes) } catch {
            throw .invalidWorkflow("the workflow is not valid JSON: \(error)")
        }
        try self.init(json: value)
    }

    private mutating func readUI(
        _ uiNodes: [JSONValue], prefix: String, depth: Int, activeParent: Bool, subgraphs: [String: [JSONValue]],
        budget: inout Int
    ) throws(ComfyUIError) {
        for case .object(let node) in uiNodes {
            guard let type = Self.name(node["type"]) else { continue }
            guard let id = Self.uiID(node["id"]) else { continue }
            budget -= 1
            guard budget >= 0 else {
                throw .invalidWorkflow("the workflow has more than \(Self.maxNodes) nodes (subgraphs included)")
            }
            let nodeID = prefix + id
            let mode = node["mode"]?.numberValue ?? 0
            let active = activeParent && mode != 2 && mode != 4
            if let inner = subgraphs[type] {
                guard depth < Self.maxSubgraphDepth else {
                    throw .invalidWorkflow("subgraphs nest deeper than \(Self.maxSubgraphDepth) levels")
                }
                try readUI(
                    inner, prefix: nodeID + ":", depth: depth + 1, activeParent: active, subgraphs: subgraphs,
                    budget: &budget)
                continue
            }
            if Self.frontendOnly.contains(type) { continue }
            let properties = node["properties"]?.objectValue ?? [:]
            nodes.append(
                NodeUse(
                    nodeID: nodeID, classType: type, active: active, registryID: Self.name(properties["cnr_id"]),
                    auxID: Self.name(properties["aux_id"]), version: Self.name(properties["ver"])))
            for case .object(let entry) in properties["models"]?.arrayValue ?? [] {
                guard let name = Self.name(entry["name"]).map(Self.normalized) else { continue }
                embeddedModels.append(
                    EmbeddedModel(
                        nodeID: nodeID, name: name, url: Self.name(entry["url"]),
                        directory: Self.name(entry["directory"])))
            }
            switch node["widgets_values"] {
            case .array(let values)?:
                let order = Self.knownWidgetOrder[type]
                for (index, value) in values.enumerated() {
                    guard let text = Self.name(value) else { continue }
                    let input = order.flatMap { index < $0.count ? $0[index] : nil }
                    if let reference = Self.reference(
                        nodeID: nodeID, classType: type, input: input, widgetIndex: index, value: text,
                        active: active)
                    {
                        models.append(reference)
                    }
                }
            case .object(let values)?:
                // Some custom nodes (VideoHelperSuite, …) save their widgets by name.
                for (input, value) in values.sorted(by: { $0.key < $1.key }) {
                    guard let text = Self.name(value) else { continue }
                    if let reference = Self.reference(
                        nodeID: nodeID, classType: type, input: input, widgetIndex: nil, value: text, active: active)
                    {
                        models.append(reference)
                    }
                }
            default: break
            }
        }
    }
}

// MARK: - The rules

extension WorkflowReferences {
    /// Loader input names and the model folder each implies, as ComfyUI's `folder_paths` names the folders.
    public static let inputFolders: [String: String] = [
        "ckpt_name": "checkpoints",
        "config_name": "configs",
        "lora_name": "loras",
        "vae_name": "vae",
        "unet_name": "diffusion_models",
        "clip_name": "text_encoders",
        "clip_name1": "text_encoders",
        "clip_name2": "text_encoders",
        "clip_name3": "text_encoders",
        "clip_name4": "text_encoders",
        "control_net_name": "controlnet",
        "style_model_name": "style_models",
        "gligen_name": "gligen",
        "hypernetwork_name": "hypernetworks",
        "upscale_model": "upscale_models",
        "upscale_model_name": "upscale_models",
        "photomaker_model_name": "photomaker",
        "audio_encoder_name": "audio_encoders",
        "embedding_name": "embeddings",
        "clip_vision_name": "clip_vision",
    ]

    /// Core classes whose input name alone does not give the folder (`clip_name` of `CLIPVisionLoader` is a CLIP
    /// vision model, `model_name` of `UpscaleModelLoader` an upscaler).
    public static let classInputFolders: [String: [String: String]] = [
        "CLIPVisionLoader": ["clip_name": "clip_vision"],
        "UpscaleModelLoader": ["model_name": "upscale_models"],
        "ModelPatchLoader": ["name": "model_patches"],
    ]

    /// The widget order of ComfyUI's core loaders (UI format stores widget values by position), from `nodes.py` and
    /// `comfy_extras`. Only the model inputs matter; the rest are placeholders.
    public static let knownWidgetOrder: [String: [String?]] = [
        "CheckpointLoaderSimple": ["ckpt_name"],
        "CheckpointLoader": ["config_name", "ckpt_name"],
        "unCLIPCheckpointLoader": ["ckpt_name"],
        "ImageOnlyCheckpointLoader": ["ckpt_name"],
        "LoraLoader": ["lora_name", nil, nil],
        "LoraLoaderModelOnly": ["lora_name", nil],
        "VAELoader": ["vae_name"],
        "ControlNetLoader": ["control_net_name"],
        "DiffControlNetLoader": ["control_net_name"],
        "UNETLoader": ["unet_name", nil],
        "CLIPLoader": ["clip_name", nil, nil],
        "DualCLIPLoader": ["clip_name1", "clip_name2", nil, nil],
        "TripleCLIPLoader": ["clip_name1", "clip_name2", "clip_name3"],
        "QuadrupleCLIPLoader": ["clip_name1", "clip_name2", "clip_name3", "clip_name4"],
        "CLIPVisionLoader": ["clip_name"],
        "StyleModelLoader": ["style_model_name"],
        "GLIGENLoader": ["gligen_name"],
        "HypernetworkLoader": ["hypernetwork_name", nil],
        "UpscaleModelLoader": ["model_name"],
        "PhotoMakerLoader": ["photomaker_model_name"],
        "ModelPatchLoader": ["name"],
        "AudioEncoderLoader": ["audio_encoder_name"],
    ]

    /// File extensions taken as model files in values of inputs not known as loaders (ComfyUI's
    /// `supported_pt_extensions` plus `.gguf`, `.onnx`).
    public static let modelExtensions: Set<String> = [
        "ckpt", "pt", "pt2", "bin", "pth", "safetensors", "pkl", "sft", "gguf", "onnx",
    ]

    /// UI node types that exist only in the editor (never sent to the server).
    public static let frontendOnly: Set<String> = ["Reroute", "Note", "MarkdownNote", "PrimitiveNode"]

    /// Values of loader inputs that name no file (`VAELoader`'s built-in approximations, "None" choices).
    static let pseudoValues: Set<String> = [
        "none", "[none]", "taesd", "taesdxl", "taesd3", "taef1", "pixel_space", "",
    ]

    /// The folders ComfyUI searches for a folder name (`text_encoders` also reads `clip`, `diffusion_models` also
    /// `unet`, `controlnet` also `t2i_adapter`), the name first.
    public static func folderAliases(_ folder: String) -> [String] {
        switch folder {
        case "text_encoders", "clip": ["text_encoders", "clip"]
        case "diffusion_models", "unet": ["diffusion_models", "unet"]
        case "controlnet", "t2i_adapter": ["controlnet", "t2i_adapter"]
        default: [folder]
        }
    }

    /// The folder a node's input implies, if it is a known loader input.
    public static func folder(classType: String, input: String) -> String? {
        classInputFolders[classType]?[input] ?? inputFolders[input]
    }

    static func reference(
        nodeID: String, classType: String, input: String?, widgetIndex: Int?, value: String, active: Bool
    ) -> ModelReference? {
        let value = normalized(value)
        if let input, let folder = folder(classType: classType, input: input) {
            guard !pseudoValues.contains(value.lowercased()) else { return nil }
            return ModelReference(
                nodeID: nodeID, classType: classType, input: input, widgetIndex: widgetIndex, value: value,
                folder: folder, origin: .loaderInput, active: active)
        }
        guard looksLikeModelFile(value) else { return nil }
        return ModelReference(
            nodeID: nodeID, classType: classType, input: input, widgetIndex: widgetIndex, value: value, folder: nil,
            origin: .fileLikeValue, active: active)
    }

    /// True for a relative file name ending in a model extension, without `..`, NUL, newlines or a leading `/`.
    static func looksLikeModelFile(_ value: String) -> Bool {
        guard !value.hasPrefix("/"), !value.contains("\0"), !value.contains("\n"), !value.contains("://"),
            let dot = value.lastIndex(of: ".")
        else { return false }
        guard !value.split(separator: "/").contains("..") else { return false }
        return modelExtensions.contains(value[value.index(after: dot)...].lowercased())
    }

    static func normalized(_ value: String) -> String {
        value.replacingAll("\\", with: "/")
    }

    /// A non-empty string of at most `maxValueLength` bytes.
    static func name(_ value: JSONValue?) -> String? {
        guard case .string(let text)? = value, !text.isEmpty, text.utf8.count <= maxValueLength else { return nil }
        return text
    }

    static func uiID(_ value: JSONValue?) -> String? {
        switch value {
        case .number(let number)? where number == number.rounded() && abs(number) < 1e15:
            return String(Int64(number))
        case .string(let text)? where !text.isEmpty && text.utf8.count <= 256:
            return text
        default: return nil
        }
    }

    static func sortedIDs(_ ids: Set<String>) -> [String] {
        ids.sorted { a, b in
            let left = a.split(separator: ":").map { Int($0) }
            let right = b.split(separator: ":").map { Int($0) }
            if !left.contains(nil), !right.contains(nil) {
                return left.map { $0! }.lexicographicallyPrecedes(right.map { $0! })
            }
            return a < b
        }
    }
}

extension String {
    fileprivate func replacingAll(_ target: Character, with replacement: String) -> String {
        var out = ""
        for character in self { if character == target { out += replacement } else { out.append(character) } }
        return out
    }
}

// MARK: - Matching against a lock

/// Which of a workflow's model references a lock's `models` provide, and which it lacks.
public struct WorkflowModelMatch: Sendable, Hashable {
    /// A reference and the lock model it names.
    public struct Found: Sendable, Hashable {
        /// The reference.
        public var reference: WorkflowReferences.ModelReference
        /// The lock's model entry.
        public var model: ModelEntry
    }

    /// References a lock model provides.
    public var found: [Found]
    /// References (with a known folder, or whose file name matches nothing) no lock model provides.
    public var missing: [WorkflowReferences.ModelReference]
    /// Embedded `models` entries (UI format) whose `directory/name` is not in the lock, with their URLs.
    public var missingEmbedded: [WorkflowReferences.EmbeddedModel]
}

extension WorkflowReferences {
    /// Matches the model references against a lock's models.
    ///
    /// A reference with a folder matches the lock path `folder/value` (or an alias folder, see `folderAliases(_:)`).
    /// A reference with no folder (a file-like value of an unknown input) matches a lock path `F/value` for any
    /// folder F, or else it is missing. Inactive references (muted or bypassed UI nodes) are left out unless
    /// `includeInactive` is set. Embedded `models` entries are matched by `directory/name` (aliases included).
    public func match(models lockModels: [ModelEntry], includeInactive: Bool = false) -> WorkflowModelMatch {
        let byPath = Dictionary(lockModels.map { ($0.path, $0) }, uniquingKeysWith: { first, _ in first })
        var found: [WorkflowModelMatch.Found] = []
        var missing: [ModelReference] = []
        for reference in models where includeInactive || reference.active {
            if let model = lockModel(for: reference, byPath: byPath, all: lockModels) {
                found.append(.init(reference: reference, model: model))
            } else {
                missing.append(reference)
            }
        }
        var missingEmbedded: [EmbeddedModel] = []
        for embedded in embeddedModels {
            let paths = embedded.directory.map { Self.folderAliases($0).map { $0 + "/" + embedded.name } } ?? []
            if !paths.contains(where: { byPath[$0] != nil }) { missingEmbedded.append(embedded) }
        }
        return WorkflowModelMatch(found: found, missing: missing, missingEmbedded: missingEmbedded)
    }

    /// The embedded `models` entry (with a URL) that names the same file as `reference`, if any.
    public func embeddedSource(for reference: ModelReference) -> EmbeddedModel? {
        embeddedModels.first { embedded in
            guard embedded.url != nil, embedded.name == reference.value else { return false }
            guard let folder = reference.folder, let directory = embedded.directory else { return true }
            return Self.folderAliases(folder).contains(directory)
        }
    }

    private func lockModel(
        for reference: ModelReference, byPath: [String: ModelEntry], all: [ModelEntry]
    )
        -> ModelEntry?
    {
        if reference.folder != nil {
            return reference.candidatePaths.lazy.compactMap { byPath[$0] }.first
        }
        let suffix = "/" + reference.value
        return all.first { $0.path.hasSuffix(suffix) && !$0.path.dropLast(suffix.count).contains("/") }
    }
}
