internal import ComfyCrypto
public import ComfyLock
public import ComfyTransport
public import Foundation
public import Logging

/// A client for ComfyUI's HTTP API, over ComfyTransport's `HTTPClient` (the one HTTP stack of the product).
///
/// Every answer is untrusted: bodies are size-bounded by the transport, parsed by the strict JSON parser, and any
/// text from the server that reaches an error message is escaped. Idempotent reads are retried by the transport's
/// policy; `queuePrompt` and other writes are sent once.
public final class ComfyUIClient: Sendable {
    /// The server, e.g. `http://127.0.0.1:8188` (no trailing path).
    public let baseURL: URL
    /// The transport.
    public let httpClient: HTTPClient
    /// Where requests are logged (debug level; no body is logged).
    public let logger: Logger
    /// Time limit for one API call.
    public let requestTimeout: Duration

    /// A client for the ComfyUI at `baseURL` (http or https).
    public init(
        baseURL: URL, httpClient: HTTPClient = .shared, logger: Logger = Logger(label: "comfylock.comfyui"),
        requestTimeout: Duration = .seconds(60)
    ) {
        var text = baseURL.absoluteString
        while text.hasSuffix("/") { text.removeLast() }
        self.baseURL = URL(string: text) ?? baseURL
        self.httpClient = httpClient
        self.logger = logger
        self.requestTimeout = requestTimeout
    }

    /// The WebSocket URL for `clientID` (`ws://…/ws?clientId=…`).
    public func webSocketURL(clientID: String) -> String {
        var components = URLComponents(url: baseURL, resolvingAgainstBaseURL: false) ?? URLComponents()
        components.scheme = baseURL.scheme == "https" ? "wss" : "ws"
        components.path = (components.path.isEmpty ? "" : components.path) + "/ws"
        components.queryItems = [URLQueryItem(name: "clientId", value: clientID)]
        return components.string ?? "\(baseURL.absoluteString)/ws?clientId=\(clientID)"
    }

    // MARK: - Endpoints

    /// `GET /system_stats`.
    public func systemStats(
        retry: RetryPolicy? = nil, timeout: Duration? = nil
    ) async throws(ComfyUIError)
        -> SystemStats
    {
        SystemStats(json: try await getJSON("/system_stats", retry: retry, timeout: timeout))
    }

    /// `GET /object_info`: every node class the server knows.
    public func objectInfo(retry: RetryPolicy? = nil) async throws(ComfyUIError) -> ObjectInfo {
        let json = try await getJSON("/object_info", retry: retry)
        guard case .object = json else { throw .connection("/object_info did not answer a JSON object") }
        return ObjectInfo(json: json)
    }

    /// `POST /prompt` with `client_id`: queues the workflow. A 400 becomes `ComfyUIError.validation` with ComfyUI's
    /// `error` message and every `node_errors` entry (node id, class type, input name, message).
    public func queuePrompt(
        _ workflow: Workflow, clientID: String, extraData: [String: JSONValue] = [:], promptID: String? = nil
    ) async throws(ComfyUIError) -> QueuedPrompt {
        var body: [String: JSONValue] = ["prompt": workflow.json, "client_id": .string(clientID)]
        if !extraData.isEmpty { body["extra_data"] = .object(extraData) }
        if let promptID { body["prompt_id"] = .string(promptID) }
        let response = try await send(.post, "/prompt", json: .object(body), retry: RetryPolicy.none)
        let json = try? JSONParser.parse(response.body)
        if response.status == 400 || (response.status == 200 && json?["error"] != nil && json?["prompt_id"] == nil) {
            throw Self.validationError(json)
        }
        guard response.status == 200, let json else {
            throw .connection(
                "ComfyUI answered \(response.status) to /prompt: \(Escaping.escape(response.bodyText, limit: 300))",
                retryable: response.status >= 500)
        }
        guard let id = json["prompt_id"]?.stringValue, !id.isEmpty else {
            throw .connection("ComfyUI's /prompt answer has no prompt_id")
        }
        return QueuedPrompt(
            promptID: id, number: json["number"]?.numberValue ?? 0, nodeErrors: Self.nodeErrors(json["node_errors"]))
    }

