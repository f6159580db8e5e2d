import ArgumentParser
import ComfyLock

/// `comfy-cli lock canonicalize [FILE]`: any JSON document → its RFC 8785 form on stdout.
struct LockCanonicalizeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "canonicalize",
        abstract: "Print the RFC 8785 canonical form of a JSON document (from FILE or standard input).")

    @Argument(help: "The JSON file to read; standard input when omitted or '-'.")
    var file: String?

    @Option(help: "The deepest nesting of arrays and objects accepted (at most 10000).")
    var maxDepth: Int = JSONParser.defaultMaxDepth

    @OptionGroup var input: InputOptions

    func validate() throws {
        guard (1...10_000).contains(maxDepth) else { throw ValidationError("--max-depth must be between 1 and 10000.") }
    }

    func run() async throws {
        let bytes: [UInt8]
        do {
            bytes = try LockCLI.read(file, limits: input.limits)
        } catch {
            throw CLI.fail(error.description, code: ExitStatus.error)
        }
        do {
            let output = try CanonicalJSON.canonicalize(bytes, maxDepth: maxDepth)
            LockCLI.writeOutput(output)
        } catch {
            let name = file == nil || file == "-" ? "<stdin>" : file!
            throw CLI.fail(
                "\(name):\(error.line):\(error.column): \(error.message) (at \(error.path)) [\(error.rule)]",
                code: ExitStatus.checkFailed)
        }
    }
}
