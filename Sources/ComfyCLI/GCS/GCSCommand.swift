import ArgumentParser

/// `comfy-cli gcs`: placeholder until its issue lands — says so and exits non-zero.
struct GCSCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gcs",
        abstract: "Upload outputs to Google Cloud Storage, sign URLs and check access (not built yet: exits non-zero).")
    @Argument(parsing: .captureForPassthrough, help: "Ignored until the command is built.")
    var rest: [String] = []
    func run() async throws {
        Console.current.err(NotBuiltYet(command: "gcs").description)
        throw ExitCode(3)
    }
}
