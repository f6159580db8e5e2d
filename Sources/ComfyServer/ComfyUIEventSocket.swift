internal import Foundation
public import Logging
internal import Synchronization
internal import WSClient

/// ComfyUI's WebSocket (`/ws?clientId=`) as an `AsyncStream` of typed events, reconnecting when the socket is lost.
///
/// Uses `WSClient` from hummingbird-project/swift-websocket (libcurl here has no WebSocket support). A lost socket is
/// reported as `.disconnected` and reopened with the same client id after a bounded exponential backoff (ComfyUI
/// then re-sends the node it is executing for that client). The stream ends when the consumer stops iterating or
/// the task is cancelled. A socket can be open and silent: callers pair it with a watchdog (`WorkflowRunner` does).
public enum ComfyUIEventSocket {
    /// What the socket task reports.
    public enum Signal: Sendable, Hashable {
        /// The socket is open (first connection or after a reconnect; `attempt` counts connections from 1).
        case connected(attempt: Int)
        /// A message arrived.
        case event(ComfyUIEvent)
        /// The socket closed or failed; a reconnect follows.
        case disconnected(reason: String)
    }

    /// Reconnect backoff: first delay, cap.
    public static let reconnectDelays: (first: Duration, max: Duration) = (.milliseconds(50), .seconds(2))
    /// Largest message accepted (ComfyUI's `executed` messages carry UI outputs).
    public static let maxMessageSize = 16 << 20

    /// Opens the socket for `clientID` on `client`'s server and streams what happens on it.
    public static func events(
        client: ComfyUIClient, clientID: String, logger: Logger? = nil
    )
        -> AsyncStream<Signal>
    {
        let (stream, continuation) = AsyncStream<Signal>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
        let url = client.webSocketURL(clientID: clientID)
        let log = logger ?? client.logger
        let task = Task {
            await run(url: url, logger: log) { continuation.yield($0) }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return stream
    }

    /// Runs the socket until the calling task is cancelled, passing every signal to `onSignal`.
    static func run(url: String, logger: Logger, onSignal: @escaping @Sendable (Signal) -> Void) async {
        var attempt = 0
        var delay = reconnectDelays.first
        var configuration = WebSocketClientConfiguration()
        configuration.maxFrameSize = maxMessageSize
        // ComfyUI's own pings keep the connection; a dead peer is found by the runner's watchdog.
        while !Task.isCancelled {
            attempt += 1
            let thisAttempt = attempt
            var reason = "closed by the server"
            do {
                try await WebSocketClient.connect(url: url, configuration: configuration, logger: logger) {
                    inbound, _, _ in
                    onSignal(.connected(attempt: thisAttempt))
                    for try await message in inbound.messages(maxSize: maxMessageSize) {
                        if case .text(let text) = message, let event = ComfyUIEvent.parse(text) {
                            onSignal(.event(event))
                        }
                    }
                }
                delay = reconnectDelays.first
            } catch {
                if Task.isCancelled { break }
                reason = "\(error)"
            }
            if Task.isCancelled { break }
            onSignal(.disconnected(reason: String(reason.prefix(300))))
            logger.debug("ComfyUI socket lost; reconnecting", metadata: ["reason": "\(reason.prefix(200))"])
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, reconnectDelays.max)
        }
    }
}

/// One ComfyUI WebSocket shared by every job of a `WorkflowRunner` (one client id for the runner's life), fanned
/// out to the jobs' signal streams.
///
/// A job that subscribes while the socket is open gets `.connected(attempt: 1)` at once, so it queues its prompt
/// without a WebSocket handshake of its own; every signal after that reaches every subscriber (each job keeps only
/// the events of its own prompt id, as with a socket of its own). The socket reconnects as
/// `ComfyUIEventSocket.run` does (same client id: ComfyUI re-sends the node it is executing for it). Subscribing
/// before queueing means no event of the job's prompt can be missed.
final class SharedEventSocket: Sendable {
    typealias Signal = ComfyUIEventSocket.Signal

    private struct State {
        var subscribers: [Int: AsyncStream<Signal>.Continuation] = [:]
        var next = 0
        var connectedAttempt: Int?
        var task: Task<Void, Never>?
    }

    /// The client id every job of this socket queues its prompt with.
    let clientID = UUID().uuidString.lowercased()
    private let url: String
    private let logger: Logger
    private let state = Mutex(State())

    init(client: ComfyUIClient, logger: Logger) {
        self.url = client.webSocketURL(clientID: clientID)
        self.logger = logger
    }

    deinit { state.withLock { $0.task?.cancel() } }

    /// A stream of this socket's signals from now on (ends when the consumer stops iterating or is cancelled).
    func subscribe() -> AsyncStream<Signal> {
        let (stream, continuation) = AsyncStream<Signal>.makeStream(bufferingPolicy: .bufferingNewest(10_000))
        let id = state.withLock { state -> Int in
            state.next += 1
            state.subscribers[state.next] = continuation
            if state.connectedAttempt != nil { continuation.yield(.connected(attempt: 1)) }
            if state.task == nil {
                let url = self.url
                let logger = self.logger
                state.task = Task { [weak self] in
                    await ComfyUIEventSocket.run(url: url, logger: logger) { [weak self] signal in
                        self?.broadcast(signal)
                    }
                }
            }
            return state.next
        }
        continuation.onTermination = { [weak self] _ in
            _ = self?.state.withLock { $0.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    private func broadcast(_ signal: Signal) {
        let targets = state.withLock { state -> [AsyncStream<Signal>.Continuation] in
            switch signal {
            case .connected(let attempt): state.connectedAttempt = attempt
            case .disconnected: state.connectedAttempt = nil
            case .event: break
            }
            return Array(state.subscribers.values)
        }
        for target in targets { target.yield(signal) }
    }
}
