internal import ComfyLock
public import Foundation

/// One way two versions differ (`version compare`).
public struct VersionDifference: Codable, Hashable, Sendable, CustomStringConvertible {
    /// `comfyui`, `custom-node`, `python`, `model` or `config`.
    public var area: String
    /// The node name, distribution name, model path or file concerned.
    public var subject: String
    /// What differs: `present`, `commit`, `tree`, `dirty <path>`, `enabled`, `kind`, `sha256`, `version`,
    /// `artifact`, `record`, `size`, `folder`.
    public var field: String
    /// The value in the first version (nil: absent there).
    public var a: String?
    /// The value in the second version (nil: absent there).
    public var b: String?

    /// A difference.
    public init(area: String, subject: String, field: String, a: String?, b: String?) {
        self.area = area
        self.subject = subject
        self.field = field
        self.a = a
        self.b = b
    }

    /// `custom-node node-alpha: commit: A 0123…, B 4567…` (absent values shown as `(absent)`).
    public var description: String {
        "\(area) \(subject): \(field): A \(a ?? "(absent)"), B \(b ?? "(absent)")"
    }
}

/// The result of `version compare`.
public struct VersionComparison: Codable, Hashable, Sendable {
    /// The first version's directory.
    public var a: String
    /// The second version's directory.
    public var b: String
    /// True when nothing differs.
    public var identical: Bool
    /// Every difference, in a stable order (ComfyUI, nodes, Python, models, configuration).
    public var differences: [VersionDifference]
    /// `LockFile.digest` of each version's own lock copy, when readable. Informational: two locks that differ only
    /// in what does not reach the disk (tag, workflows) build identical versions.
    public var lockDigests: [String?]
    /// How much was compared: nodes, Python distributions, model files (of the first version).
    public var counts: [String: Int]
}

/// Compares two observed versions field by field.
public enum VersionComparer {
    /// Every difference between `a` and `b`.
    public static func compare(_ a: VersionObservation, _ b: VersionObservation) -> [VersionDifference] {
        var out: [VersionDifference] = []

        // ComfyUI.
        switch (a.comfyUI, b.comfyUI) {
        case (nil, nil): break
        case (let x?, nil):
            out.append(.init(area: "comfyui", subject: "ComfyUI", field: "present", a: x.commit ?? "not git", b: nil))
        case (nil, let y?):
            out.append(.init(area: "comfyui", subject: "ComfyUI", field: "present", a: nil, b: y.commit ?? "not git"))
        case (let x?, let y?):
            field(&out, "comfyui", "ComfyUI", "commit", x.commit, y.commit)
            field(&out, "comfyui", "ComfyUI", "tree", x.tree, y.tree)
            dirty(&out, "comfyui", "ComfyUI", x.dirty, y.dirty)
        }

        // Custom nodes, keyed by name (a node moved to .disabled is an `enabled` difference, not add/remove).
        let nodeSummary = { (node: VersionObservation.Node) in
            "\(node.kind) \(node.commit ?? node.tree ?? node.sha256 ?? "")"
        }
        keyed(&out, "custom-node", a.nodes, b.nodes, key: \.name, summary: nodeSummary) { out, name, x, y in
            field(&out, "custom-node", name, "enabled", "\(x.enabled)", "\(y.enabled)")
            field(&out, "custom-node", name, "kind", x.kind, y.kind)
            field(&out, "custom-node", name, "commit", x.commit, y.commit)
            field(&out, "custom-node", name, "tree", x.tree, y.tree)
            field(&out, "custom-node", name, "sha256", x.sha256, y.sha256)
            dirty(&out, "custom-node", name, x.dirty, y.dirty)
        }

        // Python.
        switch (a.python, b.python) {
        case (nil, nil): break
        case (let x?, nil):
            out.append(.init(area: "python", subject: "venv", field: "present", a: "\(x.count) distributions", b: nil))
        case (nil, let y?):
            out.append(.init(area: "python", subject: "venv", field: "present", a: nil, b: "\(y.count) distributions"))
        case (let x?, let y?):
            keyed(&out, "python", x, y, key: \.name, summary: { "\($0.version) \($0.artifact)" }) { out, name, p, q in
                field(&out, "python", name, "version", p.version, q.version)
                field(&out, "python", name, "artifact", p.artifact, q.artifact)
                field(&out, "python", name, "record", p.record, q.record)
            }
        }

        // Models.
        keyed(&out, "model", a.models, b.models, key: \.path, summary: { "\($0.size) bytes, sha256 \($0.sha256)" }) {
            out, path, x, y in
            field(&out, "model", path, "size", "\(x.size)", "\(y.size)")
            field(&out, "model", path, "sha256", x.sha256, y.sha256)
        }

        // extra_model_paths.yaml.
        let yaml = "ComfyUI/extra_model_paths.yaml"
        if let x = a.extraModelPaths, let y = b.extraModelPaths {
            let left = Set(x)
            let right = Set(y)
            for line in x where !right.contains(line) {
                out.append(.init(area: "config", subject: yaml, field: "folder", a: line, b: nil))
            }
            for line in y where !left.contains(line) {
                out.append(.init(area: "config", subject: yaml, field: "folder", a: nil, b: line))
            }
        } else if a.extraModelPaths != nil || b.extraModelPaths != nil {
            out.append(
                .init(
                    area: "config", subject: yaml, field: "present", a: a.extraModelPaths.map { "\($0.count) folders" },
                    b: b.extraModelPaths.map { "\($0.count) folders" }))
        }
        return out
    }

