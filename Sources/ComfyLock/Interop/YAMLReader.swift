internal import Yams

/// YAML → `JSONValue`, for import sources written as YAML (ComfyUI-Manager can save snapshots as YAML).
/// Kept behind `internal import Yams`: no Yams type leaves this module.
enum YAMLReader {
    static func parse(_ text: String, path: String) throws(LockError) -> JSONValue {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw LockError.importFormat(path: nil, "\(path): invalid YAML: \(String(describing: error).prefix(300))")
        }
        guard let node else { throw LockError.importFormat(path: nil, "\(path): empty YAML document") }
        return try convert(node, jsonPath: JSONPath.root, depth: 0)
    }

    private static func convert(_ node: Node, jsonPath: String, depth: Int) throws(LockError) -> JSONValue {
        guard depth < JSONParser.defaultMaxDepth else {
            throw LockError.importFormat(
                path: jsonPath, "YAML nesting deeper than \(JSONParser.defaultMaxDepth) levels")
        }
        switch node {
        case .scalar(let scalar):
            switch Tag.Name(rawValue: node.tag.description) {
            case .null: return .null
            case .bool: if let bool = node.bool { return .bool(bool) }
            case .int:
                if let int = node.int { return .number(Double(int)) }
            case .float:
                if let double = node.float, double.isFinite { return .number(double) }
            default: break
            }
            return .string(scalar.string)
        case .sequence(let sequence):
            var out: [JSONValue] = []
            for (index, element) in sequence.enumerated() {
                out.append(try convert(element, jsonPath: JSONPath.appending(jsonPath, index: index), depth: depth + 1))
            }
            return .array(out)
        case .mapping(let mapping):
            var out: [String: JSONValue] = [:]
            for (key, value) in mapping {
                guard let name = key.string else {
                    throw LockError.importFormat(path: jsonPath, "a YAML mapping key is not a string")
                }
                let childPath = JSONPath.appending(jsonPath, key: name)
                if out[name] != nil {
                    throw LockError.importFormat(path: childPath, "duplicate YAML key \"\(name)\"")
                }
                out[name] = try convert(value, jsonPath: childPath, depth: depth + 1)
            }
            return .object(out)
        @unknown default:
            throw LockError.importFormat(path: jsonPath, "unsupported YAML node")
        }
    }
}
