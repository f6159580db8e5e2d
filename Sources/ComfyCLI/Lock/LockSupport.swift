import ArgumentParser
import ComfyLock
import ComfySupport
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Shared plumbing of the `lock` commands: reading inputs, reporting failures with the right exit code.
enum LockCLI {
    /// Reads a file, or standard input for `nil` / `-`, through `BoundedInput` (regular files only, at most
    /// `limits.maxBytes`).
    static func read(_ path: String?, limits: InputLimits = .default) throws(LockError) -> [UInt8] {
        try BoundedInput.read(path ?? "-", limits: limits)
    }

    /// Writes bytes to standard output: straight to the file descriptor for the real console (no String round trip
    /// for multi-megabyte documents), through `Console.current` otherwise (tests capture it).
    static func writeOutput(_ bytes: [UInt8]) {
        guard Console.current === Console.system else {
            Console.current.write(text(bytes))
            return
        }
        _ = bytes.withUnsafeBytes { FileIO.writeAll(STDOUT_FILENO, $0) }
    }

    /// The text of canonical bytes (valid UTF-8 by construction).
    static func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }
}
