import ArgumentParser
import ComfyLock
import ComfyRuntime
import ComfyServer
import Foundation
import Logging

/// `comfy-cli repro`: record workflows with their outputs in a lock, and check that they still reproduce.
struct ReproCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repro",
        abstract: "Record workflows with their outputs in a lock and check that they reproduce.",
        subcommands: [ReproRecordCommand.self, ReproCheckCommand.self])
}

/// Where the workflows run: a version started for the command, or a ComfyUI already running.
struct ReproTargetOptions: ParsableArguments {
    @Option(name: .long, help: "Start ComfyUI from this version (see comfy-cli version list).")
    var version: String?
    @OptionGroup(title: "Location") var location: VersionsRootOptions
    @Option(name: .customLong("comfyui-url"), help: "Use the ComfyUI already running at this URL.")
    var comfyUIURL: String?
    @Option(
        name: .customLong("comfyui-arg"), parsing: .unconditionalSingleValue,
        help: "Pass an argument to a started ComfyUI, e.g. --comfyui-arg=--cpu (repeatable).")
    var comfyUIArguments: [String] = []
    @Option(name: .long, help: "Fail a run after this many seconds.")
    var timeout: Double?

    func validate() throws {
        if (version == nil) == (comfyUIURL == nil) {
            throw ValidationError("give exactly one of --version NAME or --comfyui-url URL")
        }
        if comfyUIURL != nil && !comfyUIArguments.isEmpty {
            throw ValidationError("--comfyui-arg applies to a started ComfyUI, not to --comfyui-url")
        }
        if let url = comfyUIURL, ComfyUITarget.url(url) == nil {
            throw ValidationError("--comfyui-url must be an http(s) URL")
        }
        if let version {
            do { try VersionName.validate(version) } catch { throw ValidationError(String(describing: error)) }
        }
        if let timeout, !(timeout > 0 && timeout <= 7 * 86400) {
            throw ValidationError("--timeout must be a number of seconds between 0 and 604800")
        }
    }

    /// The version directory, or nil for `--comfyui-url`.
    var versionDirectory: URL? { version.map { location.url.appendingPathComponent($0, isDirectory: true) } }

    /// The lock the version was built from (nil for `--comfyui-url`).
    func versionLock() throws -> Lock? {
        guard let dir = versionDirectory else { return nil }
        let file = VersionLayout(directory: dir).lockFile
        guard FileManager.default.fileExists(atPath: file.path) else {
            throw CLI.fail("no version '\(version ?? "")' in \(location.url.path) (see comfy-cli version list)")
        }
        return try CLI.readLock(file.path)
    }

    /// Starts or attaches to ComfyUI, runs `body` with a runner, and stops a started ComfyUI afterwards.
    func withRunner<T>(quiet: Bool, _ body: (ReproWorkflowRunner) async throws -> T) async throws -> T {
        var logger = Logger(label: "comfylock.repro")
        logger.logLevel = .warning
        let console = Console.current
        let target: ComfyUITarget
        if let url = comfyUIURL.flatMap(ComfyUITarget.url) {
            target = .running(url)
        } else {
            let directory = versionDirectory!.path
            target = .version(directory: directory, arguments: comfyUIArguments)
            if !quiet { console.err("starting ComfyUI from \(ReportText.escaped(directory))") }
        }
        let supervisor: ComfyUISupervisor
        do {
            supervisor = try await target.start(logger: logger)
        } catch {
            throw CLI.fail(ReportText.escaped(String(describing: error)))
        }
        let options = WorkflowRunOptions(deadline: timeout.map { .milliseconds(Int64($0 * 1000)) })
        let runner = ReproWorkflowRunner(
            runner: WorkflowRunner(supervisor: supervisor, logger: logger), options: options)
        do {
            let value = try await body(runner)
            await supervisor.stop()
            return value
        } catch {
            await supervisor.stop()
            throw error
        }
    }
}

