internal import CCurl
import ComfySupport
import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// `curl_global_init` exactly once per process (Swift runs a static initializer once, thread-safely).
enum CurlGlobal {
    private static let initialized: Bool = comfy_curl_global_init_all().rawValue == 0
    static func ensureInitialized() {
        precondition(initialized, "curl_global_init failed")
    }
    static var versionString: String {
        ensureInitialized()
        return String(cString: comfy_curl_version_string())
    }
}

/// A libcurl easy handle. `@unchecked Sendable`: a handle is used by one transfer thread at a time; the pool hands
/// it over under a mutex.
struct EasyHandle: @unchecked Sendable {
    let raw: UnsafeMutableRawPointer
}

/// Idle easy handles kept for reuse, so their connection caches keep connections alive between requests.
final class HandlePool: Sendable {
    private let idle = Mutex<[EasyHandle]>([])
    private let limit = 8

    func take() -> EasyHandle? {
        if let handle = idle.withLock({ $0.popLast() }) { return handle }
        guard let raw = curl_easy_init() else { return nil }
        return EasyHandle(raw: raw)
    }

    func give(_ handle: EasyHandle) {
        let kept = idle.withLock { handles -> Bool in
            guard handles.count < limit else { return false }
            handles.append(handle)
            return true
        }
        if !kept { curl_easy_cleanup(handle.raw) }
    }

    deinit {
        for handle in idle.withLock({ $0 }) { curl_easy_cleanup(handle.raw) }
    }
}

/// One request with all its redirect hops, run synchronously on a dedicated thread.
/// `@unchecked Sendable`: created by the caller, then used only by the one transfer thread.
final class TransferJob: @unchecked Sendable {
    let request: HTTPRequest
    let mode: TransferMode
    let configuration: HTTPClient.Configuration
    let pool: HandlePool
    let cancel: CancellationFlag
    let progress: HTTPProgressHandler?

    init(
        request: HTTPRequest, mode: TransferMode, configuration: HTTPClient.Configuration, pool: HandlePool,
        cancel: CancellationFlag, progress: HTTPProgressHandler?
    ) {
        self.request = request
        self.mode = mode
        self.configuration = configuration
        self.pool = pool
        self.cancel = cancel
        self.progress = progress
    }

    func run() -> Result<TransferOutcome, any Error> {
        guard let handle = pool.take() else {
            return .failure(HTTPError.curl(code: 27, detail: "curl_easy_init failed (out of memory)", url: request.url))
        }
        defer { pool.give(handle) }
        var hop = request
        var redirects = 0
        let originalURL = request.url
        while true {
            if cancel.isSet { return .failure(HTTPError.cancelled(url: hop.url)) }
            let context = TransferContext(job: self, hop: hop)
            let result = context.perform(on: handle)
            switch result {
            case .failure(let error):
                return .failure(error)
            case .success(let outcome):
                guard hop.followRedirects, [301, 302, 303, 307, 308].contains(outcome.head.status),
                    let next = context.redirectURL
                else { return .success(outcome) }
                redirects += 1
                if redirects > configuration.maxRedirects {
                    return .failure(HTTPError.tooManyRedirects(url: originalURL, limit: configuration.maxRedirects))
                }
                do { try HTTPClient.validate(next) } catch { return .failure(error) }
                hop = Self.redirected(hop, to: next, status: outcome.head.status)
            }
        }
    }
}

/// The state of one hop, reached from libcurl's C callbacks through the userdata pointer.
/// Touched only on the transfer thread (`Unmanaged` keeps it alive for the perform call).
final class TransferContext {
    let job: TransferJob
    let hop: HTTPRequest
    var status = 0
    var headers = HTTPHeaders()
    var body: [UInt8] = []
    var headDelivered = false
    var discardBody = false
    var failure: HTTPError?
    var redirectURL: URL?
    // request body
    var sendOffset: Int64 = 0
    var fileDescriptor: Int32 = -1
    // progress
    let started = ContinuousClock.now
    var lastReport = ContinuousClock.now
    var errorBuffer = [CChar](repeating: 0, count: 256)

    init(job: TransferJob, hop: HTTPRequest) {
        self.job = job
        self.hop = hop
    }

