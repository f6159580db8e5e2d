import Foundation

/// The redirect policy of a transfer: what the next hop's request is.
extension TransferJob {
    /// The request for the next hop: method per RFC 9110 (303 → GET; 301/302 turn POST into GET), body kept only
    /// for 307/308, caller-given credentials kept only on the same host without a downgrade to http.
    static func redirected(_ request: HTTPRequest, to url: URL, status: Int) -> HTTPRequest {
        var next = request
        next.url = url
        if (status == 303 && request.method != .head) || ((status == 301 || status == 302) && request.method == .post) {
            next.method = .get
            next.body = nil
            next.headers.remove(name: "Content-Type")
            next.headers.remove(name: "Content-Length")
        }
        let sameHost =
            request.url.host?.lowercased() == url.host?.lowercased()
            && request.url.port == url.port
        let downgrade = request.url.scheme?.lowercased() == "https" && url.scheme?.lowercased() != "https"
        if !sameHost || downgrade {
            for name in ["Authorization", "Cookie", "Proxy-Authorization"] { next.headers.remove(name: name) }
        }
        return next
    }
}
