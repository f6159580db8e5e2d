public import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// A fault the loopback HTTP server injects into the next request(s) for a path
/// (see scripts/testsupport/http_server.py for the exact behaviour of each).
public struct HTTPFault: Sendable {
    let fields: [String: FaultValue]

    enum FaultValue: Sendable {
        case int(Int)
        case double(Double)
        case string(String)
        var json: Any {
            switch self {
            case .int(let v): v
            case .double(let v): v
            case .string(let v): v
            }
        }
    }

    /// Sends the body up to file offset `offset`, then drops the connection.
    public static func closeAt(_ offset: Int, times: Int = 1) -> HTTPFault {
        HTTPFault(fields: ["kind": .string("close"), "offset": .int(offset), "times": .int(times)])
    }
    /// Answers with `status` (e.g. 500, 503, 429, 408, 404), optionally with `Retry-After`.
    public static func status(_ status: Int, retryAfter: String? = nil, times: Int = 1) -> HTTPFault {
        var fields: [String: FaultValue] = ["kind": .string("status"), "status": .int(status), "times": .int(times)]
        if let retryAfter { fields["retry_after"] = .string(retryAfter) }
        return HTTPFault(fields: fields)
    }
    /// Answers with `status` and exactly `body` (e.g. hostile text with control characters).
    public static func status(_ status: Int, body: String, times: Int = 1) -> HTTPFault {
        HTTPFault(fields: [
            "kind": .string("status"), "status": .int(status), "times": .int(times), "body": .string(body),
        ])
    }
    /// Answers with `status` and a body that echoes every request header, `Authorization` included — a hostile or
    /// careless server whose error text carries the caller's token.
    public static func echoHeaders(status: Int = 403, times: Int = 1) -> HTTPFault {
        HTTPFault(fields: [
            "kind": .string("status"), "status": .int(status), "times": .int(times), "echo_headers": .int(1),
        ])
    }
    /// A consistent but short response: only the first `length` bytes, with a matching Content-Length.
    public static func truncate(to length: Int, times: Int = 1) -> HTTPFault {
        HTTPFault(fields: ["kind": .string("truncate"), "length": .int(length), "times": .int(times)])
    }
    /// Flips the byte at file offset `offset` (wrong bytes, right length).
    public static func corrupt(at offset: Int, times: Int = 1) -> HTTPFault {
        HTTPFault(fields: ["kind": .string("corrupt"), "offset": .int(offset), "times": .int(times)])
    }
    /// Sends up to `offset`, then sleeps `seconds`, then drops the connection.
    public static func stall(at offset: Int, seconds: Double, times: Int = 1) -> HTTPFault {
        HTTPFault(fields: [
            "kind": .string("stall"), "offset": .int(offset), "seconds": .double(seconds), "times": .int(times),
        ])
    }
    /// Answers 200 with the whole file even when a Range was asked.
    public static func ignoreRange(times: Int = 1) -> HTTPFault {
        HTTPFault(fields: ["kind": .string("ignore_range"), "times": .int(times)])
    }
    /// Sends the body at about `bytesPerSecond` (so concurrent clients overlap). With `holdUntilInFlight` N the
    /// body first waits until N requests are being answered at once, at most `holdSeconds` (a barrier: a test of
    /// concurrency then does not depend on how fast a loaded machine starts the requests).
    public static func slow(
        bytesPerSecond: Int, times: Int = 1, holdUntilInFlight: Int? = nil, holdSeconds: Double = 30
    ) -> HTTPFault {
        var fields: [String: FaultValue] = [
            "kind": .string("slow"), "bytes_per_second": .int(bytesPerSecond), "times": .int(times),
        ]
        if let holdUntilInFlight {
            fields["hold_until_in_flight"] = .int(holdUntilInFlight)
            fields["hold_seconds"] = .double(holdSeconds)
        }
        return HTTPFault(fields: fields)
    }
    /// Declares the full length but sends only `length` bytes, then drops the connection (a short body).
    public static func shortBody(_ length: Int, times: Int = 1) -> HTTPFault {
        HTTPFault(fields: ["kind": .string("short"), "length": .int(length), "times": .int(times)])
    }
    /// The same fault, taken only by a request whose `Range` starts at byte `start` (one range of a parallel
    /// ranged download).
    public func inRange(startingAt start: Int) -> HTTPFault {
        var fields = self.fields
        fields["range_start"] = .int(start)
        return HTTPFault(fields: fields)
    }
    /// Redirects to `location` with `code`.
    public static func redirect(to location: String, code: Int = 302, times: Int = 1) -> HTTPFault {
        HTTPFault(fields: [
            "kind": .string("redirect"), "location": .string(location), "code": .int(code), "times": .int(times),
        ])
    }
}

