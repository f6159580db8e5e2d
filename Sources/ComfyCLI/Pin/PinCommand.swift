import ArgumentParser
import ComfyLock
import ComfyModels
import ComfyRuntime
import ComfySupport
import Foundation

/// Options shared by the commands that drive Python tools.
struct PythonToolOptions: ParsableArguments {
    @Option(name: .customLong("python"), help: "Python interpreter (path, name or version) to use.")
    var python: String?

    @Option(name: .customLong("uv"), help: "The uv executable (default: $COMFYLOCK_UV, then uv in PATH).")
    var uv: String?

    @Option(name: .customLong("installer"), help: "Force the resolver/installer: uv or pip.")
    var installer: String?

    func validate() throws {
        if let installer, PythonInstallerKind(rawValue: installer) == nil {
            throw ValidationError("--installer must be uv or pip, not \(installer)")
        }
    }

    /// Finds the tools; failures exit 2 with the reason.
    func toolchain() async throws -> PythonToolchain {
        do {
            return try await PythonToolchain.discover(
                python: python, uv: uv, installer: installer.flatMap(PythonInstallerKind.init(rawValue:)),
                environment: ProcessInfo.processInfo.environment)
        } catch {
            throw CLI.fail("\(error)")
        }
    }
}

/// Shared plumbing of the `pin` commands.
enum PinCLI {
    /// Pretty, key-sorted JSON with a trailing newline (the `pins.json` format).
    static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        Array(try CLI.encodeJSON(value)) + [0x0a]
    }

    /// A requirements file input, read once through `BoundedInput` (regular file, at most `limits.maxBytes`) so a
    /// device, a FIFO or an oversized file is refused (exit 2) before any resolver runs.
    static func requirementsFile(_ path: String, label: String?, limits: InputLimits) throws -> RequirementsInput {
        let input = RequirementsInput.file(path, label: label, limits: limits)
        do { _ = try input.read() } catch { throw CLI.fail("\(error)") }
        return input
    }
}

/// `comfy-cli pin`: resolves requirements to exact versions with artifact URLs and sha256 for the whole closure.
/// `pin REQUIREMENTS...` and `pin --lock L` run the default `resolve` subcommand; `pin wheelhouse` downloads.
struct PinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pin",
        abstract: "Pin Python requirements to exact versions, artifact URLs and sha256 for the whole closure.",
        subcommands: [PinResolveCommand.self, PinWheelhouseCommand.self],
        defaultSubcommand: PinResolveCommand.self)
}

