internal import ComfyCrypto
internal import ComfyLock
internal import ComfyProcess
internal import ComfySupport
public import Foundation

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
    /// Package indexes for the requirements (first = primary); empty = PyPI unless `noIndex`.
    public var indexURLs: [String]
    /// Directories of wheels to install from (`--find-links`).
    public var findLinks: [String]
    /// Use no package index at all (only `findLinks`).
    public var noIndex: Bool
    /// Extra pip arguments for installing the requirements (pip only; kept for callers of the first API).
    public var pipArguments: [String]
    /// The installer: nil = uv when available (`COMFYLOCK_UV`, `PATH`), else pip.
    public var installer: PythonInstallerKind?
    /// The environment uv is discovered from.
    public var environment: [String: String]
    /// Progress lines.
    public var progress: (@Sendable (String) -> Void)?
    /// While a long step runs, a "still running" progress line is sent this often (nil = never).
    public var heartbeat: Duration?

    /// The default ComfyUI repository.
    public static let defaultURL = "https://github.com/Comfy-Org/ComfyUI"

    /// Options.
    public init(
        path: URL, ref: String? = nil, url: String = InitOptions.defaultURL, python: String = "python3",
        indexURLs: [String] = [], findLinks: [String] = [], noIndex: Bool = false,
        pipArguments: [String] = [], installer: PythonInstallerKind? = nil,
        environment: [String: String],
        progress: (@Sendable (String) -> Void)? = nil, heartbeat: Duration? = nil
    ) {
        self.path = path
        self.ref = ref
        self.url = url
        self.python = python
        self.indexURLs = indexURLs
        self.findLinks = findLinks
        self.noIndex = noIndex
        self.pipArguments = pipArguments
        self.installer = installer
        self.environment = environment
        self.progress = progress
        self.heartbeat = heartbeat
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
    /// The installer used for the venv and requirements (`uv` or `pip`).
    public var installer: String
}

/// What `init` remembers about an install, kept inside the checkout's git directory (`.git/comfylock-init.json`) so
/// the work tree stays clean for `lock create`. `lock create` reads the index URLs from it.
public struct InitState: Codable, Sendable, Hashable {
    /// The ComfyUI URL (without credentials).
    public var url: String
    /// The commit requirements were installed for.
    public var commit: String
    /// The interpreter asked for.
    public var python: String
    /// sha256 of `requirements.txt` when it was installed.
    public var requirementsSHA256: String
    /// The indexes the requirements came from (empty = PyPI); credentials stripped.
    public var indexURLs: [String]?
    /// `uv` or `pip`.
    public var installer: String?

    /// The state file of the checkout at `directory`: `<git dir>/comfylock-init.json`.
    public static func file(in directory: URL) -> URL {
        let dotGit = directory.appendingPathComponent(".git")
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: dotGit.path, isDirectory: &isDirectory), !isDirectory.boolValue,
            let text = try? String(contentsOf: dotGit, encoding: .utf8), text.hasPrefix("gitdir: ")
        {
            // A linked work tree: `.git` is a file naming the real git directory.
            let target = text.dropFirst(8).trimmingCharacters(in: .whitespacesAndNewlines)
            let gitDir = target.hasPrefix("/") ? URL(fileURLWithPath: target) : directory.appendingPathComponent(target)
            return gitDir.appendingPathComponent("comfylock-init.json")
        }
        return dotGit.appendingPathComponent("comfylock-init.json")
    }

    /// The file round 1 left in the work tree (migrated on the next `init`, ignored by `lock create`).
    public static func legacyFile(in directory: URL) -> URL { directory.appendingPathComponent(".comfylock-init.json") }

    /// Reads the state of the checkout at `directory`, if any (the legacy work-tree file too).
    public static func read(in directory: URL) -> InitState? {
        for file in [file(in: directory), legacyFile(in: directory)] {
            if let data = try? BoundedInput.read(file.path, limits: InputLimits(maxBytes: 1 << 20)),
                let state = try? JSONDecoder().decode(InitState.self, from: Data(data))
            {
                return state
            }
        }
        return nil
    }
}

/// `comfy-cli init`: clone ComfyUI (through the git object cache), create `venv/`, install `requirements.txt`.
/// Each step checks its own result first, so re-running is a no-op that says so, and a run interrupted at any point
/// is completed by the next one: the clone appears by an atomic rename, a venv without a working interpreter is
/// rebuilt, and requirements are re-installed unless the state file (`InitState`, in the git directory, never in
/// the work tree) records this exact requirements file. uv is used when available (`uv venv --seed`, `uv pip
/// install`), else `python -m venv` + pip.
public struct ComfyInitializer: Sendable {
    /// The git object cache.
    public let gitCache: GitCache

    /// An initializer.
    public init(gitCache: GitCache) { self.gitCache = gitCache }