    /// `GET /history/{id}`: `nil` until the prompt is done (ComfyUI answers `{}`).
    public func history(
        promptID: String, retry: RetryPolicy? = nil, timeout: Duration? = nil
    )
        async throws(ComfyUIError) -> PromptHistory?
    {
        let json = try await getJSON(
            "/history/" + Self.pathComponent(promptID), retry: retry, timeout: timeout)
        guard let entry = json[promptID], case .object = entry else { return nil }
        return PromptHistory(promptID: promptID, json: entry)
    }

    /// `POST /history {"delete": [ids]}`: removes these prompts' history entries (ComfyUI keeps up to 10,000 entries,
    /// each with its whole prompt, outputs and status messages, so a long-running worker that never deletes makes
    /// ComfyUI's memory grow with every job). Ids ComfyUI does not know are ignored, as ComfyUI itself does.
    public func deleteHistory(
        promptIDs: [String], timeout: Duration? = nil
    ) async throws(ComfyUIError) {
        let response = try await send(
            .post, "/history", json: .object(["delete": .array(promptIDs.map { .string($0) })]),
            retry: RetryPolicy.none, timeout: timeout)
        guard response.status == 200 else { throw .connection("ComfyUI answered \(response.status) to POST /history") }
    }

    /// `GET /queue`: prompt ids running and pending.
    public func queue(retry: RetryPolicy? = nil, timeout: Duration? = nil) async throws(ComfyUIError) -> QueueState {
        let json = try await getJSON("/queue", retry: retry, timeout: timeout)
        func ids(_ key: String) -> [String] {
            (json[key]?.arrayValue ?? []).compactMap {
                $0.arrayValue?.count ?? 0 > 1 ? $0.arrayValue?[1].stringValue : nil
            }
        }
        return QueueState(running: ids("queue_running"), pending: ids("queue_pending"))
    }

    /// `GET /view`: the bytes of an output, input or temp file (buffered; see `download` for files).
    public func view(_ file: FileReference) async throws(ComfyUIError) -> [UInt8] {
        let response = try await send(.get, viewPath(file), retry: nil)
        guard response.status == 200 else {
            throw .connection("ComfyUI answered \(response.status) to /view for \(Escaping.escape(file.filename))")
        }
        return response.body
    }

    /// Streams `/view` of `file` into `path` (written as `path.partial`, then renamed) and returns its size and
    /// SHA-256. `durable` flushes the file to the disk (`fsync`) before the rename — for a file that must survive a
    /// crash; a scratch copy read back at once and then removed (the worker's per-job downloads) skips it.
    public func download(
        _ file: FileReference, to path: String, durable: Bool = true
    ) async throws(ComfyUIError) -> (
        size: Int64, sha256: String
    ) {
        let partial = path + ".partial"
        let sink: HashingFileSink
        do { sink = try HashingFileSink(path: partial, durable: durable) } catch {
            throw .io("cannot write \(path): \(error)")
        }
        do {
            guard let url = URL(string: baseURL.absoluteString + viewPath(file)) else {
                throw ComfyUIError.connection("bad /view URL")
            }
            try await httpClient.stream(
                HTTPRequest(url: url, useEnvironmentCredentials: false, timeout: .seconds(600)), to: sink)
            let (size, digest) = try sink.finish()
            guard rename(partial, path) == 0 else { throw ComfyUIError.io("cannot rename \(partial) to \(path)") }
            return (size, digest)
        } catch let error as ComfyUIError {
            sink.abandon()
            unlink(partial)
            throw error
        } catch {
            sink.abandon()
            unlink(partial)
            throw .connection("downloading \(Escaping.escape(file.filename)) failed: \(error)")
        }
    }

