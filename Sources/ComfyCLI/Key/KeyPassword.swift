import ArgumentParser
import ComfyLock
import ComfySupport
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Where the password of a password-protected secret key comes from: `--password-file`, else
/// `$COMFYLOCK_KEY_PASSWORD`, else a prompt on the terminal (no echo). The password is never printed or logged.
struct KeyPasswordOptions: ParsableArguments {
    /// The environment variable read when `--password-file` is not given.
    static let variable = "COMFYLOCK_KEY_PASSWORD"
    /// The most a password file may hold.
    static let maxFileBytes = 4096

    @Option(
        name: .customLong("password-file"),
        help:
            "Read the secret key's password from the first line of this file (default $COMFYLOCK_KEY_PASSWORD, else a terminal prompt)."
    )
    var passwordFile: String?

    /// The password for `what` (named in the prompt and errors). `confirm` asks twice on a terminal (new keys).
    func password(for what: String, confirm: Bool = false) throws -> [UInt8] {
        if let passwordFile {
            let bytes: [UInt8]
            do {
                bytes = try BoundedInput.read(
                    passwordFile, limits: InputLimits(maxBytes: Self.maxFileBytes), what: "password file")
            } catch { throw CLI.fail("password file \(Escaping.quoted(passwordFile)): \(error)") }
            let line = Array(bytes.prefix { $0 != UInt8(ascii: "\n") && $0 != UInt8(ascii: "\r") })
            guard !line.isEmpty else { throw CLI.fail("password file \(Escaping.quoted(passwordFile)) is empty") }
            return line
        }
        if let value = ProcessInfo.processInfo.environment[Self.variable], !value.isEmpty { return Array(value.utf8) }
        guard let first = Self.prompt("Password for \(what): ") else {
            throw CLI.fail(
                "\(what) is password-protected: give the password with --password-file FILE or $\(Self.variable), "
                    + "or run on a terminal to be asked")
        }
        guard !first.isEmpty else { throw CLI.fail("an empty password was given") }
        if confirm {
            guard let second = Self.prompt("Password again: "), second == first else {
                throw CLI.fail("the two passwords differ")
            }
        }
        return first
    }

    /// Reads one line from the controlling terminal with echo off; nil unless both the output and the input are a
    /// terminal (a script or a test never waits on a prompt).
    private static func prompt(_ text: String) -> [UInt8]? {
        guard Console.current.isTerminal, isatty(STDIN_FILENO) == 1 else { return nil }
        let fd = open("/dev/tty", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var saved = termios()
        guard tcgetattr(fd, &saved) == 0 else { return nil }
        var silent = saved
        silent.c_lflag &= ~tcflag_t(ECHO)
        _ = tcsetattr(fd, TCSAFLUSH, &silent)
        defer {
            _ = tcsetattr(fd, TCSAFLUSH, &saved)
            _ = write(fd, "\n", 1)
        }
        _ = text.withCString { write(fd, $0, strlen($0)) }
        var line = [UInt8]()
        var byte: UInt8 = 0
        while read(fd, &byte, 1) == 1, byte != UInt8(ascii: "\n"), line.count < maxFileBytes {
            if byte != UInt8(ascii: "\r") { line.append(byte) }
        }
        return line
    }
}
