import ArgumentParser
import ComfyModels
import ComfyRuntime
import Foundation

/// `comfy-cli store`: manage the content-addressed store.
struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store", abstract: "Manage the content-addressed store.", subcommands: [StoreGCCommand.self])
}

/// `comfy-cli store gc`.
struct StoreGCCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc", abstract: "Prune model blobs that no remaining version references.")

    @Option(name: .long, help: "Also scan this versions root (repeatable); registered roots are always scanned.")
    var root: [String] = []
    @Flag(name: .long, help: "List what would be pruned, and delete nothing.")
    var dryRun = false
    @Flag(name: .long, help: "Print the report as JSON.")
    var json = false

    func run() async throws {
        var roots = root.map { VersionsRoot.resolve($0) }
        let defaultRoot = VersionsRoot.resolve(nil)
        if FileManager.default.fileExists(atPath: defaultRoot.path) { roots.append(defaultRoot) }
        let report = try await RuntimeCLI.guarded {
            try await StoreGC.run(store: RuntimeCLI.store(), extraRoots: roots, dryRun: dryRun)
        }
        if json {
            try Console.current.json(report)
            return
        }
        let verb = dryRun ? "would prune" : "pruned"
        Console.current.out(
            "\(verb) \(report.pruned.count) blob(s), \(report.bytes) bytes; kept \(report.referenced) referenced by "
                + "\(report.versions) version(s) in \(report.roots.count) root(s)")
        for blob in report.pruned { Console.current.out("  \(verb): \(blob)") }
        for blob in report.keptLinked { Console.current.out("  kept (still hard-linked elsewhere): \(blob)") }
    }
}
