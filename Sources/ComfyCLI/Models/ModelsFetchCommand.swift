import ArgumentParser
import ComfyCrypto
import ComfyModels
import ComfyTransport
import Foundation
import Synchronization

/// `comfy-cli models fetch URL --sha256 HEX [--size N] -o PATH`.
struct ModelsFetchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Download one file into the store, verify its SHA-256 and place it at a path.")

    @Argument(help: "The URL to download from.")
    var url: String

    @Option(help: "The expected SHA-256 (64 hex characters).")
    var sha256: String

    @Option(help: "The expected size in bytes.")
    var size: Int64?

    @Option(name: .shortAndLong, help: "Where to place the verified file.")
    var output: String

    @Option(help: "Another URL of the same file, tried in order after the first (repeatable).")
    var mirror: [String] = []

    @Option(help: "Connections for one big file, each fetching ranges of it (1 = one stream).")
    var connections: Int = ModelStore.defaultRangedConnections

    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }

    @OptionGroup(title: "Store")
    var storeOptions: StoreOptions

    @OptionGroup(title: "Logging")
    var logging: LoggingOptions

    struct Report: Encodable {
        var path: String
        var sha256: String
        var size: Int64
        var source: String
        var method: String
    }

    func validate() throws {
        guard Hex.decode(sha256)?.count == 32 else {
            throw ValidationError("--sha256 must be 64 hex characters.")
        }
        if let size, size < 0 { throw ValidationError("--size must not be negative.") }
        guard (1...64).contains(connections) else { throw ValidationError("--connections must be 1 to 64.") }
    }

    func run() async throws {
        try await ModelsCLI.scrubbingSecrets {
            let sha = sha256.lowercased()
            var store = storeOptions.store(logger: logging.logger(secrets: HostCredentials.fromEnvironment().secrets))
            store.rangedConnections = connections
            let target = URL(fileURLWithPath: output)
            let board = ProgressBoard(enabled: !json)
            let label = target.lastPathComponent
            let started = Mutex(false)
            do {
                let (origin, method) = try await store.fetch(
                    sha256: sha, size: size, sources: [url] + mirror, to: target, mode: storeOptions.mode
                ) { progress in
                    if started.withLock({
                        let first = !$0
                        $0 = true
                        return first
                    }) {
                        board.start(label, label: "\(label) from \(progress.source)")
                    }
                    board.update(
                        label, done: progress.bytesDone, total: progress.totalBytes, rate: progress.bytesPerSecond)
                }
                let source: String
                switch origin {
                case .store: source = "store"
                case .downloaded(let from): source = from
                }
                if started.withLock({ $0 }) { board.finish(label, message: "downloaded \(label)") }
                let finalSize = (try? FileStat.of(path: target.path))??.size ?? size ?? 0
                if json {
                    try Console.current.json(
                        Report(path: output, sha256: sha, size: finalSize, source: source, method: method.rawValue))
                } else {
                    Console.current.out(
                        "\(output): sha256 \(sha), \(finalSize) bytes, from \(source) (\(method.rawValue))")
                }
            } catch let error as ModelError {
                throw CLI.fail(error.message)
            } catch let error as HTTPError {
                throw CLI.fail(error.message)
            }
        }
    }
}
