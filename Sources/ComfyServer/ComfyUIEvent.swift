public import ComfyLock

/// A message from ComfyUI's WebSocket (`/ws?clientId=`), typed.
public enum ComfyUIEvent: Sendable, Hashable {
    /// `status`: the queue length (and, on connect, the session id).
    case status(queueRemaining: Int, sessionID: String?)
    /// `execution_start`.
    case executionStart(promptID: String)
    /// `execution_cached`: nodes served from the cache.
    case executionCached(promptID: String, nodes: [String])
    /// `executing`: a node starts; `node == nil` means the prompt is done.
    case executing(promptID: String?, node: String?)
    /// `progress` of a node (e.g. sampler steps).
    case progress(promptID: String?, node: String?, value: Double, max: Double)
    /// `executed`: a node produced UI output.
    case executed(promptID: String, node: String, output: JSONValue)
    /// `execution_success` (newer ComfyUI; sent before the history entry is written).
    case executionSuccess(promptID: String)
    /// `execution_error`: a node raised.
    case executionError(promptID: String, node: String?, classType: String?, exceptionType: String, message: String)
    /// `execution_interrupted`.
    case executionInterrupted(promptID: String, node: String?, classType: String?)
    /// Any other message type (previews, feature flags, custom nodes' own messages).
    case other(type: String)

    /// The prompt the event is about, when it names one.
    public var promptID: String? {
        switch self {
        case .status, .other: return nil
        case .executionStart(let id), .executionCached(let id, _), .executionSuccess(let id): return id
        case .executing(let id, _), .progress(let id, _, _, _): return id
        case .executed(let id, _, _), .executionError(let id, _, _, _, _), .executionInterrupted(let id, _, _):
            return id
        }
    }

    /// Parses one text message (`{"type": …, "data": {…}}`); `nil` for anything that is not such an object.
    public static func parse(_ text: String) -> ComfyUIEvent? {
        guard text.utf8.count <= 64 << 20, let json = try? JSONParser(maxDepth: 64).parse(Array(text.utf8)),
            let type = json["type"]?.stringValue
        else { return nil }
        let data = json["data"] ?? .null
        let prompt = data["prompt_id"]?.stringValue
        switch type {
        case "status":
            let remaining = data["status"]?["exec_info"]?["queue_remaining"]?.numberValue ?? 0
            return .status(queueRemaining: Int(max(0, min(remaining, 1e9))), sessionID: data["sid"]?.stringValue)
        case "execution_start":
            return prompt.map { .executionStart(promptID: $0) }
        case "execution_cached":
            return prompt.map {
                .executionCached(promptID: $0, nodes: data["nodes"]?.arrayValue?.compactMap(\.stringValue) ?? [])
            }
        case "executing":
            return .executing(promptID: prompt, node: data["node"]?.stringValue)
        case "progress":
            return .progress(
                promptID: prompt, node: data["node"]?.stringValue, value: data["value"]?.numberValue ?? 0,
                max: data["max"]?.numberValue ?? 0)
        case "executed":
            guard let prompt, let node = data["node"]?.stringValue else { return nil }
            return .executed(promptID: prompt, node: node, output: data["output"] ?? .null)
        case "execution_success":
            return prompt.map { .executionSuccess(promptID: $0) }
        case "execution_error":
            guard let prompt else { return nil }
            return .executionError(
                promptID: prompt, node: data["node_id"]?.stringValue, classType: data["node_type"]?.stringValue,
                exceptionType: data["exception_type"]?.stringValue ?? "",
                message: data["exception_message"]?.stringValue ?? "")
        case "execution_interrupted":
            guard let prompt else { return nil }
            return .executionInterrupted(
                promptID: prompt, node: data["node_id"]?.stringValue, classType: data["node_type"]?.stringValue)
        default:
            return .other(type: String(type.prefix(100)))
        }
    }
}
