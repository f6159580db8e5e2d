import ComfySupport
import ComfyTransport
import Foundation

extension ResumableUpload {
    /// The protocol logic of a resumable upload, free of I/O (AsyncHTTPClient's `*+StateMachine` pattern).
    ///
    /// The driver (`ResumableUpload.run`) performs the `Action` each event returns and reports what happened. The
    /// machine decides everything else: the next chunk and its `Content-Range`, how to read an answer (308 with
    /// `Range`, 200/201 with the resource, 404/410 for an expired session, 412 for a failed precondition), when to
    /// ask the server what it holds instead of blindly resending, the retry budget (reset whenever the server
    /// confirms progress), and when to start a new session or give up.
    ///
    /// Event order: `start` → `sessionStarted` → then `chunkAnswered`/`chunkFailed` after each `.sendChunk`, and
    /// `statusAnswered`/`statusFailed` after each `.queryStatus`; `.startSession` again after a session expired.
    struct StateMachine {
        /// What the machine needs to know about the upload.
        struct Context {
            /// `gs://bucket/object`, for messages.
            var objectURI: String
            /// The local file, for messages.
            var path: String
            /// File size in bytes.
            var total: Int64
            /// Bytes per chunk (all but the last).
            var chunkSize: Int
            /// New sessions allowed after the old one expired.
            var maximumSessionRestarts: Int
            /// Backoff and budget of the recovery queries.
            var policy: RetryPolicy
            /// For permission messages.
            var authMethod: AuthMethod
            /// Scrubbed from every message built from an answer.
            var secrets: [String]
            /// Whether requests carry a bearer token (a 401 then means: refresh it and recover).
            var usesTokens: Bool
        }

        /// One chunk to send.
        struct Chunk: Equatable, Sendable {
            /// Its first byte in the file.
            var offset: Int64
            /// Its length (0 only for an empty file).
            var length: Int64
            /// True when it ends the file (it carries `X-Goog-Hash` and finalizes the object).
            var isLast: Bool
            /// The `Content-Range` header: `bytes START-END/TOTAL`, or `bytes */TOTAL` for an empty file.
            var contentRange: String
        }

        /// What the driver does next.
        enum Action {
            /// Start a (new) session; report `sessionStarted` (errors from starting end the upload).
            case startSession
            /// Send `chunk` to `session` once; report `chunkAnswered` or, for a transport failure, `chunkFailed`.
            case sendChunk(Chunk, session: String)
            /// Wait `delay`, then ask `session` what it holds (`Content-Range: bytes */TOTAL`); first drop the cached
            /// token when `invalidateToken`. Report `statusAnswered`, or `statusFailed` for a transient failure.
            case queryStatus(session: String, delay: Duration, invalidateToken: Bool)
            /// The upload is complete: the server's object resource.
            case succeed([String: Any])
            /// The upload failed.
            case fail(GCSError)
        }

        /// What the session holds, as one answer says.
        enum SessionState {
            case incomplete(persisted: Int64)
            case complete([String: Any])
            case expired
        }

        private enum State {
            case idle
            case startingSession
            case sendingChunk(session: String)
            case queryingStatus(session: String)
            case finished
        }

        let context: Context
        private var state: State = .idle
        /// Bytes the server has confirmed in the current session.
        private(set) var confirmed: Int64 = 0
        /// Sessions started after the first expired.
        private(set) var restarts = 0
        /// Recovery attempts since the last confirmed progress (the retry budget).
        private(set) var attempt = 1
        private var stallStarted = ContinuousClock.now
        private var lastError: GCSError?

        init(_ context: Context) { self.context = context }

        /// True once the machine returned `.succeed` or `.fail`.
        var isFinished: Bool {
            if case .finished = state { return true }
            return false
        }

        // MARK: events

        /// The upload begins.
        mutating func start() -> Action {
            precondition(isIdle, "start() called twice")
            state = .startingSession
            return .startSession
        }

