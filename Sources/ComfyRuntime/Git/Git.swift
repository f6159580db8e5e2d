internal import ComfyLock
public import ComfyProcess

/// The one hardened git invocation of the product: every git process ComfyLock starts is built here.
///
/// Repositories, their configuration, locks and snapshots are untrusted; only the operator's flags and environment
/// are. So every command:
/// - overrides the configuration keys through which a repository's own `.git/config` (or an included file) can run a
///   program: `core.fsmonitor=false`, `core.hooksPath=/dev/null` (no hook runs: post-checkout, reference-transaction,
///   …), an empty `credential.helper` list, `core.askPass` empty (and `GIT_ASKPASS`/`SSH_ASKPASS` set empty, which git
///   reads before the config), `core.sshCommand`/`GIT_SSH_COMMAND` = `ssh -o BatchMode=yes`, no alternate-refs command,
///   no submodule recursion, no auto gc/maintenance;
/// - allows only the transports a lock may name: `protocol.allow=never` with `https`, `http`, `ssh` and `file` allowed
///   (`protocol.ext.allow=never` spelled out: `ext::` runs a command; `git://` is refused too, it would honour
///   `core.gitProxy`);
/// - never prompts (`GIT_TERMINAL_PROMPT=0`), aborts transfers slower than `lowSpeedLimit` bytes/s for
///   `lowSpeedTime` seconds, has a wall-clock `timeout`, and ignores `GIT_DIR`-style variables of the caller;
/// - with `hermetic`, also ignores the system and global configuration (`GIT_CONFIG_NOSYSTEM=1`,
///   `GIT_CONFIG_GLOBAL=/dev/null`) — tests and reproducible builds; the operator's config is trusted otherwise.
///
/// Callers put `--` (or `--end-of-options`) before every URL and revision, and pass revisions through
/// `Git.revision(_:)` / URLs through `Git.remote(_:)`, which refuse anything starting with `-`. Filter drivers
/// (`filter.NAME.clean/smudge/process`) defined by a work tree's own configuration are neutralized for the commands
/// that read work-tree files (`dirtyPaths`).
public struct Git: Sendable {
    /// The git program (a path or a name looked up in `PATH`).
    public var executable: String
    /// Transfers slower than this many bytes per second for `lowSpeedTime` seconds are aborted.
    public var lowSpeedLimit: Int
    /// See `lowSpeedLimit`.
    public var lowSpeedTime: Int
    /// Wall-clock limit for one git command.
    public var timeout: Duration
    /// Ignore the system and global git configuration too (`GIT_CONFIG_NOSYSTEM=1`, `GIT_CONFIG_GLOBAL=/dev/null`).
    public var hermetic: Bool

    /// A runner with default limits (1 KB/s for 60 s, one hour per command).
    public init(
        executable: String = "git", lowSpeedLimit: Int = 1000, lowSpeedTime: Int = 60,
        timeout: Duration = .seconds(3600), hermetic: Bool = false
    ) {
        self.executable = executable
        self.lowSpeedLimit = lowSpeedLimit
        self.lowSpeedTime = lowSpeedTime
        self.timeout = timeout
        self.hermetic = hermetic
    }

    static let scrubbedEnvironment: Set<String> = [
        "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_PREFIX", "GIT_EXEC_PATH", "GIT_TEMPLATE_DIR", "GIT_CONFIG",
        "GIT_CONFIG_PARAMETERS", "GIT_CONFIG_COUNT", "GIT_EXTERNAL_DIFF", "GIT_PAGER", "GIT_EDITOR", "GIT_SSH",
        "GIT_PROXY_COMMAND", "GIT_ATTR_SOURCE",
    ]

    /// The SSH command every git transport uses (no prompts; no command from a repository's configuration).
    public static let sshCommand = "ssh -o BatchMode=yes"

    /// The `-c` options of every git command, in order (see the type's documentation).
    public static let hardeningOptions: [String] = [
        "-c", "protocol.allow=never", "-c", "protocol.https.allow=always", "-c", "protocol.http.allow=always",
        "-c", "protocol.ssh.allow=always", "-c", "protocol.file.allow=always", "-c", "protocol.ext.allow=never",
        "-c", "protocol.git.allow=never", "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null",
        "-c", "credential.helper=", "-c", "core.askPass=", "-c", "core.sshCommand=\(sshCommand)",
        "-c", "core.alternateRefsCommand=true", "-c", "submodule.recurse=false", "-c", "fetch.recurseSubmodules=false",
        "-c", "gc.auto=0", "-c", "maintenance.auto=false", "-c", "advice.detachedHead=false",
        "-c", "gc.autoDetach=false", "-c", "core.autocrlf=false", "-c", "uploadpack.packObjectsHook=",
    ]

