import ComfyCrypto
public import Foundation

/// One header or query parameter of a signed URL.
public struct SignedURLField: Sendable, Hashable {
    /// The name (header names are case-insensitive).
    public var name: String
    /// The value.
    public var value: String

    /// Creates a field.
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// What to sign: a GOOG4-RSA-SHA256 (V4) signed URL for one object or bucket.
public struct SignedURLRequest: Sendable {
    /// How the bucket appears in the URL.
    public enum URLStyle: Sendable, Hashable {
        /// `https://storage.googleapis.com/BUCKET/OBJECT`.
        case pathStyle
        /// `https://BUCKET.storage.googleapis.com/OBJECT`.
        case virtualHosted
        /// `https://HOSTNAME/OBJECT`, where HOSTNAME is a CNAME/load balancer bound to the bucket.
        case bucketBound(hostname: String)
    }

    /// The longest expiry GCS accepts for a V4 signature: 7 days.
    public static let maximumExpiration = 604_800

    /// Bucket name.
    public var bucket: String
    /// Object name; `nil` signs the bucket itself (e.g. list objects).
    public var object: String?
    /// HTTP method: GET, HEAD, PUT, POST or DELETE.
    public var method: String
    /// Validity in seconds, 1 ... 604800.
    public var expiration: Int
    /// Signing time (`X-Goog-Date`).
    public var timestamp: Date
    /// Headers the holder of the URL must send (signed; `host` is added).
    public var headers: [SignedURLField]
    /// Extra query parameters (signed), given decoded.
    public var queryParameters: [SignedURLField]
    /// URL style.
    public var style: URLStyle
    /// Endpoint host (optionally `:port`) for path-style and virtual-hosted URLs; default `storage.googleapis.com`.
    public var host: String?
    /// `https` (default) or `http`.
    public var scheme: String

    /// Creates a request; only `bucket` is required.
    public init(
        bucket: String, object: String? = nil, method: String = "GET", expiration: Int = 3600,
        timestamp: Date = Date(), headers: [SignedURLField] = [], queryParameters: [SignedURLField] = [],
        style: URLStyle = .pathStyle, host: String? = nil, scheme: String = "https"
    ) {
        self.bucket = bucket
        self.object = object
        self.method = method
        self.expiration = expiration
        self.timestamp = timestamp
        self.headers = headers
        self.queryParameters = queryParameters
        self.style = style
        self.host = host
        self.scheme = scheme
    }
}

/// A signed URL and the intermediate texts (useful to debug a signature mismatch; none of them is secret).
public struct SignedURL: Sendable, Hashable {
    /// The URL to hand out.
    public let url: String
    /// The V4 canonical request.
    public let canonicalRequest: String
    /// The string that was signed.
    public let stringToSign: String
    /// When the URL stops working.
    public let expiresAt: Date
}

/// GOOG4-RSA-SHA256 signed URLs, as specified by Google's V4 signing process (and its conformance vectors).
public enum V4Signer {
    /// Signs `request` with the service account `key` (GOOG4-RSA-SHA256): path-style, virtual-hosted or
    /// bucket-bound host; extra signed headers trimmed, inner whitespace collapsed and duplicates comma-joined; query
    /// parameters RFC 3986-encoded and sorted by bytes; `x-goog-content-sha256` as the payload hash; the `host`
    /// header signed without its port, as Google's conformance vectors do. Expirations outside 1 s … 7 days are
    /// refused.
    public static func sign(_ request: SignedURLRequest, key: ServiceAccountKey) throws -> SignedURL {
        try validate(request)
        let method = request.method.uppercased()
        let date = timestampStrings(request.timestamp)
        let scope = "\(date.day)/auto/storage/goog4_request"

        let defaultHost = "storage.googleapis.com"
        let urlHost: String
        var path: String
        let encodedObject = request.object.map { percentEncode($0, keepSlash: true) }
        switch request.style {
        case .pathStyle:
            urlHost = request.host ?? defaultHost
            path = "/" + request.bucket
            if let encodedObject { path += "/" + encodedObject }
        case .virtualHosted:
            urlHost = request.bucket + "." + (request.host ?? defaultHost)
            path = "/" + (encodedObject ?? "")
        case .bucketBound(let hostname):
            urlHost = hostname
            path = "/" + (encodedObject ?? "")
        }

        // Canonical headers: lowercase names, trimmed values with inner whitespace runs collapsed, sorted,
        // duplicates joined with commas; `host` (without port) always signed.
        var headerMap: [String: [String]] = [:]
        for field in request.headers {
            let name = field.name.lowercased().trimmingCharacters(in: .whitespaces)
            if name == "host" { continue }
            headerMap[name, default: []].append(canonicalHeaderValue(field.value))
        }
        headerMap["host"] = [hostWithoutPort(urlHost)]
        let headerNames = headerMap.keys.sorted()
        let canonicalHeaders = headerNames.map { "\($0):\(headerMap[$0]!.joined(separator: ","))\n" }.joined()
        let signedHeaders = headerNames.joined(separator: ";")

        var query: [(String, String)] = [
            ("X-Goog-Algorithm", "GOOG4-RSA-SHA256"),
            ("X-Goog-Credential", "\(key.clientEmail)/\(scope)"),
            ("X-Goog-Date", date.full),
            ("X-Goog-Expires", String(request.expiration)),
            ("X-Goog-SignedHeaders", signedHeaders),
        ]
        query += request.queryParameters.map { ($0.name, $0.value) }
        var encoded: [(name: String, value: String)] = []
        for (name, value) in query {
            encoded.append((percentEncode(name, keepSlash: false), percentEncode(value, keepSlash: false)))
        }
        // Byte order of the encoded names (then values): all ASCII after encoding.
        encoded.sort { a, b in
            a.name == b.name
                ? a.value.utf8.lexicographicallyPrecedes(b.value.utf8)
                : a.name.utf8.lexicographicallyPrecedes(b.name.utf8)
        }
        let canonicalQuery = encoded.map { $0.name + "=" + $0.value }.joined(separator: "&")

        let payload = headerMap["x-goog-content-sha256"]?.first ?? "UNSIGNED-PAYLOAD"
        let canonicalRequest = [method, path, canonicalQuery, canonicalHeaders, signedHeaders, payload]
            .joined(separator: "\n")
        let stringToSign = [
            "GOOG4-RSA-SHA256", date.full, scope, SHA256.hash(Array(canonicalRequest.utf8)).hex,
        ].joined(separator: "\n")
        let signature: [UInt8]
        do {
            signature = try key.privateKey.signSHA256(Array(stringToSign.utf8))
        } catch let error as CryptoError {
            throw GCSError.key("signing a URL with the key of \(key.clientEmail): \(error.message)")
        }
        let url = "\(request.scheme)://\(urlHost)\(path)?\(canonicalQuery)&X-Goog-Signature=\(Hex.encode(signature))"
        return SignedURL(
            url: url, canonicalRequest: canonicalRequest, stringToSign: stringToSign,
            expiresAt: request.timestamp.addingTimeInterval(TimeInterval(request.expiration)))
    }

