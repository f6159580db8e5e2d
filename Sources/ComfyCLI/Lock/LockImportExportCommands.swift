import ComfySupport
import ArgumentParser
import ComfyLock
import Foundation

/// `--from` values (a CLI-local mirror of `ImportFormat`, so the library type needs no ArgumentParser conformance).
enum ImportFormatArgument: String, CaseIterable, ExpressibleByArgument {
    case manager
    case comfyPack = "comfy-pack"
    case comfyCLI = "comfy-cli"

    var format: ImportFormat { ImportFormat(rawValue: rawValue)! }
}

/// `--to` values.
enum ExportFormatArgument: String, CaseIterable, ExpressibleByArgument {
    case manager

    var format: ExportFormat { ExportFormat(rawValue: rawValue)! }
}

/// `comfy-cli lock import --from FORMAT FILE [-o OUT]`: a lock from a peer format, reporting what the source lacks.
struct LockImportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Make a lock from a ComfyUI-Manager snapshot, a comfy-pack snapshot or a comfy-cli definition.")

    @Option(name: .customLong("from"), help: "The source format: manager, comfy-pack or comfy-cli.")
    var format: ImportFormatArgument

    @Argument(help: "The file to import (JSON, or YAML for Manager snapshots).")
    var file: String

    @Option(name: [.customShort("o"), .long], help: "Write the lock here instead of standard output.")
    var output: String?

    @Option(help: "The lock's tag (default: the input file name without extension).")
    var tag: String?

    @Option(help: "The ComfyUI repository URL (the sources do not record it).")
    var comfyuiURL: String?

    @Flag(help: "Print the import report (and the lock when no output file is given) as JSON.")
    var json = false

    struct Report: Encodable {
        var file: String
        var format: ImportFormat
        var output: String?
        var complete: Bool
        var missing: [ImportReport.Item]
        var assumed: [ImportReport.Item]
        var skipped: [ImportReport.Item]
        var lock: JSONValue?
    }

    @OptionGroup var input: InputOptions

    func run() async throws {
        let bytes: [UInt8]
        do {
            bytes = try LockCLI.read(file, limits: input.limits)
        } catch {
            throw LockCLI.fail(error.description, code: ExitStatus.error)
        }
        let name = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        let result: ImportResult
        do {
            result = try LockImporter.importLock(
                bytes, format: format.format, tag: tag ?? (name.isEmpty ? "imported" : name),
                createdBy: "comfylock \(ComfyLockToolVersion.current)", sourceName: file, comfyUIURL: comfyuiURL)
        } catch {
            throw LockCLI.fail(error.isInvalidLock ? "\(error)" : "\(file): \(error)", code: ExitStatus.error)
        }
        if let output {
            do {
                try LockFile.write(result.lock, to: URL(fileURLWithPath: output))
            } catch {
                throw LockCLI.fail(error.description, code: ExitStatus.error)
            }
        }
        let report = result.report
        if json {
            try Console.current.json(
                Report(
                    file: file, format: format.format, output: output, complete: report.isComplete,
                    missing: report.missing,
                    assumed: report.assumed, skipped: report.skipped,
                    lock: output == nil ? result.lock.sorted().jsonValue : nil))
            return
        }
        if output == nil { Console.current.write(LockCLI.text(LockFile.encode(result.lock))) }
        let say: (String) -> Void = output == nil ? { Console.current.err($0) } : { Console.current.out($0) }
        say("imported \(file) (\(format.rawValue))" + (output.map { " → \($0)" } ?? ""))
        for (title, items) in [("missing", report.missing), ("assumed", report.assumed), ("skipped", report.skipped)]
        where !items.isEmpty {
            say("\(title) (\(items.count)):")
            for item in items { say("  \(item)") }
        }
        if !report.missing.isEmpty {
            say("the lock is incomplete: `comfy-cli lock validate` fails until the missing values are pinned")
        }
    }
}

/// `comfy-cli lock export --to manager FILE [-o OUT]`: a peer-format document from a lock.
struct LockExportCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write a lock as a ComfyUI-Manager snapshot.")

    @Option(name: .customLong("to"), help: "The target format: manager.")
    var format: ExportFormatArgument

    @Argument(help: "The lock file to export.")
    var file: String

    @Option(name: [.customShort("o"), .long], help: "Write the snapshot here instead of standard output.")
    var output: String?

    func run() async throws {
        let lock = try LockCLI.readLock(file)
        let result = LockExporter.export(lock, to: format.format)
        if let output {
            do {
                var bytes = result.bytes
                bytes.append(0x0A)
                try AtomicFile.write(bytes, to: output, skipIfUnchanged: true)
            } catch {
                throw LockCLI.fail(error.description, code: ExitStatus.error)
            }
            Console.current.out("exported \(file) → \(output) (\(format.rawValue))")
        } else {
            Console.current.out(LockCLI.text(result.bytes))
        }
        for item in result.dropped { Console.current.err("not exported: \(item)") }
    }
}