    /// The command for `git -C directory arguments` with the hardening options; `extraOptions` are more `-c` pairs
    /// (put before the subcommand), `environment` more variables.
    public func command(
        _ arguments: [String], in directory: String? = nil, extraOptions: [String] = [],
        environment extra: [String: String] = [:], timeout: Duration? = nil
    ) -> ProcessCommand {
        var args: [String] = ["--no-pager"]
        if let directory { args += ["-C", directory] }
        args += ["-c", "http.lowSpeedLimit=\(lowSpeedLimit)", "-c", "http.lowSpeedTime=\(lowSpeedTime)"]
        args += Self.hardeningOptions
        args += extraOptions
        args += arguments
        var environment: [String: String] = [
            "GIT_TERMINAL_PROMPT": "0", "GIT_SSH_COMMAND": Self.sshCommand, "GCM_INTERACTIVE": "never",
            "GIT_ASKPASS": "", "SSH_ASKPASS": "", "GIT_PROTOCOL_FROM_USER": "0", "GIT_LFS_SKIP_SMUDGE": "1",
            "LC_ALL": "C",
        ]
        var removed = Self.scrubbedEnvironment
        if hermetic {
            environment["GIT_CONFIG_NOSYSTEM"] = "1"
            environment["GIT_CONFIG_GLOBAL"] = "/dev/null"
        }
        for (key, value) in extra {
            environment[key] = value
            removed.remove(key)
        }
        return ProcessCommand(
            executable, args, environment: environment, removedEnvironment: removed, timeout: timeout ?? self.timeout)
    }

    /// `revision` unchanged when it cannot be read as an option (does not start with `-`, no NUL or control
    /// character); throws `RuntimeError.invalidInput` otherwise. Use for every revision that reaches an argv.
    public static func revision(_ revision: String) throws -> String {
        guard !revision.isEmpty, !revision.hasPrefix("-"),
            !revision.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        else {
            throw RuntimeError.invalidInput("git revision \(Escaping.quoted(revision)) is not a revision name")
        }
        return revision
    }

    /// `url` unchanged when git may fetch from it — the lock's git URL rule (`LockValidator.checkURL(_:kind: .git)`:
    /// http(s), ssh, file, scp-style or an absolute local path; never starting with `-`; no credentials; no
    /// `ext::`/`git://`) — throws `RuntimeError.invalidInput` naming the problem otherwise.
    public static func remote(_ url: String) throws -> String {
        if let problem = LockValidator.checkURL(url, kind: .git) {
            throw RuntimeError.invalidInput("git URL refused (\(problem.rule)): \(problem.message)")
        }
        return url
    }

    /// Runs git and throws `ProcessError` on a non-zero exit.
    @discardableResult
    public func run(_ arguments: [String], in directory: String? = nil) async throws -> ProcessResult {
        try await ProcessRunner.run(command(arguments, in: directory))
    }

    /// Runs git with `extraOptions` before the subcommand; throws `ProcessError` on a non-zero exit.
    @discardableResult
    public func run(_ arguments: [String], in directory: String?, extraOptions: [String]) async throws -> ProcessResult
    {
        try await ProcessRunner.run(command(arguments, in: directory, extraOptions: extraOptions))
    }

    /// Runs git and returns the result whatever the exit status.
    public func execute(_ arguments: [String], in directory: String? = nil) async throws -> ProcessResult {
        try await ProcessRunner.execute(command(arguments, in: directory))
    }

    /// The full commit hash `revision` names in `directory`, or nil when it names no commit there.
    public func commit(_ revision: String, in directory: String) async throws -> String? {
        let name = try Self.revision(revision)
        let result = try await execute(
            ["rev-parse", "--verify", "--quiet", "--end-of-options", "\(name)^{commit}"], in: directory)
        guard result.termination.isSuccess else { return nil }
        let hash = result.trimmedOutput
        return GitCommitID.isFull(hash) ? hash : nil
    }

    /// True when the repository at `directory` has the commit object `hash`.
    public func hasCommit(_ hash: String, in directory: String) async throws -> Bool {
        let result = try await execute(
            ["cat-file", "-e", "--end-of-options", "\(try Self.revision(hash))^{commit}"], in: directory)
        return result.termination.isSuccess
    }

    /// The checked-out commit of the work tree at `directory`, or nil when there is none.
    public func head(in directory: String) async throws -> String? {
        try await commit("HEAD", in: directory)
    }

    /// Paths with uncommitted changes: modified, staged, deleted or untracked (ignored files excluded).
    public func dirtyPaths(in directory: String) async throws -> [String] {
        // A work tree's own config may define filter drivers that `status` would run on files whose stat changed.
        let neutral = try await neutralizedFilterDrivers(in: directory)
        let result = try await run(
            ["status", "--porcelain=v1", "-z", "--untracked-files=all", "--ignore-submodules=all"], in: directory,
            extraOptions: neutral)
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

    /// `-c` pairs that disable every filter driver (`filter.NAME.clean`, `.smudge`, `.process`) configured in the
    /// repository's own (local or worktree) configuration, so git reads work-tree files without running them.
    /// Reading the configuration runs nothing.
    public func neutralizedFilterDrivers(in directory: String) async throws -> [String] {
        let result = try await execute(
            ["config", "--show-scope", "--name-only", "--get-regexp", "^filter\\..*\\.(clean|smudge|process)$"],
            in: directory)
        guard result.termination.isSuccess else { return [] }
        var options: [String] = []
        var drivers: Set<String> = []
        for line in result.output.split(separator: "\n") {
            let parts = line.split(separator: "\t", maxSplits: 1)
            guard parts.count == 2, parts[0] != "system", parts[0] != "global" || hermetic else { continue }
            var name = parts[1]
            guard name.hasPrefix("filter.") else { continue }
            name = name.dropFirst("filter.".count)
            guard let dot = name.lastIndex(of: ".") else { continue }
            let driver = String(name[..<dot])
            guard drivers.insert(driver).inserted else { continue }
            for key in ["clean", "smudge", "process"] { options += ["-c", "filter.\(driver).\(key)="] }
            options += ["-c", "filter.\(driver).required=false"]
        }
        return options
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
