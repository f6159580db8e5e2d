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
    @Option(name: .long, help: "Empty quarantine buckets older than this many days (default 7; 0 = all).")
    var quarantineDays: Int = 7
    @Flag(name: .long, help: "Also list every pruned and kept blob.")
    var verbose = false
    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }

    func run() async throws {
        var roots = root.map { VersionsRoot.resolve($0, environment: ProcessInfo.processInfo.environment) }
        let defaultRoot = VersionsRoot.fromEnvironment()
        if FileManager.default.fileExists(atPath: defaultRoot.path) { roots.append(defaultRoot) }
        let report = try await RuntimeCLI.guarded {
            try await StoreGC.run(
                store: RuntimeCLI.store(), extraRoots: roots, dryRun: dryRun,
                quarantineRetention: .seconds(max(0, quarantineDays) * 24 * 3600))
        }
        if json {
            try Console.current.json(report)
            return
        }
        let verb = dryRun ? "would prune" : "pruned"
        Console.current.out(
            "\(verb) \(report.pruned.count) blob(s) (\(ByteText.format(report.bytes))) and "
                + "\(report.quarantinePruned.count) quarantine bucket(s) (\(ByteText.format(report.quarantineBytes))); "
                + "kept \(report.referenced) referenced by \(report.versions) version(s) in \(report.roots.count) root(s)"
                + (report.keptLinked.isEmpty ? "" : " and \(report.keptLinked.count) still placed elsewhere")
                + "; store \(ByteText.format(report.storeBytes)), quarantine \(ByteText.format(report.quarantineBytesLeft))"
        )
        guard verbose else { return }
        for blob in report.pruned { Console.current.out("  \(verb): \(blob)") }
        for blob in report.keptLinked { Console.current.out("  kept (still placed elsewhere): \(blob)") }
        for bucket in report.quarantinePruned { Console.current.out("  \(verb) quarantine: \(bucket)") }
    }
}

/// Human-readable byte counts ("1.5 GiB").
enum ByteText {
    static func format(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f", value) + " " + units[unit]
    }
}