    static func validate(_ request: SignedURLRequest) throws {
        var problems: [String] = []
        if request.bucket.isEmpty { problems.append("the bucket name is empty") }
        if request.expiration < 1 || request.expiration > SignedURLRequest.maximumExpiration {
            problems.append(
                "expiration \(request.expiration) s is out of range: V4 signed URLs last 1 to "
                    + "\(SignedURLRequest.maximumExpiration) seconds (7 days)")
        }
        if !["GET", "HEAD", "PUT", "POST", "DELETE"].contains(request.method.uppercased()) {
            problems.append("method \"\(request.method.debugEscaped)\" is not one of GET, HEAD, PUT, POST, DELETE")
        }
        if request.scheme != "https" && request.scheme != "http" {
            problems.append("scheme \"\(request.scheme.debugEscaped)\" is not https or http")
        }
        if case .bucketBound(let hostname) = request.style, hostname.isEmpty {
            problems.append("a bucket-bound URL needs a hostname")
        }
        if let object = request.object, object.isEmpty { problems.append("the object name is empty") }
        for field in request.headers
        where field.name.isEmpty || field.name.contains(where: { $0 == ":" || $0.isNewline }) {
            problems.append("header name \"\(field.name.debugEscaped)\" is invalid")
        }
        if !problems.isEmpty { throw GCSError.signing("cannot sign URL: " + problems.joined(separator: "; ")) }
    }

    /// RFC 3986 percent-encoding of UTF-8 bytes: unreserved characters (and `/` when `keepSlash`) stay.
    static func percentEncode(_ text: String, keepSlash: Bool) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if isUnreserved(byte) || (keepSlash && byte == 0x2F) {
                out.append(byte)
            } else {
                out.append(0x25)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0xf)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func isUnreserved(_ byte: UInt8) -> Bool {
        (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39)
            || byte == 0x2D || byte == 0x2E || byte == 0x5F || byte == 0x7E
    }

    static func canonicalHeaderValue(_ value: String) -> String {
        var out = ""
        var pendingSpace = false
        for character in value {
            if character == " " || character == "\t" {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.append(" ") }
                pendingSpace = false
                out.append(character)
            }
        }
        return out
    }

    static func hostWithoutPort(_ host: String) -> String {
        if host.hasPrefix("["), let end = host.firstIndex(of: "]") { return String(host[...end]) }
        if let colon = host.firstIndex(of: ":") { return String(host[..<colon]) }
        return host
    }

    static func timestampStrings(_ date: Date) -> (full: String, day: String) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ v: Int?) -> String { let v = v ?? 0; return v < 10 ? "0\(v)" : String(v) }
        let day = String(format: "%04d", c.year ?? 0) + two(c.month) + two(c.day)
        return (day + "T" + two(c.hour) + two(c.minute) + two(c.second) + "Z", day)
    }
}