/// One request as the loopback server saw it.
public struct LoggedRequest: Sendable {
    /// Method.
    public let method: String
    /// Path (no query).
    public let path: String
    /// The Host header ("127.0.0.1:PORT" or "localhost:PORT").
    public let host: String
    /// The Range header, if any.
    public let range: String?
    /// The status answered.
    public let status: Int
    /// Body bytes sent.
    public let bytesSent: Int64
    /// Request headers, names lower-cased.
    public let headers: [String: String]
}

/// The fault-injecting loopback HTTP server (scripts/testsupport/http_server.py, Python stdlib) run for one test.
/// `127.0.0.1` and `localhost` reach the same server and serve as two different hosts for redirect tests.
public final class LoopbackHTTPServer: Sendable {
    /// The served directory.
    public let root: URL
    /// The port on 127.0.0.1.
    public let port: Int
    /// "http", or "https" when started with a certificate.
    public let scheme: String
    private let process: Mutex<Process?>

    /// Starts the server on a free port serving `root` (and a PEP 503 index of `simpleIndex`'s files, if given).
    /// With `tls` (certificate and key PEM paths) it serves HTTPS, and `baseURL` uses `https`.
    public init(root: URL, simpleIndex: URL? = nil, tls: (certificate: URL, key: URL)? = nil) throws {
        self.root = root
        self.scheme = tls == nil ? "http" : "https"
        let process = Process()
        let python =
            FileManager.default.isExecutableFile(atPath: TestPaths.python.path)
            ? TestPaths.python.path : "/usr/bin/python3"
        process.executableURL = URL(fileURLWithPath: python)
        var arguments = [
            TestPaths.testScripts.appendingPathComponent("http_server.py").path, "--root", root.path, "--port", "0",
        ]
        if let simpleIndex { arguments += ["--simple-index", simpleIndex.path] }
        if let tls { arguments += ["--tls-cert", tls.certificate.path, "--tls-key", tls.key.path] }
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read "READY <port>\n" (the server binds port 0, so there is no race for the port).
        guard let port = ServerReadyLine.port(from: out.fileHandleForReading).port else {
            process.terminate()
            throw POSIXError(.ECONNREFUSED)
        }
        self.port = port
        self.process = Mutex(process)
    }

    deinit { stop() }

    /// `http://127.0.0.1:PORT`.
    public var baseURL: URL { URL(string: "\(scheme)://127.0.0.1:\(port)")! }
    /// `http://localhost:PORT` — the same server under another host name.
    public var alternateBaseURL: URL { URL(string: "\(scheme)://localhost:\(port)")! }

    /// The URL of `path` (starting with "/") on 127.0.0.1, or on localhost when `alternateHost`.
    public func url(_ path: String, alternateHost: Bool = false) -> URL {
        URL(string: (alternateHost ? alternateBaseURL : baseURL).absoluteString + path)!
    }

    /// Queues `fault` for the next request(s) to `path`.
    public func inject(_ fault: HTTPFault, path: String) throws {
        var object: [String: Any] = ["path": path]
        for (key, value) in fault.fields { object[key] = value.json }
        try control("POST", "/_control/fault", body: JSONSerialization.data(withJSONObject: object))
    }