    /// Runs init.
    public func run(_ options: InitOptions) async throws -> InitReport {
        let dir = options.path.standardizedFileURL
        let git = gitCache.git
        _ = try Git.remote(options.url)  // the one git URL rule, before anything is created or fetched
        if let ref = options.ref { _ = try Git.revision(ref) }
        var performed: [String] = []

        // 1. The checkout.
        let commit: String
        if let head = try await git.head(in: dir.path),
            FileManager.default.fileExists(atPath: dir.appendingPathComponent(".git").path)
        {
            if let ref = options.ref {
                let wanted = try await gitCache.resolve(url: options.url, ref: ref)
                let mirror = gitCache.mirrorPath(for: options.url).path
                if wanted != head {
                    let dirty = try await git.dirtyPaths(in: dir.path).filter {
                        !$0.hasPrefix("custom_nodes/") && $0 != InitState.legacyFile(in: dir).lastPathComponent
                    }
                    guard dirty.isEmpty else { throw RuntimeError.dirtyTree(path: dir.path, paths: dirty) }
                    _ = try await gitCache.ensure(url: options.url, commit: wanted)
                    try await git.run(
                        [
                            "fetch", "--quiet", "--no-tags", GitCache.uploadPack, "--", mirror,
                            try Git.revision(wanted),
                        ], in: dir.path)
                    // `checkout` reads `--` as "paths follow"; `wanted` is a full hash from `resolve`.
                    try await git.run(
                        ["checkout", "--quiet", "--detach", try Git.revision(wanted), "--"], in: dir.path)
                    performed.append("checkout")
                }
                // The tags come along (a moved checkout must still be described by its tag in the next lock).
                try await git.run(
                    ["fetch", "--quiet", "--no-tags", GitCache.uploadPack, "--", mirror, "+refs/tags/*:refs/tags/*"],
                    in: dir.path)
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
                    throw RuntimeError.alreadyExists(
                        "cannot move the clone to \(dir.path): \(String(cString: strerror(errno)))")
                }
            } catch {
                try? SafeRemoval.removeTree(staging.path)
                throw error
            }
            performed.append("clone")
            commit = wanted
        }

        // The state lives in the git directory; a legacy work-tree file is moved there.
        let stateFile = InitState.file(in: dir)
        let legacy = InitState.legacyFile(in: dir)
        if FileManager.default.fileExists(atPath: legacy.path) {
            if !FileManager.default.fileExists(atPath: stateFile.path) { _ = rename(legacy.path, stateFile.path) }
            try? FileManager.default.removeItem(at: legacy)
        }

        // 2. The venv.
        let toolchain = try await PythonToolchain.discover(
            python: options.python, installer: options.pipArguments.isEmpty ? options.installer : .pip,
            environment: options.environment)
        let installer = toolchain.installer.rawValue
        let venv = dir.appendingPathComponent("venv")
        let venvPython = venv.appendingPathComponent("bin/python").path
        let working =
            FileManager.default.fileExists(atPath: venvPython)
            ? (try? await ProcessRunner.execute(ProcessCommand(venvPython, ["-c", "import sys"])))?.termination
                .isSuccess ?? false
            : false
        if !working {
            options.progress?("venv: \(venv.path) (\(installer))")
            try? SafeRemoval.removeTree(venv.path)
            try? FileManager.default.removeItem(at: stateFile)
            if toolchain.uv != nil {
                try await ProcessRunner.run(
                    toolchain.uvCommand(
                        ["venv", "--no-config", "--quiet", "--python", toolchain.interpreter.path, venv.path],
                        timeout: .seconds(600)))
                // pip in the venv (from the interpreter's bundled wheels, offline), so operators can still
                // `venv/bin/python -m pip install` a node's requirements. Not `uv venv --seed`: its seed set pulls
                // in packages (wheel → packaging) no requirement asked for, which would then be locked. The bundled
                // wheels ensurepip would install (pip, and setuptools before 3.12) are installed by uv: the same
                // packages in ~0.1 s instead of ensurepip running pip (5–16 s, most of init's time over uv's own
                // install on the real ComfyUI closure; docs/benchmarks.md). ensurepip remains the fallback.
                let bundled = try? await ProcessRunner.run(
                    ProcessCommand(
                        venvPython,
                        [
                            "-I", "-c",
                            "import ensurepip, os; print(os.path.join(os.path.dirname(ensurepip.__file__), '_bundled'))",
                        ],
                        environment: HermeticPython.setVariables(),
                        removedEnvironment: HermeticPython.removedVariables(),
                        timeout: .seconds(60)))
                let directory = bundled?.output.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
                let wheels = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
                    .filter { $0.hasSuffix(".whl") && ($0.hasPrefix("pip-") || $0.hasPrefix("setuptools-")) }.sorted()
                if !directory.isEmpty, wheels.contains(where: { $0.hasPrefix("pip-") }) {
                    try await ProcessRunner.run(
                        toolchain.uvCommand(
                            [
                                "pip", "install", "--no-config", "--quiet", "--python", venvPython, "--offline",
                                "--no-index",
                                "--no-deps",
                            ] + wheels.map { directory + "/" + $0 },
                            timeout: .seconds(600)))
                } else {
                    try await ProcessRunner.run(
                        ProcessCommand(
                            venvPython, ["-I", "-m", "ensurepip", "--default-pip"],
                            environment: HermeticPython.setVariables(),
                            removedEnvironment: HermeticPython.removedVariables(),
                            timeout: .seconds(600)))
                }
            } else {
                try await ProcessRunner.run(
                    ProcessCommand(
                        toolchain.interpreter.path, ["-I", "-m", "venv", venv.path],
                        environment: HermeticPython.setVariables(),
                        removedEnvironment: HermeticPython.removedVariables(),
                        timeout: .seconds(600)))
            }
            performed.append("venv")
        }

