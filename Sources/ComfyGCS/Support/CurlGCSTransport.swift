import Foundation

/// ComfyGCS's requests over ComfyTransport (libcurl). Placeholder until ComfyTransport's client lands on main.
struct CurlGCSTransport: GCSTransport {
    func send(_ request: GCSHTTPRequest, progress: (@Sendable (Int64) -> Void)?) async throws -> GCSHTTPResponse {
        throw GCSError(.transport, "ComfyTransport is not available yet")
    }
}
