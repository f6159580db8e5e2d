import ArgumentParser
import ComfyLock
import ComfyModels
import ComfyRuntime
import ComfySupport
import Foundation

/// `comfy-cli bundle`: one file that deploys a lock with no network.
struct BundleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bundle", abstract: "Pack a lock and everything it pins into one file for offline deployment.",
        subcommands: [BundleCreateCommand.self, BundleInspectCommand.self])
}

/// `comfy-cli bundle create --lock L [--with-models] -o B.tar`.
struct BundleCreateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract:
            "Write a bundle: the lock and its signature, git bundles, registry archives, Python artifacts, optionally the models."
    )

    @Option(name: .long, help: "The lock to bundle (its L.minisig is included when present).")
    var lock: String
    @Flag(name: .customLong("with-models"), help: "Also bundle every model file of the lock.")
    var withModels = false
    @Option(name: [.short, .customLong("output")], help: "The bundle file to write (a tar).")
    var output: String
    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }
    @OptionGroup var input: InputOptions

    func run() async throws {
        _ = try CLI.readLock(lock, limits: input.limits, level: .complete)
        let bytes = try BoundedInput.read(lock, limits: input.limits, what: "lock")
        let signature = try LockSigning.readSignature(LockSigning.signaturePath(forLock: lock))
        let manifest = try await RuntimeCLI.guarded {
            let store = RuntimeCLI.store()
            return try await LockBundle.create(
                lockBytes: bytes, signature: signature, withModels: withModels, store: store,
                gitCache: try RuntimeCLI.gitCache(store: store), output: output)
        }
        if json {
            try Console.current.json(manifest)
        } else {
            let total = manifest.entries.reduce(Int64(0)) { $0 + $1.size }
            Console.current.out(
                "wrote \(output): \(manifest.entries.count) entries, \(total) bytes, lock digest \(manifest.lockDigest)"
            )
        }
    }
}

/// `comfy-cli bundle inspect B.tar`.
struct BundleInspectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "List a bundle's entries and sizes.")

    @Argument(help: "The bundle file.")
    var file: String
    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }

    struct Report: Encodable {
        var lockDigest: String
        var entries: [BundleEntry]
    }

    func run() async throws {
        let (manifest, members) = try BundleCLI.checked { try LockBundle.inspect(file) }
        if json {
            try Console.current.json(Report(lockDigest: manifest.lockDigest, entries: manifest.entries))
            return
        }
        Console.current.out("lock digest \(manifest.lockDigest)")
        let byName = Dictionary(manifest.entries.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for member in members {
            let entry = byName[member.name]
            let what = [
                entry?.kind, entry?.url.map { Escaping.escaped($0) }, entry?.commit,
                entry?.filename.map { Escaping.escaped($0) },
            ]
            .compactMap { $0 }.joined(separator: " ")
            Console.current.out("\(member.size)\t\(Escaping.escaped(member.name))\t\(what)")
        }
    }
}

/// Shared plumbing of bundles.
enum BundleCLI {
    /// A bundle refusal (truncated, altered, incomplete) is a failed check: exit 1, naming the entry.
    static func checked<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch { throw CLI.fail(String(describing: error), code: ExitStatus.checkFailed) }
    }

    /// Extracts and verifies a bundle into a fresh directory under the store.
    static func extract(_ path: String, store: ModelStore) throws -> (directory: URL, extracted: LockBundle.Extracted) {
        let directory = store.root.appendingPathComponent("tmp/bundle-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        do { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) } catch {
            throw CLI.fail("cannot create \(directory.path): \(error)")
        }
        do {
            return (directory, try checked { try LockBundle.extract(path, into: directory, store: store) })
        } catch {
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
    }
}