    /// Overrides the ETag of `path` (simulates the file changing on the server); `nil` restores the real one.
    public func setETag(_ etag: String?, path: String) throws {
        let object: [String: Any] = ["path": path, "etag": etag ?? NSNull()]
        try control("POST", "/_control/etag", body: JSONSerialization.data(withJSONObject: object))
    }

    /// Clears faults, validators and the request log.
    public func reset() throws { try control("POST", "/_control/reset", body: Data("{}".utf8)) }

    /// Every request served so far (control requests excluded).
    public func requests() throws -> [LoggedRequest] {
        let data = try control("GET", "/_control/log", body: nil)
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
        let list = object["requests"] as? [[String: Any]] ?? []
        return list.map { item in
            LoggedRequest(
                method: item["method"] as? String ?? "", path: item["path"] as? String ?? "",
                host: item["host"] as? String ?? "", range: item["range"] as? String,
                status: (item["status"] as? NSNumber)?.intValue ?? 0,
                bytesSent: (item["bytes_sent"] as? NSNumber)?.int64Value ?? 0,
                headers: item["headers"] as? [String: String] ?? [:])
        }
    }

    /// The most requests (control requests excluded) the server was answering at once since it started or the
    /// last `reset()`: how many connections a client really kept busy.
    public func peakRequestsInFlight() throws -> Int {
        let data = try control("GET", "/_control/log", body: nil)
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
        return (object["peak_in_flight"] as? NSNumber)?.intValue ?? 0
    }

    /// Total body bytes the server sent for `path`.
    public func bytesSent(path: String) throws -> Int64 {
        try requests().filter { $0.path == path }.reduce(0) { $0 + $1.bytesSent }
    }

    /// Stops the server (idempotent).
    public func stop() {
        process.withLock { process in
            guard let running = process else { return }
            if running.isRunning {
                // SIGKILL: the test runner may have SIGTERM ignored, which the child would inherit.
                kill(running.processIdentifier, SIGKILL)
                running.waitUntilExit()
            }
            process = nil
        }
    }

    /// Makes a self-signed certificate for 127.0.0.1 and localhost with the openssl CLI (for HTTPS tests).
    public static func makeSelfSignedCertificate(in directory: URL) throws -> (certificate: URL, key: URL) {
        let cert = directory.appendingPathComponent("server-cert.pem")
        let key = directory.appendingPathComponent("server-key.pem")
        let result = try Subprocess.run(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", key.path, "-out", cert.path,
            ])
        guard result.status == 0 else { throw POSIXError(.EINVAL) }
        return (cert, key)
    }

    /// A minimal HTTP/1.0 exchange with the server's control API over a plain socket (no dependency on the
    /// transport under test).
    @discardableResult
    private func control(_ method: String, _ path: String, body: Data?) throws -> Data {
        guard let fd = LoopbackSocket.connect(port: port) else { throw POSIXError(.ECONNREFUSED) }
        defer { close(fd) }
        var request = Data("\(method) \(path) HTTP/1.0\r\nHost: 127.0.0.1\r\n".utf8)
        request.append(Data("Content-Length: \(body?.count ?? 0)\r\nConnection: close\r\n\r\n".utf8))
        if let body { request.append(body) }
        var offset = 0
        try request.withUnsafeBytes { raw in
            while offset < raw.count {
                let n = send(fd, raw.baseAddress! + offset, raw.count - offset, 0)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw POSIXError(.EIO)
                }
                offset += n
            }
        }
        var response = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                throw POSIXError(.EIO)
            }
            if n == 0 { break }
            response.append(contentsOf: buffer[0..<n])
        }
        guard let split = response.range(of: Data("\r\n\r\n".utf8)) else { throw POSIXError(.EBADMSG) }
        let statusLine = String(decoding: response[..<split.lowerBound], as: UTF8.self)
        guard statusLine.split(separator: " ").dropFirst().first == "200" else { throw POSIXError(.EPROTO) }
        return response[split.upperBound...]
    }
}
