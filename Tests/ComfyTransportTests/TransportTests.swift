import ComfyCrypto
import Foundation
import Synchronization
import TestSupport
import Testing

@testable import ComfyTransport

/// Collects a streamed body in memory (tests only use small files).
final class MemorySink: HTTPBodySink {
    private let state = Mutex<(head: HTTPResponseHead?, bytes: [UInt8], begins: Int)>((nil, [], 0))
    func begin(_ head: HTTPResponseHead) throws {
        state.withLock {
            $0.head = head
            $0.begins += 1
        }
    }
    func write(_ bytes: UnsafeRawBufferPointer) throws { state.withLock { $0.bytes.append(contentsOf: bytes) } }
    var head: HTTPResponseHead? { state.withLock { $0.head } }
    var bytes: [UInt8] { state.withLock { $0.bytes } }
    var begins: Int { state.withLock { $0.begins } }
}

let fastRetry = RetryPolicy(maxAttempts: 4, initialDelay: .milliseconds(20), maxDelay: .milliseconds(200))

@Suite("HTTP transport over libcurl, against the loopback server")
struct TransportTests {
    let client = HTTPClient(configuration: .init(credentials: .none, retryPolicy: fastRetry))

    @Test("GET buffers the body; HEAD returns headers only")
    func getAndHead() async throws {
        let file = try ServedFile()
        let response = try await client.send(HTTPRequest(url: file.url))
        #expect(response.status == 200)
        #expect(response.body == file.bytes)
        #expect(response.headers["content-length"] == "\(file.bytes.count)")
        #expect(response.head.etag != nil)
        let head = try await client.send(HTTPRequest(method: .head, url: file.url))
        #expect(head.status == 200)
        #expect(head.body.isEmpty)
        #expect(head.head.contentLength == Int64(file.bytes.count))
    }

