public import ComfyLock
internal import ComfySupport
import Foundation

/// The node classes a repository registers, read from its Python source at a commit (no code runs): the keys of
/// `NODE_CLASS_MAPPINGS = {…}` / `.update({…})` / `NODE_CLASS_MAPPINGS["X"] = …`, and the `node_id="X"` (or a
/// `NODE_ID = "X"` class attribute) of ComfyUI's V3 node schemas.
///
/// A static reading, so a pack that builds its mapping in a loop or from another module's names is not seen: a
/// running server's `/object_info` (`python_module`) is authoritative and preferred by `NodeProviders`. Bounded:
/// only `.py` files that mention one of the markers (`git grep` at the commit), at most `maxFiles` of them, each at
/// most `maxFileBytes`.
public struct NodeClassScanner: Sendable {
    /// The git cache the repositories are read from.
    public let gitCache: GitCache
    /// The most files read per repository.
    public static let maxFiles = 400
    /// The largest file read.
    public static let maxFileBytes = 1 << 20

    /// A scanner over `gitCache`.
    public init(gitCache: GitCache) { self.gitCache = gitCache }

    /// The classes `url` registers at `commit` (fetched into the git cache when missing).
    public func classes(url: String, commit: String) async throws -> Set<String> {
        let mirror = try await gitCache.ensure(url: try Git.remote(url), commit: commit)
        let git = gitCache.git
        let listed = try await git.execute(
            [
                "grep", "-l", "-I", "--no-color", "-e", "NODE_CLASS_MAPPINGS", "-e", "node_id", "-e", "NODE_ID",
                try Git.revision(commit), "--", "*.py",
            ], in: mirror.path)
        // Exit 1 = no match; anything else is an error.
        if case .exited(1) = listed.termination { return [] }
        guard listed.termination.isSuccess else {
            throw RuntimeError.invalidInput(
                "cannot read the sources of \(Redaction.redactURL(url)) at \(commit): \(listed.errorOutput.prefix(300))"
            )
        }
        var classes: Set<String> = []
        for line in listed.output.split(separator: "\n").prefix(Self.maxFiles) {
            // `git grep` prints COMMIT:path.
            let path = line.hasPrefix(commit + ":") ? String(line.dropFirst(commit.count + 1)) : String(line)
            let size = try await git.execute(
                ["cat-file", "-s", "--end-of-options", "\(commit):\(path)"], in: mirror.path)
            guard size.termination.isSuccess, let bytes = Int(size.trimmedOutput), bytes <= Self.maxFileBytes else {
                continue
            }
            let blob = try await git.execute(
                ["cat-file", "blob", "--end-of-options", "\(commit):\(path)"], in: mirror.path)
            guard blob.termination.isSuccess else { continue }
            classes.formUnion(Self.classNames(inPython: blob.output))
        }
        return classes
    }

    /// The class names one Python source registers (see the type).
    public static func classNames(inPython source: String) -> Set<String> {
        let text = Array(source.unicodeScalars)
        var names: Set<String> = []
        let marker = Array("NODE_CLASS_MAPPINGS".unicodeScalars)
        var i = 0
        while i + marker.count <= text.count {
            guard text[i..<(i + marker.count)].elementsEqual(marker) else {
                i += 1
                continue
            }
            var j = skipSpaces(text, i + marker.count)
            if j < text.count, text[j] == "[" {
                // NODE_CLASS_MAPPINGS["X"] = …
                if let (name, end) = string(text, skipSpaces(text, j + 1)) {
                    let close = skipSpaces(text, end)
                    if close < text.count, text[close] == "]" { names.insert(name) }
                }
            } else {
                // = {…}, |= {…}, .update({…}) or .update(dict(…)) — the keys of the first brace that follows.
                if j < text.count, text[j] == "." { j = skipSpaces(text, j + "update(".unicodeScalars.count + 1) }
                while j < text.count, "=|:(".unicodeScalars.contains(text[j]) || text[j] == " " { j += 1 }
                if j < text.count, text[j] == "{" { names.formUnion(keys(text, j)) }
            }
            i += marker.count
        }
        // V3 schemas: io.Schema(node_id="X", …), or a class attribute NODE_ID = "X" the schema reads.
        for v3 in [Array("node_id".unicodeScalars), Array("NODE_ID".unicodeScalars)] {
            i = 0
            while i + v3.count <= text.count {
                if text[i..<(i + v3.count)].elementsEqual(v3), i == 0 || !isIdentifier(text[i - 1]),
                    i + v3.count == text.count || !isIdentifier(text[i + v3.count])
                {
                    let j = skipSpaces(text, i + v3.count)
                    if j < text.count, text[j] == "=", let (name, _) = string(text, skipSpaces(text, j + 1)) {
                        names.insert(name)
                    }
                }
                i += 1
            }
        }
        return names.filter { !$0.isEmpty && $0.utf8.count <= 256 }
    }