    deinit { if fileDescriptor >= 0 { close(fileDescriptor) } }

    var isSinkMode: Bool { if case .sink = job.mode { true } else { false } }

    func perform(on handle: EasyHandle) -> Result<TransferOutcome, any Error> {
        let h = handle.raw
        curl_easy_reset(h)
        var slist: UnsafeMutablePointer<curl_slist>?
        defer { if let slist { curl_slist_free_all(slist) } }
        let config = job.configuration
        let url = hop.url

        if case .fileRegion(let path, _, _) = hop.body {
            fileDescriptor = open(path, O_RDONLY | O_CLOEXEC)
            if fileDescriptor < 0 {
                return .failure(HTTPError.requestBody(url: url, reason: "cannot open \(path): \(Self.errnoText())"))
            }
        }

        var headerLines: [String] = []
        for field in hop.headers { headerLines.append("\(field.name): \(field.value)") }
        if hop.useEnvironmentCredentials, let credential = config.credentials.header(for: url),
            !hop.headers.contains(credential.name)
        {
            headerLines.append("\(credential.name): \(credential.value)")
        }
        if !hop.headers.contains("Expect") { headerLines.append("Expect:") }
        for line in headerLines { slist = curl_slist_append(slist, line) }

        comfy_curl_setopt_long(h, CURLOPT_NOSIGNAL, 1)
        comfy_curl_setopt_string(h, CURLOPT_URL, url.absoluteString)
        var connectTo: UnsafeMutablePointer<curl_slist>?
        defer { if let connectTo { curl_slist_free_all(connectTo) } }
        if let address = hop.connectAddress, !hop.followRedirects, let host = url.host {
            let port = url.port ?? (url.scheme?.lowercased() == "https" ? 443 : 80)
            let target = address.contains(":") ? "[\(address)]" : address
            connectTo = curl_slist_append(nil, "\(host):\(port):\(target):\(port)")
            comfy_curl_setopt_slist(h, CURLOPT_CONNECT_TO, connectTo)
        }
        comfy_curl_setopt_string(h, CURLOPT_PROTOCOLS_STR, "http,https")
        comfy_curl_setopt_long(h, CURLOPT_FOLLOWLOCATION, 0)
        comfy_curl_setopt_slist(h, CURLOPT_HTTPHEADER, slist)
        if !hop.headers.contains("User-Agent") { comfy_curl_setopt_string(h, CURLOPT_USERAGENT, config.userAgent) }
        comfy_curl_setopt_long(h, CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(config.connectTimeout))
        comfy_curl_setopt_long(h, CURLOPT_LOW_SPEED_LIMIT, config.lowSpeedLimit)
        comfy_curl_setopt_long(h, CURLOPT_LOW_SPEED_TIME, max(1, Self.milliseconds(config.lowSpeedTime) / 1000))
        if let timeout = hop.timeout { comfy_curl_setopt_long(h, CURLOPT_TIMEOUT_MS, Self.milliseconds(timeout)) }
        comfy_curl_setopt_long(h, CURLOPT_SSL_VERIFYPEER, 1)
        comfy_curl_setopt_long(h, CURLOPT_SSL_VERIFYHOST, 2)
        if let ca = config.caBundlePath { comfy_curl_setopt_string(h, CURLOPT_CAINFO, ca) }
        if Self.isLoopback(url.host) { comfy_curl_setopt_string(h, CURLOPT_PROXY, "") }  // never proxy loopback
        comfy_curl_setopt_long(h, CURLOPT_TCP_KEEPALIVE, 1)
        comfy_curl_setopt_long(h, CURLOPT_BUFFERSIZE, min(config.receiveBufferSize, comfy_curl_max_read_size()))
        errorBuffer.withUnsafeMutableBufferPointer {
            _ = comfy_curl_setopt_pointer(h, CURLOPT_ERRORBUFFER, $0.baseAddress)
        }

        let method = hop.method
        var requestBody = hop.body
        if requestBody == nil, method == .post || method == .put || method == .patch { requestBody = .bytes([]) }
        if method == .head {
            comfy_curl_setopt_long(h, CURLOPT_NOBODY, 1)
        } else if let requestBody {
            comfy_curl_setopt_long(h, CURLOPT_UPLOAD, 1)
            comfy_curl_setopt_off(h, CURLOPT_INFILESIZE_LARGE, curl_off_t(requestBody.length))
            if method != .put { comfy_curl_setopt_string(h, CURLOPT_CUSTOMREQUEST, method.rawValue) }
        } else if method != .get {
            comfy_curl_setopt_string(h, CURLOPT_CUSTOMREQUEST, method.rawValue)
        }

        let me = Unmanaged.passRetained(self)
        defer { me.release() }
        let userdata = me.toOpaque()
        comfy_curl_setopt_data_cb(h, CURLOPT_HEADERFUNCTION) { ptr, size, count, userdata in
            let context = Unmanaged<TransferContext>.fromOpaque(userdata!).takeUnretainedValue()
            return context.onHeader(UnsafeRawBufferPointer(start: ptr, count: size * count))
        }
        comfy_curl_setopt_pointer(h, CURLOPT_HEADERDATA, userdata)
        comfy_curl_setopt_data_cb(h, CURLOPT_WRITEFUNCTION) { ptr, size, count, userdata in
            let context = Unmanaged<TransferContext>.fromOpaque(userdata!).takeUnretainedValue()
            return context.onBody(UnsafeRawBufferPointer(start: ptr, count: size * count))
        }
        comfy_curl_setopt_pointer(h, CURLOPT_WRITEDATA, userdata)
        comfy_curl_setopt_read_cb(h) { ptr, size, count, userdata in
            let context = Unmanaged<TransferContext>.fromOpaque(userdata!).takeUnretainedValue()
            return context.onRead(UnsafeMutableRawBufferPointer(start: ptr, count: size * count))
        }
        comfy_curl_setopt_pointer(h, CURLOPT_READDATA, userdata)
        comfy_curl_setopt_long(h, CURLOPT_NOPROGRESS, 0)
        comfy_curl_setopt_xferinfo_cb(h) { userdata, dltotal, dlnow, ultotal, ulnow in
            let context = Unmanaged<TransferContext>.fromOpaque(userdata!).takeUnretainedValue()
            return context.onProgress(
                dltotal: Int64(dltotal), dlnow: Int64(dlnow), ultotal: Int64(ultotal), ulnow: Int64(ulnow), final: false
            )
        }
        comfy_curl_setopt_pointer(h, CURLOPT_XFERINFODATA, userdata)

        let code = curl_easy_perform(h).rawValue
        // Detach the buffer before it can go away (curl keeps the pointer on the handle until reset).
        comfy_curl_setopt_pointer(h, CURLOPT_ERRORBUFFER, nil)

        if job.cancel.isSet { return .failure(HTTPError.cancelled(url: url)) }
        if let failure { return .failure(failure) }
        if code != 0 {
            let detail = errorBuffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }.trimmingCharacters(
                in: .whitespacesAndNewlines)
            let text = detail.isEmpty ? String(cString: curl_easy_strerror(CURLcode(rawValue: code))) : detail
            return .failure(HTTPError.curl(code: Int(code), detail: Redaction.redact(text), url: url))
        }
        var responseCode = 0
        comfy_curl_getinfo_long(h, CURLINFO_RESPONSE_CODE, &responseCode)
        if responseCode != 0 { status = responseCode }
        if (300..<400).contains(status) {
            var location: UnsafeMutablePointer<CChar>?
            comfy_curl_getinfo_string(h, CURLINFO_REDIRECT_URL, &location)
            if let location { redirectURL = URL(string: String(cString: location)) }
        }
        let head = HTTPResponseHead(status: status, headers: headers, url: url)
        if case .sink(let sink) = job.mode, head.isSuccess, !headDelivered, method != .head {
            do { try sink.begin(head) } catch {
                return .failure(HTTPError.sinkFailed(url: url, underlying: error))
            }
        }
        _ = onProgress(dltotal: 0, dlnow: 0, ultotal: 0, ulnow: 0, final: true)
        return .success(TransferOutcome(head: head, body: body))
    }

    // MARK: Callbacks (transfer thread)

    private var received: Int64 = 0
    private var sent: Int64 = 0

    func onHeader(_ line: UnsafeRawBufferPointer) -> Int {
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("HTTP/") {
            // A new response (a 1xx, or the next one on this connection): start over.
            headers = HTTPHeaders()
            let parts = text.split(separator: " ", maxSplits: 2)
            status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
        } else if let colon = text.firstIndex(of: ":") {
            let name = String(text[..<colon]).trimmingCharacters(in: .whitespaces)
            let value = String(text[text.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
            headers.add(name: name, value: value)
        }
        return line.count
    }

    func onBody(_ chunk: UnsafeRawBufferPointer) -> Int {
        if job.cancel.isSet { return 0 }
        received += Int64(chunk.count)
        let success = (200..<300).contains(status)
        switch job.mode {
        case .buffer:
            if body.count + chunk.count > job.configuration.maxBufferedBodySize {
                failure = .bodyTooLarge(url: hop.url, limit: job.configuration.maxBufferedBodySize)
                return 0
            }
            body.append(contentsOf: chunk)
        case .sink(let sink):
            guard success else {
                if body.count < 64 << 10 { body.append(contentsOf: chunk.prefix(64 << 10 - body.count)) }
                return chunk.count
            }
            do {
                if !headDelivered {
                    headDelivered = true
                    try sink.begin(HTTPResponseHead(status: status, headers: headers, url: hop.url))
                }
                try sink.write(chunk)
            } catch {
                failure = .sinkFailed(url: hop.url, underlying: error)
                return 0
            }
        }
        return chunk.count
    }

    func onRead(_ buffer: UnsafeMutableRawBufferPointer) -> Int {
        if job.cancel.isSet { return comfy_curl_readfunc_abort() }
        guard let body = hop.body else { return 0 }
        let remaining = body.length - sendOffset
        let want = Int(min(Int64(buffer.count), remaining))
        if want <= 0 { return 0 }
        switch body {
        case .bytes(let bytes):
            let start = Int(sendOffset)
            bytes.withUnsafeBytes { source in
                buffer.baseAddress!.copyMemory(from: source.baseAddress! + start, byteCount: want)
            }
            sendOffset += Int64(want)
            return want
        case .fileRegion(let path, let offset, _):
            while true {
                let n = pread(fileDescriptor, buffer.baseAddress, want, off_t(offset + sendOffset))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 {
                    let reason =
                        n == 0 ? "\(path) ended before \(body.length) bytes" : "reading \(path): \(Self.errnoText())"
                    failure = .requestBody(url: hop.url, reason: reason)
                    return comfy_curl_readfunc_abort()
                }
                sendOffset += Int64(n)
                return n
            }
        }
    }

    func onProgress(dltotal: Int64, dlnow: Int64, ultotal: Int64, ulnow: Int64, final: Bool) -> Int32 {
        if job.cancel.isSet { return 1 }
        guard let handler = job.progress else { return 0 }
        let now = ContinuousClock.now
        if !final, now - lastReport < .milliseconds(100) { return 0 }
        lastReport = now
        let elapsed = max((now - started).seconds, 0.001)
        let receivedNow = final ? received : max(dlnow, received)
        let sentNow = final ? sendOffset : max(ulnow, sendOffset)
        let total: Int64? = final ? received : (dltotal > 0 ? dltotal : nil)
        let rate = Double(hop.body != nil && receivedNow == 0 ? sentNow : receivedNow) / elapsed
        // Bodies of redirects and error responses are not progress of the transfer the caller asked for.
        guard final ? (200..<300).contains(status) : true else { return 0 }
        handler(
            HTTPProgress(
                bytesReceived: receivedNow, totalToReceive: total, bytesSent: sentNow,
                totalToSend: hop.body?.length, bytesPerSecond: rate))
        return 0
    }

    // MARK: Helpers

    static func milliseconds(_ duration: Duration) -> Int {
        let parts = duration.components
        return Int(parts.seconds) * 1000 + Int(parts.attoseconds / 1_000_000_000_000_000)
    }

    static func isLoopback(_ host: String?) -> Bool {
        guard let host = host?.lowercased() else { return false }
        return host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}
