import ArgumentParser
import ComfyLock
import ComfySupport
import Foundation

/// The exit codes every command uses (see `CLI.exitStatus`).
enum ExitStatus {
    /// A check failed or the inputs differ (invalid lock, drift, a model not ok, locks differ).
    static let checkFailed: Int32 = 1
    /// A usage, I/O or runtime error.
    static let error: Int32 = 2
}

/// `--json`, pulled into every command that reports with `@OptionGroup`.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print the report as JSON.")
    var json = false

    /// Prints `report` as JSON with `--json`, else runs `text` (which prints the human form).
    func report<T: Encodable>(_ report: T, text: () throws -> Void) throws {
        if json { try Console.current.json(report) } else { try text() }
    }
}

extension CLI {
    /// Prints `error: <message>` on standard error and returns the exit code to throw (2 unless told).
    static func fail(_ message: String, code: Int32 = ExitStatus.error) -> ExitCode {
        Console.current.err("error: " + message)
        return ExitCode(code)
    }

    /// Reads a lock file through `BoundedInput` (regular files only, at most `limits.maxBytes`; `-` for standard
    /// input). With a `level` it is validated by `LockFile.load` before any side effect (every refused field
    /// named); `nil` only decodes it (the lock commands that report on, format or compare any lock). Failures name
    /// the file and exit 2.
    static func readLock(
        _ path: String, limits: InputLimits = .default, level: LockValidator.Level? = .safe
    ) throws -> Lock {
        do {
            if let level { return try LockFile.load(path: path, limits: limits, level: level) }
            return try LockFile.decode(try BoundedInput.read(path, limits: limits))
        } catch {
            throw fail("\(Escaping.quoted(path)): \(error)")
        }
    }

    /// The one JSON encoding of the CLI: pretty-printed, sorted keys, slashes unescaped (reports on standard
    /// output and the files commands write, like `pins.json`).
    static func encodeJSON<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }
}
