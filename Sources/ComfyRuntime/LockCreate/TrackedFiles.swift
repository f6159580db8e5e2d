import Foundation

/// What a git work tree's own commit provides, for `lock create`, `version status` and `version digest`: files
/// tracked by the ComfyUI (or a node's) commit are part of that commit — never a custom node, never a model.
struct TrackedFiles: Sendable {
    /// The work tree (standardized path, no trailing slash).
    let root: String
    /// Paths tracked at HEAD, relative to `root`.
    let paths: Set<String>

    /// The tracked files of the work tree at `directory` (empty when it is not a git work tree).
    static func of(_ directory: URL, git: Git) async throws -> TrackedFiles {
        let root = directory.standardizedFileURL.path
        let result = try await git.execute(["ls-files", "-z", "--full-name"], in: root)
        guard result.termination.isSuccess else { return TrackedFiles(root: root, paths: []) }
        let paths = result.output.split(separator: "\0", omittingEmptySubsequences: true).map(String.init)
        return TrackedFiles(root: root, paths: Set(paths))
    }

    /// True when `file` (an absolute path) is a file of this work tree tracked by its commit.
    func contains(file: String) -> Bool {
        let path = URL(fileURLWithPath: file).standardizedFileURL.path
        guard path.hasPrefix(root + "/") else { return false }
        return paths.contains(String(path.dropFirst(root.count + 1)))
    }

    /// True when `relative` (to `root`) is tracked.
    func contains(relative: String) -> Bool { paths.contains(relative) }
}

/// One entry of `git status --porcelain`: the two status letters and the path.
struct GitChange: Sendable, Hashable {
    /// The `XY` letters (`??` = untracked).
    let status: String
    /// The path relative to the work tree.
    let path: String

    /// True for an untracked file.
    var isUntracked: Bool { status == "??" }

    /// The changes of the work tree at `directory`: modified, staged, deleted or untracked (ignored excluded).
    static func of(_ directory: String, git: Git) async throws -> [GitChange] {
        // A work tree's own config may define filter drivers that `status` would run on files whose stat changed.
        let neutral = try await git.neutralizedFilterDrivers(in: directory)
        let result = try await git.run(
            ["status", "--porcelain=v1", "-z", "--untracked-files=all"], in: directory, extraOptions: neutral)
        var changes: [GitChange] = []
        var entries = result.output.split(separator: "\0", omittingEmptySubsequences: true).makeIterator()
        while let entry = entries.next() {
            guard entry.count > 3 else { continue }
            let status = String(entry.prefix(2))
            changes.append(GitChange(status: status, path: String(entry.dropFirst(3))))
            if status.contains("R") || status.contains("C") { _ = entries.next() }  // the rename's source path
        }
        return changes
    }

    /// The dirty paths of a ComfyUI checkout: every change to a tracked file, and untracked files except where an
    /// install keeps its own content (custom nodes, models, venvs, the generated model paths file, round 1's init
    /// state file).
    static func comfyUIDirtyPaths(_ directory: String, git: Git) async throws -> [String] {
        try await of(directory, git: git).filter { change in
            guard change.isUntracked else { return true }
            return
                !(change.path.hasPrefix("custom_nodes/") || change.path.hasPrefix("models/")
                || change.path.hasPrefix("venv/") || change.path.hasPrefix(".venv/")
                || change.path == "extra_model_paths.yaml" || change.path == ".comfylock-init.json")
        }.map(\.path)
    }
}
