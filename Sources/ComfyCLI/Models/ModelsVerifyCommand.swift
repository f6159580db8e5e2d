import ArgumentParser
import ComfyLock
import ComfyModels
import ComfyRuntime
import ComfyTransport
import Foundation
import Synchronization

/// `comfy-cli models verify --lock L --root DIR [--fix] [--deep] [--jobs N] [--json]`.
struct ModelsVerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a lock's models under a models directory; exit 1 when any is missing or different.")

    @Option(help: "The lock file.")
    var lock: String

    @Option(help: "The models directory the lock's model paths are relative to.")
    var root: String

    @Flag(help: "Restore what is not ok: quarantine the bad file, then take it from the store or its sources.")
    var fix = false

    @Flag(help: "Hash every file, ignoring the stat cache.")
    var deep = false

    @Option(
        help:
            "How many files to check at once (default 4); when given, also the most downloads at once (default: as many as --max-connections allows)."
    )
    var jobs: Int?

    @Option(
        help: "The most download connections at once: small files one each, big ones 4 ranged connections each.")
    var maxConnections: Int = ModelStore.defaultConnectionBudget

    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }

    @OptionGroup(title: "Store")
    var storeOptions: StoreOptions

    @OptionGroup(title: "Logging")
    var logging: LoggingOptions

    struct Summary: Encodable {
        var total = 0
        var ok = 0
        var missing = 0
        var sizeMismatch = 0
        var hashMismatch = 0
        var fixed = 0
        var unfixed = 0
    }

    struct Report: Encodable {
        var lock: String
        var root: String
        var ok: Bool
        var summary: Summary
        var models: [ModelCheck]
    }

    @OptionGroup var input: InputOptions

    func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1.") }
        guard (1...256).contains(maxConnections) else { throw ValidationError("--max-connections must be 1 to 256.") }
    }

    func run() async throws {
        try await ModelsCLI.scrubbingSecrets {
            let parsed: Lock
            do {
                // The one rule set (control characters in paths, traversal, URLs) before any file is touched.
                parsed = try LockFile.load(path: lock, limits: input.limits, level: .safe)
            } catch {
                throw CLI.fail("\(error)", code: ExitStatus.error)
            }
            let rootURL = URL(fileURLWithPath: root)
            var isDirectory: ObjCBool = false
            if !FileManager.default.fileExists(atPath: rootURL.path, isDirectory: &isDirectory) {
                guard fix else { throw CLI.fail("models root \(root) does not exist") }
                do { try FileManager.default.createDirectory(at: rootURL, withIntermediateDirectories: true) } catch {
                    throw CLI.fail("cannot create the models root \(root): \(error.localizedDescription)")
                }
            } else if !isDirectory.boolValue {
                throw CLI.fail("models root \(root) is not a directory")
            }
            let board = ProgressBoard(enabled: !json)
            var store = storeOptions.store(logger: logging.logger(secrets: HostCredentials.fromEnvironment().secrets))
            store.connectionBudget = ConnectionBudget(total: maxConnections)
            let verifier = ModelVerifier(store: store, jobs: jobs ?? 4, downloadJobs: jobs, mode: storeOptions.mode)
            let started = Set<String>()
            let seen = Mutex(started)
            let checks = await verifier.verify(parsed.models, root: rootURL, deep: deep, fix: fix) { event in
                switch event {
                case .checked: break
                case .downloading(let path, let progress):
                    let first = seen.withLock { $0.insert(path).inserted }
                    if first { board.start(path, label: "\(path) from \(progress.source)") }
                    board.update(
                        path, done: progress.bytesDone, total: progress.totalBytes, rate: progress.bytesPerSecond)
                case .fixed(let check):
                    if seen.withLock({ $0.contains(check.path) }) {
                        board.finish(
                            check.path,
                            message: check.fixed == true ? "downloaded \(check.path)" : "failed \(check.path)")
                    }
                }
            }
            // A blob that had to be downloaded again was corrupt in the store: every version that shares it (hard
            // links) is re-placed too.
            let refetched = Set(checks.filter { $0.fixed == true && $0.restoredFrom != "store" }.map(\.expectedSHA256))
            if fix, !refetched.isEmpty {
                let store = storeOptions.store(
                    logger: logging.logger(secrets: HostCredentials.fromEnvironment().secrets))
                let builder = VersionBuilder(
                    root: VersionsRoot.fromEnvironment(), gitCache: GitCache(storeRoot: store.root), store: store,
                    python: nil)
                if let shared = try? await builder.repairVersionsSharing(refetched), !json {
                    for line in shared { Console.current.out("also repaired \(line)") }
                }
            }
            var summary = Summary()
            summary.total = checks.count
            for check in checks {
                switch check.status {
                case .ok: summary.ok += 1
                case .missing: summary.missing += 1
                case .sizeMismatch: summary.sizeMismatch += 1
                case .hashMismatch: summary.hashMismatch += 1
                }
                if check.fixed == true { summary.fixed += 1 }
                if check.status != .ok && check.fixed != true { summary.unfixed += 1 }
            }
            let good = summary.unfixed == 0
            if json {
                try Console.current.json(Report(lock: lock, root: root, ok: good, summary: summary, models: checks))
            } else {
                for check in checks { Console.current.out(Self.line(check)) }
                Console.current.out(Self.summaryLine(summary, fix: fix))
            }
            if !good { throw ExitCode(ExitStatus.checkFailed) }
        }
    }

    static func line(_ check: ModelCheck) -> String {
        var text = check.status.rawValue.padding(toLength: 14, withPad: " ", startingAt: 0) + check.path
        switch check.status {
        case .sizeMismatch:
            text += " (expected \(check.expectedSize) bytes, found \(check.actualSize.map(String.init) ?? "?"))"
        case .hashMismatch:
            text += " (expected sha256 \(check.expectedSHA256), found \(check.actualSHA256 ?? "?"))"
        default: break
        }
        if let fixed = check.fixed {
            if fixed {
                text += " -> restored from \(check.restoredFrom ?? "?")"
                if let method = check.method { text += " (\(method.rawValue))" }
            } else {
                text += " -> not restored"
            }
        }
        if let quarantined = check.quarantinedTo { text += "; bad file moved to \(quarantined)" }
        if let error = check.error { text += ": \(error)" }
        return text
    }

    static func summaryLine(_ s: Summary, fix: Bool) -> String {
        var parts = ["\(s.ok) ok"]
        if s.missing > 0 { parts.append("\(s.missing) missing") }
        if s.sizeMismatch > 0 { parts.append("\(s.sizeMismatch) size-mismatch") }
        if s.hashMismatch > 0 { parts.append("\(s.hashMismatch) hash-mismatch") }
        var text = "\(s.total) model\(s.total == 1 ? "" : "s"): " + parts.joined(separator: ", ")
        if fix { text += "; \(s.fixed) restored, \(s.unfixed) not restored" }
        return text
    }
}
