public import ComfyCLI

/// What one in-process `comfy-cli` run printed and returned.
public struct CLIRun: Sendable {
    /// The exit code `CLI.run` returned.
    public let code: Int32
    /// Everything written to standard output.
    public let out: String
    /// Everything written to standard error.
    public let err: String
}

/// The one in-process `comfy-cli` runner of the tests: `CLI.run` with a capturing console.
public enum InProcessCLI {
    /// Runs `comfy-cli arguments` in this process and returns its exit code and output.
    public static func run(_ arguments: [String], isTerminal: Bool = false) async -> CLIRun {
        let capture = CapturingConsole(isTerminal: isTerminal)
        let code = await Console.$current.withValue(capture.console) { await CLI.run(arguments) }
        return CLIRun(code: code, out: capture.standardOutput, err: capture.standardError)
    }
}
