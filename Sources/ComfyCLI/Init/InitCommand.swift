import ArgumentParser
import ComfyRuntime
import Foundation

/// `comfy-cli init`: clone ComfyUI, create its venv and install its requirements.
struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init", abstract: "Clone ComfyUI, create its venv and install its requirements.")

    @Option(name: .long, help: "Where ComfyUI goes (default $COMFY_HOME).")
    var path: String?
    @Option(name: .long, help: "A commit, tag or branch to check out (default: the remote's default branch).")
    var ref: String?
    @Option(name: .long, help: "The ComfyUI git repository.")
    var comfyuiUrl: String = InitOptions.defaultURL
    @Option(name: .long, help: "The Python interpreter for the venv.")
    var python: String = "python3"
    @Option(name: .long, help: "The package index for the requirements (default PyPI).")
    var indexUrl: String?
    @Option(name: .long, help: "An additional package index (repeatable).")
    var extraIndexUrl: [String] = []
    @Option(name: .long, help: "Force the installer: uv or pip (default uv when available).")
    var installer: String?
    @Option(name: .long, help: "Install requirements from this directory of wheels (repeatable).")
    var findLinks: [String] = []
    @Flag(name: .long, help: "Do not use any package index (with --find-links).")
    var noIndex = false
    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }

    func run() async throws {
        guard let path = path ?? ProcessInfo.processInfo.environment["COMFY_HOME"] else {
            throw CLI.fail("no install directory: pass --path DIR or set COMFY_HOME")
        }
        var kind: PythonInstallerKind?
        if let installer {
            guard let parsed = PythonInstallerKind(rawValue: installer) else {
                throw CLI.fail("--installer must be uv or pip, not \(installer)")
            }
            kind = parsed
        }
        let indexes = (indexUrl.map { [$0] } ?? []) + extraIndexUrl
        let report = try await RuntimeCLI.guarded {
            let store = RuntimeCLI.store()
            return try await ComfyInitializer(gitCache: try RuntimeCLI.gitCache(store: store)).run(
                InitOptions(
                    path: URL(fileURLWithPath: path), ref: ref, url: comfyuiUrl, python: python, indexURLs: indexes,
                    findLinks: findLinks, noIndex: noIndex, installer: kind,
                    environment: ProcessInfo.processInfo.environment,
                    progress: RuntimeCLI.progress(json: json), heartbeat: RuntimeCLI.heartbeat))
        }
        if json {
            try Console.current.json(report)
        } else if report.alreadyDone {
            Console.current.out(
                "ComfyUI at \(report.path) is already initialized (commit \(report.commit)); nothing to do")
        } else {
            Console.current.out(
                "initialized ComfyUI at \(report.path) (commit \(report.commit), \(report.installer)): "
                    + report.performed.joined(separator: ", "))
        }
    }
}
