import ArgumentParser

/// `comfy-cli store`: placeholder until its issue lands — says so and exits non-zero.
struct StoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "store",
        abstract: "Manage the content-addressed store (not built yet: exits non-zero).")
    @Argument(parsing: .captureForPassthrough, help: "Ignored until the command is built.")
    var rest: [String] = []
    func run() async throws {
        Console.current.err(NotBuiltYet(command: "store").description)
        throw ExitCode(3)
    }
}
