import ArgumentParser

/// `comfy-cli lock create`: placeholder until the runtime issue lands — says so and exits non-zero.
struct LockCreateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Record a lock from a live ComfyUI install (not built yet: exits non-zero).")
    @Argument(parsing: .captureForPassthrough, help: "Ignored until the command is built.")
    var rest: [String] = []
    func run() async throws {
        Console.current.err(NotBuiltYet(command: "lock create").description)
        throw ExitCode(3)
    }
}