        /// A session was started at `uri`.
        mutating func sessionStarted(_ uri: String, now: ContinuousClock.Instant) -> Action {
            guard case .startingSession = state else { preconditionFailure("sessionStarted in \(state)") }
            confirmed = 0
            attempt = 1
            stallStarted = now
            return nextChunk(session: uri)
        }

        /// The server answered the chunk last asked for.
        mutating func chunkAnswered(_ response: HTTPResponse, now: ContinuousClock.Instant) -> Action {
            guard case .sendingChunk(let session) = state else { preconditionFailure("chunkAnswered in \(state)") }
            if response.status == 401 && context.usesTokens {
                let error = responseError("chunk upload", response, session: session)
                return recover(after: error.asTransient, session: session, now: now, invalidateToken: true)
            }
            switch read(response, session: session) {
            case .decided(let action):
                return action
            case .incomplete(let persisted):
                guard persisted > confirmed else {
                    // The chunk was accepted but nothing was stored: treat as a transient failure.
                    let error = GCSError(
                        .http, "the server stored no bytes of the chunk at offset \(confirmed)", status: 308,
                        transient: true)
                    return recover(after: error, session: session, now: now)
                }
                attempt = 1
                stallStarted = now
                confirmed = persisted
                return nextChunk(session: session)
            case .undefined:
                let error = responseError(
                    "chunk upload of \(context.path) to \(context.objectURI) at offset \(confirmed)", response,
                    session: session)
                guard error.isTransient else { return fail(error) }
                return recover(after: error, session: session, now: now)
            }
        }

        /// Sending the chunk failed at the transport level (connection, timeout).
        mutating func chunkFailed(_ error: GCSError, now: ContinuousClock.Instant) -> Action {
            guard case .sendingChunk(let session) = state else { preconditionFailure("chunkFailed in \(state)") }
            return recover(after: error, session: session, now: now)
        }

        /// The server answered a status query.
        mutating func statusAnswered(_ response: HTTPResponse, now: ContinuousClock.Instant) -> Action {
            guard case .queryingStatus(let session) = state else { preconditionFailure("statusAnswered in \(state)") }
            switch read(response, session: session) {
            case .decided(let action):
                return action
            case .incomplete(let persisted):
                if persisted > confirmed {
                    attempt = 1
                    stallStarted = now
                }
                confirmed = persisted
                return nextChunk(session: session)
            case .undefined:
                let error = responseError(
                    "status query of the upload of \(context.objectURI)", response, session: session)
                guard error.isTransient else { return fail(error) }
                lastError = error
                return nextQuery(session: session, now: now, invalidateToken: false)
            }
        }

        /// A status query failed (after the client's own retries).
        mutating func statusFailed(_ error: GCSError, now: ContinuousClock.Instant) -> Action {
            guard case .queryingStatus(let session) = state else { preconditionFailure("statusFailed in \(state)") }
            guard error.isTransient else { return fail(error) }
            lastError = error
            return nextQuery(session: session, now: now, invalidateToken: false)
        }

        // MARK: transitions

        private var isIdle: Bool {
            if case .idle = state { return true }
            return false
        }

        /// What an answer means for the upload: decided (complete, expired, or a protocol error), incomplete, or a
        /// status the session protocol does not define (the caller decides whether it is transient).
        private enum Reading {
            case decided(Action)
            case incomplete(persisted: Int64)
            case undefined
        }

        private mutating func read(_ response: HTTPResponse, session: String) -> Reading {
            do throws(GCSError) {
                switch try interpret(response, session: session) {
                case .complete(let resource): return .decided(succeed(resource))
                case .expired: return .decided(restart(session: session))
                case .incomplete(let persisted): return .incomplete(persisted: persisted)
                case nil: return .undefined
                }
            } catch {
                return .decided(fail(error))
            }
        }

