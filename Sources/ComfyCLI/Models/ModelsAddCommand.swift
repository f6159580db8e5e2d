import ArgumentParser
import ComfyCrypto
import ComfyLock
import ComfyModels
import ComfySupport
import ComfyTransport
import Foundation
import Synchronization

/// `comfy-cli models add URL --lock L --path checkpoints/x.safetensors`.
struct ModelsAddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Download a model into the store, hash it and record it in a lock.")

    @Argument(help: "The URL to download from (no credentials in it; use HF_TOKEN or COMFYLOCK_AUTH_<HOST>).")
    var url: String

    @Option(help: "The lock file to update (rewritten in canonical form).")
    var lock: String

    @Option(help: "The model's path under the models directory, e.g. checkpoints/x.safetensors.")
    var path: String

    @Option(help: "The expected SHA-256; the download is refused when it differs.")
    var sha256: String?

    @Option(help: "Another URL of the same file, recorded as a mirror (repeatable).")
    var mirror: [String] = []

    @Option(help: "Also place the file under this models directory.")
    var root: String?

    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }

    @OptionGroup(title: "Store")
    var storeOptions: StoreOptions

    @OptionGroup(title: "Logging")
    var logging: LoggingOptions

    @OptionGroup var input: InputOptions

    struct Report: Encodable {
        var lock: String
        var entry: ModelEntry
        var replaced: Bool
        var lockChanged: Bool
    }

    func validate() throws {
        if let sha256, Hex.decode(sha256)?.count != 32 {
            throw ValidationError("--sha256 must be 64 hex characters.")
        }
        for source in [url] + mirror {
            guard let parsed = URL(string: source), let scheme = parsed.scheme?.lowercased(),
                scheme == "http" || scheme == "https", parsed.host != nil
            else { throw ValidationError("\(Redaction.redactURL(source)) is not an http(s) URL.") }
            guard Redaction.redactURL(source) == parsed.absoluteString else {
                throw ValidationError(
                    "\(Redaction.redactURL(source)) carries credentials; locks never hold them — set HF_TOKEN, "
                        + "CIVITAI_API_TOKEN or COMFYLOCK_AUTH_<HOST> instead.")
            }
        }
        do { _ = try ModelVerifier.target(for: path, root: URL(fileURLWithPath: "/")) } catch {
            throw ValidationError("\(error)")
        }
    }

    func run() async throws {
        try await ModelsCLI.scrubbingSecrets {
            // Read (bounded) and checked by the one rule set before anything is downloaded or written.
            var parsed: Lock
            do {
                parsed = try LockFile.load(path: lock, limits: input.limits, level: .safe)
            } catch {
                throw CLI.fail("\(error)", code: ExitStatus.error)
            }
            let store = storeOptions.store(logger: logging.logger(secrets: HostCredentials.fromEnvironment().secrets))
            let board = ProgressBoard(enabled: !json)
            let started = Mutex(false)
            let label = path
            let report: @Sendable (FetchProgress) -> Void = { progress in
                if started.withLock({
                    let first = !$0
                    $0 = true
                    return first
                }) {
                    board.start(label, label: "\(label) from \(progress.source)")
                }
                board.update(label, done: progress.bytesDone, total: progress.totalBytes, rate: progress.bytesPerSecond)
            }
            let digest: String
            let size: Int64
            do {
                if let expected = sha256?.lowercased() {
                    let (blob, _) = try await store.ensureBlob(
                        sha256: expected, sources: [url] + mirror, progress: report)
                    digest = expected
                    size = (try FileStat.of(path: blob.path))?.size ?? 0
                } else {
                    (digest, size) = try await store.adopt(url: URL(string: url)!, progress: report)
                }
            } catch let error as ModelError {
                throw CLI.fail(error.message)
            } catch let error as HTTPError {
                throw CLI.fail(error.message)
            }
            if started.withLock({ $0 }) { board.finish(label, message: "downloaded \(label)") }
            let entry = ModelEntry(
                path: path, size: size, sha256: digest, sources: [url] + mirror, huggingface: Self.huggingFace(url))
            let replaced = parsed.models.contains { $0.path == path }
            parsed.models.removeAll { $0.path == path }
            parsed.models.append(entry)
            parsed.models.sort { $0.path < $1.path }
            let changed: Bool
            do { changed = try LockFile.write(parsed, to: URL(fileURLWithPath: lock)) } catch {
                throw CLI.fail("\(lock): \(error)")
            }
            if let root {
                do {
                    let target = try ModelVerifier.target(for: path, root: URL(fileURLWithPath: root))
                    try store.materialize(sha256: digest, to: target, mode: storeOptions.mode)
                } catch {
                    throw CLI.fail("\(error)")
                }
            }
            if json {
                try Console.current.json(Report(lock: lock, entry: entry, replaced: replaced, lockChanged: changed))
            } else {
                Console.current.out(
                    "\(replaced ? "updated" : "added") \(path): sha256 \(digest), \(size) bytes in \(lock)")
            }
        }
    }

    /// `https://huggingface.co/OWNER/NAME/resolve/REVISION/FILE` → the Hugging Face reference.
    static func huggingFace(_ url: String) -> HuggingFaceRef? {
        guard let parsed = URL(string: url), parsed.host?.lowercased() == "huggingface.co" else { return nil }
        let parts = parsed.path.split(separator: "/").map(String.init)
        guard parts.count >= 5, parts[2] == "resolve" else { return nil }
        let file = parts[4...].joined(separator: "/").removingPercentEncoding ?? parts[4...].joined(separator: "/")
        return HuggingFaceRef(repo: parts[0] + "/" + parts[1], revision: parts[3], file: file)
    }
}
