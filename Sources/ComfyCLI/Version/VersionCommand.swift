public import ArgumentParser
import ComfyLock
import ComfyModels
import ComfyRuntime
import ComfySupport
import Foundation

/// `comfy-cli version`: build, check, list and remove version directories made from locks.
struct VersionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Create, check, compare, list and remove version directories built from a lock.",
        subcommands: [
            VersionCreateCommand.self, VersionStatusCommand.self, VersionDigestCommand.self, VersionRepairCommand.self,
            VersionRemoveCommand.self, VersionListCommand.self, VersionCompareCommand.self,
        ])
}

/// `comfy-cli version create NAME --lock L`.
struct VersionCreateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Build a version from a lock in a staging directory, fail-closed.")

    @Argument(help: "The version name (letters, digits, '.', '_', '-').")
    var name: String
    @Option(name: .long, help: "The lock file to build from.")
    var lock: String?
    @Option(
        name: .long,
        help: "Build from an offline bundle (comfy-cli bundle create) with no network at all, instead of --lock.")
    var bundle: String?
    @OptionGroup(title: "Location") var location: VersionsRootOptions
    @OptionGroup var build: PythonBuildFlags
    @Option(name: .long, help: "How models are placed: shared (hard links, zero copies) or copy.")
    var models: ModelLinkMode = .shared
    @Flag(
        name: .long,
        help: "Build even when the lock's Python environment is not pinned (no python section, or unhashed packages).")
    var allowUnpinned = false
    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }
    @OptionGroup var input: InputOptions
    @OptionGroup(title: "Signature") var signing: TrustedKeysOptions
    @OptionGroup(title: "Logging") var logging: LoggingOptions

    func validate() throws {
        if (lock == nil) == (bundle == nil) { throw ValidationError("give --lock LOCK or --bundle BUNDLE") }
        if bundle != nil && build.wheelhouse != nil { throw ValidationError("--bundle brings its own wheelhouse") }
    }

    func run() async throws {
        let store = RuntimeCLI.store()
        // A bundle is extracted and verified first (every entry against its manifest and the lock), then built
        // from with the bundle's git bundles as the only git sources and its wheelhouse offline.
        let fromBundle = try bundle.map { try BundleCLI.extract($0, store: store) }
        defer { fromBundle.map { try? FileManager.default.removeItem(at: $0.directory) } }
        let lockPath = fromBundle?.extracted.lockPath ?? self.lock ?? "-"
        let lock = try signing.readLock(lockPath, limits: input.limits, level: .complete)
        try await RuntimeCLI.guarded {
            var gitCache = try RuntimeCLI.gitCache(store: store)
            var pythonOptions = build.options
            if let fromBundle {
                gitCache = GitCache(storeRoot: store.root, rewriter: LockBundle.rewriter(for: fromBundle.extracted))
                pythonOptions = PythonBuildOptions(
                    offline: true, wheelhouse: fromBundle.extracted.wheelhouse.path, python: build.python)
            }
            let builder = VersionBuilder(
                root: location.url, gitCache: gitCache, store: store, python: RuntimeCLI.python(),
                logger: logging.logger())
            let options = VersionCreateOptions(
                models: models, python: pythonOptions, progress: RuntimeCLI.progress(json: json),
                allowUnpinned: allowUnpinned)
            let report = try await builder.create(name: name, lock: lock, options: options)
            if json {
                try Console.current.json(report)
            } else if report.alreadyBuilt {
                Console.current.out(
                    "version \(report.name) at \(report.path) is already built from this lock and clean")
                Console.current.out("digest \(report.digest)")
            } else {
                Console.current.out("created version \(report.name) at \(report.path)")
                Console.current.out("digest \(report.digest)")
                Console.current.out("models placed: \(report.placement); bytes copied: \(report.modelBytesCopied)")
            }
        }
    }
}

extension ModelLinkMode: ExpressibleByArgument {}

/// Resolves a version name to its directory (`VersionCatalog.directory`), exit 2 naming the problem.
private func versionDirectory(_ name: String, _ location: VersionsRootOptions) throws -> URL {
    do {
        return try VersionCatalog.directory(root: location.url, name: name)
    } catch {
        throw CLI.fail(String(describing: error))
    }
}

/// `comfy-cli version status NAME`.
struct VersionStatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Report drift between a version and its lock; exit 1 on any drift.")

    @Argument(help: "The version name.")
    var name: String
    @OptionGroup(title: "Location") var location: VersionsRootOptions
    @Option(name: .long, help: "Compare against this lock instead of the version's own.")
    var lock: String?
    @Flag(name: .long, help: "Hash every venv file and model again, ignoring the stat caches.")
    var deep = false
    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }
    @OptionGroup var input: InputOptions

    func run() async throws {
        let dir = try versionDirectory(name, location)
        let lock = try CLI.readLock(self.lock ?? VersionLayout(directory: dir).lockFile.path, limits: input.limits)
        let status = try await RuntimeCLI.guarded {
            try await VersionInspector.forStatus(store: RuntimeCLI.store(), python: RuntimeCLI.python(), deep: deep)
                .status(directory: dir, lock: lock)
        }
        if json {
            try Console.current.json(status)
        } else if status.clean {
            Console.current.out("\(name): clean (matches lock \(status.lockDigest.prefix(16)))")
        } else {
            Console.current.out("\(name): \(status.drift.count) difference(s) from the lock:")
            for entry in status.drift { Console.current.out("  \(entry)") }
        }
        if !status.clean { throw ExitCode(ExitStatus.checkFailed) }
    }
}

