public import ComfyHandler
import ComfyLock
import Foundation
public import Hummingbird
public import Logging

/// The worker's local HTTP API in RunPod's shapes (the SDK's local API plus the hosted API's extra routes):
/// `POST /runsync`, `POST /run`, `GET|POST /status/{id}`, `POST /cancel/{id}`, `GET /health`, `GET /ready`,
/// `GET /openapi.json`, `GET /metrics` (Prometheus text format). Requests are `{"input": {...}}`; bodies over 20 MB (`/runsync`) or 10 MB (`/run`) are
/// refused with 413 like RunPod's own limits.
public struct HandlerHTTPAPI: Sendable {
    /// The job queue.
    public let queue: LocalJobQueue
    /// Start-up and ComfyUI state for `/ready` (the backlog limit is added here).
    public let readiness: @Sendable () async -> Readiness
    /// `/ready` answers 503 when more jobs than this wait or run.
    public let maxBacklog: Int
    /// Request body limits.
    public let maxRunSyncBytes: Int
    /// Request body limit of `/run`.
    public let maxRunBytes: Int

    /// An API over `queue`.
    public init(
        queue: LocalJobQueue, readiness: @escaping @Sendable () async -> Readiness = { Readiness(ready: true) },
        maxBacklog: Int = 16, maxRunSyncBytes: Int = 20_000_000, maxRunBytes: Int = 10_000_000
    ) {
        self.queue = queue
        self.readiness = readiness
        self.maxBacklog = maxBacklog
        self.maxRunSyncBytes = maxRunSyncBytes
        self.maxRunBytes = maxRunBytes
    }

    /// The router with every route.
    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        let api = self
        router.post("/runsync") { request, _ -> Response in
            switch try await api.readInput(request, limit: api.maxRunSyncBytes) {
            case .failure(let error): return error.response
            case .success(let (input, webhook)):
                let record = await api.queue.runSync(input: input, webhook: webhook)
                return Self.json(record.json)
            }
        }
        router.post("/run") { request, _ -> Response in
            switch try await api.readInput(request, limit: api.maxRunBytes) {
            case .failure(let error): return error.response
            case .success(let (input, webhook)):
                let id = await api.queue.submit(input: input, webhook: webhook)
                return Self.json(["id": .string(id), "status": "IN_QUEUE"])
            }
        }
        let status: @Sendable (Request, BasicRequestContext) async throws -> Response = { _, context in
            let id = context.parameters.get("id") ?? ""
            guard let record = await api.queue.status(id) else { return Self.notFound(id) }
            return Self.json(record.json)
        }
        router.get("/status/:id", use: status)
        router.post("/status/:id", use: status)
        router.post("/cancel/:id") { _, context -> Response in
            let id = context.parameters.get("id") ?? ""
            guard let record = await api.queue.cancel(id) else { return Self.notFound(id) }
            return Self.json(["id": .string(id), "status": .string(record.status.rawValue)])
        }
        router.get("/health") { _, _ -> Response in
            Self.json(await api.queue.health())
        }
        router.get("/ready") { _, _ -> Response in
            var report = await api.readiness()
            let backlog = await api.queue.backlog
            if backlog >= api.maxBacklog {
                report.ready = false
                report.reasons.append("\(backlog) jobs waiting or running (limit \(api.maxBacklog))")
            }
            return Self.json(
                ["ready": .bool(report.ready), "reasons": .array(report.reasons.map { .string($0) })],
                status: report.ready ? .ok : .serviceUnavailable)
        }
        Self.addMetricsRoute(to: router, metrics: queue.runner.metrics)
        router.get("/openapi.json") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        }
        return router
    }

    /// A Hummingbird application serving the API on `host:port`.
    public func application(
        host: String = "127.0.0.1", port: Int = 8000, logger: Logger = Logger(label: "comfylock.handler.http"),
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            router: router(),
            configuration: .init(address: .hostname(host, port: port), serverName: "comfy-handler"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger)
    }

    /// `GET /metrics`: the worker's metrics in the Prometheus text format.
    static func addMetricsRoute(to router: Router<BasicRequestContext>, metrics: WorkerMetrics) {
        router.get("/metrics") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: WorkerMetrics.contentType],
                body: .init(byteBuffer: ByteBuffer(string: metrics.exposition())))
        }
    }

    /// A server of `GET /metrics` and `GET /health` alone, for the RunPod mode (`--metrics-port`), where the worker
    /// serves no job API.
    public static func metricsApplication(
        metrics: WorkerMetrics, host: String, port: Int, logger: Logger,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
        addMetricsRoute(to: router, metrics: metrics)
        router.get("/health") { _, _ -> Response in json(["status": "ok"]) }
        return Application(
            router: router,
            configuration: .init(address: .hostname(host, port: port), serverName: "comfy-handler"),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger)
    }

    /// The `input` and `webhook` members of a request body, or the error response (400 malformed JSON or a
    /// `webhook` that is not a string, 413 too large).
    func readInput(_ request: Request, limit: Int) async throws -> Result<(JSONValue?, String?), ResponseError> {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch {
            return .failure(
                ResponseError(
                    response: Self.json(
                        ["error": .string("request body over \(limit) bytes (RunPod's limit for this route)")],
                        status: .contentTooLarge)))
        }
        let bytes = Array(buffer.readableBytesView)
        guard let value = try? JSONParser.parse(bytes) else {
            return .failure(
                ResponseError(response: Self.json(["error": "the request body is not JSON"], status: .badRequest)))
        }
        guard let object = value.objectValue else {
            return .failure(
                ResponseError(
                    response: Self.json(
                        ["error": "the request body must be an object {\"input\": ...}"], status: .badRequest)))
        }
        var webhook: String?
        if let value = object["webhook"], value != .null {
            guard let text = value.stringValue else {
                return .failure(
                    ResponseError(response: Self.json(["error": "webhook must be a URL string"], status: .badRequest)))
            }
            webhook = text
        }
        return .success((object["input"], webhook))
    }

    /// A wrapped error response (so it can be a `Result` failure).
    struct ResponseError: Error {
        let response: Response
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: CanonicalJSON.encode(value))))
    }

    static func notFound(_ id: String) -> Response {
        json(["error": .string("no job with this id")], status: .notFound)
    }
}