/// `comfy-cli pin [resolve] REQUIREMENTS... | --lock L`: the resolution itself.
struct PinResolveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "resolve",
        abstract: "Resolve requirements files, or a lock's ComfyUI and node requirements, to exact pins.",
        discussion: """
            pin REQUIREMENTS... -o pins.json   resolves requirements files together.
            pin --lock L                       fills L's python section from ComfyUI's and every git node's \
            requirements.txt at the lock's commits.
            Resolution uses uv (uv pip compile, PEP 751 output) when available, else pip's dry-run report. User pip \
            and uv configuration is ignored.
            """)

    @Argument(help: "Requirements files to pin together.")
    var requirements: [String] = []

    @Option(name: .customLong("lock"), help: "Fill this lock's python section from its ComfyUI and node requirements.")
    var lock: String?

    @Option(
        name: .customLong("comfyui"),
        help: "A local ComfyUI checkout to read requirements from (else they are fetched at the lock's commits).")
    var comfyUI: String?

    @Option(name: .customLong("with"), help: "An extra requirement pinned with the lock's (repeatable), e.g. requests.")
    var with: [String] = []

    @Option(
        name: .customLong("with-requirements"), help: "An extra requirements file pinned with the lock's (repeatable).")
    var withRequirements: [String] = []

    @Option(
        name: .customLong("python-version"),
        help: "Target Python version (default: the lock's, else the interpreter's).")
    var pythonVersion: String?

    @Option(help: "Target platform tag, e.g. manylinux_2_36_x86_64 (default: the lock's, else this machine's).")
    var platform: String?

    @Option(name: .customLong("index-url"), help: "Primary package index (default: the lock's, else PyPI).")
    var indexURL: String?

    @Option(name: .customLong("extra-index-url"), help: "Additional package index (repeatable).")
    var extraIndexURLs: [String] = []

    @Option(
        name: [.short, .customLong("output")], help: "Write the result here (default: stdout, or the lock itself).")
    var output: String?

    @OptionGroup var input: InputOptions

    @OptionGroup(title: "Python tools")
    var tools: PythonToolOptions

    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }

    func validate() throws {
        if lock == nil && requirements.isEmpty {
            throw ValidationError("give requirements files to pin, or --lock LOCK")
        }
        if lock != nil && !requirements.isEmpty {
            throw ValidationError("give either requirements files or --lock, not both")
        }
        if lock == nil && !(with.isEmpty && withRequirements.isEmpty) {
            throw ValidationError("--with and --with-requirements add to a lock's requirements: use them with --lock")
        }
        for requirement in with where requirement.isEmpty || requirement.contains(where: \.isNewline) {
            throw ValidationError("--with takes one requirement, not \"\(requirement)\"")
        }
        if let platform, (try? PythonPlatform.uvTarget(for: platform)) == nil {
            throw ValidationError("--platform \(platform) is not a platform tag (e.g. manylinux_2_36_x86_64)")
        }
    }

    struct Report: Encodable {
        var output: String?
        var pythonVersion: String
        var platform: String
        var indexUrls: [String]
        var packages: Int
        var resolver: String
        var requirements: [String]
        var skipped: [String]
    }

    func run() async throws {
        // The lock is read and validated before anything runs.
        let preloaded = try lock.map { try CLI.readLock($0, limits: input.limits) }
        // Requirements files too: regular files within --max-input-size, before any tool runs.
        for path in requirements + withRequirements {
            _ = try PinCLI.requirementsFile(path, label: nil, limits: input.limits)
        }
        let toolchain = try await tools.toolchain()
        let target = LockPinning.Target(
            lock: preloaded, pythonVersion: pythonVersion, platform: platform, indexURL: indexURL,
            extraIndexURLs: extraIndexURLs, interpreterVersion: toolchain.interpreter.majorMinor)
        let version = target.pythonVersion
        let indexes = target.indexURLs
        let lockValue = preloaded
        var labels: [String] = []
        var skipped: [String] = []
        let pins: PythonPins
        if let lock, let value = preloaded {
            var extra: [RequirementsInput] = []
            for path in withRequirements {
                extra.append(
                    try PinCLI.requirementsFile(path, label: "--with-requirements \(path)", limits: input.limits))
            }
            if !with.isEmpty {
                extra.append(.text(with.joined(separator: "\n") + "\n", label: "--with"))
            }
            do {
                // The one lock pinning path (lock edits use it too); every git access goes through the git cache,
                // with the mirror settings applied.
                let result = try await LockPinning.pin(
                    value, target: target, extra: extra, comfyUIDirectory: comfyUI,
                    gitCache: try RuntimeCLI.gitCache(store: RuntimeCLI.store()), toolchain: toolchain,
                    mirrors: try RuntimeCLI.rewriter())
                pins = result.pins
                labels = result.requirements
                skipped = result.skipped
            } catch let exit as ExitCode {
                throw exit
            } catch {
                throw CLI.fail("\(lock): \(error)")
            }
        } else {
            var inputs: [RequirementsInput] = []
            for path in requirements {
                inputs.append(try PinCLI.requirementsFile(path, label: nil, limits: input.limits))
            }
            labels = inputs.map(\.label)
            do {
                pins = try await PythonPinner.pin(
                    PinRequest(
                        requirements: inputs, pythonVersion: version, platform: target.platform, indexURLs: indexes,
                        mirrors: try RuntimeCLI.rewriter()),
                    toolchain: toolchain)
            } catch {
                throw CLI.fail("\(error)")
            }
        }
        var written: String?
        if let lock, var value = lockValue {
            value.python = pins
            let destination = output ?? lock
            do {
                _ = try LockFile.write(value, to: URL(fileURLWithPath: destination))
            } catch {
                throw CLI.fail("cannot write \(destination): \(error)")
            }
            written = destination
        } else if let output {
            do {
                try AtomicFile.write(try PinCLI.encode(pins), to: output, skipIfUnchanged: true)
            } catch {
                throw CLI.fail("cannot write \(output): \(error)")
            }
            written = output
        } else if !json {
            Console.current.write(String(decoding: try PinCLI.encode(pins), as: UTF8.self))
        }
        let report = Report(
            output: written, pythonVersion: version, platform: target.platform, indexUrls: indexes,
            packages: pins.packages.count, resolver: toolchain.installer.rawValue, requirements: labels,
            skipped: skipped)
        if json {
            if written == nil {
                Console.current.write(String(decoding: try PinCLI.encode(pins), as: UTF8.self))
            } else {
                try Console.current.json(report)
            }
            return
        }
        if let written {
            Console.current.out(
                "pinned \(pins.packages.count) packages for Python \(version) on \(target.platform) with \(report.resolver) → \(written)"
            )
            for label in report.requirements { Console.current.out("  from \(label)") }
            for line in skipped { Console.current.out("  skipped \(line)") }
        }
    }
}

