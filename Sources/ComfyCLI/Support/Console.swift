import ComfySupport
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Where command output goes. Commands never call `print` directly: they write through `Console.current`,
/// which tests replace with a capturing console to run commands in-process.
public final class Console: Sendable {
    /// One destination stream.
    public enum Stream: Sendable { case standardOutput, standardError }

    private let sink: @Sendable (Stream, String) -> Void
    /// True when standard output is a terminal (progress bars on; plain lines otherwise).
    public let isTerminal: Bool

    /// A console writing through `sink`.
    public init(isTerminal: Bool, sink: @escaping @Sendable (Stream, String) -> Void) {
        self.isTerminal = isTerminal
        self.sink = sink
    }

    /// The process's real standard output and error.
    public static let system = Console(isTerminal: isatty(STDOUT_FILENO) == 1) { stream, text in
        let fd = stream == .standardOutput ? STDOUT_FILENO : STDERR_FILENO
        _ = Array(text.utf8).withUnsafeBytes { FileIO.writeAll(fd, $0) }
    }

    /// The console commands write to in the current task.
    @TaskLocal public static var current: Console = .system

    /// Writes `text` plus a newline to standard output.
    public func out(_ text: String = "") { sink(.standardOutput, text + "\n") }
    /// Writes `text` to standard output with no newline.
    public func write(_ text: String) { sink(.standardOutput, text) }
    /// Writes `text` plus a newline to standard error.
    public func err(_ text: String) { sink(.standardError, text + "\n") }
    /// Writes raw text to standard error with no newline (progress redraws).
    public func writeError(_ text: String) { sink(.standardError, text) }

    /// Prints a value as pretty JSON with sorted keys on standard output (the `--json` form of every report).
    public func json<T: Encodable>(_ value: T) throws {
        out(String(decoding: try CLI.encodeJSON(value), as: UTF8.self))
    }
}

/// A console that keeps everything written to it; used by tests to run commands in-process.
public final class CapturingConsole: Sendable {
    private final class Buffer: Sendable {
        let state = Mutex<(out: String, err: String)>(("", ""))
    }
    private let buffer = Buffer()
    /// The console to install with `Console.$current.withValue`.
    public let console: Console

    /// A new, empty capture.
    public init(isTerminal: Bool = false) {
        let buffer = self.buffer
        console = Console(isTerminal: isTerminal) { stream, text in
            buffer.state.withLock { value in
                if stream == .standardOutput { value.out += text } else { value.err += text }
            }
        }
    }

    /// Everything written to standard output so far.
    public var standardOutput: String { buffer.state.withLock { $0.out } }
    /// Everything written to standard error so far.
    public var standardError: String { buffer.state.withLock { $0.err } }
}
