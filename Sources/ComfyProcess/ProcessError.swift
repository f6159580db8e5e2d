internal import ComfySupport
internal import Foundation

/// A process that could not start, failed, timed out or was stopped.
///
/// The message names the command (arguments quoted, secrets and URL credentials masked) and ends with the last lines
/// of the child's standard error. Environment values are never included.
public struct ProcessError: Error, Sendable, CustomStringConvertible {
    private enum Code: Sendable, Hashable {
        case executableNotFound
        case spawnFailed
        case nonZeroExit
        case timedOut
        case workingDirectoryMissing
    }

    private let code: Code
    /// The command, as shown to users (secrets masked).
    public let commandLine: String
    /// How the process ended, when it ran.
    public let termination: ProcessTermination?
    /// The last lines of standard error (secrets masked), possibly empty.
    public let standardErrorTail: String
    /// A one-paragraph explanation.
    public let message: String
    /// The OS error number, for spawn failures.
    public let errno: Int32?

    /// How many lines of standard error the message keeps.
    public static let tailLines = 20

    private init(
        code: Code, command: ProcessCommand, termination: ProcessTermination? = nil, standardError: [UInt8] = [],
        message: String, errno: Int32? = nil
    ) {
        self.code = code
        self.commandLine = command.description
        self.termination = termination
        self.standardErrorTail = Self.tail(of: standardError, secrets: command.secrets)
        self.message = message
        self.errno = errno
    }

    /// The executable does not exist or is not executable (searched `PATH` when given by name).
    public static func executableNotFound(command: ProcessCommand, searched: [String]) -> ProcessError {
        let place =
            command.executable.contains("/")
            ? "no executable file at \(command.executable)"
            : "\(command.executable) not found in PATH (\(searched.joined(separator: ":")))"
        return ProcessError(code: .executableNotFound, command: command, message: "cannot run \(place)")
    }

    /// `posix_spawn` failed.
    public static func spawnFailed(command: ProcessCommand, errno: Int32, reason: String) -> ProcessError {
        ProcessError(code: .spawnFailed, command: command, message: "cannot start process: \(reason)", errno: errno)
    }

    /// The working directory does not exist.
    public static func workingDirectoryMissing(command: ProcessCommand, path: String) -> ProcessError {
        ProcessError(
            code: .workingDirectoryMissing, command: command,
            message: "working directory \(Redaction.redact(path, secrets: command.secrets)) does not exist")
    }

    /// The process ended with a non-zero status or a signal.
    public static func nonZeroExit(
        command: ProcessCommand, termination: ProcessTermination, standardError: [UInt8]
    ) -> ProcessError {
        ProcessError(
            code: .nonZeroExit, command: command, termination: termination, standardError: standardError,
            message: "command failed with \(termination)")
    }

    /// The process ran past its timeout and was stopped.
    public static func timedOut(
        command: ProcessCommand, after timeout: Duration, termination: ProcessTermination, standardError: [UInt8]
    ) -> ProcessError {
        ProcessError(
            code: .timedOut, command: command, termination: termination, standardError: standardError,
            message: "command timed out after \(Self.seconds(timeout)) and was stopped (\(termination))")
    }

    /// True when the executable was not found.
    public var isExecutableNotFound: Bool { code == .executableNotFound }
    /// True when the command exited non-zero (or by a signal) on its own.
    public var isNonZeroExit: Bool { code == .nonZeroExit }
    /// True when the command was stopped by its timeout.
    public var isTimeout: Bool { code == .timedOut }
    /// The exit status when the process exited on its own.
    public var exitStatus: Int32? {
        if case .exited(let status) = termination { return status }
        return nil
    }

    /// "`message`: `command`" followed by the standard error tail, if any.
    public var description: String {
        var text = "\(message): \(commandLine)"
        if !standardErrorTail.isEmpty {
            text +=
                "\n"
                + standardErrorTail.split(separator: "\n", omittingEmptySubsequences: false)
                .map { "  | " + $0 }.joined(separator: "\n")
        }
        return text
    }

    static func tail(of bytes: [UInt8], secrets: [String]) -> String {
        let text = String(decoding: bytes, as: UTF8.self)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map {
            // Progress output uses carriage returns: keep only what is left visible on the line.
            String($0.split(separator: "\r", omittingEmptySubsequences: true).last ?? "")
        }
        while let last = lines.last, last.trimmingCharacters(in: .whitespaces).isEmpty { lines.removeLast() }
        let kept = lines.suffix(tailLines).map { $0.count > 500 ? String($0.prefix(500)) + "…" : $0 }
        return Redaction.redact(kept.joined(separator: "\n"), secrets: secrets)
    }

    static func seconds(_ duration: Duration) -> String {
        let (s, atto) = duration.components
        let value = Double(s) + Double(atto) / 1e18
        return value == value.rounded() ? "\(Int64(value)) s" : String(format: "%.1f s", value)
    }
}