/// `comfy-cli pin wheelhouse --lock L DIR`: downloads every pinned artifact, verified, for offline builds.
struct PinWheelhouseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "wheelhouse",
        abstract: "Download every pinned Python artifact into a directory, verifying each sha256, for offline builds.")

    @Option(name: .customLong("lock"), help: "The lock whose python pins to download.")
    var lock: String?

    @Option(name: .customLong("pins"), help: "A pins.json written by comfy-cli pin (instead of --lock).")
    var pins: String?

    @Argument(help: "The wheelhouse directory (created if needed).")
    var directory: String

    @Option(
        help: "The content-addressed store downloads go through (default: $COMFYLOCK_STORE, else ~/.cache/comfylock).")
    var store: String?

    @Option(help: "Downloads at a time.")
    var jobs: Int = 4

    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }

    @OptionGroup var input: InputOptions

    func validate() throws {
        if (lock == nil) == (pins == nil) { throw ValidationError("give exactly one of --lock or --pins") }
        if jobs < 1 { throw ValidationError("--jobs must be at least 1") }
    }

    func run() async throws {
        let pinSet: PythonPins
        if let lock {
            guard let python = try CLI.readLock(lock, limits: input.limits).python else {
                throw CLI.fail("\(lock) has no python section: run `comfy-cli pin --lock \(lock)` first")
            }
            pinSet = python
        } else {
            let path = pins!
            let data: [UInt8]
            do {
                data = try BoundedInput.read(path, limits: input.limits, what: "pins file")
            } catch {
                throw CLI.fail("\(error)")
            }
            do {
                pinSet = try JSONDecoder().decode(PythonPins.self, from: Data(data))
            } catch {
                throw CLI.fail("\(Escaping.escaped(path)) is not a pins file: \(error)")
            }
            let errors = LockValidator.validate(python: pinSet).filter { $0.severity == .error }
            if !errors.isEmpty { throw CLI.fail("\(LockError.invalidLock(file: Escaping.escaped(path), errors))") }
        }
        let modelStore = store.map { ModelStore(root: URL(fileURLWithPath: $0)) } ?? ModelStore.fromEnvironment()
        let report: WheelhouseReport
        do {
            report = try await PythonWheelhouse.build(
                pinSet, into: directory, store: modelStore, jobs: jobs, rewriter: try RuntimeCLI.rewriter())
        } catch {
            throw CLI.fail("\(error)")
        }
        if json {
            try Console.current.json(report)
            return
        }
        let downloaded = report.entries.filter { $0.status == .downloaded }.count
        let reused = report.entries.count - downloaded
        Console.current.out(
            "wheelhouse \(directory): \(report.entries.count) artifacts verified (\(downloaded) downloaded, \(reused) already present)"
        )
        for name in report.skippedVCS {
            Console.current.out("  skipped \(name): a VCS pin (offline installs need its repository reachable)")
        }
    }
}
