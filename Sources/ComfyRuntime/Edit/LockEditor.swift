public import ComfyLock
internal import ComfySupport
import Foundation

/// Edits a lock's ComfyUI pin and node set: git refs become commits through the one git cache (mirror rewriting
/// applied), names and URLs are checked by the lock's own rule set before anything is fetched.
///
/// Every method works on a `Lock` value the caller owns; nothing is written here. The front end computes the diff
/// (`LockDiffer`), shows it, re-pins Python with `LockPinning` and writes the lock atomically only at the end, so a
/// failure at any step leaves the file as it was.
public struct LockEditor: Sendable {
    /// The git cache refs are resolved through.
    public let gitCache: GitCache

    /// An editor resolving refs through `gitCache`.
    public init(gitCache: GitCache) { self.gitCache = gitCache }

    /// Moves ComfyUI to `ref` (a tag, branch or commit; `nil` = the remote's default branch). The recorded `ref`
    /// becomes `ref` when it names a tag or branch, and is dropped for a commit or the default branch. Returns the
    /// new commit.
    @discardableResult
    public func updateComfyUI(_ lock: inout Lock, ref: String?) async throws -> String {
        let commit = try await gitCache.resolve(url: try Git.remote(lock.comfyui.url), ref: ref)
        lock.comfyui.commit = commit
        lock.comfyui.ref = ref.flatMap { GitCommitID.isFull($0) || Self.isAbbreviatedCommit($0, of: commit) ? nil : $0 }
        return commit
    }

    /// Moves the git node `name` to `ref` (`nil` = the remote's default branch). Returns the new commit.
    @discardableResult
    public func updateNode(_ lock: inout Lock, name: String, ref: String?) async throws -> String {
        let index = try Self.index(of: name, in: lock)
        let node = lock.customNodes[index]
        guard node.kind == .git, let url = node.url else {
            throw LockEditError.invalidEdit(
                "custom node \(Escaping.quoted(name)) is a \(node.kind.rawValue) node: only git nodes move to a git ref"
                    + (node.kind == .registry ? " (give a registry node its version with NAME@VERSION)" : ""))
        }
        let commit = try await gitCache.resolve(url: try Git.remote(url), ref: ref)
        lock.customNodes[index].commit = commit
        return commit
    }

    /// Sets the registry node `name` to `version`, dropping its archive pin (URL, sha256, tree hash) so that it is
    /// pinned again (`RegistryNodeInstaller.pin`).
    public static func setRegistryVersion(_ lock: inout Lock, name: String, version: String) throws {
        let index = try index(of: name, in: lock)
        guard lock.customNodes[index].kind == .registry else {
            throw LockEditError.invalidEdit("custom node \(Escaping.quoted(name)) is not a registry node")
        }
        guard LockValidator.isSafeVersionText(version) else {
            throw LockEditError.invalidEdit("\(Escaping.quoted(version)) is not a version")
        }
        if lock.customNodes[index].version == version { return }
        lock.customNodes[index].version = version
        lock.customNodes[index].url = nil
        lock.customNodes[index].sha256 = nil
        lock.customNodes[index].treeHash = nil
    }

    /// Adds a git node from `url` at `ref` (`nil` = the default branch) as `name` (default: the repository name,
    /// without `.git`). Throws when the name is taken or invalid, or the URL is refused by the lock's git URL rule.
    @discardableResult
    public func addNode(_ lock: inout Lock, url: String, ref: String?, name: String?) async throws -> CustomNode {
        if let problem = LockValidator.checkURL(url, kind: .git) {
            throw LockEditError.invalidEdit("git URL refused (\(problem.rule)): \(problem.message)")
        }
        guard let name = name ?? Self.defaultName(for: url) else {
            throw LockEditError.invalidEdit(
                "cannot tell the node's directory name from \(Escaping.quoted(Redaction.redactURL(url))): give --name")
        }
        if let (rule, message) = LockValidator.checkNodeName(name) {
            throw LockEditError.invalidEdit("node name \(Escaping.quoted(name)) refused (\(rule)): \(message)")
        }
        guard !lock.customNodes.contains(where: { $0.name == name }) else { throw LockEditError.nodeExists(name) }
        let commit = try await gitCache.resolve(url: url, ref: ref)
        let node = CustomNode(name: name, kind: .git, url: GitURL.strippingCredentials(url), commit: commit)
        lock.customNodes.append(node)
        lock.customNodes.sort { $0.name < $1.name }
        return node
    }

    /// Removes the custom node `name`.
    public static func removeNode(_ lock: inout Lock, name: String) throws {
        lock.customNodes.remove(at: try index(of: name, in: lock))
    }

    /// Enables or disables the custom node `name` (a disabled node stays in the lock but is not loaded, and its
    /// requirements leave the pinned closure).
    public static func setEnabled(_ lock: inout Lock, name: String, enabled: Bool) throws {
        lock.customNodes[try index(of: name, in: lock)].enabled = enabled
    }

    /// Splits `URL@REF` (the `@` after the host: `https://h/o/r@v1`, `git@h:o/r@main`, `file:///p/r@tag`) into the
    /// URL and the ref; a URL without one gives `nil`.
    public static func splitReference(_ text: String) -> (url: String, ref: String?) {
        let pathStart: String.Index
        if let scheme = text.range(of: "://") {
            pathStart = text[scheme.upperBound...].firstIndex(of: "/") ?? text.endIndex
        } else if let colon = text.firstIndex(of: ":"), !text.hasPrefix("/") {
            pathStart = colon
        } else {
            pathStart = text.startIndex
        }
        guard let at = text[pathStart...].lastIndex(of: "@") else { return (text, nil) }
        let ref = String(text[text.index(after: at)...])
        return (String(text[..<at]), ref.isEmpty ? nil : ref)
    }

    /// Splits `NAME@REF` (node names never hold `@`).
    public static func splitName(_ text: String) -> (name: String, ref: String?) {
        guard let at = text.firstIndex(of: "@") else { return (text, nil) }
        let ref = String(text[text.index(after: at)...])
        return (String(text[..<at]), ref.isEmpty ? nil : ref)
    }

    /// The directory name ComfyUI-Manager would give a clone of `url`: its last path component without `.git`.
    public static func defaultName(for url: String) -> String? {
        var path = url
        while path.hasSuffix("/") { path.removeLast() }
        let last = path.split(whereSeparator: { $0 == "/" || $0 == ":" }).last.map(String.init) ?? ""
        let name = last.hasSuffix(".git") ? String(last.dropLast(4)) : last
        return name.isEmpty ? nil : name
    }

    static func index(of name: String, in lock: Lock) throws -> Int {
        guard let index = lock.customNodes.firstIndex(where: { $0.name == name }) else {
            throw LockEditError.nodeNotFound(name, known: lock.customNodes.map(\.name).sorted())
        }
        return index
    }

    static func isAbbreviatedCommit(_ ref: String, of commit: String) -> Bool {
        ref.count >= 4 && commit.hasPrefix(ref.lowercased()) && ref.allSatisfy(\.isHexDigit)
    }
}
