/// Formats a lock can be exported to.
public enum ExportFormat: String, CaseIterable, Codable, Hashable, Sendable {
    /// A ComfyUI-Manager snapshot (JSON).
    case manager
}

/// The exported document and what the target format cannot carry.
public struct ExportResult: Hashable, Sendable {
    /// The exported document (canonical JSON bytes, no trailing newline).
    public var bytes: [UInt8]
    /// Lock content the target format has no place for (e.g. model hashes, artifact hashes), as `path: what`.
    public var dropped: [ImportReport.Item]
}

/// Exports a lock to peer formats.
public enum LockExporter {
    /// Exports `lock` to `format`.
    public static func export(_ lock: Lock, to format: ExportFormat) -> ExportResult {
        switch format {
        case .manager: managerSnapshot(lock)
        }
    }

    /// A ComfyUI-Manager snapshot: `comfyui` (commit), `git_custom_nodes` {url: {hash, disabled}},
    /// `cnr_custom_nodes` {id: version}, `file_custom_nodes` [{filename, disabled}], `pips` {"name==version": ""} and {"name": "git+URL@commit"} for VCS pins.
    public static func managerSnapshot(_ lock: Lock) -> ExportResult {
        let lock = lock.sorted()
        var dropped: [ImportReport.Item] = []
        var git: [String: JSONValue] = [:]
        var cnr: [String: JSONValue] = [:]
        var files: [JSONValue] = []
        if lock.comfyui.url != LockImporter.defaultComfyUIURL {
            dropped.append(
                .init(
                    path: "$.comfyui.url",
                    message:
                        "Manager snapshots do not record the ComfyUI repository "
                        + "(\(LockValidator.shown(lock.comfyui.url)))"
                ))
        }
        for (index, node) in lock.customNodes.enumerated() {
            let path = "$.customNodes[\(index)]"
            switch node.kind {
            case .git:
                git[node.url ?? ""] = ["hash": .string(node.commit ?? ""), "disabled": .bool(!node.enabled)]
                if let url = node.url, LockImporterNameCheck.repositoryName(url) != node.name {
                    dropped.append(
                        .init(
                            path: path + ".name",
                            message:
                                "directory name \(Escaping.quoted(node.name)) differs from the URL's; Manager derives it from "
                                + "the URL"
                        ))
                }
            case .registry:
                if node.enabled {
                    cnr[node.registryId ?? node.name] = .string(node.version ?? "")
                    if let id = node.registryId, id != node.name {
                        dropped.append(
                            .init(
                                path: path + ".name",
                                message:
                                    "directory name \(Escaping.quoted(node.name)) differs from registry id \(Escaping.quoted(id)); Manager "
                                    + "installs into the id"
                            ))
                    }
                } else {
                    dropped.append(
                        .init(
                            path: path,
                            message:
                                "disabled registry node \"\(node.name)\" has no place in cnr_custom_nodes; left out"))
                }
            case .file:
                files.append(["filename": .string(node.name), "disabled": .bool(!node.enabled)])
                if node.sha256 != nil {
                    dropped.append(
                        .init(path: path + ".sha256", message: "file node hashes are not recorded by Manager"))
                }
            }
        }
        var pips: [String: JSONValue] = [:]
        if let python = lock.python {
            for (index, package) in python.packages.enumerated() {
                if let vcs = package.vcs {
                    // As Manager writes a direct reference (`get_installed_pip_packages` splits the freeze line
                    // `name @ URL` into key and value) and restores it (`restore_pip_snapshot` installs the value).
                    let url = vcs.url.hasPrefix("git+") ? vcs.url : "git+" + vcs.url
                    pips[package.name] = .string("\(url)@\(vcs.commit)")
                } else {
                    pips["\(package.name)==\(package.version)"] = ""
                    if !package.artifacts.isEmpty {
                        dropped.append(
                            .init(
                                path: "$.python.packages[\(index)].artifacts",
                                message: "artifact URLs and hashes of \(package.name) are not recorded by Manager"))
                    }
                }
            }
            dropped.append(
                .init(
                    path: "$.python",
                    message:
                        "interpreter version \(python.version), platform and index URLs are not recorded by Manager"))
        }
        if !lock.models.isEmpty {
            dropped.append(
                .init(path: "$.models", message: "\(lock.models.count) models are not recorded by Manager snapshots"))
        }
        if !lock.workflows.isEmpty {
            dropped.append(
                .init(
                    path: "$.workflows",
                    message: "\(lock.workflows.count) workflows are not recorded by Manager snapshots"))
        }
        let snapshot: JSONValue = .object([
            "comfyui": .string(lock.comfyui.commit.isEmpty ? (lock.comfyui.ref ?? "") : lock.comfyui.commit),
            "git_custom_nodes": .object(git),
            "cnr_custom_nodes": .object(cnr),
            "file_custom_nodes": .array(files),
            "pips": .object(pips),
        ])
        return ExportResult(bytes: CanonicalJSON.encode(snapshot), dropped: dropped)
    }
}

enum LockImporterNameCheck {
    static func repositoryName(_ url: String) -> String {
        var text = Substring(url)
        while text.hasSuffix("/") { text = text.dropLast() }
        if let slash = text.lastIndex(where: { $0 == "/" || $0 == ":" }) { text = text[text.index(after: slash)...] }
        if text.hasSuffix(".git") { text = text.dropLast(4) }
        return String(text)
    }
}
