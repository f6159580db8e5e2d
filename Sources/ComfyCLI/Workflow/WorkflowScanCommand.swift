import ArgumentParser
import ComfyLock
import ComfyModels
import ComfyRuntime
import ComfyServer
import ComfySupport
import ComfyTransport
import Foundation

/// `comfy-cli workflow`: what a workflow needs.
struct WorkflowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workflow",
        abstract: "Find what a workflow needs: node classes, the custom nodes that provide them and model files.",
        subcommands: [WorkflowScanCommand.self])
}

/// `comfy-cli workflow scan W.json [--lock L] [--comfyui-url URL] [--json] [--write]`.
struct WorkflowScanCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scan",
        abstract: "List a workflow's node classes, their providers and model files, and what a lock lacks of them.",
        discussion: """
            Reads API- and UI-format workflows. Which custom node provides each class comes from a running \
            server's /object_info (python_module) with --comfyui-url, else from the node classes registered in the \
            sources of the lock's ComfyUI and git nodes at their commits. Model files come from loader inputs and \
            the models metadata UI workflows embed. With --lock, exit 1 when the lock lacks a node or model the \
            workflow's active nodes use. --write adds what can be resolved (nodes the UI workflow names by \
            aux_id, or by cnr_id at a version or at a commit of the repository the registry names; models with an \
            embedded URL, downloaded into the store to learn their size and sha256), \
            re-pins Python, shows the diff and writes with --yes or after a confirmation on a terminal; it lists \
            what it cannot resolve.
            """)

    @Argument(help: "The workflow JSON file (API or UI format).")
    var workflow: String

    @Option(help: "The lock to compare with (and to edit with --write).")
    var lock: String?

    @Option(name: .customLong("comfyui-url"), help: "A running ComfyUI to ask which module provides each class.")
    var comfyUIURL: String?

    @Flag(help: "Add what can be resolved to the lock, after a diff preview.")
    var write = false

    @Flag(name: .customLong("include-inactive"), help: "Count muted and bypassed UI nodes as needed too.")
    var includeInactive = false

    @OptionGroup(title: "Editing")
    var edit: LockEditOptions

    @OptionGroup(title: "Python tools")
    var tools: PythonToolOptions

    @OptionGroup(title: "Store")
    var storeOptions: StoreOptions

    @OptionGroup(title: "Logging")
    var logging: LoggingOptions

    @Option(
        name: .customLong("registry-url"),
        help: "The registry API base URL (default $COMFYLOCK_REGISTRY_URL, else https://api.comfy.org).")
    var registryURL: String?

    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }

    @OptionGroup var input: InputOptions

    func validate() throws {
        if write && lock == nil { throw ValidationError("--write needs --lock LOCK") }
        if let comfyUIURL {
            guard let url = URL(string: comfyUIURL), ["http", "https"].contains(url.scheme?.lowercased() ?? ""),
                url.host != nil
            else { throw ValidationError("--comfyui-url must be an http(s) URL, not \(Escaping.quoted(comfyUIURL))") }
        }
    }

    /// One class of the workflow and who provides it.
    struct ClassRow: Encodable {
        var classType: String
        var nodeIDs: [String]
        var active: Bool
        var provider: NodeProvider.Kind
        var node: String?
        var module: String?
        /// ok, missing (not in the lock / unknown to the server), disabled (in the lock, disabled), or unchecked
        /// (neither a lock nor a server to check against).
        var status: String
        /// The UI's hint of the pack (`cnr_id` / `aux_id` and `ver`).
        var hint: String?
    }

    /// One model file reference.
    struct ModelRow: Encodable {
        var nodeID: String
        var classType: String
        var input: String?
        var widgetIndex: Int?
        var value: String
        var folder: String?
        var origin: WorkflowReferences.ModelReference.Origin
        var active: Bool
        var lockPath: String?
        /// found, missing, inactive or unchecked.
        var status: String
        var source: String?
    }

    struct Report: Encodable {
        var workflow: String
        var format: WorkflowReferences.Format
        var classes: [ClassRow]
        var models: [ModelRow]
        var embeddedModels: [WorkflowReferences.EmbeddedModel]
        var missingNodes: [String]
        var missingModels: [String]
        var unresolved: [String]
        var edit: LockEditReport?
    }

    func run() async throws {
        let bytes: [UInt8]
        do { bytes = try BoundedInput.read(workflow, limits: input.limits, what: "workflow") } catch {
            throw CLI.fail("\(error)")
        }
        let references: WorkflowReferences
        do { references = try WorkflowReferences(bytes: bytes, maxBytes: input.limits.maxBytes) } catch {
            throw CLI.fail("\(Escaping.quoted(workflow)): \(error.message)")
        }
        let original = try lock.map { try CLI.readLock($0, limits: input.limits, level: .safe) }
        var notes: [String] = []
        let providers = try await RuntimeCLI.guarded {
            try await self.providers(for: references, lock: original, notes: &notes)
        }
        var classes = Self.classRows(
            references, providers: providers, lock: original, serverChecked: comfyUIURL != nil)
        var models = Self.modelRows(references, lock: original, includeInactive: includeInactive)
        var unresolved: [String] = []
        var editReport: LockEditReport?
        if write, let original, let path = lock {
            var edited = original
            try await RuntimeCLI.guarded {
                try await self.resolve(
                    references, classes: classes, models: models, into: &edited, unresolved: &unresolved)
            }
            if edited.customNodes != original.customNodes || !edit.packages.isEmpty {
                try await LockEditCLI.repin(&edited, original: original, options: edit, tools: tools, notes: &notes)
            }
            if !json { printScan(references, classes: classes, models: models) }
            let report = try LockEditCLI.finish(
                original: original, edited: edited, path: path, options: edit, json: json, notes: notes)
            editReport = report
            if report.written {
                // What is still missing is what the written lock lacks.
                classes = Self.classRows(
                    references, providers: providers, lock: edited, serverChecked: comfyUIURL != nil)
                models = Self.modelRows(references, lock: edited, includeInactive: includeInactive)
            }
        } else if !json {
            for note in notes { Console.current.err("note: \(note)") }
            printScan(references, classes: classes, models: models)
        }
        let missingNodes = classes.filter { $0.active && ($0.status == "missing" || $0.status == "disabled") }
            .map(\.classType)
        let missingModels = models.filter { $0.status == "missing" }.map(\.value)
        if json {
            try Console.current.json(
                Report(
                    workflow: workflow, format: references.format, classes: classes, models: models,
                    embeddedModels: references.embeddedModels, missingNodes: missingNodes,
                    missingModels: missingModels, unresolved: unresolved, edit: editReport))
        } else {
            for line in unresolved { Console.current.out("cannot resolve: \(line)") }
            if original != nil || comfyUIURL != nil {
                Console.current.out(
                    missingNodes.isEmpty && missingModels.isEmpty
                        ? "the lock has everything the workflow uses"
                        : "missing: \(missingNodes.count) node class(es), \(missingModels.count) model file(s)")
            }
        }
        if !missingNodes.isEmpty || !missingModels.isEmpty { throw ExitCode(ExitStatus.checkFailed) }
    }

    // MARK: - Providers

    private func providers(
        for references: WorkflowReferences, lock: Lock?, notes: inout [String]
    ) async throws -> [NodeProvider] {
        let classTypes = references.classTypes
        if let comfyUIURL {
            let client = ComfyUIClient(baseURL: URL(string: comfyUIURL)!, logger: logging.logger())
            let info = try await client.objectInfo()
            var modules: [String: String] = [:]
            for classType in classTypes {
                if let module = info.pythonModule(of: classType) {
                    modules[classType] = module
                } else if info.contains(classType) {
                    modules[classType] = "nodes"
                }
            }
            return NodeProviders.resolve(classTypes: classTypes, pythonModules: modules, lock: lock)
        }
        guard let lock else {
            return classTypes.map { NodeProvider(classType: $0, kind: .unknown) }
        }
        let scanner = NodeClassScanner(gitCache: try RuntimeCLI.gitCache(store: RuntimeCLI.store()))
        let core = try await scanner.classes(url: lock.comfyui.url, commit: lock.comfyui.commit)
        var nodeClasses: [String: Set<String>] = [:]
        for node in lock.customNodes {
            guard node.kind == .git, let url = node.url, let commit = node.commit else {
                notes.append("the classes of \(node.kind.rawValue) node \(node.name) are not read from its sources")
                continue
            }
            nodeClasses[node.name] = try await scanner.classes(url: url, commit: commit)
        }
        return NodeProviders.resolve(classTypes: classTypes, coreClasses: core, nodeClasses: nodeClasses, lock: lock)
    }

    static func classRows(
        _ references: WorkflowReferences, providers: [NodeProvider], lock: Lock?, serverChecked: Bool
    ) -> [ClassRow] {
        providers.map { provider in
            let uses = references.nodes.filter { $0.classType == provider.classType }
            let hintNode = uses.first { $0.auxID != nil || $0.registryID != nil }
            let hint = hintNode.map { use in
                [
                    use.registryID.map { "cnr_id \($0)" }, use.auxID.map { "aux_id \($0)" },
                    use.version.map { "ver \($0)" },
                ]
                .compactMap { $0 }.joined(separator: ", ")
            }
            var row = ClassRow(
                classType: provider.classType, nodeIDs: uses.map(\.nodeID), active: uses.contains { $0.active },
                provider: provider.kind, node: provider.node, module: provider.module, status: "unchecked", hint: hint)
            // The editor's own mark of a core node counts when nothing else is known.
            if provider.kind == .unknown, uses.contains(where: { $0.registryID == "comfy-core" }) {
                row.provider = .core
            }
            guard let lock else {
                // No lock: only a server can say a class is there (or is not).
                switch row.provider {
                case .core, .customNode: row.status = serverChecked ? "ok" : "unchecked"
                case .unknown: row.status = serverChecked ? "missing" : "unchecked"
                case .lockNode: row.status = "ok"
                }
                return row
            }
            switch row.provider {
            case .core: row.status = "ok"
            case .lockNode: row.status = provider.enabled == false ? "disabled" : "ok"
            case .customNode, .unknown:
                // Added by --write under the directory the server or the hint names?
                if let name = provider.node ?? hintNode.flatMap(packName),
                    let node = lock.customNodes.first(where: { $0.name == name })
                {
                    row.status = node.enabled ? "ok" : "disabled"
                    row.node = node.name
                } else {
                    row.status = "missing"
                }
            }
            return row
        }
    }

    static func modelRows(_ references: WorkflowReferences, lock: Lock?, includeInactive: Bool) -> [ModelRow] {
        let match = lock.map { references.match(models: $0.models, includeInactive: true) }
        let found = Dictionary(
            (match?.found ?? []).map { ($0.reference, $0.model.path) }, uniquingKeysWith: { first, _ in first })
        return references.models.map { reference in
            let lockPath = found[reference]
            let status: String
            if lock == nil {
                status = "unchecked"
            } else if lockPath != nil {
                status = "found"
            } else if !reference.active && !includeInactive {
                status = "inactive"
            } else {
                status = "missing"
            }
            return ModelRow(
                nodeID: reference.nodeID, classType: reference.classType, input: reference.input,
                widgetIndex: reference.widgetIndex, value: reference.value, folder: reference.folder,
                origin: reference.origin, active: reference.active, lockPath: lockPath, status: status,
                source: references.embeddedSource(for: reference)?.url.map { Redaction.redactURL($0) })
        }
    }

    private func printScan(_ references: WorkflowReferences, classes: [ClassRow], models: [ModelRow]) {
        let console = Console.current
        console.out(
            "\(Escaping.escaped(workflow)): \(references.format.rawValue) format, \(references.nodes.count) nodes")
        console.out("node classes:")
        for row in classes {
            var provider: String
            switch row.provider {
            case .core: provider = "core" + (row.module.map { " (\(Escaping.escaped($0)))" } ?? "")
            case .lockNode: provider = "custom node \(Escaping.escaped(row.node ?? ""))"
            case .customNode: provider = "custom node \(Escaping.escaped(row.node ?? "")) (not in the lock)"
            case .unknown: provider = "unknown provider"
            }
            if let hint = row.hint { provider += " [\(Escaping.escaped(hint))]" }
            let state = row.active ? row.status : "\(row.status), inactive"
            console.out("  \(Escaping.escaped(row.classType)): \(provider) — \(state)")
        }
        if !models.isEmpty { console.out("model files:") }
        for row in models {
            let input = row.input ?? row.widgetIndex.map { "widget \($0)" } ?? "?"
            var line =
                "  \(Escaping.escaped(row.value)) (node \(Escaping.escaped(row.nodeID)) \(Escaping.escaped(row.classType)).\(Escaping.escaped(input))"
            line += row.folder.map { ", \($0)" } ?? ", folder unknown"
            line += ") — \(row.status)"
            if let lockPath = row.lockPath { line += " as \(Escaping.escaped(lockPath))" }
            if let source = row.source, row.status == "missing" { line += ", source \(Escaping.escaped(source))" }
            console.out(line)
        }
    }

    // MARK: - --write

    /// The node directory a UI hint names: the repository of `aux_id`, else the registry id.
    static func packName(_ use: WorkflowReferences.NodeUse) -> String? {
        if let aux = use.auxID, let repo = aux.split(separator: "/").last { return String(repo) }
        if let id = use.registryID, id != "comfy-core" { return id }
        return nil
    }

    private func resolve(
        _ references: WorkflowReferences, classes: [ClassRow], models: [ModelRow], into lock: inout Lock,
        unresolved: inout [String]
    ) async throws {
        let store = storeOptions.store(logger: logging.logger(secrets: HostCredentials.fromEnvironment().secrets))
        let editor = LockEditor(gitCache: try RuntimeCLI.gitCache(store: RuntimeCLI.store()))
        var handled: Set<String> = []
        for row in classes where row.status == "missing" && row.active || row.status == "missing" && includeInactive {
            let uses = references.nodes.filter { $0.classType == row.classType }
            guard let use = uses.first(where: { $0.auxID != nil || ($0.registryID ?? "comfy-core") != "comfy-core" })
            else {
                unresolved.append(
                    "node class \(Escaping.quoted(row.classType)): "
                        + (row.node.map { "the server loads it from custom_nodes/\($0), but " } ?? "")
                        + "the workflow does not say where it comes from; add it with `comfy-cli node add LOCK URL@REF`"
                )
                continue
            }
            guard let name = Self.packName(use), !handled.contains(name) else { continue }
            handled.insert(name)
            if lock.customNodes.contains(where: { $0.name == name }) { continue }
            if let aux = use.auxID {
                let parts = aux.split(separator: "/")
                guard parts.count == 2,
                    parts.allSatisfy({ LockValidator.checkComponent(String($0), what: "aux_id", rule: "aux-id") == nil }
                    )
                else {
                    unresolved.append(
                        "node class \(Escaping.quoted(row.classType)): aux_id \(Escaping.quoted(aux)) is not owner/repo"
                    )
                    continue
                }
                let ref = use.version.flatMap { GitCommitID.isFull($0) ? $0 : nil }
                try await editor.addNode(&lock, url: "https://github.com/\(aux)", ref: ref, name: name)
            } else if let id = use.registryID {
                let rewriter = try RuntimeCLI.rewriter()
                let registry = ComfyRegistry(
                    baseURL: registryURL ?? ComfyRegistry.baseURL(fromEnvironment: ProcessInfo.processInfo.environment),
                    rewriter: rewriter)
                if let version = use.version, !GitCommitID.isFull(version), LockValidator.isSafeVersionText(version) {
                    // A published version: a registry node, pinned (archive URL, sha256, tree hash).
                    let node = CustomNode(name: name, kind: .registry, registryId: id, version: version)
                    let pinned = try await RegistryNodeInstaller(store: RuntimeCLI.store(), rewriter: rewriter)
                        .pin(node, registry: registry)
                    lock.customNodes.append(pinned)
                    lock.customNodes.sort { $0.name < $1.name }
                } else {
                    // A commit ("nightly"): the pack's repository, from the registry, at that commit.
                    let repository = try await registry.repositoryURL(id: id)
                    try await editor.addNode(&lock, url: repository, ref: use.version, name: name)
                }
            }
        }
        // Models: a missing reference with an embedded URL, and embedded entries nothing else named.
        var wanted: [(path: String, url: String)] = []
        for row in models where row.status == "missing" {
            guard let reference = references.models.first(where: { $0.nodeID == row.nodeID && $0.value == row.value }),
                let embedded = references.embeddedSource(for: reference), let url = embedded.url
            else {
                unresolved.append(
                    "model \(Escaping.quoted(row.value)) (node \(Escaping.escaped(row.nodeID))): no download URL in the "
                        + "workflow; add it with `comfy-cli models add URL --lock LOCK --path FOLDER/NAME`")
                continue
            }
            let folder = embedded.directory ?? row.folder ?? ""
            wanted.append((folder + "/" + embedded.name, url))
        }
        let match = references.match(models: lock.models, includeInactive: includeInactive)
        for embedded in match.missingEmbedded {
            guard let path = embedded.path, let url = embedded.url else { continue }
            let referenced = references.models.contains { $0.value == embedded.name }
            if !referenced { wanted.append((path, url)) }
        }
        var seen: Set<String> = []
        for (path, url) in wanted where seen.insert(path).inserted {
            guard !lock.models.contains(where: { $0.path == path }) else { continue }
            guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""),
                parsed.host != nil, Redaction.redactURL(url) == parsed.absoluteString
            else {
                unresolved.append("model \(Escaping.quoted(path)): the workflow's URL is not a plain http(s) URL")
                continue
            }
            do { _ = try ModelVerifier.target(for: path, root: URL(fileURLWithPath: "/")) } catch {
                unresolved.append("model \(Escaping.quoted(path)): \(error)")
                continue
            }
            if !json { Console.current.err("downloading \(Escaping.escaped(path)) from \(Redaction.redactURL(url))") }
            let (sha256, size) = try await store.adopt(url: parsed)
            lock.models.append(
                ModelEntry(
                    path: path, size: size, sha256: sha256, sources: [url],
                    huggingface: ModelsAddCommand.huggingFace(url)))
        }
        lock.models.sort { $0.path < $1.path }
    }
}