    @Test("a Range request streams only the asked bytes to the sink, with Content-Range")
    func rangeToSink() async throws {
        let file = try ServedFile()
        let sink = MemorySink()
        var request = HTTPRequest(url: file.url)
        request.headers.add(name: "Range", value: "bytes=1000-")
        let head = try await client.stream(request, to: sink)
        #expect(head.status == 206)
        #expect(sink.begins == 1)
        #expect(sink.bytes == Array(file.bytes[1000...]))
        let range = try #require(head.contentRange)
        #expect(
            range.start == 1000 && range.end == Int64(file.bytes.count - 1) && range.total == Int64(file.bytes.count))
        #expect(try file.server.bytesSent(path: file.path) == Int64(file.bytes.count - 1000))
    }

    @Test("404 is never retried and never reaches a sink")
    func notFoundIsFinal() async throws {
        let file = try ServedFile()
        let missing = file.server.url("/nope.bin")
        let response = try await client.send(HTTPRequest(url: missing))
        #expect(response.status == 404)
        let sink = MemorySink()
        let error = try await #require(throws: HTTPError.self) {
            try await client.stream(HTTPRequest(url: missing), to: sink)
        }
        #expect(error.status == 404)
        #expect(!error.isRetryable)
        #expect(error.message.contains("/nope.bin"))
        #expect(sink.begins == 0 && sink.bytes.isEmpty)
        #expect(try file.server.requests().filter { $0.path == "/nope.bin" }.count == 2)
    }

    @Test("503, 500 and 429 with Retry-After are retried until the file arrives")
    func retriesServerErrors() async throws {
        let file = try ServedFile()
        try file.server.inject(.status(503), path: file.path)
        try file.server.inject(.status(500), path: file.path)
        try file.server.inject(.status(429, retryAfter: "0"), path: file.path)
        let response = try await client.send(HTTPRequest(url: file.url))
        #expect(response.status == 200)
        #expect(response.body == file.bytes)
        #expect(try file.server.requests().map(\.status) == [503, 500, 429, 200])
    }

    @Test("after the last attempt a retryable status is returned, and RetryPolicy.none sends once")
    func retriesRunOut() async throws {
        let file = try ServedFile()
        try file.server.inject(.status(503, times: 10), path: file.path)
        let response = try await client.send(HTTPRequest(url: file.url))
        #expect(response.status == 503)
        #expect(try file.server.requests().count == fastRetry.maxAttempts)
        try file.server.reset()
        try file.server.inject(.status(503), path: file.path)
        let once = try await client.send(HTTPRequest(url: file.url), retry: RetryPolicy.none)
        #expect(once.status == 503)
        #expect(try file.server.requests().count == 1)
    }

    @Test("a connection dropped mid-body is a retryable connection failure")
    func closedConnection() async throws {
        let file = try ServedFile()
        try file.server.inject(.closeAt(5000), path: file.path)
        let sink = MemorySink()
        let error = try await #require(throws: HTTPError.self) {
            try await client.stream(HTTPRequest(url: file.url), to: sink)
        }
        #expect(error.isConnectionFailure)
        #expect(error.isRetryable)
        #expect(sink.bytes == Array(file.bytes[..<5000]))
        // The same request through RetryPolicy.run succeeds on the next attempt.
        let second = MemorySink()
        try file.server.inject(.closeAt(100), path: file.path)
        try await fastRetry.run { _ in
            _ = try await client.stream(HTTPRequest(url: file.url), to: second)
            return ()
        }
        #expect(Array(second.bytes.suffix(file.bytes.count)) == file.bytes)
    }

    @Test("redirects are followed, bounded, and a loop is reported")
    func redirects() async throws {
        let file = try ServedFile()
        let redirected = file.server.url("/_redirect?to=\(file.path)&code=301")
        let response = try await client.send(HTTPRequest(url: redirected))
        #expect(response.status == 200)
        #expect(response.body == file.bytes)
        #expect(response.head.url.path == file.path)
        let error = try await #require(throws: HTTPError.self) {
            try await client.send(HTTPRequest(url: file.server.url("/_loop")))
        }
        #expect(error.isTooManyRedirects)
        #expect(
            try file.server.requests().filter { $0.path == "/_loop" }.count == client.configuration.maxRedirects + 1)
        var noFollow = HTTPRequest(url: redirected)
        noFollow.followRedirects = false
        #expect(try await client.send(noFollow).status == 301)
    }

    @Test("per-host credentials go to their host only and are dropped on a cross-host redirect")
    func credentialsStayOnTheirHost() async throws {
        let file = try ServedFile()
        let token = "tok-\(UUID().uuidString)"
        let origin = file.server.url(file.path)
        let env = [HostCredentials.variableName(scheme: "http", host: "127.0.0.1", port: origin.port!): token]
        let authed = HTTPClient(
            configuration: .init(credentials: HostCredentials(environment: env), retryPolicy: fastRetry))
        let target = file.server.url(file.path, alternateHost: true).absoluteString
        var request = HTTPRequest(url: file.server.url("/_redirect?to=\(target)"))
        request.headers.add(name: "Cookie", value: "session=\(token)")
        let response = try await authed.send(request)
        #expect(response.body == file.bytes)
        // The server logs a request once its answer is written, so the redirect's target can be logged first: find
        // each by its host.
        let log = try file.server.requests()
        #expect(log.count == 2)
        let first = try #require(log.first { $0.host.hasPrefix("127.0.0.1") })
        let second = try #require(log.first { $0.host.hasPrefix("localhost") })
        #expect(first.headers["authorization"] == "Bearer \(token)")
        #expect(second.headers["authorization"] == nil)
        #expect(second.headers["cookie"] == nil)
        // Same-host redirects keep them.
        try file.server.reset()
        _ = try await authed.send(HTTPRequest(url: file.server.url("/_redirect?to=\(file.path)")))
        #expect(try file.server.requests().allSatisfy { $0.headers["authorization"] == "Bearer \(token)" })
    }

    @Test("PUT and POST stream a file region or bytes with custom headers")
    func uploads() async throws {
        let file = try ServedFile()
        let region = HTTPRequestBody.fileRegion(path: file.server.root.path + file.path, offset: 1234, length: 100_000)
        var put = HTTPRequest(method: .put, url: file.server.url("/_echo"), body: region)
        put.headers.add(name: "X-Upload-Test", value: "yes")
        put.headers.add(name: "Content-Type", value: "application/octet-stream")
        let response = try await client.send(put, retry: RetryPolicy.none)
        #expect(response.status == 200)
        let echo = try #require(try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])
        #expect(echo["method"] as? String == "PUT")
        #expect((echo["body_size"] as? NSNumber)?.intValue == 100_000)
        #expect(echo["body_sha256"] as? String == SHA256.hash(file.bytes[1234..<101_234]).hex)
        let headers = try #require(echo["headers"] as? [String: String])
        #expect(headers["x-upload-test"] == "yes")
        #expect(headers["expect"] == nil)

        let post = HTTPRequest(method: .post, url: file.server.url("/_echo"), body: .bytes(Array("hello".utf8)))
        let posted = try #require(
            try JSONSerialization.jsonObject(with: Data(try await client.send(post).body)) as? [String: Any])
        #expect(posted["method"] as? String == "POST")
        #expect(posted["body_sha256"] as? String == SHA256.hash(Array("hello".utf8)).hex)

        let gone = HTTPRequestBody.fileRegion(path: file.dir.appending("missing").path, offset: 0, length: 10)
        let error = try await #require(throws: HTTPError.self) {
            try await client.send(HTTPRequest(method: .put, url: file.server.url("/_echo"), body: gone))
        }
        #expect(error.message.contains("missing"))
    }

    @Test("cancelling the task aborts a stalled transfer")
    func cancellation() async throws {
        let file = try ServedFile()
        try file.server.inject(.stall(at: 10_000, seconds: 60), path: file.path)
        let sink = MemorySink()
        let started = AsyncStream<Void>.makeStream()
        let task = Task {
            try await client.stream(HTTPRequest(url: file.url), to: sink) { progress in
                if progress.bytesReceived > 0 { started.continuation.yield() }
            }
        }
        for await _ in started.stream { break }
        task.cancel()
        let result = await task.result
        let error = try #require(throws: HTTPError.self) { try result.get() }
        #expect(error.isCancellation)
    }

    @Test("a stall longer than the low-speed limit is a retryable timeout")
    func stallTimesOut() async throws {
        let file = try ServedFile()
        try file.server.inject(.stall(at: 10_000, seconds: 30), path: file.path)
        let impatient = HTTPClient(configuration: .init(lowSpeedTime: .seconds(1), credentials: .none))
        let error = try await #require(throws: HTTPError.self) {
            try await impatient.stream(HTTPRequest(url: file.url), to: MemorySink())
        }
        #expect(error.isTimeout)
        #expect(error.isRetryable)
    }

    @Test("progress events end with the whole body")
    func progress() async throws {
        let file = try ServedFile()
        let last = Mutex<HTTPProgress?>(nil)
        _ = try await client.stream(HTTPRequest(url: file.url), to: MemorySink()) { p in last.withLock { $0 = p } }
        let final = try #require(last.withLock { $0 })
        #expect(final.bytesReceived == Int64(file.bytes.count))
        #expect(final.totalToReceive == Int64(file.bytes.count))
    }

    @Test("TLS is verified: a self-signed server fails, and succeeds with its certificate as the CA bundle")
    func tlsVerification() async throws {
        let dir = try TemporaryDirectory(prefix: "comfylock-tls")
        defer { dir.remove() }
        let root = dir.appending("root")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try Data("secure\n".utf8).write(to: root.appendingPathComponent("x.txt"))
        let tls = try LoopbackHTTPServer.makeSelfSignedCertificate(in: dir.url)
        let server = try LoopbackHTTPServer(root: root, tls: tls)
        defer { server.stop() }
        let error = try await #require(throws: HTTPError.self) {
            try await client.send(HTTPRequest(url: server.url("/x.txt")), retry: RetryPolicy.none)
        }
        #expect(error.isTLSFailure)
        #expect(!error.isRetryable)
        let trusting = HTTPClient(configuration: .init(caBundlePath: tls.certificate.path, credentials: .none))
        let response = try await trusting.send(HTTPRequest(url: server.url("/x.txt")))
        #expect(response.bodyText == "secure\n")
    }

    @Test("URLs in errors lose credentials; non-http URLs are rejected")
    func redaction() async throws {
        let file = try ServedFile()
        let url = URL(
            string: file.server.baseURL.absoluteString.replacingOccurrences(of: "http://", with: "http://user:pw@")
                + "/nope?token=abc123&x=1")!
        let error = try await #require(throws: HTTPError.self) {
            try await client.stream(HTTPRequest(url: url), to: MemorySink())
        }
        #expect(!error.message.contains("abc123"))
        #expect(!error.message.contains("pw@"))
        #expect(error.message.contains("x=1"))
        await #expect(throws: HTTPError.self) {
            try await client.send(HTTPRequest(url: URL(string: "file:///etc/passwd")!))
        }
    }
}

