import ArgumentParser

/// `comfy-cli pin`: placeholder until its issue lands — says so and exits non-zero.
struct PinCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pin",
        abstract: "Pin Python requirements to exact artifacts with hashes (not built yet: exits non-zero).")
    @Argument(parsing: .captureForPassthrough, help: "Ignored until the command is built.")
    var rest: [String] = []
    func run() async throws {
        Console.current.err(NotBuiltYet(command: "pin").description)
        throw ExitCode(3)
    }
}
