import ComfyTransport
import Foundation
import Testing

@testable import ComfyGCS

/// The resumable upload's state machine, driven event by event without a server (the emulator tests in
/// UploadTests drive the same machine over HTTP).
@Suite("Resumable upload state machine")
struct ResumableUploadStateMachineTests {
    typealias Machine = ResumableUpload.StateMachine
    static let chunk = 256 * 1024
    static let session = "http://127.0.0.1:1/upload/storage/v1/b/b/o?uploadType=resumable&upload_id=SECRET-ID"

    static func machine(
        total: Int64, restarts: Int = 2, attempts: Int = 4, totalTimeout: Duration? = .seconds(60),
        usesTokens: Bool = false
    ) -> Machine {
        Machine(
            Machine.Context(
                objectURI: "gs://b/o", path: "/tmp/f", total: total, chunkSize: chunk, maximumSessionRestarts: restarts,
                policy: RetryPolicy(
                    maxAttempts: attempts, initialDelay: .milliseconds(100), maxDelay: .seconds(1), jitter: 0,
                    totalTimeout: totalTimeout),
                authMethod: .emulator, secrets: ["SECRET-ID"], usesTokens: usesTokens))
    }

    static func response(_ status: Int, headers: HTTPHeaders = [:], body: String = "") -> HTTPResponse {
        HTTPResponse(
            head: HTTPResponseHead(status: status, headers: headers, url: URL(string: session)!), body: Array(body.utf8)
        )
    }
    static func persisted(_ lastByte: Int64) -> HTTPResponse {
        response(308, headers: ["Range": "bytes=0-\(lastByte)"])
    }
    static let resource = response(200, body: #"{"name":"o","size":"3"}"#)

    /// The chunk of a `.sendChunk` action, else `nil`.
    static func chunk(_ action: Machine.Action) -> Machine.Chunk? {
        if case .sendChunk(let chunk, let session) = action, session == Self.session { return chunk }
        return nil
    }
    static func query(_ action: Machine.Action) -> (delay: Duration, invalidateToken: Bool)? {
        if case .queryStatus(let session, let delay, let invalidate) = action, session == Self.session {
            return (delay, invalidate)
        }
        return nil
    }
    static func failure(_ action: Machine.Action) -> GCSError? {
        if case .fail(let error) = action { return error }
        return nil
    }
    static func isStartSession(_ action: Machine.Action) -> Bool {
        if case .startSession = action { return true }
        return false
    }
    static func resource(_ action: Machine.Action) -> [String: Any]? {
        if case .succeed(let resource) = action { return resource }
        return nil
    }

    @Test("chunks follow the server's Range: full chunks, a partial persist, the last chunk, then the resource")
    func happyPath() throws {
        let total = Int64(Self.chunk) * 2 + 1000
        var m = Self.machine(total: total)
        let now = ContinuousClock.now
        #expect(Self.isStartSession(m.start()))
        let first = try #require(Self.chunk(m.sessionStarted(Self.session, now: now)))
        #expect(
            first == Machine.Chunk(offset: 0, length: 262_144, isLast: false, contentRange: "bytes 0-262143/525288"))
        // The server kept only part of the chunk: the next one starts where it stopped.
        let second = try #require(Self.chunk(m.chunkAnswered(Self.persisted(99_999), now: now)))
        #expect(
            second
                == Machine.Chunk(
                    offset: 100_000, length: 262_144, isLast: false, contentRange: "bytes 100000-362143/525288"))
        let last = try #require(Self.chunk(m.chunkAnswered(Self.persisted(362_143), now: now)))
        #expect(
            last
                == Machine.Chunk(
                    offset: 362_144, length: 163_144, isLast: true, contentRange: "bytes 362144-525287/525288"))
        let done = try #require(Self.resource(m.chunkAnswered(Self.resource, now: now)))
        #expect(done["name"] as? String == "o")
        #expect(m.isFinished && m.confirmed == total)
    }

    @Test("an empty file is one empty, final chunk: bytes */0")
    func emptyFile() throws {
        var m = Self.machine(total: 0)
        _ = m.start()
        let only = try #require(Self.chunk(m.sessionStarted(Self.session, now: .now)))
        #expect(only == Machine.Chunk(offset: 0, length: 0, isLast: true, contentRange: "bytes */0"))
    }

    @Test("a transport failure leads to a status query after the backoff; the answer decides where to resume")
    func recoveryQueriesTheSession() throws {
        var m = Self.machine(total: Int64(Self.chunk) * 3)
        let now = ContinuousClock.now
        _ = m.start()
        _ = m.sessionStarted(Self.session, now: now)
        let dropped = GCSError(.transport, "PUT: connection reset", transient: true)
        let wait = try #require(Self.query(m.chunkFailed(dropped, now: now)))
        #expect(wait.delay == .milliseconds(100) && !wait.invalidateToken)
        // A transient failure of the query itself: another query, with a longer backoff.
        let again = try #require(Self.query(m.statusFailed(dropped, now: now)))
        #expect(again.delay == .milliseconds(200))
        // 503 to the query: still transient, still querying.
        let third = try #require(Self.query(m.statusAnswered(Self.response(503), now: now)))
        #expect(third.delay == .milliseconds(400))
        // The server holds the first chunk: resume after it, and the retry budget starts over.
        let next = try #require(Self.chunk(m.statusAnswered(Self.persisted(262_143), now: now)))
        #expect(next.offset == 262_144)
        #expect(m.attempt == 1)
        #expect(Self.query(m.chunkFailed(dropped, now: now))?.delay == .milliseconds(100))
        // The query may also find the upload complete (the chunk did arrive).
        #expect(Self.resource(m.statusAnswered(Self.resource, now: now)) != nil)
    }

    @Test("a chunk answered with no progress, 503 or 429 is recovered by a query; 400 ends the upload")
    func transientAndPermanentAnswers() throws {
        let now = ContinuousClock.now
        for status in [308, 503, 429] {
            var m = Self.machine(total: Int64(Self.chunk) * 2)
            _ = m.start()
            _ = m.sessionStarted(Self.session, now: now)
            #expect(Self.query(m.chunkAnswered(Self.response(status), now: now)) != nil, "status \(status)")
        }
        var m = Self.machine(total: Int64(Self.chunk) * 2)
        _ = m.start()
        _ = m.sessionStarted(Self.session, now: now)
        let error = try #require(
            Self.failure(m.chunkAnswered(Self.response(400, body: #"{"error":{"message":"bad SECRET-ID"}}"#), now: now))
        )
        #expect(error.kind == .http && error.status == 400)
        #expect(error.message.contains("at offset 0"))
        #expect(!error.message.contains("SECRET-ID"))
        #expect(m.isFinished)
    }

    @Test("the retry budget is bounded by attempts and by time since the last confirmed progress")
    func budget() throws {
        let start = ContinuousClock.now
        let dropped = GCSError(.transport, "PUT: connection reset", transient: true)
        var m = Self.machine(total: Int64(Self.chunk) * 2, attempts: 3)
        _ = m.start()
        _ = m.sessionStarted(Self.session, now: start)
        #expect(Self.query(m.chunkFailed(dropped, now: start)) != nil)
        #expect(Self.query(m.statusFailed(dropped, now: start)) != nil)
        let final = try #require(Self.failure(m.statusFailed(dropped, now: start)))
        #expect(final.message == dropped.message)

        var timed = Self.machine(total: Int64(Self.chunk) * 2, attempts: 100, totalTimeout: .seconds(5))
        _ = timed.start()
        _ = timed.sessionStarted(Self.session, now: start)
        #expect(Self.query(timed.chunkFailed(dropped, now: start + .seconds(4))) != nil)
        #expect(Self.failure(timed.statusFailed(dropped, now: start + .seconds(5))) != nil)
        // A non-transient transport failure is not retried at all.
        var hard = Self.machine(total: 10)
        _ = hard.start()
        _ = hard.sessionStarted(Self.session, now: start)
        #expect(Self.failure(hard.chunkFailed(GCSError(.transport, "TLS failure"), now: start)) != nil)
    }

    @Test("an expired session (404/410) starts a new one from byte 0, a bounded number of times")
    func sessionRestarts() throws {
        var m = Self.machine(total: Int64(Self.chunk) * 2, restarts: 2)
        let now = ContinuousClock.now
        _ = m.start()
        _ = m.sessionStarted(Self.session, now: now)
        _ = m.chunkAnswered(Self.persisted(262_143), now: now)
        #expect(Self.isStartSession(m.chunkAnswered(Self.response(410), now: now)))
        #expect(Self.chunk(m.sessionStarted(Self.session, now: now))?.offset == 0)
        #expect(m.confirmed == 0)
        // Expiry found by a status query counts too.
        _ = m.chunkFailed(GCSError(.transport, "reset", transient: true), now: now)
        #expect(Self.isStartSession(m.statusAnswered(Self.response(404), now: now)))
        _ = m.sessionStarted(Self.session, now: now)
        let error = try #require(Self.failure(m.chunkAnswered(Self.response(410), now: now)))
        #expect(error.message.contains("expired 3 times"))
        #expect(!error.message.contains("SECRET-ID"))
        #expect(m.restarts == 3)
    }

    @Test("412 is a failed precondition; an unreadable or impossible Range is an error naming the header")
    func protocolErrors() throws {
        let now = ContinuousClock.now
        func afterFirstChunk(_ response: HTTPResponse) -> Machine.Action {
            var m = Self.machine(total: 1000)
            _ = m.start()
            _ = m.sessionStarted(Self.session, now: now)
            return m.chunkAnswered(response, now: now)
        }
        #expect(Self.failure(afterFirstChunk(Self.response(412)))?.kind == .preconditionFailed)
        let unreadable = try #require(Self.failure(afterFirstChunk(Self.response(308, headers: ["Range": "rows=1-2"]))))
        #expect(unreadable.message.contains("unreadable Range header"))
        let impossible = try #require(Self.failure(afterFirstChunk(Self.persisted(5000))))
        #expect(impossible.message.contains("claims 5001 bytes of a 1000-byte file"))
        let notResource = try #require(Self.failure(afterFirstChunk(Self.response(200, body: "ok"))))
        #expect(notResource.message.contains("not an object resource"))
    }

    @Test("401 on a chunk: with tokens, drop the token and query; without (emulator), a permission error")
    func unauthorized() throws {
        let now = ContinuousClock.now
        var withTokens = Self.machine(total: 1000, usesTokens: true)
        _ = withTokens.start()
        _ = withTokens.sessionStarted(Self.session, now: now)
        let query = try #require(Self.query(withTokens.chunkAnswered(Self.response(401), now: now)))
        #expect(query.invalidateToken)
        var emulator = Self.machine(total: 1000, usesTokens: false)
        _ = emulator.start()
        _ = emulator.sessionStarted(Self.session, now: now)
        #expect(Self.failure(emulator.chunkAnswered(Self.response(401), now: now))?.kind == .permission)
    }
}
