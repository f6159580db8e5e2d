import ComfySupport
import Foundation

/// One HTTP request as ComfyGCS builds it; `GCSTransport` turns it into a request of the product's one HTTP stack
/// (ComfyTransport over libcurl).
struct GCSHTTPRequest: Sendable {
    enum Body: Sendable {
        case bytes([UInt8])
        case fileRegion(path: String, offset: Int64, length: Int64)
        var length: Int64 {
            switch self {
            case .bytes(let b): Int64(b.count)
            case .fileRegion(_, _, let length): length
            }
        }
    }
    var method: String
    var url: String
    var headers: [(String, String)] = []
    var body: Body? = nil
    /// Seconds for one attempt; `nil` for none (large chunks rely on the transport's low-speed limit).
    var timeout: Double? = 120
}

/// A response with its (small) body buffered.
struct GCSHTTPResponse: Sendable {
    var status: Int
    /// Header fields with lowercased names.
    var headers: [String: String]
    var body: [UInt8]

    func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// The JSON body as a dictionary, when it is one.
    var jsonObject: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] }

    /// A short, secret-free description of an error body: GCS's `error.message`, or OAuth's `error` +
    /// `error_description`, or the first line of a text body; scrubbed of `secrets`.
    func errorDetail(scrubbing secrets: [String]) -> String? {
        var detail: String?
        if let json = jsonObject {
            if let error = json["error"] as? [String: Any], let message = error["message"] as? String {
                detail = message
            } else if let error = json["error"] as? String {
                detail = error
                if let description = json["error_description"] as? String { detail! += ": " + description }
            }
        } else if !body.isEmpty {
            let text = String(decoding: body.prefix(300), as: UTF8.self)
            detail = text.split(whereSeparator: \.isNewline).first.map(String.init)
        }
        guard let detail else { return nil }
        return Redaction.redact(String(detail.prefix(300)), secrets: secrets)
    }
}

/// The HTTP operations ComfyGCS needs. Implemented over ComfyTransport's `HTTPClient` (see `CurlGCSTransport`);
/// implementations throw `GCSError` (`.transport`, transient) for connection failures and timeouts, and
/// `CancellationError` when the task is cancelled. They never retry: ComfyGCS decides (resumable recovery).
protocol GCSTransport: Sendable {
    func send(_ request: GCSHTTPRequest, progress: (@Sendable (Int64) -> Void)?) async throws -> GCSHTTPResponse
}

extension String {
    /// Percent-encoding for a query value or a path segment (RFC 3986 unreserved characters stay).
    var gcsQueryEncoded: String { V4Signer.percentEncode(self, keepSlash: false) }
}

/// A clock reading in seconds for retry budgets.
func monotonicSeconds() -> Double {
    let d = ContinuousClock.now - ContinuousClock.Instant.zeroReference
    return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

extension ContinuousClock.Instant {
    fileprivate static let zeroReference = ContinuousClock.now
}

/// Sleeps `seconds` (cancellable).
func sleepSeconds(_ seconds: Double) async throws {
    guard seconds > 0 else { return }
    try await Task.sleep(for: .milliseconds(Int64(seconds * 1000)))
}
