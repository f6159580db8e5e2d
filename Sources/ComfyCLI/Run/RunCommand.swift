import ArgumentParser
import ComfyLock
import ComfyRuntime
import ComfyServer
import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `comfy-cli run`: start (or attach to) ComfyUI, upload inputs, run one workflow, write its outputs, report.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a workflow on ComfyUI started from a version or running at a URL and collect every output.",
        discussion: """
            Exit status: 0 the workflow ran, 1 the workflow failed (refused by validation, a node failed, \
            interrupted or past --timeout; the nodes are named), 2 usage or environment error (bad flags, \
            unreadable or UI-format workflow, ComfyUI not starting, crashing or unreachable).
            """)

    @Option(name: .long, help: "The workflow to run (ComfyUI API-format JSON).")
    var workflow: String

    @Option(name: .long, help: "Start ComfyUI from this version (see comfy-cli version list).")
    var version: String?

    @OptionGroup(title: "Location") var location: VersionsRootOptions

    @Option(name: .customLong("comfyui-url"), help: "Use the ComfyUI already running at this URL.")
    var comfyUIURL: String?

    @Option(
        name: .customLong("input"),
        help: "Upload FILE to ComfyUI's input directory as NAME (NAME=FILE; NODE.INPUT=FILE also sets that input).")
    var inputs: [String] = []

    @Option(name: .long, help: "Write the outputs to this directory (default: hash them only).")
    var out: String?

    @Option(name: .long, help: "Fail the job after this many seconds (interrupt it, then restart ComfyUI).")
    var timeout: Double?

    @Option(
        name: .customLong("comfyui-arg"), parsing: .unconditionalSingleValue,
        help: "Pass an argument to a started ComfyUI, e.g. --comfyui-arg=--cpu (repeatable).")
    var comfyUIArguments: [String] = []

    @Flag(name: .customLong("include-temp"), help: "Also collect temp outputs (previews).")
    var includeTemp = false

    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }

    @OptionGroup var input: InputOptions

    func validate() throws {
        if (version == nil) == (comfyUIURL == nil) {
            throw ValidationError("give exactly one of --version NAME or --comfyui-url URL")
        }
        if let timeout, !(timeout > 0 && timeout <= 7 * 86400) {
            throw ValidationError("--timeout must be a number of seconds between 0 and 604800")
        }
        if comfyUIURL != nil && !comfyUIArguments.isEmpty {
            throw ValidationError("--comfyui-arg applies to a started ComfyUI, not to --comfyui-url")
        }
        if let version {
            do { try VersionName.validate(version) } catch { throw ValidationError(String(describing: error)) }
        }
        if let url = comfyUIURL, ComfyUITarget.url(url) == nil {
            throw ValidationError("--comfyui-url must be an http(s) URL")
        }
        for input in inputs where RunInputs.parse(input) == nil {
            throw ValidationError("--input must be NAME=FILE or NODE.INPUT=FILE, got \(input)")
        }
    }

    func run() async throws {
        let console = Console.current
        let workflow: Workflow
        do {
            // The one bounded reader: a regular file (or '-'), at most --max-input-size bytes.
            let data = try BoundedInput.read(workflow_path, limits: input.limits, what: "workflow")
            workflow = try Workflow(bytes: data, maxBytes: input.maxInputSize)
        } catch let error as ComfyUIError {
            throw RunReport.fail(error, json: json, file: workflow_path)
        } catch {
            throw CLI.fail("\(error)")
        }
        var uploads: [WorkflowInput] = []
        for input in inputs {
            guard let (name, file) = RunInputs.parse(input) else { continue }
            guard FileManager.default.isReadableFile(atPath: file) else {
                throw CLI.fail("--input \(name): cannot read \(file)")
            }
            if let dot = name.firstIndex(of: "."), workflow[String(name[..<dot])] != nil {
                let node = String(name[..<dot])
                let inputName = String(name[name.index(after: dot)...])
                uploads.append(
                    WorkflowInput(
                        name: (file as NSString).lastPathComponent, source: .file(file),
                        target: .init(node: node, input: inputName)))
            } else {
                uploads.append(WorkflowInput(name: name, source: .file(file)))
            }
        }

        var logger = Logger(label: "comfylock.run")
        logger.logLevel = .warning
        let target: ComfyUITarget
        if let url = comfyUIURL.flatMap(ComfyUITarget.url) {
            target = .running(url)
        } else {
            let directory = location.url.appendingPathComponent(version!).path
            target = .version(directory: directory, arguments: comfyUIArguments)
            if !json { console.err("starting ComfyUI from \(Escaping.escaped(directory, limit: 2000))") }
        }
        let supervisor: ComfyUISupervisor
        do {
            supervisor = try await target.start(logger: logger)
        } catch {
            throw RunReport.fail(error, json: json, file: workflow_path)
        }
        let startup = await supervisor.startup
        if !json, let startup {
            var line = "ComfyUI ready at \(startup.url) in \(RunReport.seconds(startup.total))"
            if startup.pid != nil {
                line +=
                    " (HTTP up \(RunReport.seconds(startup.httpUp)), nodes \(RunReport.seconds(startup.nodesLoaded)))"
            }
            console.err(line)
            for failed in startup.failedImports {
                console.err("warning: custom node failed to import: \(Escaping.quoted(failed))")
            }
        }

        let progress = RunProgress(console: console, enabled: !json, terminal: isatty(STDERR_FILENO) == 1)
        let options = WorkflowRunOptions(
            deadline: timeout.map { .milliseconds(Int64($0 * 1000)) }, outputDirectory: out,
            includeTemporaryOutputs: includeTemp)
        let runner = WorkflowRunner(supervisor: supervisor, logger: logger)
        let outcome: Result<WorkflowRunResult, any Error>
        do {
            outcome = .success(
                try await runner.run(workflow, inputs: uploads, options: options) { progress.handle($0) })
        } catch {
            outcome = .failure(error)
        }
        progress.finish()
        await supervisor.stop()
        switch outcome {
        case .success(let result):
            RunReport.print(result, startup: startup, json: json, console: console)
        case .failure(let error as ComfyUIError):
            throw RunReport.fail(error, json: json, file: workflow_path, startup: startup)
        case .failure(let error):
            throw CLI.fail("\(error)")
        }
    }

    private var workflow_path: String { workflow }
}

