internal import ComfySupport

/// A program to run: executable, arguments, environment, working directory, standard input, timeout.
///
/// The executable is looked up in the `PATH` of the child's environment when it contains no `/`.
/// By default the child inherits this process's environment with `environment` applied on top; entries in
/// `removedEnvironment` are dropped. Values in `secrets` (and credentials found in URLs) are masked in every
/// description and error message.
public struct ProcessCommand: Sendable, Hashable, CustomStringConvertible {
    /// The program: an absolute or relative path, or a bare name looked up in the child's `PATH`.
    public var executable: String
    /// Arguments, not including the program name.
    public var arguments: [String]
    /// Variables set (or overridden) in the child's environment.
    public var environment: [String: String]
    /// When false, the child starts from an empty environment plus `environment`.
    public var inheritEnvironment: Bool
    /// Variables removed from the inherited environment (applied before `environment`).
    public var removedEnvironment: Set<String>
    /// The child's working directory; `nil` keeps this process's.
    public var workingDirectory: String?
    /// Bytes written to the child's standard input (then closed); `nil` connects it to `/dev/null`.
    public var standardInput: [UInt8]?
    /// Wall-clock limit; when reached the child gets SIGTERM, then SIGKILL after `terminationGracePeriod`.
    public var timeout: Duration?
    /// How long a child may take to exit after SIGTERM (timeout or task cancellation) before SIGKILL.
    public var terminationGracePeriod: Duration
    /// Strings that must never appear in a message (tokens, passwords); replaced by `***`.
    public var secrets: [String]

    /// Creates a command; only `executable` is required.
    public init(
        _ executable: String, _ arguments: [String] = [], environment: [String: String] = [:],
        inheritEnvironment: Bool = true, removedEnvironment: Set<String> = [], workingDirectory: String? = nil,
        standardInput: [UInt8]? = nil, timeout: Duration? = nil, terminationGracePeriod: Duration = .seconds(5),
        secrets: [String] = []
    ) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.inheritEnvironment = inheritEnvironment
        self.removedEnvironment = removedEnvironment
        self.workingDirectory = workingDirectory
        self.standardInput = standardInput
        self.timeout = timeout
        self.terminationGracePeriod = terminationGracePeriod
        self.secrets = secrets
    }

    /// The command line as a shell would show it, quoted where needed, with secrets masked.
    /// Environment values are never shown.
    public var description: String {
        let words = [executable] + arguments
        let line = words.map(ShellQuoting.quote).joined(separator: " ")
        let shown = Redaction.redact(line, secrets: secrets)
        if let workingDirectory { return "\(shown) (in \(Redaction.redact(workingDirectory, secrets: secrets)))" }
        return shown
    }
}

/// Quoting of words for display in a POSIX shell style.
enum ShellQuoting {
    private static let safe = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@%+,")

    /// `word` unchanged when it needs no quoting, else single-quoted.
    static func quote(_ word: String) -> String {
        if !word.isEmpty && word.allSatisfy({ safe.contains($0) }) { return word }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