    /// `POST /upload/image` (multipart): puts `data` into ComfyUI's input (or `type`) directory as `name`.
    public func uploadImage(
        _ data: [UInt8], name: String, subfolder: String = "", type: String = "input", overwrite: Bool = true
    ) async throws(ComfyUIError) -> FileReference {
        try await upload(
            "/upload/image", data: data, name: name,
            fields: [
                ("subfolder", subfolder), ("type", type), ("overwrite", overwrite ? "true" : "false"),
            ])
    }

    /// `POST /upload/mask`: applies `data`'s alpha channel to `original` and saves it as `name`.
    public func uploadMask(
        _ data: [UInt8], name: String, original: FileReference, subfolder: String = "", type: String = "input",
        overwrite: Bool = true
    ) async throws(ComfyUIError) -> FileReference {
        let ref = CanonicalJSON.encode(
            .object([
                "filename": .string(original.filename), "subfolder": .string(original.subfolder),
                "type": .string(original.type),
            ]))
        return try await upload(
            "/upload/mask", data: data, name: name,
            fields: [
                ("subfolder", subfolder), ("type", type), ("overwrite", overwrite ? "true" : "false"),
                ("original_ref", String(decoding: ref, as: UTF8.self)),
            ])
    }

    /// `POST /interrupt` for `promptID`, only when that prompt is the one running (checked with `/queue` first,
    /// so an older ComfyUI whose interrupt is global never stops someone else's prompt). Returns whether it was
    /// sent.
    @discardableResult
    public func interrupt(promptID: String) async throws(ComfyUIError) -> Bool {
        let state = try await queue(retry: RetryPolicy.none, timeout: .seconds(5))
        guard state.running.contains(promptID) else { return false }
        let response = try await send(
            .post, "/interrupt", json: .object(["prompt_id": .string(promptID)]), retry: RetryPolicy.none,
            timeout: .seconds(5))
        guard response.status == 200 else { throw .connection("ComfyUI answered \(response.status) to /interrupt") }
        return true
    }

    /// `POST /free`: unload models and/or free cached memory (applied by ComfyUI between prompts).
    public func free(unloadModels: Bool, freeMemory: Bool) async throws(ComfyUIError) {
        let response = try await send(
            .post, "/free",
            json: .object(["unload_models": .bool(unloadModels), "free_memory": .bool(freeMemory)]),
            retry: RetryPolicy.none)
        guard response.status == 200 else { throw .connection("ComfyUI answered \(response.status) to /free") }
    }

    /// `GET /models`: the model folder names.
    public func models() async throws(ComfyUIError) -> [String] {
        try await stringList("/models")
    }

    /// `GET /models/{folder}`: the model files in that folder (relative paths); `nil` when ComfyUI has no such
    /// folder (404).
    public func models(folder: String) async throws(ComfyUIError) -> [String]? {
        let response = try await send(.get, "/models/" + Self.pathComponent(folder), retry: nil)
        if response.status == 404 { return nil }
        guard response.status == 200, let json = try? JSONParser.parse(response.body), let list = json.arrayValue
        else { throw .connection("ComfyUI answered \(response.status) to /models/\(Escaping.escape(folder))") }
        return list.compactMap(\.stringValue)
    }

    /// `GET /embeddings`: embedding names (without extension).
    public func embeddings() async throws(ComfyUIError) -> [String] {
        try await stringList("/embeddings")
    }

    // MARK: - Plumbing

    private func stringList(_ path: String) async throws(ComfyUIError) -> [String] {
        let json = try await getJSON(path, retry: nil)
        guard let list = json.arrayValue else { throw .connection("\(path) did not answer a JSON array") }
        return list.compactMap(\.stringValue)
    }

    private func viewPath(_ file: FileReference) -> String {
        var components = URLComponents()
        components.path = "/view"
        components.queryItems = [
            URLQueryItem(name: "filename", value: file.filename),
            URLQueryItem(name: "subfolder", value: file.subfolder),
            URLQueryItem(name: "type", value: file.type),
        ]
        return components.percentEncodedPath + "?" + (components.percentEncodedQuery ?? "")
    }

