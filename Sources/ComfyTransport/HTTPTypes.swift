public import Foundation

/// An HTTP request method.
public struct HTTPMethod: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    /// The method token as sent on the wire (upper case).
    public let rawValue: String
    /// Wraps a method token.
    public init(rawValue: String) { self.rawValue = rawValue.uppercased() }
    /// `GET`.
    public static let get = HTTPMethod(rawValue: "GET")
    /// `HEAD` (no response body is read).
    public static let head = HTTPMethod(rawValue: "HEAD")
    /// `POST`.
    public static let post = HTTPMethod(rawValue: "POST")
    /// `PUT`.
    public static let put = HTTPMethod(rawValue: "PUT")
    /// `PATCH`.
    public static let patch = HTTPMethod(rawValue: "PATCH")
    /// `DELETE`.
    public static let delete = HTTPMethod(rawValue: "DELETE")
    /// The method token.
    public var description: String { rawValue }
}

/// An ordered list of HTTP header fields with case-insensitive lookup by name.
public struct HTTPHeaders: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral, CustomStringConvertible {
    /// The fields in order, names as given.
    public private(set) var fields: [(name: String, value: String)]

    /// An empty header list.
    public init() { fields = [] }

    /// Headers from `(name, value)` pairs, kept in order.
    public init(_ fields: [(String, String)]) { self.fields = fields.map { (name: $0.0, value: $0.1) } }

    /// Headers from a dictionary literal, kept in literal order.
    public init(dictionaryLiteral elements: (String, String)...) { self.init(elements) }

    /// The first value of the field `name` (case-insensitive), or `nil`.
    public subscript(name: String) -> String? {
        fields.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    /// Every value of the field `name` (case-insensitive), in order.
    public func values(for name: String) -> [String] {
        fields.filter { $0.name.caseInsensitiveCompare(name) == .orderedSame }.map(\.value)
    }

    /// True when a field called `name` is present (case-insensitive).
    public func contains(_ name: String) -> Bool { self[name] != nil }

    /// Appends a field (keeps existing fields of the same name).
    public mutating func add(name: String, value: String) { fields.append((name: name, value: value)) }

    /// Replaces every field called `name` with one field holding `value`.
    public mutating func replaceOrAdd(name: String, value: String) {
        remove(name: name)
        add(name: name, value: value)
    }

    /// Removes every field called `name` (case-insensitive).
    public mutating func remove(name: String) {
        fields.removeAll { $0.name.caseInsensitiveCompare(name) == .orderedSame }
    }

    /// Iterates the fields in order.
    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> { fields.makeIterator() }

    /// Field names and values, one per line (callers must not log headers that carry credentials).
    public var description: String { fields.map { "\($0.name): \($0.value)" }.joined(separator: "\n") }

    /// Compares names case-insensitively and values exactly, in order.
    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        lhs.fields.count == rhs.fields.count
            && zip(lhs.fields, rhs.fields).allSatisfy {
                $0.name.lowercased() == $1.name.lowercased() && $0.value == $1.value
            }
    }

    /// Hashes lower-cased names and values.
    public func hash(into hasher: inout Hasher) {
        for field in fields {
            hasher.combine(field.name.lowercased())
            hasher.combine(field.value)
        }
    }
}

/// A request body, streamed to the server (never loaded whole unless it already is in memory).
///
/// Both forms can be sent again, so a 307 or 308 redirect replays the body to the next hop.
public enum HTTPRequestBody: Sendable, Hashable {
    /// Bytes held in memory.
    case bytes([UInt8])
    /// `length` bytes of the file at `path` starting at `offset`, read in chunks with `pread` while sending.
    case fileRegion(path: String, offset: Int64, length: Int64)

    /// The body's length in bytes.
    public var length: Int64 {
        switch self {
        case .bytes(let bytes): Int64(bytes.count)
        case .fileRegion(_, _, let length): length
        }
    }

    /// The whole file at `path` as a body (its current size).
    public static func file(path: String) throws -> HTTPRequestBody {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        let size = (attributes[.size] as? NSNumber)?.int64Value ?? 0
        return .fileRegion(path: path, offset: 0, length: size)
    }
}

/// One HTTP request.
public struct HTTPRequest: Sendable {
    /// The method.
    public var method: HTTPMethod
    /// An absolute `http` or `https` URL.
    public var url: URL
    /// Extra request headers. `Authorization`, `Cookie` and `Proxy-Authorization` given here are sent to the
    /// request's host only: they are dropped when a redirect leaves it (or downgrades https to http).
    public var headers: HTTPHeaders
    /// The body, if any.
    public var body: HTTPRequestBody?
    /// Whether to follow redirects (at most `HTTPClient.Configuration.maxRedirects`; on by default). The client
    /// follows them itself, to http or https URLs only: a 303, or a 301/302 after a `POST`, becomes a `GET`; a 307
    /// or 308 sends the same method and body again. Bodies of redirect responses are discarded.
    public var followRedirects: Bool
    /// Whether to add per-host credentials from the environment (`HostCredentials`). On by default.
    public var useEnvironmentCredentials: Bool
    /// A total time limit for one attempt, or `nil` for none (long downloads rely on the low-speed limit instead).
    public var timeout: Duration?
    /// Connect to this numeric IPv4/IPv6 address instead of resolving the URL's host (libcurl's `CURLOPT_CONNECT_TO`
    /// for this transfer only; TLS still verifies the URL's host name). For a caller that checked the address it
    /// resolved (e.g. against a private-address rule): the connection goes to that address, so DNS cannot answer
    /// differently between the check and the connect. Only with `followRedirects: false` (ignored otherwise).
    public var connectAddress: String? = nil