        private mutating func nextChunk(session: String) -> Action {
            let total = context.total
            let length = min(Int64(context.chunkSize), total - confirmed)
            let range = length > 0 ? "bytes \(confirmed)-\(confirmed + length - 1)/\(total)" : "bytes */\(total)"
            state = .sendingChunk(session: session)
            return .sendChunk(
                Chunk(offset: confirmed, length: length, isLast: confirmed + length == total, contentRange: range),
                session: session)
        }

        /// After a failure: wait, then ask the server what it holds.
        private mutating func recover(
            after error: GCSError, session: String, now: ContinuousClock.Instant, invalidateToken: Bool = false
        ) -> Action {
            lastError = error
            return nextQuery(session: session, now: now, invalidateToken: invalidateToken)
        }

        private mutating func nextQuery(
            session: String, now: ContinuousClock.Instant, invalidateToken: Bool
        )
            -> Action
        {
            let error = lastError!
            guard
                let delay = context.policy.gcsRetryDelay(
                    after: error, attempt: attempt, elapsed: now - stallStarted, idempotency: .idempotent)
            else { return fail(error) }
            attempt += 1
            state = .queryingStatus(session: session)
            return .queryStatus(session: session, delay: delay, invalidateToken: invalidateToken)
        }

        private mutating func restart(session: String) -> Action {
            restarts += 1
            guard restarts <= context.maximumSessionRestarts else {
                return fail(
                    GCSError.http(
                        "resumable upload of \(context.path) to \(context.objectURI)", status: 410,
                        url: Redaction.redactURL(session),
                        detail: "the upload session expired \(restarts) times; giving up"))
            }
            state = .startingSession
            return .startSession
        }

        private mutating func succeed(_ resource: [String: Any]) -> Action {
            state = .finished
            confirmed = context.total
            return .succeed(resource)
        }

        private mutating func fail(_ error: GCSError) -> Action {
            state = .finished
            return .fail(error)
        }

        private func responseError(_ what: String, _ response: HTTPResponse, session: String) -> GCSError {
            GCSError.response(
                what, response, url: Redaction.redactURL(session), authMethod: context.authMethod,
                secrets: context.secrets)
        }

        /// Reads a chunk's or status query's answer; `nil` for a status the session protocol does not define.
        /// Throws for a failed precondition (412) and for an answer that makes no sense (no resource, a bad
        /// `Range`, more bytes than the file has).
        func interpret(_ response: HTTPResponse, session: String) throws(GCSError) -> SessionState? {
            switch response.status {
            case 200, 201:
                guard let json = response.jsonObject else {
                    throw GCSError.http(
                        "finishing the upload of \(context.objectURI)", status: response.status,
                        url: Redaction.redactURL(session), detail: "the answer is not an object resource")
                }
                return .complete(json)
            case 308:
                // "Range: bytes=0-N" → N+1 bytes persisted; no Range → nothing persisted.
                guard let range = response.headers["Range"] else { return .incomplete(persisted: 0) }
                let spec = range.trimmingCharacters(in: .whitespaces)
                guard spec.hasPrefix("bytes="), let dash = spec.firstIndex(of: "-"),
                    let end = Int64(spec[spec.index(after: dash)...].trimmingCharacters(in: .whitespaces))
                else {
                    throw GCSError.http(
                        "resumable upload of \(context.objectURI)", status: 308, url: Redaction.redactURL(session),
                        detail: "unreadable Range header \"\(range.debugEscaped)\"")
                }
                let persisted = end + 1
                guard persisted <= context.total else {
                    throw GCSError.http(
                        "resumable upload of \(context.objectURI)", status: 308, url: Redaction.redactURL(session),
                        detail: "the server claims \(persisted) bytes of a \(context.total)-byte file")
                }
                return .incomplete(persisted: persisted)
            case 404, 410:
                return .expired
            case 412:
                throw GCSError.preconditionFailed(object: context.objectURI)
            default:
                return nil
            }
        }
    }
}

extension GCSError {
    var asTransient: GCSError {
        GCSError(kind, message, status: status, underlying: underlying, transient: true)
    }
}
