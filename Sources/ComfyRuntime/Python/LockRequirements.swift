public import ComfyLock
internal import ComfyProcess
internal import ComfySupport
import Foundation

/// Collects the requirements files of a lock's ComfyUI and git custom nodes, at the lock's exact commits, for
/// `comfy-cli pin --lock`.
///
/// Each file is read with `git show COMMIT:requirements.txt` from, in order: a local checkout given by the caller
/// (a ComfyUI directory and its `custom_nodes/<name>`), when it has the commit; otherwise the git cache's mirror of
/// the repository (`GitCache.ensure`: mirror rewriting applied, one mirror shared with `init` and `version create`).
/// Without a cache (the first API), a temporary bare repository fetched with `git fetch --depth 1 URL COMMIT`. A repository without a
/// `requirements.txt` at that commit contributes nothing. Registry and single-file nodes carry no requirements file and
/// are listed as skipped.
public enum LockRequirements {
    /// The requirements found, and the nodes that could not contribute any (with why).
    public struct Collected: Sendable {
        /// One input per repository that has a requirements file, labelled `ComfyUI@<short>:requirements.txt` or
        /// `custom_nodes/<name>@<short>:requirements.txt`.
        public var inputs: [RequirementsInput]
        /// Nodes whose requirements were not read, with the reason.
        public var skipped: [String]
        /// The temporary directory holding the files `inputs` point to; call `remove()` after pinning.
        public var workDirectory: String

        /// Deletes `workDirectory`.
        public func remove() { try? FileManager.default.removeItem(atPath: workDirectory) }
    }

    /// Reads the requirements of `lock`. `comfyUIDirectory` is an optional local ComfyUI checkout.
    public static func collect(
        from lock: Lock, comfyUIDirectory: String? = nil, file: String = "requirements.txt", gitCache: GitCache? = nil
    ) async throws -> Collected {
        var inputs: [RequirementsInput] = []
        var skipped: [String] = []
        let scratch = try ScratchDirectory(prefix: "comfylock-pin-git")
        var keep = false
        defer { if !keep { scratch.remove() } }
        var repos: [(label: String, url: String, commit: String, local: String?)] = [
            ("ComfyUI", lock.comfyui.url, lock.comfyui.commit, comfyUIDirectory)
        ]
        for node in lock.customNodes.sorted(by: { $0.name < $1.name }) {
            guard node.enabled else {
                skipped.append("custom_nodes/\(node.name): disabled")
                continue
            }
            switch node.kind {
            case .git:
                guard let url = node.url, let commit = node.commit else {
                    skipped.append("custom_nodes/\(node.name): no url or commit in the lock")
                    continue
                }
                repos.append(
                    (
                        "custom_nodes/\(node.name)", url, commit,
                        comfyUIDirectory.map { $0 + "/custom_nodes/" + node.name }
                    ))
            case .registry:
                skipped.append("custom_nodes/\(node.name): registry node (no requirements file in the lock)")
            case .file:
                skipped.append("custom_nodes/\(node.name): single-file node (no requirements file)")
            }
        }
        // The one git URL rule and the commit rule, for every repository, before anything is fetched.
        for repo in repos {
            if let problem = LockValidator.checkURL(repo.url, kind: .git) {
                throw PythonError.invalidRequirements(
                    "\(repo.label): git URL refused (\(problem.rule)): \(problem.message)")
            }
            guard LockValidator.isCommit(repo.commit) else {
                throw PythonError.invalidRequirements(
                    "\(repo.label): commit \(Escaping.quoted(repo.commit)) is not a commit SHA (40 lowercase hex)")
            }
        }
        for (i, repo) in repos.enumerated() {
            let gitDir = try await repository(
                containing: repo.commit, url: repo.url, local: repo.local, scratch: scratch.path + "/repo-\(i).git",
                label: repo.label, gitCache: gitCache)
            // The file and the files it includes (`-r`/`-c`), written under the same relative paths so the
            // resolver finds the includes.
            let tree = scratch.path + "/tree-\(i)"
            var pending = [file]
            var written: Set<String> = []
            while let next = pending.popLast(), written.count < 32 {
                guard !written.contains(next), !next.hasPrefix("/"), !next.split(separator: "/").contains("..") else {
                    continue
                }
                let show = try await ProcessRunner.execute(
                    gitCommand(["--git-dir", gitDir, "cat-file", "blob", "--end-of-options", "\(repo.commit):\(next)"]))
                guard show.termination.isSuccess else { continue }  // not in the repository at that commit
                let target = tree + "/" + next
                try FileManager.default.createDirectory(
                    atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try AtomicFile.write(show.standardOutput, to: target)
                written.insert(next)
                let directory = (next as NSString).deletingLastPathComponent
                for include in Self.includes(in: show.output) {
                    let joined = directory.isEmpty ? include : directory + "/" + include
                    pending.append((joined as NSString).standardizingPath)
                }
            }
            guard written.contains(file) else { continue }  // no requirements file at that commit
            let short = String(repo.commit.prefix(12))
            inputs.append(.file(tree + "/" + file, label: "\(repo.label)@\(short):\(file)"))
        }
        keep = true
        return Collected(inputs: inputs, skipped: skipped, workDirectory: scratch.path)
    }

    /// Relative paths named by `-r`/`--requirement`/`-c`/`--constraint` lines.
    static func includes(in text: String) -> [String] {
        var result: [String] = []
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            for option in ["-r", "--requirement", "-c", "--constraint"] {
                guard line.hasPrefix(option + " ") || line.hasPrefix(option + "=") else { continue }
                let value = line.dropFirst(option.count + 1).trimmingCharacters(in: .whitespaces)
                let path = value.split(separator: " ").first.map(String.init) ?? ""
                if !path.isEmpty, !path.contains("://") { result.append(path) }
            }
        }
        return result
    }

    /// A git dir that has `commit`: the local checkout's, or a fresh shallow bare fetch.
    private static func repository(
        containing commit: String, url: String, local: String?, scratch: String, label: String, gitCache: GitCache?
    ) async throws -> String {
        if let local, FileManager.default.fileExists(atPath: local) {
            let dir = try? await ProcessRunner.run(gitCommand(["-C", local, "rev-parse", "--absolute-git-dir"]))
            if let dir = dir?.trimmedOutput, !dir.isEmpty {
                let has = try await ProcessRunner.execute(
                    gitCommand(["--git-dir", dir, "cat-file", "-e", "--end-of-options", "\(commit)^{commit}"]))
                if has.termination.isSuccess { return dir }
            }
        }
        if let gitCache {
            do {
                return try await gitCache.ensure(url: url, commit: commit).path
            } catch {
                throw PythonError.invalidRequirements(
                    "cannot read \(label)'s requirements: commit \(commit) of \(Redaction.redactURL(url)) is not in "
                        + "the git cache and could not be fetched: \(error)")
            }
        }
        do {
            try await ProcessRunner.run(gitCommand(["init", "--quiet", "--bare", "--", scratch]))
            try await ProcessRunner.run(
                gitCommand(
                    ["--git-dir", scratch, "fetch", "--quiet", "--depth", "1", GitCache.uploadPack, "--", url, commit],
                    timeout: .seconds(600)))
        } catch {
            throw PythonError.invalidRequirements(
                "cannot read \(label)'s requirements: commit \(commit) could not be fetched from \(Redaction.redactURL(url)): \(error)"
            )
        }
        return scratch
    }

    /// Through the one hardened git builder (`Git.command`).
    private static func gitCommand(_ arguments: [String], timeout: Duration = .seconds(120)) -> ProcessCommand {
        Git().command(arguments, timeout: timeout)
    }
}