/// `comfy-cli repro record`.
struct ReproRecordCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Run a workflow and record it with its outputs in the lock (written canonically and atomically).")

    @Option(name: .long, help: "The lock file to record into.")
    var lock: String
    @Option(name: .long, help: "The workflow (ComfyUI API-format JSON).")
    var workflow: String
    @Option(name: .long, help: "The name to record it under (default: the file name without .json).")
    var name: String?
    @Option(name: .long, help: "How many runs must give identical outputs before recording (default 2).")
    var runs: Int = 2
    @OptionGroup(title: "ComfyUI") var target: ReproTargetOptions
    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }
    @OptionGroup var input: InputOptions

    func validate() throws {
        try target.validate()
        if !(1...10).contains(runs) { throw ValidationError("--runs must be between 1 and 10") }
        if let name, name.isEmpty || name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f }) {
            throw ValidationError("--name must be non-empty and without control characters")
        }
    }

    func run() async throws {
        let lockURL = URL(fileURLWithPath: lock)
        var current = try CLI.readLock(lock, limits: input.limits)
        let graph: Workflow
        do {
            let bytes = try BoundedInput.read(workflow, limits: input.limits, what: "workflow")
            graph = try Workflow(bytes: bytes, maxBytes: input.maxInputSize)
        } catch let error as LockError {
            throw CLI.fail("\(error)")
        } catch {
            throw CLI.fail("\(Escaping.quoted(workflow)): \(ReportText.escaped(String(describing: error)))")
        }
        let entryName = name ?? ((workflow as NSString).lastPathComponent as NSString).deletingPathExtension
        if let versionLock = try target.versionLock() {
            let changes = WorkflowRecording(recording: versionLock, seeds: []).changes(since: current)
            if !changes.isEmpty {
                throw CLI.fail(
                    "version \(target.version!) was not built from \(ReportText.escaped(lock)): "
                        + changes.map(\.description).joined(separator: ", ")
                        + " (record with a version built from this lock)")
            }
        }
        let entry: WorkflowEntry
        do {
            (current, entry) = try await target.withRunner(quiet: json) { runner in
                try await ReproRecorder(runner: runner, runs: runs).record(
                    name: entryName, workflow: graph, into: current)
            }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            throw CLI.fail(ReportText.escaped(String(describing: error)))
        }
        do {
            try LockFile.write(current, to: lockURL)
        } catch {
            throw CLI.fail("\(ReportText.escaped(lock)): \(error)")
        }
        if json {
            try Console.current.json(ReproRecordReport(entry: entry, lockDigest: LockFile.digest(current)))
        } else {
            Console.current.out(
                "recorded \(ReportText.escaped(entry.name)): \(entry.expectedOutputs.count) output(s), "
                    + "\(entry.recording?.seeds.count ?? 0) seed(s), lock digest \(LockFile.digest(current).prefix(16))"
            )
            for output in entry.expectedOutputs {
                Console.current.out(
                    "  \(output.name) \(output.classType ?? "?") \(output.kind ?? "?") "
                        + "\(ReportText.escaped(output.filename ?? "-")) sha256 \(output.sha256.prefix(16))"
                        + (output.imageDataSha256.map { " image-data \($0.prefix(16))" } ?? ""))
            }
            for seed in entry.recording?.seeds ?? [] {
                Console.current.out(
                    "  seed: node \(ReportText.escaped(seed.node)) \(ReportText.escaped(seed.input)) = \(seed.value)")
            }
        }
    }
}

/// What `repro record --json` prints.
struct ReproRecordReport: Encodable {
    var entry: WorkflowEntry
    var lockDigest: String
}

/// `comfy-cli repro check`.
struct ReproCheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Re-run recorded workflows and compare their outputs; exit 1 naming each output that differs.")

    @Option(name: .long, help: "The lock file holding the recorded workflows.")
    var lock: String
    @Option(name: .long, help: "Check only the workflow with this name.")
    var name: String?
    @OptionGroup(title: "ComfyUI") var target: ReproTargetOptions
    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }
    @OptionGroup var input: InputOptions

    func validate() throws { try target.validate() }

    func run() async throws {
        let current = try CLI.readLock(lock, limits: input.limits)
        let environment = try target.versionLock() ?? current
        let report: ReproCheckReport
        do {
            report = try await target.withRunner(quiet: json) { runner in
                try await ReproChecker(runner: runner).check(lock: current, name: name, environment: environment)
            }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            throw CLI.fail(ReportText.escaped(String(describing: error)))
        }
        if json {
            try Console.current.json(report)
        } else {
            ReproCheckText.print(report, console: Console.current)
        }
        if report.workflows.contains(where: { $0.verdict == .error }) { throw ExitCode(ExitStatus.error) }
        if !report.passed { throw ExitCode(ExitStatus.checkFailed) }
    }
}

/// The human form of a check report.
enum ReproCheckText {
    static func print(_ report: ReproCheckReport, console: Console) {
        for check in report.workflows {
            let name = ReportText.escaped(check.name)
            switch check.verdict {
            case .equal:
                console.out("\(name): equal (\(check.outputs.count) output(s) byte for byte as recorded)")
            case .metadataOnly:
                console.out("\(name): DIFFERENT — metadata only; the image data is as recorded (a second run agreed)")
            case .drift:
                console.out(
                    "\(name): DIFFERENT — drift: a second run on the same server gave the same outputs as the first, "
                        + "so this environment reproducibly produces other outputs than the recording")
            case .nondeterministic:
                console.out(
                    "\(name): DIFFERENT — nondeterministic: two runs on the same server disagree, so the difference "
                        + "from the recording does not by itself show drift")
                for difference in check.rerunDifferences {
                    console.out("  run 2 vs run 1: " + ReportText.escaped(difference.description))
                }
            case .error:
                console.out("\(name): ERROR — \(ReportText.escaped(check.error ?? "unknown error"))")
            }
            for output in check.outputs where output.status != .equal {
                console.out("  " + ReportText.escaped(output.description))
            }
            if !check.lockChanges.isEmpty {
                console.out(
                    "  lock changed since recording: "
                        + check.lockChanges.map { ReportText.escaped($0.description) }
                        .joined(separator: ", "))
            }
            if check.cached {
                console.out("  note: ComfyUI served a run from its cache; it proves nothing about this environment")
            }
        }
        for (name, reason) in report.skipped.sorted(by: { $0.key < $1.key }) {
            console.out("\(ReportText.escaped(name)): skipped — \(reason)")
        }
        let failed = report.workflows.filter { !$0.passed }.count
        console.out(
            failed == 0
                ? "all \(report.workflows.count) recorded workflow(s) reproduce"
                : "\(failed) of \(report.workflows.count) recorded workflow(s) do not reproduce")
    }
}