/// Parsing of `--input` values and bounded file reads.
enum RunInputs {
    /// `NAME=FILE` → (NAME, FILE).
    static func parse(_ value: String) -> (String, String)? {
        guard let equals = value.firstIndex(of: "=") else { return nil }
        let name = String(value[..<equals])
        let file = String(value[value.index(after: equals)...])
        guard !name.isEmpty, !file.isEmpty, !name.contains("/"), name != ".", name != ".." else { return nil }
        return (name, file)
    }

}

/// Per-node progress: one redrawn line on a terminal, plain lines otherwise.
final class RunProgress: Sendable {
    private let console: Console
    private let enabled: Bool
    private let terminal: Bool
    private let drawn = Mutex<Bool>(false)

    init(console: Console, enabled: Bool, terminal: Bool) {
        self.console = console
        self.enabled = enabled
        self.terminal = terminal
    }

    func handle(_ event: WorkflowEvent) {
        guard enabled else { return }
        switch event {
        case .queued(let id): line("queued prompt \(Escaping.escaped(id))")
        case .cached(let nodes) where !nodes.isEmpty: line("\(nodes.count) node(s) from ComfyUI's cache")
        case .nodeStarted(let id, let classType, let index, let total):
            redraw("[\(index)/\(total)] node \(Escaping.escaped(id)) \(Escaping.escaped(classType))")
        case .progress(let id, let value, let max) where max > 0:
            if terminal {
                let width = 20
                let filled = Int((value / max * Double(width)).rounded(.down))
                let bar =
                    String(repeating: "#", count: Swift.max(0, Swift.min(filled, width)))
                    + String(repeating: "-", count: Swift.max(0, width - filled))
                redraw("node \(Escaping.escaped(id)) [\(bar)] \(Int(value))/\(Int(max))")
            }
        case .socketLost(let reason): line("WebSocket lost (\(Escaping.escaped(reason))); the watchdog checks /history")
        case .watchdog(let note): line("watchdog: \(Escaping.escaped(note))")
        case .escalation(let stage): line("timeout: \(Escaping.escaped(stage))")
        case .uploaded(let name): line("uploaded \(Escaping.quoted(name))")
        default: break
        }
    }

    private func line(_ text: String) {
        finish()
        console.err(text)
    }

