import ArgumentParser

/// `comfy-cli models`: placeholder until its issue lands — says so and exits non-zero.
struct ModelsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "models",
        abstract: "Hash, verify, fetch and add model files (not built yet: exits non-zero).")
    @Argument(parsing: .captureForPassthrough, help: "Ignored until the command is built.")
    var rest: [String] = []
    func run() async throws {
        Console.current.err(NotBuiltYet(command: "models").description)
        throw ExitCode(3)
    }
}
