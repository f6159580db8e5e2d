/// Why a lock could not be read, decoded or written. Messages name the file, JSON path or field and say what was
/// expected; they never contain a credential.
public struct LockError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Code: Hashable, Sendable {
        case invalidJSON, schema, unsupportedVersion, io, importFormat, invalidLock
    }

    private let code: Code
    /// What went wrong and what was expected.
    public let message: String
    /// The JSON path of the offending value, when there is one.
    public let path: String?
    /// The parse error underneath, for invalid JSON.
    public let parseError: JSONParseError?
    /// The validation errors, for a lock the validator refused (`isInvalidLock`).
    public let diagnostics: [LockDiagnostic]

    private init(
        _ code: Code, _ message: String, path: String? = nil, parseError: JSONParseError? = nil,
        diagnostics: [LockDiagnostic] = []
    ) {
        self.code = code
        self.message = message
        self.path = path
        self.parseError = parseError
        self.diagnostics = diagnostics
    }

    /// The message, prefixed by the JSON path when there is one.
    public var description: String {
        if let parseError { return "invalid JSON: \(parseError)" }
        if code == .invalidLock { return message }
        if let path { return "\(path): \(message)" }
        return message
    }

    /// The document is not valid JSON.
    public static func invalidJSON(_ error: JSONParseError) -> LockError {
        LockError(.invalidJSON, error.message, path: error.path, parseError: error)
    }

    /// The JSON does not match the lock schema at `path`.
    public static func schema(path: String, _ message: String) -> LockError {
        LockError(.schema, message, path: path)
    }

    /// The document declares a schema version this build does not read.
    public static func unsupportedVersion(_ version: String) -> LockError {
        LockError(
            .unsupportedVersion,
            "unsupported lock schemaVersion \(version); this comfylock reads schemaVersion 1 and 2 "
                + "(a newer version needs a newer comfylock)",
            path: "$.schemaVersion")
    }

    /// Reading or writing a file failed.
    public static func io(path: String, _ message: String) -> LockError {
        LockError(.io, "\(path): \(message)")
    }

    /// An import source is not in the expected format.
    public static func importFormat(path: String?, _ message: String) -> LockError {
        LockError(.importFormat, message, path: path)
    }

    /// The lock in `file` broke validation rules (`LockValidator`); the message lists the first few, each with its
    /// JSON path and rule.
    public static func invalidLock(file: String, _ diagnostics: [LockDiagnostic]) -> LockError {
        let shown = diagnostics.prefix(5).map { "\($0.path): \($0.message) [\($0.rule)]" }
        let more = diagnostics.count > 5 ? "\n  … and \(diagnostics.count - 5) more" : ""
        return LockError(
            .invalidLock,
            "\(file): invalid lock (\(diagnostics.count) error\(diagnostics.count == 1 ? "" : "s")):\n  "
                + shown.joined(separator: "\n  ") + more,
            path: diagnostics.first?.path, diagnostics: diagnostics)
    }

    /// True for a lock refused by the validator.
    public var isInvalidLock: Bool { code == .invalidLock }

    /// True for errors about the JSON text itself (not the schema).
    public var isInvalidJSON: Bool { code == .invalidJSON }
    /// True for an unknown future schema version.
    public var isUnsupportedVersion: Bool { code == .unsupportedVersion }
    /// True for errors reading or writing a file.
    public var isIO: Bool { code == .io }
}
