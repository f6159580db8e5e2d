public import ComfyLock

/// A ComfyUI workflow in API format: a graph of nodes keyed by node id, each `{"class_type", "inputs"}`, where an
/// input is a literal value or a link `[source node id, output index]`.
///
/// Built over `ComfyLock.JSONValue` (the strict parser bounds depth; `init(bytes:)` also bounds size). The UI format
/// that ComfyUI's editor saves (`nodes` + `links` arrays) cannot be queued: it is refused with the way to export the
/// API format.
public struct Workflow: Sendable, Hashable {
    /// One node of the graph.
    public struct Node: Sendable, Hashable {
        /// The node id (a key of the graph).
        public let id: String
        /// The node class, e.g. `SaveImage`.
        public var classType: String
        /// Its inputs: literals or links (`[node id, output index]`).
        public var inputs: [String: JSONValue]

        /// The link an input holds, if it is one.
        public func link(_ input: String) -> (node: String, output: Int)? {
            Workflow.link(inputs[input])
        }
    }

    /// The most nodes a workflow may have.
    public static let maxNodes = 10_000
    /// The largest workflow document accepted, in bytes.
    public static let maxBytes = 32 << 20

    /// The graph as JSON (what is sent to `/prompt`).
    public private(set) var json: JSONValue
    /// The nodes by id.
    public private(set) var nodes: [String: Node]

    /// A workflow from its JSON. Throws `ComfyUIError` (`.invalidWorkflow`) for the UI format (with the export hint),
    /// a document that is not a graph of nodes, or a node without a string `class_type` / object `inputs`.
    public init(json: JSONValue) throws(ComfyUIError) {
        guard case .object(var graph) = json else {
            throw .invalidWorkflow("a workflow must be a JSON object of nodes, found \(json.typeDescription)")
        }
        if graph["nodes"]?.arrayValue != nil || graph["links"]?.arrayValue != nil {
            throw .invalidWorkflow(Self.uiFormatHint)
        }
        // A {"prompt": {...}} wrapper (as POSTed to /prompt, or as some tools save it) is unwrapped.
        if graph.count <= 3, case .object(let inner)? = graph["prompt"],
            inner.values.allSatisfy({ $0["class_type"] != nil })
        {
            graph = inner
        }
        guard !graph.isEmpty else { throw .invalidWorkflow("the workflow has no nodes") }
        guard graph.count <= Self.maxNodes else {
            throw .invalidWorkflow("the workflow has \(graph.count) nodes; at most \(Self.maxNodes) are accepted")
        }
        var nodes: [String: Node] = [:]
        for (id, value) in graph {
            let shown = Escaping.escape(id, limit: 80)
            guard !id.isEmpty, id.utf8.count <= 256 else { throw .invalidWorkflow("node id \"\(shown)\" is invalid") }
            guard case .object(let node) = value else {
                throw .invalidWorkflow("node \(shown) must be an object with class_type and inputs")
            }
            guard let classType = node["class_type"]?.stringValue, !classType.isEmpty else {
                throw .invalidWorkflow("node \(shown) has no class_type (is this an API-format workflow?)")
            }
            let inputs: [String: JSONValue]
            switch node["inputs"] {
            case nil: inputs = [:]
            case .object(let object)?: inputs = object
            case let other?:
                throw .invalidWorkflow("node \(shown): inputs must be an object, found \(other.typeDescription)")
            }
            nodes[id] = Node(id: id, classType: classType, inputs: inputs)
        }
        for node in nodes.values {
            for (name, value) in node.inputs {
                if let link = Self.link(value), nodes[link.node] == nil {
                    throw .invalidWorkflow(
                        "node \(Escaping.escape(node.id)) input \(Escaping.escape(name)) links to missing node "
                            + Escaping.escape(link.node))
                }
            }
        }
        self.json = .object(graph)
        self.nodes = nodes
    }

    /// A workflow from the bytes of a JSON file (at most `maxBytes`, default `Workflow.maxBytes`; front ends pass
    /// their `--max-input-size`).
    public init(bytes: [UInt8], maxBytes: Int = Workflow.maxBytes) throws(ComfyUIError) {
        guard bytes.count <= maxBytes else {
            throw .invalidWorkflow("the workflow is \(bytes.count) bytes; at most \(maxBytes) are accepted")
        }
        let value: JSONValue
        do { value = try JSONParser(maxDepth: 128).parse(bytes) } catch {
            throw .invalidWorkflow("the workflow is not valid JSON: \(error)")
        }
        try self.init(json: value)
    }

    /// What to do with a UI-format workflow.
    public static let uiFormatHint =
        "this is a UI-format workflow (it has \"nodes\" and \"links\"), which ComfyUI cannot queue; export it in API "
        + "format: in ComfyUI, Workflow → Export (API) (older versions: enable dev mode in the settings, then "
        + "\"Save (API Format)\")"

    /// Node ids in a stable order (numeric ids numerically, then the rest).
    public var nodeIDs: [String] {
        nodes.keys.sorted { a, b in
            switch (Int(a), Int(b)) {
            case let (x?, y?): return x < y
            case (_?, nil): return true
            case (nil, _?): return false
            default: return a < b
            }
        }
    }

    /// The node with this id.
    public subscript(id: String) -> Node? { nodes[id] }

    /// Sets one literal input of a node (for inputs a caller fills in: uploaded image names, seeds, prompts).
    /// Throws when the node does not exist.
    public mutating func setInput(node id: String, _ name: String, to value: JSONValue) throws(ComfyUIError) {
        guard var node = nodes[id], case .object(var graph) = json, case .object(var raw)? = graph[id] else {
            throw .invalidWorkflow("the workflow has no node \(Escaping.escape(id))")
        }
        node.inputs[name] = value
        nodes[id] = node
        raw["inputs"] = .object(node.inputs)
        graph[id] = .object(raw)
        json = .object(graph)
    }

    static func link(_ value: JSONValue?) -> (node: String, output: Int)? {
        guard case .array(let pair)? = value, pair.count == 2, case .string(let node) = pair[0],
            case .number(let index) = pair[1], index >= 0, index == index.rounded(), index < 1e6
        else { return nil }
        return (node, Int(index))
    }
}