    func getJSON(
        _ path: String, retry: RetryPolicy?, timeout: Duration? = nil
    ) async throws(ComfyUIError)
        -> JSONValue
    {
        let response = try await send(.get, path, retry: retry, timeout: timeout)
        guard response.status == 200 else {
            throw .connection(
                "ComfyUI answered \(response.status) to \(path)", retryable: response.status >= 500)
        }
        do { return try JSONParser.parse(response.body) } catch {
            throw .connection("ComfyUI's answer to \(path) is not valid JSON: \(error)")
        }
    }

    func send(
        _ method: HTTPMethod, _ path: String, json: JSONValue? = nil, body: [UInt8]? = nil,
        headers: HTTPHeaders = [:], retry: RetryPolicy?, timeout: Duration? = nil
    ) async throws(ComfyUIError) -> HTTPResponse {
        guard let url = URL(string: baseURL.absoluteString + path) else {
            throw .connection("cannot form a URL from \(baseURL.absoluteString) and \(Escaping.escape(path))")
        }
        var headers = headers
        var payload = body
        if let json {
            payload = CanonicalJSON.encode(json)
            headers.replaceOrAdd(name: "Content-Type", value: "application/json")
        }
        let request = HTTPRequest(
            method: method, url: url, headers: headers, body: payload.map { .bytes($0) },
            useEnvironmentCredentials: false, timeout: timeout ?? requestTimeout)
        logger.debug("ComfyUI request", metadata: ["method": "\(method)", "path": "\(path.prefix(120))"])
        do {
            return try await httpClient.send(request, retry: retry)
        } catch let error as HTTPError {
            if error.isCancellation { throw .connection("cancelled", retryable: false) }
            throw .connection("cannot reach ComfyUI at \(baseURL.absoluteString): \(error.message)")
        } catch is CancellationError {
            throw .connection("cancelled", retryable: false)
        } catch {
            throw .connection("cannot reach ComfyUI at \(baseURL.absoluteString): \(error)")
        }
    }

    private func upload(
        _ path: String, data: [UInt8], name: String, fields: [(String, String)]
    )
        async throws(ComfyUIError) -> FileReference
    {
        guard Self.isPlainFilename(name) else {
            throw .io("upload name \"\(Escaping.escape(name))\" must be a plain file name")
        }
        let boundary = "comfylock-" + Hex.encode(SHA256.hash(data + Array(name.utf8)).bytes.prefix(12))
        var body: [UInt8] = []
        func line(_ text: String) { body += Array((text + "\r\n").utf8) }
        for (field, value) in fields {
            line("--\(boundary)")
            line("Content-Disposition: form-data; name=\"\(field)\"")
            line("")
            line(value)
        }
        line("--\(boundary)")
        let quoted = name.replacingOccurrences(of: "\"", with: "%22")
        line("Content-Disposition: form-data; name=\"image\"; filename=\"\(quoted)\"")
        line("Content-Type: application/octet-stream")
        line("")
        body += data
        body += Array("\r\n--\(boundary)--\r\n".utf8)
        let response = try await send(
            .post, path, body: body, headers: ["Content-Type": "multipart/form-data; boundary=\(boundary)"],
            retry: RetryPolicy.none)
        guard response.status == 200, let json = try? JSONParser.parse(response.body),
            let stored = json["name"]?.stringValue
        else {
            throw .connection("ComfyUI answered \(response.status) to \(path) for \(Escaping.escape(name))")
        }
        return FileReference(
            filename: stored, subfolder: json["subfolder"]?.stringValue ?? "",
            type: json["type"]?.stringValue ?? "input")
    }

    static func isPlainFilename(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 255 && !name.contains("/") && !name.contains("\\") && name != "."
            && name != ".." && !name.unicodeScalars.contains { $0.value < 0x20 }
    }

