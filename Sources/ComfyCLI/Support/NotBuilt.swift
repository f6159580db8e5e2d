import ArgumentParser

/// Thrown by command groups whose implementation has not landed yet: says so and exits non-zero.
struct NotBuiltYet: Error, CustomStringConvertible {
    let command: String
    var description: String {
        "comfy-cli \(command) is not built yet in this release; see docs/tech.md for the roadmap."
    }
}

/// `comfy-cli repro`: not built yet.
struct ReproCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repro",
        abstract: "Check that workflows reproduce their recorded outputs (not built yet: exits non-zero).")
    @Argument(parsing: .captureForPassthrough, help: "Ignored until the command is built.")
    var rest: [String] = []
    func run() async throws {
        Console.current.err(NotBuiltYet(command: "repro").description)
        throw ExitCode(3)
    }
}
