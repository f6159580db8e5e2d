extension ImportState {
    /// Manager's YAML snapshot is `{custom_nodes: {comfyui, git_custom_nodes, …}}` (`save_snapshot_with_postfix`).
    func unwrapManagerYAML(_ document: JSONValue) -> JSONValue {
        guard case .object(let root) = document, root["comfyui"] == nil, root["git_custom_nodes"] == nil,
            case .object(let inner)? = root["custom_nodes"],
            inner["comfyui"] != nil || inner["git_custom_nodes"] != nil || inner["cnr_custom_nodes"] != nil
        else { return document }
        return .object(inner)
    }

    /// A Manager `hash` value: a commit, or nil (reported missing). Manager writes "unknown" when the ref it read
    /// is packed (`git_utils.get_commit_hash`), and keeps the newline of a detached HEAD file.
    mutating func commitValue(_ raw: String?, sourcePath: String) throws(LockError) -> String? {
        guard let raw = raw?.trimmingSpaces.lowercased(), !raw.isEmpty else { return nil }
        guard raw != "unknown" else {
            report.skipped.append(
                .init(
                    path: sourcePath,
                    message:
                        "hash \"unknown\" (Manager writes it when the ref it read is packed); the commit is missing"))
            return nil
        }
        // Anything else that is not a commit is kept, so the one rule set refuses it (never silently dropped).
        return raw
    }

    mutating func manager(
        _ document: JSONValue, tag: String, createdBy: String, extraKeys: Set<String> = []
    )
        throws(LockError) -> Lock
    {
        let root = try object(document, "$")
        let known: Set<String> = ["comfyui", "git_custom_nodes", "cnr_custom_nodes", "file_custom_nodes", "pips"]
        guard root["comfyui"] != nil || root["git_custom_nodes"] != nil || root["cnr_custom_nodes"] != nil else {
            throw LockError.importFormat(
                path: "$",
                "not a ComfyUI-Manager snapshot; expected members comfyui, git_custom_nodes, cnr_custom_nodes")
        }
        for key in root.keys.sorted() where !known.contains(key) && !extraKeys.contains(key) {
            report.skipped.append(
                .init(path: JSONPath.appending("$", key: key), message: "member not understood; ignored"))
        }
        let pin = comfyUI(commitOrRef: try text(root["comfyui"], "$.comfyui"))
        var nodes: [CustomNode] = []
        for (rawURL, value) in try object(root["git_custom_nodes"], "$.git_custom_nodes").sorted(by: { $0.key < $1.key }
        ) {
            let path = JSONPath.appending("$.git_custom_nodes", key: LockValidator.shown(rawURL))
            let url = normalizeRemote(clean(rawURL, sourcePath: path), sourcePath: path)
            let entry = try object(value, path)
            let hash = try commitValue(try text(entry["hash"], path + ".hash"), sourcePath: path + ".hash")
            let disabled = try bool(entry["disabled"], path + ".disabled") ?? false
            nodes.append(
                CustomNode(
                    name: Self.repositoryName(url), kind: .git, url: url, commit: hash, enabled: !disabled))
        }
        for (id, value) in try object(root["cnr_custom_nodes"], "$.cnr_custom_nodes").sorted(by: { $0.key < $1.key }) {
            let path = JSONPath.appending("$.cnr_custom_nodes", key: id)
            let version = try text(value, path) ?? ""
            nodes.append(CustomNode(name: id, kind: .registry, registryId: id, version: version))
        }
        for (index, value) in try array(root["file_custom_nodes"], "$.file_custom_nodes").enumerated() {
            let path = "$.file_custom_nodes[\(index)]"
            let entry = try object(value, path)
            guard let filename = try text(entry["filename"], path + ".filename"), !filename.isEmpty else {
                throw LockError.importFormat(path: path + ".filename", "missing filename")
            }
            let disabled = try bool(entry["disabled"], path + ".disabled") ?? false
            nodes.append(CustomNode(name: filename, kind: .file, enabled: !disabled))
        }
        var python: PythonPins?
        if let pips = root["pips"], pips != .null {
            var packages: [PythonPackage] = []
            for (key, value) in try object(pips, "$.pips").sorted(by: { $0.key < $1.key }) {
                let sourcePath = JSONPath.appending("$.pips", key: LockValidator.shown(key))
                // Manager's `pip freeze` split: "name==version": "" and, for direct references,
                // "name": "git+URL@commit" (the freeze line `name @ git+URL@commit` split at " @ ").
                let reference = try text(value, sourcePath) ?? ""
                let line = reference.isEmpty ? key : "\(key) @ \(reference)"
                if reference.hasPrefix("file:") {
                    report.skipped.append(
                        .init(path: sourcePath, message: "\(key) was installed from a local file; not fetchable"))
                    continue
                }
                if let package = requirement(line, sourcePath: sourcePath) {
                    packages.append(package)
                }
            }
            python = PythonPins(version: "", platform: "", packages: packages)
        }
        return Lock(tag: tag, createdBy: createdBy, comfyui: pin, customNodes: nodes, python: python)
    }
}
