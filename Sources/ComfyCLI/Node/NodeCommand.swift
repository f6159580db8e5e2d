import ArgumentParser
import ComfyLock
import ComfyRuntime
import ComfySupport
import Foundation

/// `comfy-cli node`: edit a lock's custom node set.
struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "Add, remove, disable or enable a lock's custom nodes, re-pinning Python and showing the diff first.",
        subcommands: [NodeAddCommand.self, NodeRemoveCommand.self, NodeDisableCommand.self, NodeEnableCommand.self])
}

/// The arguments every `node` subcommand shares, and the common run.
struct NodeEditArguments: ParsableArguments {
    @OptionGroup(title: "Editing")
    var edit: LockEditOptions

    @OptionGroup(title: "Python tools")
    var tools: PythonToolOptions

    @OptionGroup var reporting: OutputOptions

    @OptionGroup var input: InputOptions

    /// Reads the lock, applies `change`, re-pins, shows the diff and writes on confirmation.
    func run(lock file: String, _ change: (inout Lock, inout [String]) async throws -> Void) async throws {
        let original = try CLI.readLock(file, limits: input.limits, level: .safe)
        var edited = original
        var notes: [String] = []
        try await RuntimeCLI.guarded { try await change(&edited, &notes) }
        if edited != original || !edit.packages.isEmpty {
            try await LockEditCLI.repin(&edited, original: original, options: edit, tools: tools, notes: &notes)
        }
        let report = try LockEditCLI.finish(
            original: original, edited: edited, path: file, options: edit, json: reporting.json, notes: notes)
        try LockEditCLI.printJSON(report, json: reporting.json)
    }
}

/// `comfy-cli node add L URL[@REF] [--name N]`.
struct NodeAddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a git custom node to a lock at a tag, branch or commit and fold its requirements into the pins.")

    @Argument(help: "The lock file.")
    var file: String

    @Argument(help: "The node's git URL, optionally with @REF (tag, branch or commit; default: its default branch).")
    var source: String

    @Option(help: "The node's directory name under custom_nodes (default: the repository name).")
    var name: String?

    @OptionGroup var arguments: NodeEditArguments

    func validate() throws {
        let (url, ref) = LockEditor.splitReference(source)
        if let problem = LockValidator.checkURL(url, kind: .git) {
            throw ValidationError(
                "\(Escaping.quoted(Redaction.redactURL(url))) is not a usable git URL: \(problem.message)")
        }
        if let ref {
            do { _ = try Git.revision(ref) } catch { throw ValidationError("\(error)") }
        }
    }

    func run() async throws {
        let (url, ref) = LockEditor.splitReference(source)
        try await arguments.run(lock: file) { lock, _ in
            let editor = LockEditor(gitCache: try RuntimeCLI.gitCache(store: RuntimeCLI.store()))
            try await editor.addNode(&lock, url: url, ref: ref, name: name)
        }
    }
}

/// `comfy-cli node remove L NAME`.
struct NodeRemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove", abstract: "Remove a custom node from a lock and drop the packages only it needed.")

    @Argument(help: "The lock file.")
    var file: String

    @Argument(help: "The node's name.")
    var name: String

    @OptionGroup var arguments: NodeEditArguments

    func run() async throws {
        try await arguments.run(lock: file) { lock, _ in try LockEditor.removeNode(&lock, name: name) }
    }
}

/// `comfy-cli node disable L NAME`.
struct NodeDisableCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disable",
        abstract: "Disable a custom node in a lock (kept, not loaded) and drop the packages only it needed.")

    @Argument(help: "The lock file.")
    var file: String

    @Argument(help: "The node's name.")
    var name: String

    @OptionGroup var arguments: NodeEditArguments

    func run() async throws {
        try await arguments.run(lock: file) { lock, _ in try LockEditor.setEnabled(&lock, name: name, enabled: false) }
    }
}

/// `comfy-cli node enable L NAME`.
struct NodeEnableCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enable",
        abstract: "Enable a disabled custom node in a lock and fold its requirements into the pins.")

    @Argument(help: "The lock file.")
    var file: String

    @Argument(help: "The node's name.")
    var name: String

    @OptionGroup var arguments: NodeEditArguments

    func run() async throws {
        try await arguments.run(lock: file) { lock, _ in try LockEditor.setEnabled(&lock, name: name, enabled: true) }
    }
}
