public import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The ComfyUI API stand-in (scripts/testsupport/comfyui_standin.py: stdlib + Pillow, real PNGs, real WebSocket)
/// run for one test on a free port, with its own input/output/temp/user/models directories in a temp dir.
///
/// Handler, repro and deploy tests reuse it. Stop it with `stop()` (SIGKILL: children of the test runner inherit a
/// blocked SIGTERM); it also exits by itself when the test process dies.
public final class ComfyUIStandIn: Sendable {
    /// How the stand-in misbehaves (see the script's docstring).
    public enum Mode: String, Sendable {
        /// Behaves.
        case normal
        /// The process exits in the middle of every job.
        case crash
        /// The WebSocket opens but never sends anything (jobs still finish: only /history tells).
        case hang
        /// Every node takes `slowSeconds`, with progress messages.
        case slow
    }

    /// `http://127.0.0.1:PORT`.
    public let baseURL: URL
    /// The port.
    public let port: Int
    /// The process id.
    public let pid: Int32
    /// Root of its directories (`input`, `output`, `temp`, `user`, `models/<folder>`), removed by `stop()`.
    public let directory: URL
    private let process: Mutex<Process?>
    private let logURL: URL

    /// ComfyUI's input directory.
    public var inputDirectory: URL { directory.appendingPathComponent("input") }
    /// ComfyUI's output directory.
    public var outputDirectory: URL { directory.appendingPathComponent("output") }
    /// ComfyUI's temp directory.
    public var tempDirectory: URL { directory.appendingPathComponent("temp") }
    /// The models root (`models/checkpoints`, …), listed by `/models/<folder>`.
    public var modelsDirectory: URL { directory.appendingPathComponent("models") }

    /// The python that runs the stand-in (the test venv's, which has Pillow).
    public static var python: String {
        FileManager.default.isExecutableFile(atPath: TestPaths.python.path) ? TestPaths.python.path : "/usr/bin/python3"
    }
    /// The script.
    public static var script: URL { TestPaths.testScripts.appendingPathComponent("comfyui_standin.py") }

    /// Starts a stand-in in `mode`; `failingNodes` are logged as "IMPORT FAILED" custom nodes; `models` maps
    /// `folder/file` paths to create (empty files) under the models root.
    public static func start(
        mode: Mode = .normal, slowSeconds: Double = 0.5, failingNodes: [String] = [], models: [String] = [],
        disableMetadata: Bool = false, extraArguments: [String] = []
    ) throws -> ComfyUIStandIn {
        try ComfyUIStandIn(
            mode: mode, slowSeconds: slowSeconds, failingNodes: failingNodes, models: models,
            disableMetadata: disableMetadata, extraArguments: extraArguments)
    }

    private init(
        mode: Mode, slowSeconds: Double, failingNodes: [String], models: [String], disableMetadata: Bool,
        extraArguments: [String]
    ) throws {
        let root = try TemporaryDirectory(prefix: "comfyui-standin").url
        directory = root
        for model in models {
            let url = root.appendingPathComponent("models").appendingPathComponent(model)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            FileManager.default.createFile(atPath: url.path, contents: Data("weights".utf8))
        }
        logURL = root.appendingPathComponent("standin.log")
        FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.python)
        var arguments = [
            Self.script.path, "--listen", "127.0.0.1", "--port", "0", "--cpu", "--disable-auto-launch",
            "--base-directory", root.path,
            "--input-directory", root.appendingPathComponent("input").path,
            "--output-directory", root.appendingPathComponent("output").path,
            "--temp-directory", root.appendingPathComponent("temp").path,
            "--user-directory", root.appendingPathComponent("user").path,
            "--standin-mode", mode.rawValue, "--standin-slow-seconds", String(slowSeconds),
        ]
        for node in failingNodes { arguments += ["--standin-failing-node", node] }
        if disableMetadata { arguments.append("--disable-metadata") }
        process.arguments = arguments + extraArguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = try FileHandle(forWritingTo: logURL)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let (ready, text) = ServerReadyLine.port(from: out.fileHandleForReading)
        guard let port = ready else {
            process.terminate()
            let log = (try? String(contentsOf: root.appendingPathComponent("standin.log"), encoding: .utf8)) ?? ""
            throw StandInError(message: "the ComfyUI stand-in did not start: \(text)\n\(log.suffix(2000))")
        }
        self.port = port
        self.pid = process.processIdentifier
        self.baseURL = URL(string: "http://127.0.0.1:\(port)")!
        self.process = Mutex(process)
    }

    /// What the stand-in logged so far (its stderr).
    public var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    /// True while the process runs.
    public var isRunning: Bool { process.withLock { $0?.isRunning ?? false } }

    /// Kills the stand-in (SIGKILL), waits for it, and removes its directories.
    public func stop() {
        process.withLock { process in
            if let process, process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
            }
            process = nil
        }
        try? FileManager.default.removeItem(at: directory)
    }

    deinit { stop() }
}

/// The stand-in failed to start.
public struct StandInError: Error, CustomStringConvertible {
    /// What happened.
    public let message: String
    /// The message.
    public var description: String { message }
}

/// A "ComfyUI" checkout for supervisor tests: a directory whose `main.py` runs the stand-in with the same argv
/// ComfyUI's main.py takes, and a `venv/bin/python` link to the test venv's python — the layout of a version
/// directory (`<dir>/ComfyUI/main.py`, `<dir>/venv/bin/python`).
public enum StandInVersionDirectory {
    /// Creates the layout under `root` and returns the version directory. `environment` lines are put in front of
    /// the stand-in (e.g. `COMFYUI_STANDIN_MODE`).
    public static func create(at root: URL, environment: [String: String] = [:]) throws -> URL {
        let version = root.appendingPathComponent("v1")
        let comfy = version.appendingPathComponent("ComfyUI")
        let bin = version.appendingPathComponent("venv/bin")
        try FileManager.default.createDirectory(at: comfy, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: bin.appendingPathComponent("python").path, withDestinationPath: ComfyUIStandIn.python)
        // venv/bin/python links to the test venv's interpreter but has no pyvenv.cfg of its own: add the test
        // venv's site-packages (Pillow) explicitly.
        var script = "import glob, os, runpy, site, sys\n"
        script += "for d in glob.glob(\(pythonString(TestPaths.testVenv.path) + " + '/lib/python*/site-packages'")):\n"
        script += "    site.addsitedir(d)\n"
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) {
            script += "os.environ[\(pythonString(name))] = \(pythonString(value))\n"
        }
        script += "sys.argv[0] = \(pythonString(ComfyUIStandIn.script.path))\n"
        script += "sys.argv += ['--base-directory', os.path.dirname(os.path.abspath(__file__))]\n"
        script += "runpy.run_path(sys.argv[0], run_name='__main__')\n"
        try script.write(to: comfy.appendingPathComponent("main.py"), atomically: true, encoding: .utf8)
        let models = version.appendingPathComponent("models")
        try FileManager.default.createDirectory(
            at: models.appendingPathComponent("checkpoints"), withIntermediateDirectories: true)
        try "comfylock:\n    base_path: \(models.path)\n    checkpoints: checkpoints/\n    loras: loras/\n".write(
            to: comfy.appendingPathComponent("extra_model_paths.yaml"), atomically: true, encoding: .utf8)
        return version
    }

    private static func pythonString(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
    }
}
