public import ComfyLock

/// Checks a workflow against what a server has, before queueing it: every `class_type` exists in `/object_info`
/// (the error names the node, the class and, when the caller knows it, the custom node that provides it), and every
/// model file a loader input names is in the server's lists (`/object_info` options, then `/models/<folder>`).
public struct WorkflowValidator: Sendable {
    /// Loader input names and the model folders they name (first is ComfyUI's current name, then legacy ones).
    public static let modelFolders: [String: [String]] = [
        "ckpt_name": ["checkpoints"], "lora_name": ["loras"], "vae_name": ["vae"],
        "control_net_name": ["controlnet"], "unet_name": ["diffusion_models", "unet"],
        "clip_name": ["text_encoders", "clip", "clip_vision"], "clip_name1": ["text_encoders", "clip"],
        "clip_name2": ["text_encoders", "clip"], "clip_name3": ["text_encoders", "clip"],
        "style_model_name": ["style_models"], "gligen_name": ["gligen"], "hypernetwork_name": ["hypernetworks"],
        "upscale_model": ["upscale_models"], "model_name": ["upscale_models", "checkpoints"],
        "photomaker_model_name": ["photomaker"],
    ]
    /// File extensions of model files (a combo value with one of these is checked as a model file).
    public static let modelExtensions: Set<String> = [
        "safetensors", "ckpt", "pt", "pt2", "pth", "bin", "pkl", "sft", "gguf", "onnx",
    ]

    /// What the server has.
    public let objectInfo: ObjectInfo
    /// Custom node that provides a class (class type → custom node name), e.g. from the lock, for the hint.
    public let providers: [String: String]

    /// A validator over `objectInfo`.
    public init(objectInfo: ObjectInfo, providers: [String: String] = [:]) {
        self.objectInfo = objectInfo
        self.providers = providers
    }

    /// The classes the workflow uses that the server does not know.
    public func missingClasses(_ workflow: Workflow) -> [NodeError] {
        workflow.nodeIDs.compactMap { id -> NodeError? in
            guard let node = workflow[id], !objectInfo.contains(node.classType) else { return nil }
            var message = "node type \(Escaping.escape(node.classType)) is not installed on this ComfyUI"
            if let provider = providers[node.classType] {
                message +=
                    "; it is provided by the custom node \(Escaping.escape(provider)) (is it installed and enabled?)"
            } else {
                message += " (a custom node that failed to import, or one this environment does not have)"
            }
            return NodeError(
                nodeID: id, classType: node.classType,
                errors: [NodeErrorDetail(type: "missing_node_type", message: message)])
        }
    }

    /// Model-file inputs whose value the server's option lists do not contain: (node id, input, value, folders).
    public func unlistedModelInputs(
        _ workflow: Workflow
    ) -> [(node: String, input: String, value: String, folders: [String])] {
        var found: [(String, String, String, [String])] = []
        for id in workflow.nodeIDs {
            guard let node = workflow[id], objectInfo.contains(node.classType) else { continue }
            for name in node.inputs.keys.sorted() {
                guard case .string(let value)? = node.inputs[name] else { continue }
                let ext = value.split(separator: ".").last.map { $0.lowercased() } ?? ""
                let folders = Self.modelFolders[name]
                guard folders != nil || Self.modelExtensions.contains(ext) else { continue }
                guard let spec = objectInfo.inputSpec(node.classType, name), let options = Self.comboOptions(spec)
                else { continue }
                if Self.isUploadCombo(spec) { continue }
                if !options.contains(value) {
                    found.append((id, name, value, folders ?? []))
                }
            }
        }
        return found
    }

    /// The option list of a combo input spec (`[[options…], {…}]` or `["COMBO", {"options": […]}]`), if it is one.
    static func comboOptions(_ spec: JSONValue) -> [String]? {
        guard let parts = spec.arrayValue, let first = parts.first else { return nil }
        if let list = first.arrayValue { return list.compactMap(\.stringValue) }
        if first.stringValue == "COMBO", parts.count > 1, let list = parts[1]["options"]?.arrayValue {
            return list.compactMap(\.stringValue)
        }
        return nil
    }

    static func isUploadCombo(_ spec: JSONValue) -> Bool {
        guard let parts = spec.arrayValue, parts.count > 1, case .object(let config) = parts[1] else { return false }
        return config.keys.contains { $0.hasSuffix("upload") }
    }
}
