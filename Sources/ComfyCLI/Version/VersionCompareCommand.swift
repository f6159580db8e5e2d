import ArgumentParser
import ComfyLock
import ComfyRuntime
import Foundation

/// `comfy-cli version compare A B`: two versions compared field by field.
struct VersionCompareCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Compare two versions field by field; exit 0 when identical, 1 naming each difference.")

    @Argument(help: "The first version: a name in the root, or a directory path (containing '/').")
    var a: String
    @Argument(help: "The second version: a name in the root, or a directory path (containing '/').")
    var b: String
    @OptionGroup(title: "Location") var location: VersionsRootOptions
    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }

    func run() async throws {
        let first = try resolve(a)
        let second = try resolve(b)
        let comparison = try await RuntimeCLI.guarded {
            try await VersionInspector(store: RuntimeCLI.store(), python: RuntimeCLI.python()).compare(first, second)
        }
        if json {
            try Console.current.json(comparison)
        } else {
            let counts = comparison.counts
            let what =
                "\(counts["nodes"] ?? 0) nodes, \(counts["python"] ?? 0) Python distributions, "
                + "\(counts["models"] ?? 0) models"
            if comparison.identical {
                Console.current.out("identical: \(ReportText.escaped(a)) and \(ReportText.escaped(b)) (\(what))")
            } else {
                Console.current.out(
                    "\(comparison.differences.count) difference(s) between A=\(ReportText.escaped(a)) and "
                        + "B=\(ReportText.escaped(b)):")
                for difference in comparison.differences {
                    Console.current.out("  " + ReportText.escaped(difference.description))
                }
            }
            if comparison.lockDigests[0] != comparison.lockDigests[1] {
                Console.current.out(
                    "note: built from different locks (\(comparison.lockDigests[0]?.prefix(16) ?? "none") vs "
                        + "\(comparison.lockDigests[1]?.prefix(16) ?? "none"))")
            }
        }
        if !comparison.identical { throw ExitCode(ExitStatus.checkFailed) }
    }

    /// A version name under the root, or a path when the argument contains a `/`.
    private func resolve(_ argument: String) throws -> URL {
        let dir: URL
        if argument.contains("/") {
            dir = URL(fileURLWithPath: argument, isDirectory: true).standardizedFileURL
        } else {
            do {
                try VersionName.validate(argument)
            } catch {
                throw CLI.fail(String(describing: error))
            }
            dir = location.url.appendingPathComponent(argument, isDirectory: true)
        }
        guard FileManager.default.fileExists(atPath: VersionLayout(directory: dir).lockFile.path) else {
            throw CLI.fail("no version at \(ReportText.escaped(dir.path)) (no comfylock.lock.json there)")
        }
        return dir
    }
}

/// Escaping of untrusted text (paths, names from disk or from a server) before it is printed: the one escaping of the
/// product (`Escaping.escaped`), with room for long paths.
enum ReportText {
    /// `text` with control characters, quotes, backslashes and DEL written as escapes (`\n`, `\u{1B}`, `\\`).
    static func escaped(_ text: String) -> String { Escaping.escaped(text, limit: 10_000) }
}
