internal import ComfySupport
internal import ComfyProcess
public import Foundation
internal import ComfyCrypto

#if canImport(Glibc)
    internal import Glibc
#endif

/// Options of `comfy-cli init`.
public struct InitOptions: Sendable {
    /// Where ComfyUI goes.
    public var path: URL
    /// A commit, tag or branch; nil = the remote's default branch.
    public var ref: String?
    /// The ComfyUI repository.
    public var url: String
    /// The interpreter for the venv.
    public var python: String
    /// Extra pip arguments for installing the requirements (e.g. `--no-index`, `--find-links DIR`).
    public var pipArguments: [String]
    /// Progress lines.
    public var progress: (@Sendable (String) -> Void)?

    /// The default ComfyUI repository.
    public static let defaultURL = "https://github.com/comfyanonymous/ComfyUI.git"

    /// Options.
    public init(
        path: URL, ref: String? = nil, url: String = InitOptions.defaultURL, python: String = "python3",
        pipArguments: [String] = [], progress: (@Sendable (String) -> Void)? = nil
    ) {
        self.path = path
        self.ref = ref
        self.url = url
        self.python = python
        self.pipArguments = pipArguments
        self.progress = progress
    }
}

/// What `init` did.
public struct InitReport: Codable, Sendable, Hashable {
    /// The install directory.
    public var path: String
    /// The checked-out commit.
    public var commit: String
    /// Steps performed this run (`clone`, `checkout`, `venv`, `requirements`); empty when nothing was needed.
    public var performed: [String]
    /// True when the install was already complete.
    public var alreadyDone: Bool
}

/// `comfy-cli init`: clone ComfyUI (through the git object cache), create `venv/`, install `requirements.txt`.
/// Each step checks its own result first, so re-running is a no-op that says so, and a run interrupted at any point
/// is completed by the next one: the clone appears by an atomic rename, a venv without a working interpreter is
/// rebuilt, and requirements are re-installed unless `.comfylock-init.json` records this exact requirements file.
public struct ComfyInitializer: Sendable {
    /// The git object cache.
    public let gitCache: GitCache

    /// An initializer.
    public init(gitCache: GitCache) { self.gitCache = gitCache }

    struct State: Codable {
        var url: String
        var commit: String
        var python: String
        var requirementsSHA256: String
    }

    /// Runs init.
    public func run(_ options: InitOptions) async throws -> InitReport {
        let dir = options.path.standardizedFileURL
        let git = gitCache.git
        _ = try Git.remote(options.url)  // the one git URL rule, before anything is created or fetched
        if let ref = options.ref { _ = try Git.revision(ref) }
        var performed: [String] = []
        let stateFile = dir.appendingPathComponent(".comfylock-init.json")

        // 1. The checkout.
        let commit: String
        if let head = try await git.head(in: dir.path), FileManager.default.fileExists(atPath: dir.appendingPathComponent(".git").path) {
            if let ref = options.ref {
                let wanted = try await gitCache.resolve(url: options.url, ref: ref)
                if wanted != head {
                    let dirty = try await git.dirtyPaths(in: dir.path).filter { !$0.hasPrefix("custom_nodes/") }
                    guard dirty.isEmpty else { throw RuntimeError.dirtyTree(path: dir.path, paths: dirty) }
                    _ = try await gitCache.ensure(url: options.url, commit: wanted)
                    try await git.run(
                        [
                            "fetch", "--quiet", GitCache.uploadPack, "--", gitCache.mirrorPath(for: options.url).path,
                            try Git.revision(wanted),
                        ], in: dir.path)
                    // `checkout` reads `--` as "paths follow"; `wanted` is a full hash from `resolve`.
                    try await git.run(["checkout", "--quiet", "--detach", try Git.revision(wanted), "--"], in: dir.path)
                    performed.append("checkout")
                }
                commit = wanted
            } else {
                commit = head
            }
        } else {
            if FileManager.default.fileExists(atPath: dir.path) {
                let entries = try FileManager.default.contentsOfDirectory(atPath: dir.path)
                guard entries.isEmpty else {
                    throw RuntimeError.alreadyExists(
                        "\(dir.path) exists, is not empty and is not a ComfyUI checkout; refusing to overwrite it")
                }
                try FileManager.default.removeItem(at: dir)
            }
            options.progress?("clone: \(Redaction.redact(options.url))")
            let wanted = try await gitCache.resolve(url: options.url, ref: options.ref)
            let staging = dir.deletingLastPathComponent().appendingPathComponent(
                ".\(dir.lastPathComponent).init-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))")
            do {
                try await gitCache.checkout(url: options.url, commit: wanted, into: staging)
                guard rename(staging.path, dir.path) == 0 else {
                    throw RuntimeError.alreadyExists("cannot move the clone to \(dir.path): \(String(cString: strerror(errno)))")
                }
            } catch {
                try? SafeRemoval.removeTree(staging.path)
                throw error
            }
            performed.append("clone")
            commit = wanted
        }

        // 2. The venv.
        let venv = dir.appendingPathComponent("venv")
        let venvPython = venv.appendingPathComponent("bin/python").path
        let working = FileManager.default.fileExists(atPath: venvPython)
            ? (try? await ProcessRunner.execute(ProcessCommand(venvPython, ["-c", "import sys"])))?.termination.isSuccess ?? false
            : false
        if !working {
            options.progress?("venv: \(venv.path)")
            try? SafeRemoval.removeTree(venv.path)
            try? FileManager.default.removeItem(at: stateFile)
            try await ProcessRunner.run(ProcessCommand(options.python, ["-m", "venv", venv.path], timeout: .seconds(600)))
            performed.append("venv")
        }

        // 3. The requirements.
        let requirements = dir.appendingPathComponent("requirements.txt")
        let requirementsHash = FileManager.default.fileExists(atPath: requirements.path)
            ? try SHA256.hashFile(atPath: requirements.path).digest.hex : "none"
        let state = (try? Data(contentsOf: stateFile)).flatMap { try? JSONDecoder().decode(State.self, from: $0) }
        if state?.requirementsSHA256 != requirementsHash || state?.commit != commit {
            if requirementsHash != "none" {
                options.progress?("requirements: \(requirements.path)")
                try await ProcessRunner.run(
                    ProcessCommand(
                        venvPython,
                        ["-m", "pip", "install", "--isolated", "--disable-pip-version-check", "-q", "-r", requirements.path]
                            + options.pipArguments,
                        removedEnvironment: ["PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CONFIG_FILE"],
                        timeout: .seconds(3600)))
            }
            performed.append("requirements")
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(
                State(url: GitURL.strippingCredentials(options.url), commit: commit, python: options.python,
                    requirementsSHA256: requirementsHash)
            ).write(to: stateFile, options: .atomic)
        }
        return InitReport(path: dir.path, commit: commit, performed: performed, alreadyDone: performed.isEmpty)
    }
}