    /// A request; `GET` with no body by default.
    public init(
        method: HTTPMethod = .get, url: URL, headers: HTTPHeaders = [:], body: HTTPRequestBody? = nil,
        followRedirects: Bool = true, useEnvironmentCredentials: Bool = true, timeout: Duration? = nil
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.followRedirects = followRedirects
        self.useEnvironmentCredentials = useEnvironmentCredentials
        self.timeout = timeout
    }
}

/// The status line and header fields of the final response (after redirects).
public struct HTTPResponseHead: Sendable, Hashable {
    /// The status code (e.g. 200, 206, 404).
    public var status: Int
    /// The response header fields.
    public var headers: HTTPHeaders
    /// The URL that produced this response (the last one after redirects).
    public var url: URL

    /// A response head.
    public init(status: Int, headers: HTTPHeaders, url: URL) {
        self.status = status
        self.headers = headers
        self.url = url
    }

    /// True for 2xx statuses.
    public var isSuccess: Bool { (200..<300).contains(status) }

    /// `Content-Length` as a number, if present and valid.
    public var contentLength: Int64? {
        headers["Content-Length"].flatMap { Int64($0.trimmingCharacters(in: .whitespaces)) }
    }

    /// The strong or weak `ETag`, if any.
    public var etag: String? { headers["ETag"] }

    /// `Last-Modified`, if any (as sent).
    public var lastModified: String? { headers["Last-Modified"] }

    /// The parsed `Content-Range: bytes START-END/TOTAL` of a 206 response, if present and valid.
    public var contentRange: (start: Int64, end: Int64, total: Int64?)? {
        guard let value = headers["Content-Range"]?.trimmingCharacters(in: .whitespaces),
            value.lowercased().hasPrefix("bytes ")
        else { return nil }
        let spec = value.dropFirst(6)
        let parts = spec.split(separator: "/", maxSplits: 1)
        guard parts.count == 2 else { return nil }
        let range = parts[0].split(separator: "-", maxSplits: 1)
        guard range.count == 2, let start = Int64(range[0]), let end = Int64(range[1]), end >= start else { return nil }
        return (start, end, Int64(parts[1]))
    }

    /// `Retry-After` as a duration (delta-seconds or an HTTP date), if present and valid.
    public var retryAfter: Duration? { RetryPolicy.parseRetryAfter(headers["Retry-After"]) }
}

/// A response whose body was buffered in memory (for small bodies: API calls, uploads' replies).
public struct HTTPResponse: Sendable {
    /// Status and headers.
    public var head: HTTPResponseHead
    /// The body bytes.
    public var body: [UInt8]

    /// A buffered response.
    public init(head: HTTPResponseHead, body: [UInt8]) {
        self.head = head
        self.body = body
    }

    /// The status code.
    public var status: Int { head.status }
    /// The response headers.
    public var headers: HTTPHeaders { head.headers }
    /// The body decoded as UTF-8 (invalid bytes replaced).
    public var bodyText: String { String(decoding: body, as: UTF8.self) }
}

/// Transfer progress, reported at most every 100 ms while a transfer runs, and once at its end.
public struct HTTPProgress: Sendable, Hashable {
    /// Response body bytes received in this attempt.
    public var bytesReceived: Int64
    /// Expected response body bytes of this attempt, if the server said.
    public var totalToReceive: Int64?
    /// Request body bytes sent.
    public var bytesSent: Int64
    /// Request body length, if any.
    public var totalToSend: Int64?
    /// Average transfer rate of this attempt so far, bytes per second (received, or sent for uploads).
    public var bytesPerSecond: Double

    /// A progress value.
    public init(
        bytesReceived: Int64, totalToReceive: Int64?, bytesSent: Int64, totalToSend: Int64?, bytesPerSecond: Double
    ) {
        self.bytesReceived = bytesReceived
        self.totalToReceive = totalToReceive
        self.bytesSent = bytesSent
        self.totalToSend = totalToSend
        self.bytesPerSecond = bytesPerSecond
    }
}

/// A progress callback. Called from the transfer's thread: keep it short and thread-safe (bridge it to an
/// `AsyncStream` when an async consumer needs the values).
public typealias HTTPProgressHandler = @Sendable (HTTPProgress) -> Void

/// Receives a streamed response body.
///
/// The transport calls a sink from one transfer thread at a time, in order: `begin` once with the final 2xx response
/// head, then `write` for each chunk. Throwing from either aborts the transfer and the error is rethrown to the caller
/// (wrapped in `HTTPError.sinkFailed`). Bodies of non-2xx responses never reach a sink.
public protocol HTTPBodySink: AnyObject, Sendable {
    /// The final (2xx) response head, before any body byte.
    func begin(_ head: HTTPResponseHead) throws
    /// The next chunk of the body. The buffer is only valid during the call.
    func write(_ bytes: UnsafeRawBufferPointer) throws
}
