import ArgumentParser
import ComfyCrypto
import ComfyLock

/// `comfy-cli lock validate FILE [--json]`: schema and rule checks with JSON paths.
struct LockValidateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "validate",
        abstract: "Check a lock file against the schema and the lock rules; exit 1 when it has errors.")

    @Argument(help: "The lock file to check.")
    var file: String

    @OptionGroup var reporting: OutputOptions
    var json: Bool { reporting.json }

    struct Report: Encodable {
        var file: String
        var valid: Bool
        var errors: Int
        var warnings: Int
        var digest: String?
        var diagnostics: [LockDiagnostic]
    }

    @OptionGroup var input: InputOptions

    func run() async throws {
        let bytes: [UInt8]
        do {
            bytes = try LockCLI.read(file, limits: input.limits)
        } catch {
            throw CLI.fail(error.description, code: ExitStatus.error)
        }
        var diagnostics: [LockDiagnostic] = []
        var digest: String?
        do {
            let lock = try LockFile.decode(bytes)
            diagnostics = LockValidator.validate(lock)
            let encoded = LockFile.encode(lock)
            if encoded != bytes {
                diagnostics.append(
                    LockDiagnostic(
                        severity: .warning, path: "$", rule: "not-canonical",
                        message:
                            "the file is not in canonical form (sorted RFC 8785 plus one newline); run "
                            + "`comfy-cli lock fmt \(file)`"
                    ))
            }
            digest = SHA256.hash(encoded.dropLast()).hex  // = LockFile.digest(lock), without encoding twice
        } catch {
            let rule =
                error.parseError.map { "json-" + $0.rule } ?? (error.isUnsupportedVersion ? "schema-version" : "schema")
            var message = error.message
            if let parse = error.parseError { message = "line \(parse.line), column \(parse.column): \(parse.message)" }
            diagnostics = [LockDiagnostic(severity: .error, path: error.path ?? "$", rule: rule, message: message)]
        }
        let errors = diagnostics.filter { $0.severity == .error }.count
        let warnings = diagnostics.count - errors
        if json {
            try Console.current.json(
                Report(
                    file: file, valid: errors == 0, errors: errors, warnings: warnings,
                    digest: errors == 0 ? digest : nil, diagnostics: diagnostics))
        } else {
            for diagnostic in diagnostics {
                if diagnostic.severity == .error {
                    Console.current.err("\(file): \(diagnostic)")
                } else {
                    Console.current.out("\(file): \(diagnostic)")
                }
            }
            if errors == 0 {
                Console.current.out("\(file): valid lock (\(warnings) warning\(warnings == 1 ? "" : "s"))")
            } else {
                Console.current.err(
                    "\(file): invalid lock: \(errors) error\(errors == 1 ? "" : "s"), \(warnings) "
                        + "warning\(warnings == 1 ? "" : "s")"
                )
            }
        }
        if errors > 0 { throw ExitCode(ExitStatus.checkFailed) }
    }
}