        // 3. The requirements.
        let requirements = dir.appendingPathComponent("requirements.txt")
        let requirementsHash =
            FileManager.default.fileExists(atPath: requirements.path)
            ? try SHA256.hashFile(atPath: requirements.path).digest.hex : "none"
        let state = InitState.read(in: dir)
        if state?.requirementsSHA256 != requirementsHash || state?.commit != commit {
            if requirementsHash != "none" {
                options.progress?("requirements: installing \(requirements.path) with \(installer)")
                _ = try await withHeartbeat(options, "requirements: still installing with \(installer)") {
                    try await ProcessRunner.run(
                        installCommand(
                            requirements: requirements.path, venvPython: venvPython, toolchain: toolchain,
                            options: options))
                }
                options.progress?("requirements: done")
            }
            performed.append("requirements")
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            try AtomicFile.write(
                Array(
                    try encoder.encode(
                        InitState(
                            url: GitURL.strippingCredentials(options.url), commit: commit, python: options.python,
                            requirementsSHA256: requirementsHash,
                            indexURLs: options.noIndex ? [] : options.indexURLs.map(GitURL.strippingCredentials),
                            installer: installer))),
                to: stateFile.path)
        }
        return InitReport(
            path: dir.path, commit: commit, performed: performed, alreadyDone: performed.isEmpty, installer: installer)
    }

    /// `uv pip install` / `pip install` of the requirements file, hermetic (no user config), indexes explicit.
    func installCommand(
        requirements: String, venvPython: String, toolchain: PythonToolchain, options: InitOptions
    ) -> ProcessCommand {
        var sources: [String] = []
        // Package mirror rules (COMFYLOCK_PACKAGE_MIRROR) apply to the indexes; the default index is made explicit
        // only when a rule maps it, so a plain init keeps the installer's own default.
        var indexes = options.indexURLs
        let mirrors = gitCache.rewriter
        if indexes.isEmpty,
            mirrors.rewrite(PythonInstaller.defaultIndexURL, kind: .package) != PythonInstaller.defaultIndexURL
        {
            indexes = [PythonInstaller.defaultIndexURL]
        }
        indexes = indexes.map { mirrors.rewrite($0, kind: .package) }
        if options.noIndex {
            sources.append("--no-index")
        } else if let first = indexes.first {
            sources += ["--index-url", first]
            for extra in indexes.dropFirst() { sources += ["--extra-index-url", extra] }
        }
        for dir in options.findLinks { sources += ["--find-links", dir] }
        if toolchain.uv != nil {
            return toolchain.uvCommand(
                ["pip", "install", "--no-config", "--quiet", "--python", venvPython, "-r", requirements] + sources,
                timeout: .seconds(3600))
        }
        return ProcessCommand(
            venvPython,
            ["-I", "-m", "pip", "install", "--isolated", "--disable-pip-version-check", "-q", "-r", requirements]
                + sources + options.pipArguments,
            environment: HermeticPython.setVariables(), removedEnvironment: HermeticPython.removedVariables(),
            timeout: .seconds(3600))
    }

    /// Runs `body`, sending `line` (with the elapsed seconds) every `options.heartbeat` until it returns.
    func withHeartbeat<T: Sendable>(
        _ options: InitOptions, _ line: String, _ body: @Sendable () async throws -> T
    ) async throws -> T {
        guard let interval = options.heartbeat, let progress = options.progress else { return try await body() }
        let ticker = Task {
            let clock = ContinuousClock()
            let start = clock.now
            while !Task.isCancelled {
                try await Task.sleep(for: interval)
                progress("\(line) (\((clock.now - start).components.seconds) s)")
            }
        }
        defer { ticker.cancel() }
        return try await body()
    }
}
