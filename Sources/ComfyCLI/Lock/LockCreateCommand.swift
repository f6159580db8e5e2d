import ArgumentParser
import ComfyLock
import ComfyModels
import ComfyRuntime
import Foundation

/// `comfy-cli lock create`: record a lock from a live ComfyUI install.
struct LockCreateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Record a lock from a live ComfyUI install.")

    @Option(name: .long, help: "The ComfyUI install (default $COMFY_HOME).")
    var comfyui: String?
    @Option(name: .long, help: "The lock's tag.")
    var tag: String
    @Option(name: .long, help: "JSON manifest of model download sources.")
    var modelsManifest: String?
    @Option(name: .long, help: "A previous lock whose model sources and workflows are reused.")
    var previous: String?
    @Option(name: .long, help: "The venv to record (default: ComfyUI/venv, ComfyUI/.venv or ../venv).")
    var venv: String?
    @Flag(name: .long, help: "Record git trees with uncommitted changes (flagged) instead of refusing.")
    var allowDirty = false
    @Option(
        name: .long,
        help: "A package index to look up installed distributions on (repeatable; default: init's, else PyPI).")
    var indexUrl: [String] = []
    @Flag(
        name: .long,
        help:
            "Fail (exit 1, nothing written) when a recorded file is not fetchable elsewhere or a Python package has no hash."
    )
    var strict = false
    @Option(name: [.short, .long], help: "Output file (default lockfiles/comfy-TAG.lock.json).")
    var output: String?
    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }
    @OptionGroup var input: InputOptions

    struct Report: Encodable {
        var output: String
        var digest: String
        var changed: Bool
        var customNodes: Int
        var pythonPackages: Int
        var models: Int
        var dirty: [String]
        var modelsWithoutSource: [String]
        var pythonUnresolved: [String]
        var notFetchableElsewhere: [String]
        var trackedSkipped: [String]
        var notes: [String]
    }

    func run() async throws {
        guard let comfy = comfyui ?? ProcessInfo.processInfo.environment["COMFY_HOME"] else {
            throw CLI.fail("no ComfyUI install given: pass --comfyui DIR or set COMFY_HOME")
        }
        let previousLock = try previous.map { try CLI.readLock($0, limits: input.limits) }
        let outputPath = output ?? "lockfiles/comfy-\(tag).lock.json"
        let (result, changed) = try await RuntimeCLI.guarded {
            let creator = LockCreator(store: RuntimeCLI.store(), python: RuntimeCLI.python())
            let result = try await creator.create(
                LockCreateRequest(
                    comfyUI: URL(fileURLWithPath: comfy), tag: tag,
                    modelsManifest: modelsManifest.map { URL(fileURLWithPath: $0) }, previous: previousLock,
                    allowDirty: allowDirty, venv: venv.map { URL(fileURLWithPath: $0) },
                    indexURLs: indexUrl.isEmpty ? nil : indexUrl, inputLimits: input.limits))
            if strict, !result.notFetchableElsewhere.isEmpty {
                throw CLI.fail(
                    "--strict: recorded local files are not fetchable elsewhere (they are only in this machine's "
                        + "store): " + result.notFetchableElsewhere.map { Escaping.quoted($0) }.joined(separator: ", ")
                        + "; give them a source (--models-manifest, a git node) or remove them",
                    code: ExitStatus.checkFailed)
            }
            if strict, !result.pythonUnresolved.isEmpty {
                throw CLI.fail(
                    "--strict: no artifact hash could be established for these Python packages (index, direct_url.json "
                        + "and installer caches tried):\n"
                        + result.pythonUnresolved.map { "  " + Escaping.escaped($0, limit: 2000) }.joined(
                            separator: "\n")
                        + "\nrun `comfy-cli pin --lock LOCK` where the index is reachable, or drop --strict to record "
                        + "them unpinned",
                    code: ExitStatus.checkFailed)
            }
            let url = URL(fileURLWithPath: outputPath)
            try FileManager.default.createDirectory(
                at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            let changed = try LockFile.write(result.lock, to: url)
            return (result, changed)
        }
        let report = Report(
            output: outputPath, digest: LockFile.digest(result.lock), changed: changed,
            customNodes: result.lock.customNodes.count, pythonPackages: result.lock.python?.packages.count ?? 0,
            models: result.lock.models.count, dirty: result.dirty, modelsWithoutSource: result.modelsWithoutSource,
            pythonUnresolved: result.pythonUnresolved, notFetchableElsewhere: result.notFetchableElsewhere,
            trackedSkipped: result.trackedSkipped, notes: result.notes)
        if json {
            try Console.current.json(report)
            return
        }
        Console.current.out(
            "\(changed ? "wrote" : "unchanged") \(outputPath): ComfyUI \(result.lock.comfyui.commit.prefix(12)), "
                + "\(report.customNodes) custom node(s), \(report.pythonPackages) Python package(s), "
                + "\(report.models) model(s)")
        for entry in result.dirty {
            Console.current.err(
                "warning: recorded with uncommitted changes (dirty): \(Escaping.escaped(entry, limit: 2000))")
        }
        for path in result.modelsWithoutSource {
            Console.current.err("warning: model \(Escaping.quoted(path)) has no source (add it to --models-manifest)")
        }
        for path in result.notFetchableElsewhere {
            Console.current.err(
                "warning: \(Escaping.quoted(path)) is not fetchable elsewhere: it was put in this machine's store, "
                    + "another machine cannot build this lock (--strict makes this an error)")
        }
        for entry in result.pythonUnresolved {
            Console.current.err(
                "warning: python package \(Escaping.escaped(entry, limit: 2000)) (recorded unpinned: `lock validate` "
                    + "refuses it and `version create` needs --allow-unpinned; --strict makes this an error)")
        }
        for note in result.notes { Console.current.err("note: \(Escaping.escaped(note, limit: 2000))") }
    }
}
