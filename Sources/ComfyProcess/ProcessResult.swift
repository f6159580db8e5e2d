internal import Foundation

/// How a child process ended.
public enum ProcessTermination: Sendable, Hashable, CustomStringConvertible {
    /// It called `exit` with this status.
    case exited(Int32)
    /// A signal ended it.
    case signaled(Int32)

    /// True for `exited(0)`.
    public var isSuccess: Bool { self == .exited(0) }

    /// "exit status 1" / "signal 9 (SIGKILL)".
    public var description: String {
        switch self {
        case .exited(let status): return "exit status \(status)"
        case .signaled(let signal): return "signal \(signal)\(Self.signalName(signal).map { " (\($0))" } ?? "")"
        }
    }

    static func signalName(_ signal: Int32) -> String? {
        switch signal {
        case 1: "SIGHUP"
        case 2: "SIGINT"
        case 6: "SIGABRT"
        case 9: "SIGKILL"
        case 11: "SIGSEGV"
        case 13: "SIGPIPE"
        case 15: "SIGTERM"
        default: nil
        }
    }
}

/// The outcome of a finished child process with everything it wrote.
public struct ProcessResult: Sendable {
    /// The command that ran.
    public let command: ProcessCommand
    /// How it ended.
    public let termination: ProcessTermination
    /// Everything written to standard output.
    public let standardOutput: [UInt8]
    /// The last `ProcessRunner.standardErrorLimit` bytes written to standard error.
    public let standardError: [UInt8]
    /// Wall-clock time from spawn to exit.
    public let duration: Duration

    /// Standard output decoded as UTF-8 (invalid bytes replaced).
    public var output: String { String(decoding: standardOutput, as: UTF8.self) }
    /// Standard error decoded as UTF-8 (invalid bytes replaced).
    public var errorOutput: String { String(decoding: standardError, as: UTF8.self) }
    /// Standard output with surrounding whitespace and newlines removed (for one-line answers like a commit).
    public var trimmedOutput: String { output.trimmingCharacters(in: .whitespacesAndNewlines) }

    /// Throws `ProcessError.nonZeroExit` unless the process exited with status 0; returns `self` otherwise.
    @discardableResult
    public func checked() throws(ProcessError) -> ProcessResult {
        guard termination.isSuccess else {
            throw ProcessError.nonZeroExit(command: command, termination: termination, standardError: standardError)
        }
        return self
    }
}
