extension ImportState {
    /// comfy-cli's JSON output wraps results: `{schema: "envelope/1", type: "envelope", ok, command, data: {…,
    /// definition}}` (`Renderer._envelope`; `build scan` puts the definition in `data.definition`).
    func unwrapEnvelope(_ document: JSONValue) -> JSONValue {
        guard case .object(let root) = document, root["schema"] == .string("envelope/1"),
            case .object(let data)? = root["data"]
        else { return document }
        if let definition = data["definition"] { return definition }
        return .object(data)
    }

    // MARK: comfy-cli comfy.lock.yaml

    /// comfy-cli's `comfy.lock.yaml` (`workspace_manager.save_yaml`): `{basics: {name, updated_at}, models: [{model,
    /// url, paths: [{path}], hash, type}], custom_nodes: []}`; the README documents `custom_nodes` as a Manager
    /// YAML snapshot object, which is read as one.
    func isComfyLockYAML(_ document: JSONValue) -> Bool {
        guard case .object(let root) = document, root["schema"] == nil else { return false }
        return root["basics"] != nil || (root["models"] != nil && root["custom_nodes"] != nil)
    }

    mutating func comfyLockYAML(_ document: JSONValue, tag: String, createdBy: String) throws(LockError) -> Lock {
        let root = try object(document, "$")
        var lock: Lock
        if case .object(let nodes)? = root["custom_nodes"], !nodes.isEmpty {
            lock = try manager(.object(nodes), tag: tag, createdBy: createdBy)
        } else {
            lock = Lock(tag: tag, createdBy: createdBy, comfyui: comfyUI(commitOrRef: nil))
            report.skipped.append(
                .init(path: "$.custom_nodes", message: "comfy.lock.yaml records no custom nodes (comfy-cli writes [])"))
        }
        for (index, value) in try array(root["models"], "$.models").enumerated() {
            let path = "$.models[\(index)]"
            let entry = try object(value, path)
            var target = ""
            for item in try array(entry["paths"], path + ".paths") {
                if case .object(let members) = item, case .string(let value)? = members["path"] {
                    target = value
                    break
                }
            }
            if target.isEmpty, let name = try text(entry["model"], path + ".model") { target = name }
            if target.hasPrefix("models/") { target = String(target.dropFirst("models/".count)) }
            guard !target.isEmpty else {
                throw LockError.importFormat(path: path + ".paths", "a model needs a path")
            }
            var sha = (try text(entry["hash"], path + ".hash") ?? "").lowercased()
            if !sha.isEmpty && !Self.isSHA256(sha) {
                report.skipped.append(.init(path: path + ".hash", message: "hash \"\(sha)\" is not a SHA-256"))
                sha = ""
            }
            var sources: [String] = []
            if let url = try text(entry["url"], path + ".url"), url.contains("://") {
                sources.append(clean(url, sourcePath: path + ".url"))
            }
            lock.models.append(ModelEntry(path: target, size: 0, sha256: sha, sources: sources))
        }
        return lock
    }

    static func isSHA256(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }

    // MARK: comfy-cli distribution-definition/0

    mutating func comfyCLI(_ document: JSONValue, tag: String, createdBy: String) throws(LockError) -> Lock {
        var root = try object(document, "$")
        var base = "$"
        if root["schema"] == .string("comfy-build/1"), case .object(let definition)? = root["definition"] {
            root = definition
            base = "$.definition"
        }
        guard root["schema"] == .string("distribution-definition/0") else {
            throw LockError.importFormat(
                path: base + ".schema", "not a comfy-cli definition; expected schema \"distribution-definition/0\"")
        }
        let pin = comfyUI(commitOrRef: try text(root["baseComfyVersion"], base + ".baseComfyVersion"))
        var nodes: [CustomNode] = []
        for (index, value) in try array(root["customNodes"], base + ".customNodes").enumerated() {
            let path = base + ".customNodes[\(index)]"
            let entry = try object(value, path)
            guard let name = try text(entry["name"], path + ".name"), !name.isEmpty else {
                throw LockError.importFormat(path: path + ".name", "missing node name")
            }
            let repository = try text(entry["repository"], path + ".repository")
            var ref = try text(entry["gitRef"], path + ".gitRef")
            if ref == nil { ref = try text(entry["commit"], path + ".commit") }
            let registryVersion = try text(entry["registryVersion"], path + ".registryVersion")
            if let repository, !repository.isEmpty {
                var commit = ref?.lowercased()
                if let value = commit, !LockValidator.isCommit(value) {
                    // A branch or tag is not a pin: the commit is reported missing (with the ref for context).
                    report.skipped.append(
                        .init(path: path + ".gitRef", message: "gitRef \"\(value)\" of \"\(name)\" is not a commit SHA")
                    )
                    commit = nil
                }
                let url = normalizeRemote(
                    clean(repository, sourcePath: path + ".repository"), sourcePath: path + ".repository")
                nodes.append(CustomNode(name: name, kind: .git, url: url, commit: commit))
            } else if let registryVersion, !registryVersion.isEmpty {
                let id = try text(entry["id"], path + ".id") ?? name
                nodes.append(CustomNode(name: name, kind: .registry, registryId: id, version: registryVersion))
            } else {
                report.skipped.append(
                    .init(
                        path: path,
                        message: "node \"\(name)\" has no upstream source (source: local); upload or publish it first"))
            }
        }
        var models: [ModelEntry] = []
        for (index, value) in try array(root["models"], base + ".models").enumerated() {
            let path = base + ".models[\(index)]"
            let entry = try object(value, path)
            guard let type = try text(entry["type"], path + ".type"), !type.isEmpty,
                let filename = try text(entry["filename"], path + ".filename"), !filename.isEmpty
            else {
                throw LockError.importFormat(path: path, "a model needs type and filename")
            }
            let sha = try text(entry["sha256"], path + ".sha256")?.lowercased() ?? ""
            var size: Int64 = 0
            if case .number(let number)? = entry["sizeBytes"], number >= 0, number == number.rounded(.towardZero),
                number < 9.0e15
            {
                size = Int64(number)
            }
            var sources: [String] = []
            if let uri = try text(entry["sourceUri"], path + ".sourceUri"), uri.contains("://") {
                sources.append(clean(uri, sourcePath: path + ".sourceUri"))
            }
            models.append(ModelEntry(path: type + "/" + filename, size: size, sha256: sha, sources: sources))
        }
        var python: PythonPins?
        let environment = try object(root["environment"], base + ".environment")
        if let freeze = try text(root["pipDependencies"], base + ".pipDependencies") {
            var packages: [PythonPackage] = []
            for (index, line) in freeze.split(separator: "\n").enumerated() {
                if let package = requirement(String(line), sourcePath: base + ".pipDependencies[line \(index + 1)]") {
                    packages.append(package)
                }
            }
            var platform = ""
            let os = try text(environment["os"], base + ".environment.os")?.lowercased()
            let arch = try text(environment["arch"], base + ".environment.arch")?.lowercased()
            if os == "linux", let arch, ["x86_64", "aarch64"].contains(arch) { platform = "linux_\(arch)" }
            python = PythonPins(
                version: try text(environment["pythonVersion"], base + ".environment.pythonVersion") ?? "",
                platform: platform, packages: packages)
        }
        return Lock(tag: tag, createdBy: createdBy, comfyui: pin, customNodes: nodes, python: python, models: models)
    }
}
