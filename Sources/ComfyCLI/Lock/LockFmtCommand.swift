import ArgumentParser
import ComfyLock
import Foundation

/// `comfy-cli lock fmt FILE`: rewrite a lock in canonical form (no-op when already canonical).
struct LockFmtCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fmt",
        abstract: "Rewrite a lock file in canonical form; the file is untouched when already canonical.")

    @Argument(help: "The lock file to format in place.")
    var file: String

    @Flag(help: "Only check: exit 1 when the file is not canonical, without writing it.")
    var check = false

    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }

    @OptionGroup var input: InputOptions

    struct Report: Encodable {
        var file: String
        var canonical: Bool
        var rewritten: Bool
    }

    func run() async throws {
        let lock = try CLI.readLock(file, limits: input.limits, level: nil)
        let url = URL(fileURLWithPath: file)
        let canonical = (try? LockFile.readBytes(url, limits: input.limits)) == LockFile.encode(lock)
        var rewritten = false
        if !check && !canonical {
            do {
                rewritten = try LockFile.write(lock, to: url)
            } catch {
                throw CLI.fail(error.description, code: ExitStatus.error)
            }
        }
        if json {
            try Console.current.json(Report(file: file, canonical: canonical, rewritten: rewritten))
        } else if canonical {
            Console.current.out("\(file): already canonical")
        } else if check {
            Console.current.out("\(file): not canonical (run `comfy-cli lock fmt \(file)`)")
        } else {
            Console.current.out("\(file): rewritten in canonical form")
        }
        if check && !canonical { throw ExitCode(ExitStatus.checkFailed) }
    }
}