/// `comfy-cli version repair NAME`.
struct VersionRepairCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair", abstract: "Re-materialize a version's drifted nodes, Python and models from its lock.")

    @Argument(help: "The version name.")
    var name: String
    @OptionGroup(title: "Location") var location: VersionsRootOptions
    @OptionGroup var build: PythonBuildFlags
    @Flag(name: .long, help: "Rebuild even when the lock's Python environment is not pinned.")
    var allowUnpinned = false
    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }

    func run() async throws {
        _ = try versionDirectory(name, location)
        let report = try await RuntimeCLI.guarded {
            let store = RuntimeCLI.store()
            let builder = VersionBuilder(
                root: location.url, gitCache: try RuntimeCLI.gitCache(store: store), store: store,
                python: RuntimeCLI.python())
            return try await builder.repair(
                name: name,
                options: VersionCreateOptions(
                    python: build.options,
                    progress: RuntimeCLI.progress(json: json), allowUnpinned: allowUnpinned))
        }
        if json {
            try Console.current.json(report)
        } else if report.before.isEmpty {
            Console.current.out("\(name): clean; nothing to repair")
        } else {
            Console.current.out("\(name): repaired \(report.repaired.count) item(s):")
            for item in report.repaired { Console.current.out("  \(item)") }
            if report.clean {
                Console.current.out("\(name): clean")
            } else {
                Console.current.out("\(name): \(report.after.count) difference(s) remain:")
                for entry in report.after { Console.current.out("  \(entry)") }
            }
        }
        if !report.clean { throw ExitCode(ExitStatus.checkFailed) }
    }
}

/// `comfy-cli version digest NAME`.
struct VersionDigestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "digest", abstract: "Print one SHA-256 over a version's environment identity.")

    @Argument(help: "The version name.")
    var name: String
    @OptionGroup(title: "Location") var location: VersionsRootOptions
    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }
    @Flag(name: .long, help: "Also print the identity lines the digest covers.")
    var verbose = false

    func run() async throws {
        let dir = try versionDirectory(name, location)
        let digest = try await RuntimeCLI.guarded {
            try await VersionInspector(store: RuntimeCLI.store(), python: RuntimeCLI.python()).digest(directory: dir)
        }
        if json {
            try Console.current.json(digest)
        } else {
            Console.current.out(digest.digest)
            if verbose { for line in digest.lines { Console.current.out("  \(line)") } }
        }
    }
}

/// `comfy-cli version remove NAME`.
struct VersionRemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Delete a version directory, never leaving the versions root.")

    @Argument(help: "The version name.")
    var name: String
    @OptionGroup(title: "Location") var location: VersionsRootOptions
    @Flag(name: .long, help: "List exactly what would be deleted, and delete nothing.")
    var dryRun = false
    @Flag(name: .long, help: "Do not ask for confirmation.")
    var yes = false
    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }

    func run() async throws {
        let removal = VersionRemoval(
            root: location.url, name: name, store: RuntimeCLI.store(), home: ProcessInfo.processInfo.environment["HOME"]
        )
        if !dryRun && !yes {
            let plan = try await RuntimeCLI.guarded { try removal.plan() }
            throw CLI.fail(
                "remove \(plan.target.path) (\(plan.entries.count) entries)? pass --yes to confirm, or --dry-run to list"
            )
        }
        let report = try await RuntimeCLI.guarded { try await removal.run(dryRun: dryRun) }
        if json {
            try Console.current.json(report)
        } else if dryRun {
            Console.current.out("would remove \(report.entries.count) entries (\(report.bytes) bytes):")
            for entry in report.entries { Console.current.out(entry) }
        } else {
            Console.current.out(
                "removed version \(name) (\(report.entries.count) entries) from \(location.url.path); freed "
                    + "\(report.freedBlobs.count) store blob(s) only it used (\(ByteText.format(report.freedBytes)))")
        }
    }
}

/// `comfy-cli version list`.
struct VersionListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the versions in the root.")

    @OptionGroup(title: "Location") var location: VersionsRootOptions
    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }

    func run() async throws {
        let root = location.url
        let entries = VersionCatalog.list(root: root)
        if json {
            try Console.current.json(entries)
        } else if entries.isEmpty {
            Console.current.out("no versions in \(root.path)")
        } else {
            for entry in entries {
                Console.current.out("\(entry.name)\t\(entry.tag ?? "?")\t\(entry.lockDigest?.prefix(16) ?? "?")")
            }
        }
    }
}

/// The Python build flags `version create` and `version repair` share.
struct PythonBuildFlags: ParsableArguments {
    @Flag(name: .long, help: "Install Python packages with no index access at all (needs --wheelhouse).")
    var offline = false
    @Option(name: .long, help: "Directory of pinned artifacts for offline installs.")
    var wheelhouse: String?
    @Option(name: .long, help: "Python interpreter for the venv.")
    var python: String?

    func validate() throws {
        if offline && wheelhouse == nil { throw ValidationError("--offline needs --wheelhouse DIR") }
    }

    /// The flags as the builder's options.
    var options: PythonBuildOptions { PythonBuildOptions(offline: offline, wheelhouse: wheelhouse, python: python) }
}
