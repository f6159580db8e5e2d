import ArgumentParser
import ComfyModels
import Foundation

/// `comfy-cli models hash FILE... [--jobs N] [--json]`: sha256sum-compatible output, files hashed in parallel.
struct ModelsHashCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hash",
        abstract: "Print the SHA-256 of files in sha256sum format, hashing several files in parallel.")

    @Argument(help: "The files to hash.")
    var files: [String]

    @Option(help: "How many files to hash at once (default: the number of cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }

    struct Entry: Encodable {
        var path: String
        var sha256: String?
        var size: Int64?
        var error: String?
    }

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1.") }
        guard !files.isEmpty else { throw ValidationError("Give at least one file to hash.") }
    }

    func run() async throws {
        let results = await Self.hash(files, jobs: jobs)
        var failed = false
        if json {
            try Console.current.json(results)
            failed = results.contains { $0.error != nil }
        } else {
            for entry in results {
                if let sha = entry.sha256 {
                    Console.current.out(Self.sumLine(sha: sha, path: entry.path))
                } else {
                    failed = true
                    Console.current.err("error: \(entry.error ?? "cannot hash \(entry.path)")")
                }
            }
        }
        if failed { throw ExitCode(ExitStatus.error) }
    }

    /// A `sha256sum` line: `HEX  PATH`; names with a backslash or newline are escaped and the line starts with `\`.
    static func sumLine(sha: String, path: String) -> String {
        guard path.contains("\\") || path.contains("\n") || path.contains("\r") else { return "\(sha)  \(path)" }
        let escaped = path.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
            .replacingOccurrences(of: "\r", with: "\\r")
        return "\\\(sha)  \(escaped)"
    }

    /// Hashes `files`, at most `jobs` at a time (`ParallelHashing` on the shared blocking pool); argument order.
    static func hash(_ files: [String], jobs: Int) async -> [Entry] {
        await ParallelHashing.sha256(of: files, jobs: jobs).map {
            Entry(path: $0.path, sha256: $0.sha256, size: $0.size, error: $0.error)
        }
    }

}
