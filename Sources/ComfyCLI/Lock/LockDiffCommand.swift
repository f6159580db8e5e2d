import ArgumentParser
import ComfyLock

/// `comfy-cli lock diff A B`: structured differences; exit 0 equal, 1 different, 2 error.
struct LockDiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Show what changed between two locks; exit 0 when equal, 1 when different, 2 on error.")

    @Argument(help: "The old lock file.")
    var old: String

    @Argument(help: "The new lock file.")
    var new: String

    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }

    @OptionGroup var input: InputOptions

    struct Report: Encodable {
        var old: String
        var new: String
        var equal: Bool
        var oldDigest: String
        var newDigest: String
        var entries: [LockDiff.Entry]
    }

    func run() async throws {
        let a = try CLI.readLock(old, limits: input.limits, level: nil)
        let b = try CLI.readLock(new, limits: input.limits, level: nil)
        let diff = LockDiffer.diff(a, b)
        if json {
            try Console.current.json(
                Report(
                    old: old, new: new, equal: diff.isEmpty, oldDigest: LockFile.digest(a),
                    newDigest: LockFile.digest(b), entries: diff.entries))
        } else if diff.isEmpty {
            Console.current.out("locks are equal (digest \(LockFile.digest(a)))")
        } else {
            Console.current.out("--- \(Escaping.escaped(old))\n+++ \(Escaping.escaped(new))")
            for entry in diff.entries { Console.current.out(entry.description) }
            Console.current.out("\(diff.entries.count) difference\(diff.entries.count == 1 ? "" : "s")")
        }
        if !diff.isEmpty { throw ExitCode(ExitStatus.checkFailed) }
    }
}