@Suite("Retry policy and credentials")
struct RetryPolicyTests {
    @Test("408, 429 and 5xx are retryable; other 4xx are not")
    func retryableStatuses() {
        for status in [408, 429, 500, 502, 503, 504, 599] { #expect(RetryPolicy.isRetryableStatus(status)) }
        for status in [200, 301, 400, 401, 403, 404, 409, 416, 422] { #expect(!RetryPolicy.isRetryableStatus(status)) }
    }

    @Test("delays grow exponentially within jitter, are capped, and Retry-After wins")
    func delays() {
        let policy = RetryPolicy(initialDelay: .seconds(1), maxDelay: .seconds(8), multiplier: 2, jitter: 0.5)
        for _ in 0..<50 {
            let first = policy.delay(beforeRetry: 1)
            #expect(first >= .milliseconds(500) && first <= .seconds(1))
            let third = policy.delay(beforeRetry: 3)
            #expect(third >= .seconds(2) && third <= .seconds(4))
            #expect(policy.delay(beforeRetry: 20) <= .seconds(8))
        }
        #expect(policy.delay(beforeRetry: 1, retryAfter: .seconds(7)) == .seconds(7))
        #expect(policy.delay(beforeRetry: 1, retryAfter: .seconds(9999)) == policy.maxRetryAfter)
    }

    @Test("Retry-After parses seconds and HTTP dates")
    func retryAfter() {
        #expect(RetryPolicy.parseRetryAfter("3") == .seconds(3))
        #expect(RetryPolicy.parseRetryAfter("-1") == nil)
        #expect(RetryPolicy.parseRetryAfter("soon") == nil)
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        let later = RetryPolicy.parseRetryAfter("Tue, 14 Nov 2023 22:13:40 GMT", now: now)
        #expect(later == .seconds(20))
    }

    @Test("RetryPolicy.run stops on a non-retryable error")
    func runStops() async {
        let attempts = Mutex(0)
        await #expect(throws: HTTPError.self) {
            try await fastRetry.run { _ in
                attempts.withLock { $0 += 1 }
                throw HTTPError.unexpectedStatus(403, url: URL(string: "https://example.com/x")!)
            }
        }
        #expect(attempts.withLock { $0 } == 1)
    }

    @Test("totalTimeout: no retry starts when the elapsed time plus the next delay would pass it")
    func totalTimeoutBoundsRetries() async {
        struct Flaky: RetryableError {
            var isRetryable: Bool { true }
            var retryAfter: Duration? { nil }
        }
        let policy = RetryPolicy(
            maxAttempts: 100, initialDelay: .milliseconds(100), multiplier: 2, jitter: 0,
            totalTimeout: .milliseconds(250))
        #expect(policy.allowsRetry(elapsed: .milliseconds(150), delay: .milliseconds(100)))
        #expect(!policy.allowsRetry(elapsed: .milliseconds(151), delay: .milliseconds(100)))
        #expect(RetryPolicy(maxAttempts: 3).allowsRetry(elapsed: .seconds(86_400), delay: .seconds(60)))
        // Attempt 1 fails at ~0 ms and sleeps 100 ms; attempt 2 fails at >= 100 ms and the next 200 ms would pass
        // 250 ms: the error is thrown after two attempts although 98 more were allowed.
        let attempts = Mutex(0)
        await #expect(throws: Flaky.self) {
            try await policy.run { _ in
                attempts.withLock { $0 += 1 }
                throw Flaky()
            }
        }
        #expect(attempts.withLock { $0 } == 2)
    }