    /// The string keys at depth 1 of the dict literal opening at `start`.
    static func keys(_ text: [Unicode.Scalar], _ start: Int) -> Set<String> {
        var keys: Set<String> = []
        var depth = 0
        var i = start
        var limit = 0
        while i < text.count, limit < 1_000_000 {
            limit += 1
            let c = text[i]
            if c == "#" {
                while i < text.count, text[i] != "\n" { i += 1 }
                continue
            }
            if c == "\"" || c == "'" {
                guard let (value, end) = string(text, i) else { return keys }
                if depth == 1 {
                    let after = skipSpaces(text, end)
                    if after < text.count, text[after] == ":" { keys.insert(value) }
                }
                i = end
                continue
            }
            if "{[(".unicodeScalars.contains(c) { depth += 1 }
            if "}])".unicodeScalars.contains(c) {
                depth -= 1
                if depth == 0 { return keys }
            }
            i += 1
        }
        return keys
    }

    /// A quoted string literal at `start` (no escapes inside class names): its value and the index after it.
    static func string(_ text: [Unicode.Scalar], _ start: Int) -> (String, Int)? {
        guard start < text.count, text[start] == "\"" || text[start] == "'" else { return nil }
        let quote = text[start]
        var value = String.UnicodeScalarView()
        var i = start + 1
        while i < text.count, text[i] != quote {
            if text[i] == "\\" {
                i += 1
                guard i < text.count else { return nil }
            }
            if text[i] == "\n" || value.count > 512 { return nil }
            value.append(text[i])
            i += 1
        }
        guard i < text.count else { return nil }
        return (String(value), i + 1)
    }

    static func skipSpaces(_ text: [Unicode.Scalar], _ start: Int) -> Int {
        var i = start
        while i < text.count, text[i] == " " || text[i] == "\t" || text[i] == "\n" || text[i] == "\r" { i += 1 }
        return i
    }

    static func isIdentifier(_ c: Unicode.Scalar) -> Bool {
        c == "_" || ("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c)
    }
}

/// Which part of an installation provides a node class.
public struct NodeProvider: Sendable, Hashable, Codable {
    /// The kinds of provider.
    public enum Kind: String, Sendable, Hashable, Codable {
        /// ComfyUI itself (`nodes`, `comfy_extras.…`, `comfy_api_nodes.…`, or found in ComfyUI's sources).
        case core
        /// A custom node the lock has (`node` is its name).
        case lockNode
        /// A custom node the server loads that the lock does not have (`node` is its directory).
        case customNode
        /// Nobody known: neither the server nor the lock's sources name it.
        case unknown
    }

    /// The class.
    public var classType: String
    /// The kind.
    public var kind: Kind
    /// The custom node's name / directory (lockNode, customNode).
    public var node: String?
    /// The Python module the server named (`python_module`), when asked.
    public var module: String?
    /// For lockNode: whether the lock enables it.
    public var enabled: Bool?

    /// A provider.
    public init(classType: String, kind: Kind, node: String? = nil, module: String? = nil, enabled: Bool? = nil) {
        self.classType = classType
        self.kind = kind
        self.node = node
        self.module = module
        self.enabled = enabled
    }
}

/// Decides which part of an installation provides each class of a workflow.
public enum NodeProviders {
    /// For each class: the server's `python_module` decides when given (`custom_nodes.<dir>` → that node;
    /// anything else → core); otherwise the class maps read from the lock's sources (`NodeClassScanner`: `core`
    /// for ComfyUI's, node name → classes for the nodes). A server directory matches a lock node by name (also
    /// ignoring case, and a `.py` suffix for single-file nodes).
    public static func resolve(
        classTypes: [String], pythonModules: [String: String] = [:], coreClasses: Set<String> = [],
        nodeClasses: [String: Set<String>] = [:], lock: Lock?
    ) -> [NodeProvider] {
        let nodes = lock?.customNodes ?? []
        func lockNode(named directory: String) -> CustomNode? {
            let bare = directory.hasSuffix(".py") ? String(directory.dropLast(3)) : directory
            return nodes.first { $0.name == directory || $0.name == bare }
                ?? nodes.first { $0.name.lowercased() == bare.lowercased() }
        }
        return classTypes.map { classType in
            if let module = pythonModules[classType] {
                if let directory = customNodeDirectory(ofModule: module) {
                    if let node = lockNode(named: directory) {
                        return NodeProvider(
                            classType: classType, kind: .lockNode, node: node.name, module: module,
                            enabled: node.enabled)
                    }
                    return NodeProvider(classType: classType, kind: .customNode, node: directory, module: module)
                }
                return NodeProvider(classType: classType, kind: .core, module: module)
            }
            if coreClasses.contains(classType) { return NodeProvider(classType: classType, kind: .core) }
            for name in nodeClasses.keys.sorted() where nodeClasses[name]!.contains(classType) {
                let node = nodes.first { $0.name == name }
                return NodeProvider(classType: classType, kind: .lockNode, node: name, enabled: node?.enabled)
            }
            return NodeProvider(classType: classType, kind: .unknown)
        }
    }

    /// `custom_nodes.<dir>` → `<dir>` (ComfyUI names a custom node's module by its directory, dots included);
    /// nil for a core module.
    public static func customNodeDirectory(ofModule module: String) -> String? {
        guard module.hasPrefix("custom_nodes.") else { return nil }
        let rest = module.dropFirst("custom_nodes.".count)
        return rest.isEmpty ? nil : String(rest)
    }
}
