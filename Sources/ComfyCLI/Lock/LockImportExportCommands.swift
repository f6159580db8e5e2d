import ArgumentParser
import ComfyLock
import ComfyProcess
import ComfySupport
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

    @Argument(help: "The file to import (JSON, YAML, or a comfy-pack .cpack.zip).")
    var file: String

    @Option(name: [.customShort("o"), .long], help: "Write the lock here instead of standard output.")
    var output: String?

    @Option(help: "The lock's tag (default: the input file name without extension).")
    var tag: String?

    @Option(help: "The ComfyUI repository URL (the sources do not record it).")
    var comfyuiURL: String?

    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }

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
        var bytes: [UInt8]
        do {
            bytes = try LockCLI.read(file, limits: input.limits)
        } catch {
            throw CLI.fail(error.description, code: ExitStatus.error)
        }
        var requirements: [UInt8]?
        if bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) {
            // A comfy-pack package (.cpack.zip): its snapshot.json and the requirements.txt beside it.
            guard format == .comfyPack else {
                throw CLI.fail(
                    "\(file) is a zip archive: only comfy-pack packages (--from comfy-pack) are zips",
                    code: ExitStatus.error)
            }
            let members = try await CPackArchive.read(file, members: ["snapshot.json", "requirements.txt"])
            guard let snapshot = members["snapshot.json"] else {
                throw CLI.fail("\(file): not a comfy-pack package (no snapshot.json inside)", code: ExitStatus.error)
            }
            bytes = snapshot
            requirements = members["requirements.txt"]
        } else if format == .comfyPack {
            let beside = URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent(
                "requirements.txt")
            if FileManager.default.fileExists(atPath: beside.path) { requirements = try? LockCLI.read(beside.path) }
        }
        var name = URL(fileURLWithPath: file).deletingPathExtension().lastPathComponent
        if name.hasSuffix(".cpack") { name = String(name.dropLast(6)) }
        let result: ImportResult
        do {
            result = try LockImporter.importLock(
                bytes, format: format.format, tag: tag ?? (name.isEmpty ? "imported" : name),
                createdBy: ComfyLockVersion.createdBy, sourceName: file, comfyUIURL: comfyuiURL,
                requirements: requirements)
        } catch {
            throw CLI.fail(error.isInvalidLock ? "\(error)" : "\(file): \(error)", code: ExitStatus.error)
        }
        if let output {
            do {
                try LockFile.write(result.lock, to: URL(fileURLWithPath: output))
            } catch {
                throw CLI.fail(error.description, code: ExitStatus.error)
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

    @OptionGroup var input: InputOptions

    func run() async throws {
        let lock = try CLI.readLock(file, limits: input.limits, level: nil)
        let result = LockExporter.export(lock, to: format.format)
        if let output {
            do {
                var bytes = result.bytes
                bytes.append(0x0A)
                try AtomicFile.write(bytes, to: output, skipIfUnchanged: true)
            } catch {
                throw CLI.fail(error.description, code: ExitStatus.error)
            }
            Console.current.out("exported \(file) → \(output) (\(format.rawValue))")
        } else {
            Console.current.out(LockCLI.text(result.bytes))
        }
        for item in result.dropped { Console.current.err("not exported: \(item)") }
    }
}

/// Reads members of a comfy-pack `.cpack.zip` (a zip written by Python's `zipfile`, deflated) with the system's
/// Python `zipfile` module: bounded (32 MiB per member, 64 MiB in all, names must match exactly, no extraction to
/// disk), so a hostile archive cannot write anywhere or exhaust memory.
enum CPackArchive {
    static let script = """
        import base64, json, sys, zipfile
        limit, total, out = 32 << 20, 0, {}
        with zipfile.ZipFile(sys.argv[1]) as z:
            for name in sys.argv[2:]:
                try:
                    info = z.getinfo(name)
                except KeyError:
                    continue
                if info.file_size > limit or total + info.file_size > 2 * limit:
                    sys.exit("member %s is too large" % name)
                with z.open(info) as f:
                    data = f.read(limit + 1)
                if len(data) > limit:
                    sys.exit("member %s is too large" % name)
                total += len(data)
                out[name] = base64.b64encode(data).decode()
        print(json.dumps(out))
        """

    static func read(_ path: String, members: [String]) async throws -> [String: [UInt8]] {
        let result: ProcessResult
        do {
            result = try await ProcessRunner.run(
                ProcessCommand("python3", ["-I", "-c", script, path] + members, timeout: .seconds(120)))
        } catch {
            throw CLI.fail("\(path): cannot read the zip archive: \(error)", code: ExitStatus.error)
        }
        guard let data = result.output.data(using: .utf8),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: String]
        else { throw CLI.fail("\(path): cannot read the zip archive", code: ExitStatus.error) }
        var out: [String: [UInt8]] = [:]
        for (name, encoded) in object {
            guard let decoded = Data(base64Encoded: encoded) else { continue }
            out[name] = [UInt8](decoded)
        }
        return out
    }
}