    @Test("credentials come from HF_TOKEN, CIVITAI_API_TOKEN and COMFYLOCK_AUTH_<HOST>")
    func credentials() {
        let env = [
            "HF_TOKEN": "hf_x", "CIVITAI_API_TOKEN": "cv_y", "COMFYLOCK_AUTH_MODELS_EXAMPLE_COM": "X-Api-Key: k1",
            "COMFYLOCK_AUTH_MIRROR_LOCAL": "Basic dTpw",
        ]
        let creds = HostCredentials(environment: env)
        #expect(creds.header(for: URL(string: "https://huggingface.co/a/b")!)! == ("Authorization", "Bearer hf_x"))
        #expect(creds.header(for: URL(string: "http://huggingface.co/a/b")!) == nil)
        #expect(creds.header(for: URL(string: "https://cdn-lfs.huggingface.co/a")!) == nil)
        #expect(
            creds.header(for: URL(string: "https://civitai.com/api/download/models/1")!)! == (
                "Authorization", "Bearer cv_y"
            ))
        #expect(creds.header(for: URL(string: "https://models.example.com/x")!)! == ("X-Api-Key", "k1"))
        // The host-only shorthand is https:443 only: not plain http, not another port (keyed by origin).
        #expect(creds.header(for: URL(string: "https://mirror.local/x")!)! == ("Authorization", "Basic dTpw"))
        #expect(creds.header(for: URL(string: "http://mirror.local/x")!) == nil)
        #expect(creds.header(for: URL(string: "https://mirror.local:8443/x")!) == nil)
        #expect(creds.header(for: URL(string: "https://models.example.com:444/x")!) == nil)
        #expect(creds.header(for: URL(string: "https://huggingface.co:8443/a")!) == nil)
        let origin = HostCredentials(environment: ["COMFYLOCK_AUTH_HTTP__127_0_0_1__8080": "tok1"])
        #expect(
            HostCredentials.variableName(scheme: "http", host: "127.0.0.1", port: 8080)
                == "COMFYLOCK_AUTH_HTTP__127_0_0_1__8080")
        #expect(origin.header(for: URL(string: "http://127.0.0.1:8080/x")!)! == ("Authorization", "Bearer tok1"))
        #expect(origin.header(for: URL(string: "http://127.0.0.1:8081/x")!) == nil)
        #expect(origin.header(for: URL(string: "https://127.0.0.1:8080/x")!) == nil)
        #expect(origin.header(for: URL(string: "http://localhost:8080/x")!) == nil)
        #expect(creds.header(for: URL(string: "https://example.org/x")!) == nil)
        #expect(HostCredentials.variableName(forHost: "127.0.0.1") == "COMFYLOCK_AUTH_127_0_0_1")
        #expect(Set(creds.secrets) == ["hf_x", "cv_y", "X-Api-Key: k1", "Basic dTpw"])
    }
}

