import ComfyTransport
import Foundation

/// One resumable upload: drives `ResumableUpload.StateMachine` over the client's transport. The machine decides;
/// this performs its actions (start a session, send a chunk, wait and query the session) and reports back.
struct ResumableUpload {
    let client: GCSClient
    let path: String
    let object: String
    let size: Int64
    /// The file's checksums, computed while the first chunks travel; the last chunk waits for them.
    let checksums: Task<FileChecksums, any Error>
    let contentType: String
    let options: UploadOptions
    let progress: (@Sendable (UploadProgress) -> Void)?

    /// Uploads the file and returns the server's object resource.
    func run() async throws -> [String: Any] {
        let total = size
        var machine = StateMachine(
            StateMachine.Context(
                objectURI: client.uri(of: object), path: path, total: total, chunkSize: options.chunkSize,
                maximumSessionRestarts: options.maximumSessionRestarts, policy: client.retryPolicy,
                authMethod: client.authMethod, secrets: client.secrets, usesTokens: client.tokens != nil))
        var action = machine.start()
        var reported: Int64 = 0
        while true {
            switch action {
            case .startSession:
                let session = try await client.startSession(
                    object: object, size: size, contentType: contentType, options: options)
                action = machine.sessionStarted(session, now: .now)

            case .sendChunk(let chunk, let session):
                try Task.checkCancellation()
                if machine.confirmed > reported {
                    reported = machine.confirmed
                    progress?(UploadProgress(bytesSent: reported, totalBytes: total))
                }
                var headers: HTTPHeaders = ["Content-Range": chunk.contentRange]
                if chunk.isLast {
                    let local = try await checksums.value
                    guard local.size == total else {
                        throw GCSError.file(path, "it changed size during the upload (\(total) → \(local.size) bytes)")
                    }
                    headers.add(name: "X-Goog-Hash", value: "crc32c=\(local.crc32c),md5=\(local.md5)")
                }
                let request = try GCSTransport.request(
                    .put, session, headers: headers,
                    body: chunk.length == 0
                        ? .bytes([]) : .fileRegion(path: path, offset: chunk.offset, length: chunk.length),
                    timeout: nil)
                let byteProgress: (@Sendable (Int64) -> Void)? = progress.map { report in
                    { @Sendable sent in report(UploadProgress(bytesSent: chunk.offset + sent, totalBytes: total)) }
                }
                do {
                    // One attempt per chunk; on failure the machine queries the session instead of resending.
                    let token = try await client.accessToken()
                    let response = try await client.transport.send(
                        client.authorize(request, with: token), progress: byteProgress)
                    action = machine.chunkAnswered(response, now: .now)
                } catch let error as GCSError where error.kind == .transport {
                    action = machine.chunkFailed(error, now: .now)
                }

            case .queryStatus(let session, let delay, let invalidateToken):
                if invalidateToken, let tokens = client.tokens, let token = try await client.accessToken() {
                    await tokens.invalidate(token)
                }
                try await Task.sleep(for: delay)
                let query = try GCSTransport.request(
                    .put, session, headers: ["Content-Range": "bytes */\(total)"], body: .bytes([]),
                    timeout: .seconds(60))
                do {
                    let response = try await client.execute(query, idempotency: .idempotent)
                    action = machine.statusAnswered(response, now: .now)
                } catch let error as GCSError where error.isTransient {
                    action = machine.statusFailed(error, now: .now)
                }

            case .succeed(let resource):
                progress?(UploadProgress(bytesSent: total, totalBytes: total))
                return resource

            case .fail(let error):
                throw error
            }
        }
    }
}
