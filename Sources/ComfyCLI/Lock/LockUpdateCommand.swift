import ArgumentParser
import ComfyLock
import ComfyRuntime
import ComfySupport
import Foundation

/// `comfy-cli lock update L [--comfyui REF] [--node NAME[@REF]]... [--package NAME[==VER]]... [--all]`.
struct LockUpdateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "update",
        abstract: "Move ComfyUI, nodes or Python packages of a lock to new versions, showing the diff before writing.",
        discussion: """
            Git refs (tags, branches, commits) become commits through the git cache and mirrors; registry nodes take \
            NAME@VERSION and are pinned again. The Python closure is re-pinned the way `pin --lock` does, keeping \
            every pinned version that need not move; --package NAME lets NAME move (NAME==VER requires VER), --all \
            moves ComfyUI and every git node to its default branch and re-resolves all packages. The changes are \
            shown in `lock diff` form and written only with --yes or after a confirmation on a terminal.
            """)

    @Argument(help: "The lock file to update.")
    var file: String

    @Option(name: .customLong("comfyui"), help: "Move ComfyUI to this tag, branch or commit.")
    var comfyUIRef: String?

    @Option(
        name: .customLong("node"),
        help: "Move this node: NAME (its default branch), NAME@REF, or NAME@VERSION for a registry node (repeatable).")
    var nodes: [String] = []

    @Flag(name: .long, help: "Move ComfyUI and every git node to its default branch, and re-resolve every package.")
    var all = false

    @Option(
        name: .customLong("registry-url"),
        help: "The registry API base URL (default $COMFYLOCK_REGISTRY_URL, else https://api.comfy.org).")
    var registryURL: String?

    @OptionGroup(title: "Editing")
    var edit: LockEditOptions

    @OptionGroup(title: "Python tools")
    var tools: PythonToolOptions

    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }

    @OptionGroup var input: InputOptions

    func validate() throws {
        if comfyUIRef == nil && nodes.isEmpty && edit.packages.isEmpty && !all {
            throw ValidationError("say what to update: --comfyui REF, --node NAME[@REF], --package NAME or --all")
        }
        if let comfyUIRef { _ = try validatedRef(comfyUIRef, "--comfyui") }
        for node in nodes {
            let (name, ref) = LockEditor.splitName(node)
            if name.isEmpty { throw ValidationError("--node takes NAME or NAME@REF, not \(Escaping.quoted(node))") }
            if let ref { _ = try validatedRef(ref, "--node \(name)") }
        }
    }

    private func validatedRef(_ ref: String, _ option: String) throws -> String {
        do { return try Git.revision(ref) } catch { throw ValidationError("\(option): \(error)") }
    }

    func run() async throws {
        let original = try CLI.readLock(file, limits: input.limits, level: .safe)
        var edited = original
        var notes: [String] = []
        try await RuntimeCLI.guarded {
            let store = RuntimeCLI.store()
            let editor = LockEditor(gitCache: try RuntimeCLI.gitCache(store: store))
            let named = Dictionary(nodes.map { LockEditor.splitName($0) }, uniquingKeysWith: { _, last in last })
            for name in named.keys where !original.customNodes.contains(where: { $0.name == name }) {
                throw LockEditError.nodeNotFound(name, known: original.customNodes.map(\.name).sorted())
            }
            if comfyUIRef != nil || all {
                try await editor.updateComfyUI(&edited, ref: comfyUIRef)
            }
            var registryChanged: [String] = []
            for node in original.customNodes.sorted(by: { $0.name < $1.name }) {
                let asked = named.keys.contains(node.name)
                guard asked || all else { continue }
                let ref = named[node.name] ?? nil
                switch node.kind {
                case .git:
                    try await editor.updateNode(&edited, name: node.name, ref: ref)
                case .registry:
                    guard let version = ref else {
                        if asked {
                            throw LockEditError.invalidEdit(
                                "registry node \(Escaping.quoted(node.name)) needs a version: --node \(node.name)@VERSION"
                            )
                        }
                        notes.append(
                            "registry node \(node.name) keeps version \(node.version ?? "?") (give --node NAME@VERSION)"
                        )
                        continue
                    }
                    try LockEditor.setRegistryVersion(&edited, name: node.name, version: version)
                    registryChanged.append(node.name)
                case .file:
                    if asked {
                        throw LockEditError.invalidEdit(
                            "custom node \(Escaping.quoted(node.name)) is a single file: nothing to move")
                    }
                }
            }
            if !registryChanged.isEmpty {
                let rewriter = try RuntimeCLI.rewriter()
                let registry = ComfyRegistry(
                    baseURL: registryURL ?? ComfyRegistry.baseURL(fromEnvironment: ProcessInfo.processInfo.environment),
                    rewriter: rewriter)
                let installer = RegistryNodeInstaller(store: store, rewriter: rewriter)
                for (index, node) in edited.customNodes.enumerated() where registryChanged.contains(node.name) {
                    if node.sha256 == nil {
                        edited.customNodes[index] = try await installer.pin(node, registry: registry)
                    }
                }
            }
        }
        try await LockEditCLI.repin(
            &edited, original: original, options: edit, tools: tools, keepPins: !all, notes: &notes)
        let report = try LockEditCLI.finish(
            original: original, edited: edited, path: file, options: edit, json: json, notes: notes)
        try LockEditCLI.printJSON(report, json: json)
    }
}