    private func redraw(_ text: String) {
        if terminal {
            console.writeError("\r\u{1B}[2K" + text)
            drawn.withLock { $0 = true }
        } else {
            console.err(text)
        }
    }

    func finish() {
        if drawn.withLock({
            let was = $0; $0 = false; return was
        }) {
            console.writeError("\n")
        }
    }
}

/// The report of `comfy-cli run`, plain or JSON.
enum RunReport {
    struct Output: Encodable {
        let ok: Bool
        let promptID: String?
        let cached: Bool?
        let outputs: [WorkflowOutput]?
        let timings: WorkflowTimings?
        let memory: MemoryReport?
        let startup: ComfyUISupervisor.StartupReport?
        let error: ErrorReport?

        enum CodingKeys: String, CodingKey {
            case ok, cached, outputs, timings, memory, startup, error
            case promptID = "prompt_id"
        }
    }

    struct ErrorReport: Encodable {
        let kind: String
        let message: String
        let nodeID: String?
        let classType: String?
        let nodeErrors: [NodeError]
        let retryable: Bool
        let logTail: [String]

        enum CodingKeys: String, CodingKey {
            case kind, message, retryable
            case nodeID = "node_id"
            case classType = "class_type"
            case nodeErrors = "node_errors"
            case logTail = "log_tail"
        }
    }

    static func seconds(_ value: Double) -> String { String(format: "%.2f s", value) }

    static func print(
        _ result: WorkflowRunResult, startup: ComfyUISupervisor.StartupReport?, json: Bool, console: Console
    ) {
        if json {
            try? console.json(
                Output(
                    ok: true, promptID: result.promptID, cached: result.cached, outputs: result.outputs,
                    timings: result.timings, memory: result.memory, startup: startup, error: nil))
            return
        }
        // Everything below is server or workflow text: printed escaped (`Escaping`), one line per output.
        console.out(
            "prompt \(Escaping.escaped(result.promptID)): \(result.outputs.count) output(s) in \(seconds(result.timings.total))"
                + (result.cached ? " (all from ComfyUI's cache)" : ""))
        for output in result.outputs {
            var line =
                "  node \(Escaping.escaped(output.nodeID)) \(Escaping.escaped(output.classType)) \(output.kind.rawValue) "
            if output.kind == .text {
                line += Escaping.quoted(output.text ?? "", limit: 80)
            } else {
                line += Escaping.escaped(
                    output.subfolder.isEmpty ? output.filename : output.subfolder + "/" + output.filename)
                line += " \(output.size) bytes"
            }
            line += " sha256:\(output.sha256)"
            if let pixels = output.imageDataSHA256 { line += " pixels:\(pixels)" }
            console.out(line)
            if let path = output.localPath { console.out("    → \(Escaping.escaped(path, limit: 2000))") }
        }
        for dropped in result.droppedOutputs {
            console.out("  dropped: \(Escaping.escaped(dropped.summary, limit: 500))")
        }
    }

    /// Prints the failure (JSON report or message) and returns the exit code: 1 when the workflow failed, 2 for
    /// usage and environment errors.
    static func fail(
        _ error: ComfyUIError, json: Bool, file: String, startup: ComfyUISupervisor.StartupReport? = nil
    ) -> ExitCode {
        let code = error.isWorkflowFailure ? ExitStatus.checkFailed : ExitStatus.error
        if json {
            try? Console.current.json(
                Output(
                    ok: false, promptID: nil, cached: nil, outputs: nil, timings: nil, memory: nil, startup: startup,
                    error: ErrorReport(
                        kind: error.kind.rawValue, message: error.message, nodeID: error.nodeID,
                        classType: error.classType, nodeErrors: error.nodeErrors, retryable: error.retryable,
                        logTail: error.logTail)))
        } else {
            let subject = error.kind == .invalidWorkflow ? "\(Escaping.escaped(file, limit: 2000)): " : ""
            // The message is escaped by ComfyUIError; the node-error lines it joins are escaped one by one.
            Console.current.err("error: \(subject)\(error.description)")
            if !error.logTail.isEmpty {
                Console.current.err("ComfyUI log (last lines):")
                for line in error.logTail.suffix(15) {
                    Console.current.err("  | \(Escaping.escaped(line, limit: 2000))")
                }
            }
        }
        return ExitCode(code)
    }
}
