internal import Yams

/// One YAML node as read, with mapping keys in document order (which `JSONValue` objects do not keep; ComfyUI's
/// `extra_model_paths.yaml` sections are searched in that order).
package indirect enum YAMLNode: Sendable, Hashable {
    /// `null`, `~` or an empty value.
    case null
    /// `true` / `false` (YAML 1.1 spellings included, as Yams resolves them).
    case bool(Bool)
    /// A finite integer or float.
    case number(Double)
    /// Any other scalar, as text (block scalars `|` / `>` included).
    case string(String)
    /// A sequence.
    case sequence([YAMLNode])
    /// A mapping: keys unique, in document order.
    case mapping([YAMLEntry])

    /// The scalar text of a `.string`.
    package var string: String? { if case .string(let text) = self { text } else { nil } }

    /// The value of `key` in a `.mapping`.
    package subscript(key: String) -> YAMLNode? {
        guard case .mapping(let entries) = self else { return nil }
        return entries.first { $0.key == key }?.value
    }

    /// The node as a `JSONValue` (mapping order dropped).
    package var json: JSONValue {
        switch self {
        case .null: .null
        case .bool(let value): .bool(value)
        case .number(let value): .number(value)
        case .string(let value): .string(value)
        case .sequence(let items): .array(items.map(\.json))
        case .mapping(let entries):
            .object(Dictionary(entries.map { ($0.key, $0.value.json) }, uniquingKeysWith: { a, _ in a }))
        }
    }
}

/// One key and value of a YAML mapping.
package struct YAMLEntry: Sendable, Hashable {
    /// The key.
    package var key: String
    /// The value.
    package var value: YAMLNode
}

/// The one YAML reader of the package, bounded for untrusted input: import sources written as YAML (ComfyUI-Manager
/// can save snapshots as YAML) and ComfyUI's `extra_model_paths.yaml`. Kept behind `internal import Yams`: no Yams type
/// leaves this module.
///
/// Before Yams sees a byte, the document must be at most `maxBytes` long and `YAMLPreScan` refuses what would make
/// the parser recurse or expand without bound: anchors and aliases (an alias bomb of a few hundred bytes expands to
/// gigabytes) and nesting deeper than `JSONParser.defaultMaxDepth` (Yams' parser recurses per level: 5,000 levels
/// overflow the stack). The scan is one linear pass over the bytes with constant memory. Mapping keys must be strings
/// and unique.
package enum YAMLReader {
    /// The largest YAML document read by default.
    package static let defaultMaxBytes = 16 << 20

    /// Parses `text` (named `path` in errors) into a `JSONValue`.
    package static func parse(
        _ text: String, path: String, maxBytes: Int = defaultMaxBytes
    ) throws(LockError) -> JSONValue {
        try document(text, path: path, maxBytes: maxBytes).json
    }

    /// Parses `text` (named `path` in errors), keeping mapping order.
    package static func document(
        _ text: String, path: String, maxBytes: Int = defaultMaxBytes
    ) throws(LockError) -> YAMLNode {
        guard text.utf8.count <= maxBytes else {
            throw LockError.importFormat(path: nil, "\(path): a YAML document larger than \(maxBytes) bytes")
        }
        try YAMLPreScan.check(Array(text.utf8), path: path, maxDepth: JSONParser.defaultMaxDepth)
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw LockError.importFormat(path: nil, "\(path): invalid YAML: \(String(describing: error).prefix(300))")
        }
        guard let node else { throw LockError.importFormat(path: nil, "\(path): empty YAML document") }
        return try convert(node, jsonPath: JSONPath.root, depth: 0)
    }

    private static func convert(_ node: Node, jsonPath: String, depth: Int) throws(LockError) -> YAMLNode {
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
            var out: [YAMLNode] = []
            for (index, element) in sequence.enumerated() {
                out.append(try convert(element, jsonPath: JSONPath.appending(jsonPath, index: index), depth: depth + 1))
            }
            return .sequence(out)
        case .mapping(let mapping):
            var out: [YAMLEntry] = []
            var seen: Set<String> = []
            for (key, value) in mapping {
                guard let name = key.string else {
                    throw LockError.importFormat(path: jsonPath, "a YAML mapping key is not a string")
                }
                let childPath = JSONPath.appending(jsonPath, key: name)
                guard seen.insert(name).inserted else {
                    throw LockError.importFormat(path: childPath, "duplicate YAML key \(Escaping.quoted(name))")
                }
                out.append(YAMLEntry(key: name, value: try convert(value, jsonPath: childPath, depth: depth + 1)))
            }
            return .mapping(out)
        @unknown default:
            throw LockError.importFormat(path: jsonPath, "unsupported YAML node")
        }
    }
}

