import ArgumentParser

/// `comfy-cli lock`: placeholder until its issue lands — says so and exits non-zero.
struct LockCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lock",
        abstract: "Create, check, format, diff, import and export lock files (not built yet: exits non-zero).")
    @Argument(parsing: .captureForPassthrough, help: "Ignored until the command is built.")
    var rest: [String] = []
    func run() async throws {
        Console.current.err(NotBuiltYet(command: "lock").description)
        throw ExitCode(3)
    }
}