/// The transfer thread pool behind `HTTPClient` (a private pool per test, so parallel tests do not count).
@Suite("Transfer threads: reused, never starved")
struct TransferThreadsTests {
    /// Runs `count` items on `pool` at once, each blocking until all have started (a barrier): with a pool that
    /// queued work behind busy threads this would never finish, so the wait is bounded and fails instead.
    static func runBarrier(_ pool: TransferThreads, count: Int) -> Bool {
        let arrived = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        for _ in 0..<count {
            pool.run {
                arrived.signal()
                release.wait()
                return { finished.signal() }
            }
        }
        var all = true
        for _ in 0..<count where arrived.wait(timeout: .now() + 10) == .timedOut { all = false }
        for _ in 0..<count { release.signal() }
        for _ in 0..<count where finished.wait(timeout: .now() + 10) == .timedOut { all = false }
        return all
    }

    @Test("sequential transfers reuse one thread; concurrent ones each get a thread; extra idle threads exit")
    func reuseAndGrowth() async throws {
        let pool = TransferThreads(keepIdle: 1, idleTimeout: 0.2)
        for _ in 0..<20 {
            let done = DispatchSemaphore(value: 0)
            pool.run { { done.signal() } }
            #expect(done.wait(timeout: .now() + 10) == .success)
        }
        #expect(pool.counts.started == 1, "20 sequential items started \(pool.counts.started) threads")

        #expect(Self.runBarrier(pool, count: 6), "6 blocking items did not all run at once")
        #expect(pool.counts.started == 6, "one idle thread reused, five started: \(pool.counts.started)")

        // Beyond keepIdle, idle threads exit after the timeout (polled, bounded).
        var alive = pool.counts.alive
        for _ in 0..<100 where alive > 1 {
            try await Task.sleep(for: .milliseconds(50))
            alive = pool.counts.alive
        }
        #expect(alive == 1, "\(alive) threads alive after the idle timeout")
        #expect(Self.runBarrier(pool, count: 3), "the pool grows again after shrinking")
    }

    @Test("HTTPClient requests in a row run on one transfer thread")
    func clientReusesItsThread() async throws {
        let file = try ServedFile(size: 1000)
        // A pool of the test's own: the process-wide one is shared with every suite running at the same time.
        let threads = TransferThreads()
        let client = HTTPClient(configuration: .init(credentials: .none, retryPolicy: .none), threads: threads)
        for _ in 0..<30 { #expect(try await client.send(HTTPRequest(url: file.url)).status == 200) }
        #expect(threads.counts.started == 1, "30 requests in a row started \(threads.counts.started) threads")
    }
}
