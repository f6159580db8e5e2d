extension ImportState {
    // MARK: comfy-pack

    mutating func comfyPackExtras(_ document: JSONValue, into lock: inout Lock) throws(LockError) {
        let root = try object(document, "$")
        if let python = root["python"], python != .null {
            var version: String?
            if case .object(let members) = python {
                version = try text(members["version"], "$.python.version")
            } else {
                version = try text(python, "$.python")
            }
            if let version {
                var pins = lock.python ?? PythonPins(version: "", platform: "")
                pins.version = version.split(separator: " ").first.map(String.init) ?? version
                lock.python = pins
            }
        }
        for (index, value) in try array(root["models"], "$.models").enumerated() {
            let path = "$.models[\(index)]"
            let entry = try object(value, path)
            guard var filename = try text(entry["filename"], path + ".filename"), !filename.isEmpty else {
                throw LockError.importFormat(path: path + ".filename", "missing filename")
            }
            if filename.hasPrefix("models/") { filename = String(filename.dropFirst("models/".count)) }
            let disabled = try bool(entry["disabled"], path + ".disabled") ?? false
            if disabled {
                report.skipped.append(
                    .init(path: path, message: "model \"\(filename)\" is marked disabled; not imported"))
                continue
            }
            let sha = try text(entry["sha256"], path + ".sha256")?.lowercased() ?? ""
            var size: Int64 = 0
            if case .number(let number)? = entry["size"], number >= 0, number == number.rounded(.towardZero),
                number < 9.0e15
            {
                size = Int64(number)
            }
            var sources: [String] = []
            var huggingface: HuggingFaceRef?
            let source = try object(entry["source"], path + ".source")
            let kind = try text(source["source"], path + ".source.source")
            let repo = try text(source["repo"], path + ".source.repo")
            let commit = try text(source["commit"], path + ".source.commit")
            let filePath = try text(source["path"], path + ".source.path")
            if kind == "huggingface", let repo, let commit, let filePath {
                // comfy-pack records the repository, commit and file path; the resolve URL follows from them.
                huggingface = HuggingFaceRef(repo: repo, revision: commit, file: filePath)
                sources.append(
                    "https://huggingface.co/\(Self.percentEncodePath(repo))/resolve/\(Self.percentEncodePath(commit))/"
                        + Self.percentEncodePath(filePath))
            } else if let download = try text(source["download_url"], path + ".source.download_url"),
                download.contains("://")
            {
                sources.append(download)
            } else if let url = try text(source["url"], path + ".source.url"), url.contains("://") {
                sources.append(url)
            }
            sources = sources.map { clean($0, sourcePath: path + ".source") }
            lock.models.append(
                ModelEntry(path: filename, size: size, sha256: sha, sources: sources, huggingface: huggingface))
        }
        if root["workflow"] != nil || root["workflows"] != nil {
            report.skipped.append(
                .init(
                    path: "$.workflow",
                    message: "comfy-pack workflows carry no expected outputs; add them with the workflows section"))
        }
    }

    // MARK: comfy-pack before 0.4

    /// comfy-pack < 0.4 (`nodes/api.py` `_write_snapshot`): `{python, comfyui, models, custom_nodes: [{url,
    /// commit_hash, disabled, path}]}`, and the pips in a `requirements.txt` beside it (`_write_requirements`).
    func isComfyPackBefore04(_ document: JSONValue) -> Bool {
        guard case .object(let root) = document, root["pips"] == nil, case .array? = root["custom_nodes"] else {
            return false
        }
        return true
    }

    mutating func comfyPackBefore04(
        _ document: JSONValue, tag: String, createdBy: String, requirements: [UInt8]?
    ) throws(LockError) -> Lock {
        let root = try object(document, "$")
        let known: Set<String> = ["python", "comfyui", "models", "custom_nodes", "workflow", "workflows"]
        for key in root.keys.sorted() where !known.contains(key) {
            report.skipped.append(
                .init(path: JSONPath.appending("$", key: key), message: "member not understood; ignored"))
        }
        let pin = comfyUI(commitOrRef: try text(root["comfyui"], "$.comfyui"))
        var nodes: [CustomNode] = []
        for (index, value) in try array(root["custom_nodes"], "$.custom_nodes").enumerated() {
            let path = "$.custom_nodes[\(index)]"
            let entry = try object(value, path)
            guard let raw = try text(entry["url"], path + ".url"), !raw.isEmpty else {
                report.skipped.append(
                    .init(path: path, message: "custom node without a url; skipped (as comfy-pack does)"))
                continue
            }
            let url = normalizeRemote(clean(raw, sourcePath: path + ".url"), sourcePath: path + ".url")
            let commit = try commitValue(
                try text(entry["commit_hash"], path + ".commit_hash"), sourcePath: path + ".commit_hash")
            let disabled = try bool(entry["disabled"], path + ".disabled") ?? false
            nodes.append(
                CustomNode(name: Self.repositoryName(url), kind: .git, url: url, commit: commit, enabled: !disabled))
        }
        var python: PythonPins?
        if let requirements {
            guard let content = String(validating: requirements, as: UTF8.self) else {
                throw LockError.importFormat(path: "requirements.txt", "not UTF-8 text")
            }
            var packages: [PythonPackage] = []
            for (index, line) in content.split(whereSeparator: \.isNewline).enumerated() {
                if let package = requirement(String(line), sourcePath: "requirements.txt[line \(index + 1)]") {
                    packages.append(package)
                }
            }
            python = PythonPins(version: "", platform: "", packages: packages)
        } else {
            report.skipped.append(
                .init(
                    path: "requirements.txt",
                    message: "comfy-pack < 0.4 keeps its pips in a requirements.txt beside snapshot.json; none given"))
        }
        return Lock(tag: tag, createdBy: createdBy, comfyui: pin, customNodes: nodes, python: python)
    }
}
