import ArgumentParser

/// `comfy-cli version`: placeholder until its issue lands — says so and exits non-zero.
struct VersionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version",
        abstract: "Create, check, list and remove version directories built from a lock (not built yet: exits non-zero).")
    @Argument(parsing: .captureForPassthrough, help: "Ignored until the command is built.")
    var rest: [String] = []
    func run() async throws {
        Console.current.err(NotBuiltYet(command: "version").description)
        throw ExitCode(3)
    }
}