    static func pathComponent(_ text: String) -> String {
        text.addingPercentEncoding(
            withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/?#")))
            ?? text
    }

    static func nodeErrors(_ json: JSONValue?) -> [NodeError] {
        guard case .object(let entries)? = json else { return [] }
        return entries.keys.sorted().compactMap { id -> NodeError? in
            guard let entry = entries[id] else { return nil }
            let details = (entry["errors"]?.arrayValue ?? []).map { error in
                NodeErrorDetail(
                    type: error["type"]?.stringValue ?? "error",
                    message: Escaping.escape(error["message"]?.stringValue ?? "", limit: 500),
                    details: Escaping.escape(error["details"]?.stringValue ?? "", limit: 500),
                    inputName: error["extra_info"]?["input_name"]?.stringValue.map { Escaping.escape($0, limit: 200) })
            }
            return NodeError(
                nodeID: id, classType: Escaping.escape(entry["class_type"]?.stringValue ?? "?", limit: 200),
                errors: details,
                dependentOutputs: (entry["dependent_outputs"]?.arrayValue ?? []).compactMap(\.stringValue))
        }
    }

    static func validationError(_ json: JSONValue?) -> ComfyUIError {
        let error = json?["error"]
        var message = "ComfyUI refused the workflow"
        if let text = error?["message"]?.stringValue ?? error?.stringValue {
            message += ": " + Escaping.escape(text, limit: 500)
        }
        if let details = error?["details"]?.stringValue, !details.isEmpty,
            (json?["node_errors"]?.objectValue ?? [:]).isEmpty
        {
            message += " (" + Escaping.escape(details, limit: 500) + ")"
        }
        return .validation(message, nodeErrors: nodeErrors(json?["node_errors"]))
    }
}

/// A file ComfyUI knows: `filename` in `subfolder` of its `type` directory (`output`, `input` or `temp`).
public struct FileReference: Sendable, Hashable, Codable {
    /// The file name.
    public var filename: String
    /// The subfolder ("" for none).
    public var subfolder: String
    /// `output`, `input` or `temp`.
    public var type: String

    /// A reference.
    public init(filename: String, subfolder: String = "", type: String = "output") {
        self.filename = filename
        self.subfolder = subfolder
        self.type = type
    }
}

/// What `/prompt` answered for a queued workflow.
public struct QueuedPrompt: Sendable, Hashable {
    /// The prompt id.
    public let promptID: String
    /// Its queue number.
    public let number: Double
    /// Errors of outputs that were dropped while others are valid (ComfyUI still queues the rest).
    public let nodeErrors: [NodeError]
}

/// `/queue`: prompt ids running and waiting.
public struct QueueState: Sendable, Hashable {
    /// Running prompt ids.
    public let running: [String]
    /// Pending prompt ids.
    public let pending: [String]
    /// A queue state.
    public init(running: [String], pending: [String]) {
        self.running = running
        self.pending = pending
    }
    /// True when `promptID` is running or pending.
    public func contains(_ promptID: String) -> Bool { running.contains(promptID) || pending.contains(promptID) }
}

/// `/system_stats`, typed where it matters (memory) and raw otherwise.
public struct SystemStats: Sendable, Hashable {
    /// The whole answer.
    public let json: JSONValue
    /// Total RAM in bytes.
    public var ramTotal: Int64 { Self.int(json["system"]?["ram_total"]) }
    /// Free RAM in bytes.
    public var ramFree: Int64 { Self.int(json["system"]?["ram_free"]) }
    /// ComfyUI's version string.
    public var comfyUIVersion: String? { json["system"]?["comfyui_version"]?.stringValue }
    /// Total VRAM over all devices, bytes.
    public var vramTotal: Int64 { (json["devices"]?.arrayValue ?? []).reduce(0) { $0 + Self.int($1["vram_total"]) } }
    /// Free VRAM over all devices, bytes.
    public var vramFree: Int64 { (json["devices"]?.arrayValue ?? []).reduce(0) { $0 + Self.int($1["vram_free"]) } }
    /// The first device's type (`cpu`, `cuda`, `mps`).
    public var deviceType: String? { json["devices"]?.arrayValue?.first?["type"]?.stringValue }

