import ComfyTransport

/// An error from ComfyGCS. Messages name the bucket, object, file, URL or setting involved and say what was
/// expected; they never contain a key, token, assertion or refresh token: descriptions of keys, tokens and
/// credentials are redacted, and server error bodies are reduced to GCS's `error.message` (OAuth's `error` +
/// `error_description`) and scrubbed — known secrets, bearer tokens, token fields, JWT-shaped strings, resumable
/// `upload_id`s — before they reach a message.
public struct GCSError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is; compare with the static members (`error.kind == .integrityMismatch`).
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Code: String, Hashable, Sendable {
            case configuration, credentials, key, signing, token, permission, http, transport, integrity,
                objectName, precondition, file, cancelled
        }
        fileprivate let code: Code
        /// The configuration (environment, flags) is missing something or holds a bad value.
        public static let configuration = Kind(code: .configuration)
        /// A credentials file is missing, unreadable or malformed, or no credentials were found.
        public static let credentials = Kind(code: .credentials)
        /// A private or public key could not be loaded or used.
        public static let key = Kind(code: .key)
        /// A signed URL request is invalid (expiry, method, names).
        public static let signing = Kind(code: .signing)
        /// An access token could not be obtained (token endpoint, metadata server).
        public static let token = Kind(code: .token)
        /// A required IAM permission is not held on the bucket.
        public static let permission = Kind(code: .permission)
        /// The server answered with an unexpected HTTP status.
        public static let http = Kind(code: .http)
        /// The connection failed (refused, reset, timed out).
        public static let transport = Kind(code: .transport)
        /// The server's CRC32C / MD5 / size of an upload differs from the local file's.
        public static let integrityMismatch = Kind(code: .integrity)
        /// An object name is empty, too long or unsafe.
        public static let objectName = Kind(code: .objectName)
        /// A precondition (`ifGenerationMatch`) failed: the object already exists.
        public static let preconditionFailed = Kind(code: .precondition)
        /// A local file could not be read.
        public static let file = Kind(code: .file)
        /// The operation was cancelled.
        public static let cancelled = Kind(code: .cancelled)
        /// The kind's name.
        public var description: String { code.rawValue }
    }

    /// What kind of failure this is.
    public let kind: Kind
    /// A human-readable message (no secrets).
    public let message: String
    /// The HTTP status, when the failure is an HTTP answer.
    public let status: Int?
    /// The underlying error, when there is one.
    public let underlying: (any Error & Sendable)?
    /// True when the failure is transient and the operation may be retried (408, 429, 5xx, connection errors).
    public let isTransient: Bool

    init(
        _ kind: Kind, _ message: String, status: Int? = nil, underlying: (any Error & Sendable)? = nil,
        transient: Bool = false
    ) {
        self.kind = kind
        self.message = message
        self.status = status
        self.underlying = underlying
        self.isTransient = transient
    }

    /// The message.
    public var description: String { message }

    static func configuration(_ problems: [String]) -> GCSError {
        let body = problems.count == 1 ? problems[0] : problems.map { "  - \($0)" }.joined(separator: "\n")
        return GCSError(
            .configuration, problems.count == 1 ? "GCS configuration: \(body)" : "GCS configuration:\n\(body)")
    }
    static func credentials(_ message: String, underlying: (any Error & Sendable)? = nil) -> GCSError {
        GCSError(.credentials, message, underlying: underlying)
    }
    static func key(_ message: String) -> GCSError { GCSError(.key, message) }
    static func signing(_ message: String) -> GCSError { GCSError(.signing, message) }
    static func token(_ message: String, status: Int? = nil, transient: Bool = false) -> GCSError {
        GCSError(.token, message, status: status, transient: transient)
    }
    static func permissionMissing(bucket: String, permissions: [String]) -> GCSError {
        let list = permissions.joined(separator: ", ")
        return GCSError(
            .permission,
            "the credentials lack \(permissions.count == 1 ? "permission" : "permissions") \(list) on bucket "
                + "gs://\(bucket) (grant e.g. roles/storage.objectCreator\(permissions.contains("storage.objects.get") ? " and roles/storage.objectViewer" : ""))"
        )
    }
    static func http(_ what: String, status: Int, url: String, detail: String?) -> GCSError {
        var text = "\(what): HTTP \(status) from \(url)"
        if let detail, !detail.isEmpty { text += ": \(detail)" }
        return GCSError(.http, text, status: status, transient: RetryPolicy.isRetryableStatus(status))
    }
    /// An error for an unexpected answer: `.permission` for 401/403 (naming the auth method), else `.http`; the
    /// detail comes from the body, scrubbed of `secrets`.
    static func response(
        _ what: String, _ response: HTTPResponse, url: String, authMethod: AuthMethod, secrets: [String]
    ) -> GCSError {
        let detail = response.gcsErrorDetail(scrubbing: secrets)
        if response.status == 401 || response.status == 403 {
            return GCSError(
                .permission,
                "\(what): HTTP \(response.status) from \(url) with \(authMethod)" + (detail.map { ": " + $0 } ?? ""),
                status: response.status)
        }
        return GCSError.http(what, status: response.status, url: url, detail: detail)
    }

    static func transport(_ what: String, url: String, underlying: any Error & Sendable) -> GCSError {
        GCSError(
            .transport, "\(what): connection to \(url) failed: \(underlying)", underlying: underlying, transient: true)
    }
    static func integrity(object: String, field: String, expected: String, actual: String) -> GCSError {
        GCSError(
            .integrityMismatch,
            "upload of \(object) is corrupt: the server's \(field) is \(actual), expected \(expected) from the local "
                + "file; the object is not reported as uploaded")
    }
    static func objectName(_ name: String, _ reason: String) -> GCSError {
        GCSError(.objectName, "object name \"\(name.debugEscaped)\" is invalid: \(reason)")
    }
    static func preconditionFailed(object: String) -> GCSError {
        GCSError(
            .preconditionFailed,
            "\(object) already exists and the upload was create-only (ifGenerationMatch=0); nothing was overwritten",
            status: 412)
    }
    static func file(_ path: String, _ reason: String) -> GCSError { GCSError(.file, "cannot read \(path): \(reason)") }
}

extension String {
    /// The string with control characters shown as escapes (for error messages about untrusted names).
    var debugEscaped: String {
        var out = ""
        for scalar in unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7f || (0x80...0x9f).contains(scalar.value) {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