/// A conservative lexical pass over YAML bytes (see `YAMLReader`). It tracks quoted scalars (single quotes with `''`,
/// double quotes with `\\` escapes, both across lines), comments, block scalars (`|`, `>`: their lines are text) and
/// flow collections, and refuses:
/// - an anchor (`&name`) or alias (`*name`) at the start of a token — ComfyLock's formats never need them;
/// - an upper bound of the nesting depth above `maxDepth`: per line, twice the indentation (a block level needs at
///   least one more column, a sequence under a mapping key may share it) plus the block indicators (`- `, `? `) that
///   start the line's content, plus the open flow collections (`[`, `{`).
enum YAMLPreScan {
    static func check(_ bytes: [UInt8], path: String, maxDepth: Int) throws(LockError) {
        var line = 1
        var i = 0
        let n = bytes.count
        var flowDepth = 0
        var quote: UInt8 = 0  // 0, '\'' or '"'
        var blockScalarIndent = -1  // >= 0 while inside a block scalar introduced at that indentation
        func fail(_ message: String) -> LockError {
            LockError.importFormat(path: nil, "\(path): line \(line): \(message)")
        }
        while i < n {
            // Start of a line (or continuation inside a quoted scalar).
            var indent = 0
            while i + indent < n, bytes[i + indent] == 0x20 { indent += 1 }
            let contentStart = i + indent
            let blank = contentStart >= n || bytes[contentStart] == 0x0A || bytes[contentStart] == 0x0D
            if blockScalarIndent >= 0 {
                if blank || indent > blockScalarIndent {
                    while i < n, bytes[i] != 0x0A { i += 1 }
                    i += 1
                    line += 1
                    continue
                }
                blockScalarIndent = -1
            }
            i = contentStart
            var atToken = quote == 0
            var indicators = 0
            var leading = quote == 0 && flowDepth == 0
            var lastTokenByte: UInt8 = 0
            while i < n, bytes[i] != 0x0A {
                let b = bytes[i]
                if quote != 0 {
                    if quote == 0x22 && b == 0x5C {
                        i += 2
                        continue
                    }
                    if b == quote {
                        if quote == 0x27 && i + 1 < n && bytes[i + 1] == 0x27 {
                            i += 2
                            continue
                        }
                        quote = 0
                    }
                    i += 1
                    continue
                }
                let next: UInt8 = i + 1 < n ? bytes[i + 1] : 0x0A
                let nextIsSpace = next == 0x20 || next == 0x0A || next == 0x0D || next == 0x09
                if b == 0x23 && (i == 0 || bytes[i - 1] == 0x20 || bytes[i - 1] == 0x09 || atToken) {
                    while i < n, bytes[i] != 0x0A { i += 1 }  // a comment
                    break
                }
                if b == 0x20 || b == 0x09 || b == 0x0D {
                    i += 1
                    continue
                }
                if atToken {
                    switch b {
                    case 0x26, 0x2A:  // & anchor, * alias
                        throw fail(
                            "YAML anchors and aliases (\(b == 0x26 ? "&" : "*")…) are not accepted; write the values out"
                        )
                    case 0x27, 0x22:
                        quote = b
                        atToken = false
                        leading = false
                        i += 1
                        continue
                    case 0x2D,
                        0x3F where nextIsSpace:  // "- " / "? " block indicators
                        if leading { indicators += 1 }
                        i += 1
                        continue
                    case 0x7C, 0x3E:  // | > block scalar header
                        blockScalarIndent = indent
                        while i < n, bytes[i] != 0x0A { i += 1 }
                        continue
                    default: break
                    }
                }
                switch b {
                case 0x5B, 0x7B:  // [ {
                    if atToken || flowDepth > 0 {
                        flowDepth += 1
                        atToken = true
                        leading = false
                        if flowDepth > maxDepth {
                            throw fail("YAML nesting deeper than \(maxDepth) levels")
                        }
                        i += 1
                        continue
                    }
                case 0x5D, 0x7D:  // ] }
                    if flowDepth > 0 {
                        flowDepth -= 1
                        atToken = false
                        i += 1
                        continue
                    }
                case 0x2C where flowDepth > 0:  // ,
                    atToken = true
                    i += 1
                    continue
                case 0x3A where nextIsSpace || (flowDepth > 0 && (next == 0x2C || next == 0x5D || next == 0x7D)):
                    atToken = true
                    leading = false
                    i += 1
                    continue
                default: break
                }
                atToken = false
                leading = false
                lastTokenByte = b
                i += 1
            }
            _ = lastTokenByte
            if quote == 0 && flowDepth == 0 && 2 * indent + indicators + 1 > maxDepth {
                throw fail(
                    "YAML nesting deeper than \(maxDepth) levels (indentation \(indent), \(indicators) indicators)")
            }
            if flowDepth + 2 * indent + indicators > maxDepth {
                throw fail("YAML nesting deeper than \(maxDepth) levels")
            }
            i += 1
            line += 1
        }
    }
}
