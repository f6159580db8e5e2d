import ArgumentParser

/// `comfy-cli init`: placeholder until its issue lands — says so and exits non-zero.
struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Clone ComfyUI, create its venv and install its requirements (not built yet: exits non-zero).")
    @Argument(parsing: .captureForPassthrough, help: "Ignored until the command is built.")
    var rest: [String] = []
    func run() async throws {
        Console.current.err(NotBuiltYet(command: "init").description)
        throw ExitCode(3)
    }
}
