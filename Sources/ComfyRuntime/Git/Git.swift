public import ComfyProcess
/// Runs `git` non-interactively: never prompts (`GIT_TERMINAL_PROMPT=0`, SSH in batch mode), aborts transfers slower
/// than `lowSpeedLimit` bytes/s for `lowSpeedTime` seconds, always addresses repositories with `-C`, and ignores
/// `GIT_DIR`-style variables inherited from the caller.
public struct Git: Sendable {
    /// The git program (a path or a name looked up in `PATH`).
    public var executable: String
    /// Transfers slower than this many bytes per second for `lowSpeedTime` seconds are aborted.
    public var lowSpeedLimit: Int
    /// See `lowSpeedLimit`.
    public var lowSpeedTime: Int
    /// Wall-clock limit for one git command.
    public var timeout: Duration

    /// A runner with default limits (1 KB/s for 60 s, one hour per command).
    public init(executable: String = "git", lowSpeedLimit: Int = 1000, lowSpeedTime: Int = 60, timeout: Duration = .seconds(3600)) {
        self.executable = executable
        self.lowSpeedLimit = lowSpeedLimit
        self.lowSpeedTime = lowSpeedTime
        self.timeout = timeout
    }

    static let scrubbedEnvironment: Set<String> = [
        "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_PREFIX",
    ]

    /// The command for `git -C directory arguments`.
    public func command(_ arguments: [String], in directory: String? = nil) -> ProcessCommand {
        var args: [String] = []
        if let directory { args += ["-C", directory] }
        args += [
            "-c", "http.lowSpeedLimit=\(lowSpeedLimit)", "-c", "http.lowSpeedTime=\(lowSpeedTime)",
            "-c", "advice.detachedHead=false", "-c", "gc.autoDetach=false", "-c", "core.autocrlf=false",
            "-c", "protocol.file.allow=always",
        ]
        args += arguments
        return ProcessCommand(
            executable, args,
            environment: [
                "GIT_TERMINAL_PROMPT": "0", "GIT_SSH_COMMAND": "ssh -o BatchMode=yes", "GCM_INTERACTIVE": "never",
                "LC_ALL": "C",
            ],
            removedEnvironment: Self.scrubbedEnvironment.union(["GIT_ASKPASS", "SSH_ASKPASS"]),
            timeout: timeout)
    }

    /// Runs git and throws `ProcessError` on a non-zero exit.
    @discardableResult
    public func run(_ arguments: [String], in directory: String? = nil) async throws -> ProcessResult {
        try await ProcessRunner.run(command(arguments, in: directory))
    }

    /// Runs git and returns the result whatever the exit status.
    public func execute(_ arguments: [String], in directory: String? = nil) async throws -> ProcessResult {
        try await ProcessRunner.execute(command(arguments, in: directory))
    }

    /// The full commit hash `revision` names in `directory`, or nil when it names no commit there.
    public func commit(_ revision: String, in directory: String) async throws -> String? {
        let result = try await execute(["rev-parse", "--verify", "--quiet", "\(revision)^{commit}"], in: directory)
        guard result.termination.isSuccess else { return nil }
        let hash = result.trimmedOutput
        return GitCommitID.isFull(hash) ? hash : nil
    }

    /// True when the repository at `directory` has the commit object `hash`.
    public func hasCommit(_ hash: String, in directory: String) async throws -> Bool {
        let result = try await execute(["cat-file", "-e", "\(hash)^{commit}"], in: directory)
        return result.termination.isSuccess
    }

    /// The checked-out commit of the work tree at `directory`, or nil when there is none.
    public func head(in directory: String) async throws -> String? {
        try await commit("HEAD", in: directory)
    }

    /// Paths with uncommitted changes: modified, staged, deleted or untracked (ignored files excluded).
    public func dirtyPaths(in directory: String) async throws -> [String] {
        let result = try await run(["status", "--porcelain=v1", "-z", "--untracked-files=all"], in: directory)
        var paths: [String] = []
        var entries = result.output.split(separator: "\0", omittingEmptySubsequences: true).makeIterator()
        while let entry = entries.next() {
            guard entry.count > 3 else { continue }
            let status = entry.prefix(2)
            paths.append(String(entry.dropFirst(3)))
            if status.contains("R") || status.contains("C") { _ = entries.next() }  // the rename's source path
        }
        return paths
    }

    /// The URL of `remote` in the repository at `directory`, or nil.
    public func remoteURL(_ remote: String = "origin", in directory: String) async throws -> String? {
        let result = try await execute(["config", "--get", "remote.\(remote).url"], in: directory)
        guard result.termination.isSuccess else { return nil }
        let url = result.trimmedOutput
        return url.isEmpty ? nil : url
    }
}

/// Git object names.
public enum GitCommitID {
    /// True for a full 40-hex (SHA-1) or 64-hex (SHA-256) object name in lowercase.
    public static func isFull(_ text: String) -> Bool {
        (text.utf8.count == 40 || text.utf8.count == 64)
            && text.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }
}