    static func int(_ value: JSONValue?) -> Int64 {
        guard let number = value?.numberValue, number.isFinite, number >= 0, number < 9e18 else { return 0 }
        return Int64(number)
    }
}

/// `/object_info`: the node classes a server knows.
public struct ObjectInfo: Sendable {
    /// The whole answer (class name → info).
    public let json: JSONValue

    /// The class names.
    public var classNames: Set<String> { Set(json.objectValue?.keys ?? [:].keys) }
    /// True when the server knows `classType`.
    public func contains(_ classType: String) -> Bool { json[classType] != nil }
    /// The Python module that provides `classType` (e.g. `custom_nodes.ComfyUI-VideoHelperSuite`).
    public func pythonModule(of classType: String) -> String? { json[classType]?["python_module"]?.stringValue }
    /// True for output nodes.
    public func isOutputNode(_ classType: String) -> Bool { json[classType]?["output_node"]?.boolValue ?? false }
    /// The input spec (`[type or options, {config}]`) of `input` of `classType`, from `required` or `optional`.
    public func inputSpec(_ classType: String, _ input: String) -> JSONValue? {
        json[classType]?["input"]?["required"]?[input] ?? json[classType]?["input"]?["optional"]?[input]
    }
    /// The names of the required inputs of `classType`.
    public func requiredInputs(_ classType: String) -> [String] {
        (json[classType]?["input"]?["required"]?.objectValue ?? [:]).keys.sorted()
    }
}

/// A finished prompt's `/history/{id}` entry.
public struct PromptHistory: Sendable {
    /// The prompt id.
    public let promptID: String
    /// The raw entry.
    public let json: JSONValue

    /// `outputs`: node id → UI output (`images`, `gifs`, `audio`, `text`, …).
    public var outputs: [String: JSONValue] { json["outputs"]?.objectValue ?? [:] }
    /// `status.status_str` (`success` or `error`).
    public var statusString: String? { json["status"]?["status_str"]?.stringValue }
    /// `status.completed`.
    public var completed: Bool { json["status"]?["completed"]?.boolValue ?? false }
    /// `status.messages` as (event, data) pairs.
    public var messages: [(event: String, data: JSONValue)] {
        (json["status"]?["messages"]?.arrayValue ?? []).compactMap { message in
            guard let pair = message.arrayValue, pair.count == 2, let event = pair[0].stringValue else { return nil }
            return (event, pair[1])
        }
    }
    /// The nodes ComfyUI served from its cache (from the `execution_cached` message).
    public var cachedNodes: [String] {
        messages.first { $0.event == "execution_cached" }?.data["nodes"]?.arrayValue?.compactMap(\.stringValue) ?? []
    }
}

/// Streams a body to a file while hashing it (SHA-256). Used from one transfer thread at a time.
final class HashingFileSink: HTTPBodySink, @unchecked Sendable {
    // @unchecked: the transport calls a sink from one thread at a time, in order (HTTPBodySink's contract).
    private let fd: Int32
    private var hasher = SHA256()
    private var size: Int64 = 0
    private var closed = false
    private let durable: Bool

    init(path: String, durable: Bool = true) throws {
        self.durable = durable
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }

    func begin(_ head: HTTPResponseHead) throws {}

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        hasher.update(bytes)
        size += Int64(bytes.count)
        var offset = 0
        while offset < bytes.count {
            let n = Foundation.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
            }
            offset += n
        }
    }

    func finish() throws -> (Int64, String) {
        guard !closed else { throw ComfyUIError.io("file already closed") }
        closed = true
        let synced = durable ? fsync(fd) : 0
        close(fd)
        guard synced == 0 else { throw ComfyUIError.io("fsync failed") }
        return (size, hasher.finish().hex)
    }

    func abandon() {
        if !closed {
            closed = true
            close(fd)
        }
    }

    deinit { abandon() }
}
