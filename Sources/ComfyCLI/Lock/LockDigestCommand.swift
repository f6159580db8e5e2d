import ArgumentParser
import ComfyLock

/// `comfy-cli lock digest FILE`: SHA-256 of the lock's canonical bytes.
struct LockDigestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "digest",
        abstract: "Print the SHA-256 of a lock's canonical bytes.")

    @Argument(help: "The lock file.")
    var file: String

    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }

    @OptionGroup var input: InputOptions

    struct Report: Encodable {
        var file: String
        var digest: String
    }

    func run() async throws {
        let lock = try CLI.readLock(file, limits: input.limits, level: nil)
        let digest = LockFile.digest(lock)
        if json {
            try Console.current.json(Report(file: file, digest: digest))
        } else {
            Console.current.out(digest)
        }
    }
}