    private static func field(
        _ out: inout [VersionDifference], _ area: String, _ subject: String, _ name: String, _ a: String?, _ b: String?
    ) {
        if a != b { out.append(.init(area: area, subject: subject, field: name, a: a, b: b)) }
    }

    private static func dirty(
        _ out: inout [VersionDifference], _ area: String, _ subject: String, _ a: [VersionObservation.DirtyFile],
        _ b: [VersionObservation.DirtyFile]
    ) {
        let left = Dictionary(a.map { ($0.path, $0.content) }, uniquingKeysWith: { x, _ in x })
        let right = Dictionary(b.map { ($0.path, $0.content) }, uniquingKeysWith: { x, _ in x })
        for path in Set(left.keys).union(right.keys).sorted() where left[path] != right[path] {
            // "clean" = the file is as committed in that checkout.
            out.append(
                .init(
                    area: area, subject: subject, field: "dirty \(path)", a: left[path] ?? "clean",
                    b: right[path] ?? "clean"))
        }
    }

    private static func keyed<T>(
        _ out: inout [VersionDifference], _ area: String, _ a: [T], _ b: [T], key: (T) -> String,
        summary: (T) -> String, fields: (inout [VersionDifference], String, T, T) -> Void
    ) {
        let right = Dictionary(b.map { (key($0), $0) }, uniquingKeysWith: { x, _ in x })
        let left = Dictionary(a.map { (key($0), $0) }, uniquingKeysWith: { x, _ in x })
        for item in a {
            let name = key(item)
            if let other = right[name] {
                fields(&out, name, item, other)
            } else {
                out.append(.init(area: area, subject: name, field: "present", a: summary(item), b: nil))
            }
        }
        for item in b where left[key(item)] == nil {
            out.append(.init(area: area, subject: key(item), field: "present", a: nil, b: summary(item)))
        }
    }
}

extension VersionInspector {
    /// Observes both version directories and compares them (`version compare A B`).
    public func compare(_ a: URL, _ b: URL) async throws -> VersionComparison {
        async let first = observe(directory: a)
        async let second = observe(directory: b)
        let (x, y) = try await (first, second)
        let differences = VersionComparer.compare(x, y)
        let digests = [a, b].map { dir in
            (try? LockFile.read(from: VersionLayout(directory: dir).lockFile)).map { LockFile.digest($0) }
        }
        return VersionComparison(
            a: a.path, b: b.path, identical: differences.isEmpty, differences: differences, lockDigests: digests,
            counts: ["nodes": x.nodes.count, "python": x.python?.count ?? 0, "models": x.models.count])
    }
}
