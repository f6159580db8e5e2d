/// One finding of `LockValidator`: how bad, where (JSON path), which rule, and what was expected.
public struct LockDiagnostic: Codable, Hashable, Sendable, CustomStringConvertible {
    /// How bad a finding is.
    public enum Severity: String, Codable, Hashable, Sendable {
        /// The lock cannot be applied reproducibly; `lock validate` fails.
        case error
        /// Suspicious but usable; `lock validate` passes.
        case warning
    }

    /// How bad the finding is.
    public var severity: Severity
    /// JSON path of the offending value, e.g. `$.models[2].sha256`.
    public var path: String
    /// Stable rule name, e.g. `sha256`, `url-credentials`, `path-traversal` (see docs/lock-format.md).
    public var rule: String
    /// What is wrong and what was expected. Never contains a credential.
    public var message: String

    /// A diagnostic.
    public init(severity: Severity, path: String, rule: String, message: String) {
        self.severity = severity
        self.path = path
        self.rule = rule
        self.message = message
    }

    /// `error: $.path: message [rule]`.
    public var description: String { "\(severity.rawValue): \(path): \(message) [\(rule)]" }
}
