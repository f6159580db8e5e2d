import ArgumentParser
import ComfyLock
import ComfyRuntime
import Foundation

/// `comfy-cli lock pin-registry L`: pins every registry node (archive URL from the registry API, archive SHA-256,
/// extracted tree hash) and rewrites the lock atomically.
struct LockPinRegistryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pin-registry",
        abstract: "Pin the lock's Comfy Registry nodes: archive URL, archive sha256 and extracted tree hash.")

    @Argument(help: "The lock file (rewritten in canonical form).")
    var file: String
    @Option(
        name: .customLong("registry-url"),
        help: "The registry API base URL (default $COMFYLOCK_REGISTRY_URL, else https://api.comfy.org).")
    var registryURL: String?
    @Flag(name: .long, help: "Download and hash again even when a node is already pinned.")
    var refresh = false
    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }
    @OptionGroup var input: InputOptions

    struct Report: Encodable {
        var file: String
        var pinned: [CustomNode]
    }

    func run() async throws {
        var lock = try CLI.readLock(file, limits: input.limits, level: .safe)
        let pinned: [CustomNode] = try await RuntimeCLI.guarded {
            let store = RuntimeCLI.store()
            let rewriter = try RuntimeCLI.rewriter()
            let registry = ComfyRegistry(
                baseURL: registryURL ?? ComfyRegistry.baseURL(fromEnvironment: ProcessInfo.processInfo.environment),
                rewriter: rewriter)
            let installer = RegistryNodeInstaller(store: store, rewriter: rewriter)
            var pinned: [CustomNode] = []
            for (index, node) in lock.customNodes.enumerated() where node.kind == .registry {
                if !refresh, node.url != nil, node.sha256 != nil, node.treeHash != nil { continue }
                var request = node
                if refresh {
                    request.sha256 = nil
                    request.treeHash = nil
                }
                let result = try await installer.pin(request, registry: registry)
                lock.customNodes[index] = result
                pinned.append(result)
                if !json {
                    Console.current.err("pinned \(node.name) \(node.version ?? ""): \(result.sha256 ?? "")")
                }
            }
            let errors = LockValidator.errors(lock, level: .safe)
            guard errors.isEmpty else {
                throw CLI.fail(
                    "the pinned lock is not valid:\n" + errors.map { "  \($0)" }.joined(separator: "\n"))
            }
            _ = try LockFile.write(lock, to: URL(fileURLWithPath: file))
            return pinned
        }
        if json {
            try Console.current.json(Report(file: file, pinned: pinned))
        } else {
            Console.current.out("\(pinned.count) registry node(s) pinned in \(file)")
        }
    }
}
