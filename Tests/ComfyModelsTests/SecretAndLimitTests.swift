import ComfyCLI
import ComfyCrypto
import ComfyLock
import ComfyModels
import ComfyTransport
import Foundation
import TestSupport
import Testing

/// Issue 9 classes 2 and 4 at the transport/store boundary: a server that echoes the Authorization header in its
/// error body never gets the token into an error, output or file; downloads without a size are capped and every
/// attempt has an overall deadline.
@Suite("Security: echoed tokens, download caps and deadlines")
struct SecretAndLimitTests {
    @Test("HTTPError from a server echoing Authorization carries no token (environment and caller headers)")
    func httpErrorScrubbed() async throws {
        let file = try ServedFile()
        let token = "tok-\(UUID().uuidString)"
        let gcsToken = "ya29.\(UUID().uuidString)"
        let port = file.server.url(file.path).port!
        let env = [HostCredentials.variableName(scheme: "http", host: "127.0.0.1", port: port): token]
        let client = HTTPClient(
            configuration: .init(credentials: HostCredentials(environment: env), retryPolicy: .none))
        try file.server.inject(.echoHeaders(status: 403, times: 2), path: file.path)
        final class Sink: HTTPBodySink, @unchecked Sendable {  // unchecked: written by one transfer thread only
            func begin(_ head: HTTPResponseHead) throws {}
            func write(_ bytes: UnsafeRawBufferPointer) throws {}
        }
        do {
            _ = try await client.stream(HTTPRequest(url: file.server.url(file.path)), to: Sink())
            Issue.record("no error")
        } catch let error as HTTPError {
            #expect(error.status == 403)
            #expect(error.bodyExcerpt?.contains("request_headers") == true, "the server did echo: \(error)")
            #expect(!error.description.contains(token) && error.bodyExcerpt?.contains(token) == false, "\(error)")
        }
        var request = HTTPRequest(url: file.server.url(file.path))
        request.headers.add(name: "Authorization", value: "Bearer \(gcsToken)")
        do {
            _ = try await client.stream(request, to: Sink())
            Issue.record("no error")
        } catch let error as HTTPError {
            #expect(!"\(error) \(error.bodyExcerpt ?? "")".contains(gcsToken), "\(error)")
        }
        // The server really received the token (the test can fail).
        #expect(try file.server.requests().contains { $0.headers["authorization"] == "Bearer \(token)" })
    }

    @Test("models fetch and pin wheelhouse against an echoing server: no token in any output (text and --json)")
    func cliOutputsScrubbed() async throws {
        let file = try ServedFile()
        let dir = file.dir
        let token = "sekrit-\(UUID().uuidString)"
        let port = file.server.url(file.path).port!
        let env = [
            HostCredentials.variableName(scheme: "http", host: "127.0.0.1", port: port): token,
            "COMFYLOCK_STORE": dir.appending("store").path, "HOME": dir.appending("home").path,
        ]
        try file.server.inject(.echoHeaders(status: 403, times: 1000), path: file.path)
        let sha = SHA256.hash(file.bytes).hex
        let url = file.server.url(file.path).absoluteString
        let pins = PythonPins(
            version: "3.11", platform: "manylinux_2_36_x86_64",
            packages: [
                PythonPackage(
                    name: "pkg", version: "1.0",
                    artifacts: [PythonArtifact(url: url, sha256: sha, filename: "pkg-1.0-py3-none-any.whl")])
            ])
        let lock = Lock(
            tag: "t", createdBy: "test",
            comfyui: ComfyUIPin(
                url: "https://github.com/comfyanonymous/ComfyUI", commit: String(repeating: "a", count: 40)),
            python: pins)
        let lockPath = dir.appending("lock.json")
        _ = try LockFile.write(lock, to: lockPath)
        var results: [SubprocessResult] = []
        for json in [false, true] {
            results.append(
                try Subprocess.comfyCLI(
                    ["models", "fetch", url, "--sha256", sha, "-o", dir.appending("out-\(json)").path]
                        + (json ? ["--json"] : []), environment: env))
            results.append(
                try Subprocess.comfyCLI(
                    ["pin", "wheelhouse", "--lock", lockPath.path, dir.appending("wh-\(json)").path]
                        + (json ? ["--json"] : []), environment: env))
        }
        for result in results {
            #expect(result.status == 2, "\(result.standardError)")
            #expect(result.standardError.contains("403") || result.standardOutput.contains("403"), "\(result)")
            #expect(!result.standardOutput.contains(token) && !result.standardError.contains(token), "\(result)")
        }
        // Nothing the commands wrote holds it either.
        for path in RuntimeFiles.all(under: dir.appending("store")) {
            let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            #expect(!text.contains(token), "\(path)")
        }
        #expect(try file.server.requests().contains { $0.headers["authorization"] == "Bearer \(token)" })
    }

    @Test("a download without a size is capped (Content-Length and streamed bytes); nothing reaches the blob")
    func unsizedCap() async throws {
        let f = try StoreFixture(size: 30_000)
        var store = f.store
        store.maxUnsizedDownloadBytes = 10_000
        store.retryPolicy = .none
        do {
            _ = try await store.ensureBlob(sha256: f.sha256, size: nil, sources: [f.source])
            Issue.record("downloaded past the cap")
        } catch {
            #expect("\(error)".contains("larger than 10000 bytes"), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: f.blob.path))
        store.maxUnsizedDownloadBytes = 30_000
        _ = try await store.ensureBlob(sha256: f.sha256, size: nil, sources: [f.source])
        #expect(try f.blobBytes() == f.file.bytes)
    }

    @Test("every download attempt has an overall deadline besides the low-speed timeout")
    func attemptDeadline() async throws {
        let f = try StoreFixture(size: 30_000)
        var store = f.store
        store.downloadAttemptTimeout = .seconds(2)
        store.retryPolicy = .none
        // The server sends 100 bytes then holds the connection for 60 s: above no low-speed limit of 60 s.
        try f.file.server.inject(.stall(at: 100, seconds: 60), path: f.file.path)
        do {
            _ = try await store.ensureBlob(sha256: f.sha256, size: f.size, sources: [f.source])
            Issue.record("no deadline")
        } catch {
            #expect("\(error)".contains("timed out"), "\(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: f.blob.path))
    }
}

/// Every regular file under a directory.
enum RuntimeFiles {
    static func all(under dir: URL) -> [String] {
        (FileManager.default.enumerator(atPath: dir.path)?.allObjects as? [String] ?? []).map { dir.path + "/" + $0 }
    }
}
