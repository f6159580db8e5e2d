import Foundation

/// A value of a TOML document read by `TOMLReader`.
enum TOMLValue: Sendable, Hashable {
    case string(String)
    /// A number, boolean or datetime, as written.
    case scalar(String)
    case array([TOMLValue])
    case table([String: TOMLValue])

    var string: String? { if case .string(let s) = self { return s } else { return nil } }
    var array: [TOMLValue]? { if case .array(let a) = self { return a } else { return nil } }
    var table: [String: TOMLValue]? { if case .table(let t) = self { return t } else { return nil } }
    subscript(key: String) -> TOMLValue? { table?[key] }
}

struct TOMLParseError: Error, CustomStringConvertible {
    let line: Int
    let message: String
    var description: String { line > 0 ? "TOML line \(line): \(message)" : "TOML: \(message)" }
}

/// The one TOML reader of the package, bounded for untrusted input: PEP 751 `pylock.toml` (what uv writes with
/// `uv pip compile --format pylock.toml`), `pyproject.toml`, `uv.lock` and other TOML 1.0 documents.
///
/// It reads comments, bare, quoted and dotted keys, basic and literal strings (single-line and multi-line, with every
/// escape), integers, floats, booleans and datetimes (kept as their text in `.scalar`), arrays (multi-line, trailing
/// commas, nested), inline tables, `[table]` and `[[array.of.tables]]` headers, LF and CRLF line ends. It refuses
/// duplicate keys, a key used both as a value and as a table, and malformed syntax, naming the line. It is not a full
/// validator: scalars are not type-checked and a table header may be repeated.
///
/// Bounds: a document larger than `maxBytes` is refused before it is read, and arrays, inline tables and dotted keys
/// nested deeper than `maxDepth` are refused (the reader recurses per level), so hostile input can neither exhaust
/// memory nor overflow the stack.
struct TOMLReader {
    /// The largest document read by default (a resolved ComfyUI closure's pylock.toml is about 1 MiB).
    static let defaultMaxBytes = 64 << 20
    /// The deepest nesting of arrays, inline tables and dotted keys read by default.
    static let defaultMaxDepth = 64

    private var chars: [Character]
    private var index = 0
    private var line = 1
    private var depth = 0
    private let maxDepth: Int

    /// Parses `text` into its root table.
    static func parse(
        _ text: String, maxBytes: Int = defaultMaxBytes, maxDepth: Int = defaultMaxDepth
    ) throws(TOMLParseError) -> [String: TOMLValue] {
        guard text.utf8.count <= maxBytes else {
            throw TOMLParseError(line: 0, message: "the document is larger than \(maxBytes) bytes")
        }
        // CRLF is one Character in Swift; TOML allows normalizing it (also inside multi-line strings).
        let normalized = text.contains("\r\n") ? text.replacingOccurrences(of: "\r\n", with: "\n") : text
        var reader = TOMLReader(chars: Array(normalized), maxDepth: maxDepth)
        do {
            return try reader.document()
        } catch let error as TOMLParseError {
            throw error
        } catch {
            throw TOMLParseError(line: reader.line, message: "\(error)")
        }
    }

    private init(chars: [Character], maxDepth: Int) {
        self.chars = chars
        self.maxDepth = maxDepth
    }

    /// Enters one nesting level (an array, an inline table), refusing more than `maxDepth`.
    private mutating func enter() throws {
        depth += 1
        guard depth <= maxDepth else { throw fail("nesting deeper than \(maxDepth) levels") }
    }

    private var current: Character? { index < chars.count ? chars[index] : nil }

    private mutating func advance() {
        if current == "\n" { line += 1 }
        index += 1
    }

    private func fail(_ message: String) -> TOMLParseError { TOMLParseError(line: line, message: message) }

    /// Skips spaces/tabs, and comments; with `newlines`, also line breaks.
    private mutating func skip(newlines: Bool) {
        while let c = current {
            if c == " " || c == "\t" || c == "\r" || (newlines && c == "\n") {
                advance()
            } else if c == "#" {
                while let d = current, d != "\n" { advance() }
            } else {
                break
            }
        }
    }

    private mutating func document() throws -> [String: TOMLValue] {
        var root: [String: TOMLValue] = [:]
        var path: [String] = []
        while true {
            skip(newlines: true)
            guard let c = current else { break }
            if c == "[" {
                advance()
                let isArray = current == "["
                if isArray { advance() }
                skip(newlines: false)
                let keys = try dottedKey()
                skip(newlines: false)
                guard current == "]" else { throw fail("expected ] after table header") }
                advance()
                if isArray {
                    guard current == "]" else { throw fail("expected ]] after array-of-tables header") }
                    advance()
                }
                if isArray {
                    try Self.appendTable(to: &root, path: keys[...], line: line)
                } else {
                    try Self.ensureTable(in: &root, path: keys[...], line: line)
                }
                path = keys
            } else {
                let keys = try dottedKey()
                skip(newlines: false)
                guard current == "=" else { throw fail("expected = after key \(keys.joined(separator: "."))") }
                advance()
                skip(newlines: false)
                let value = try self.value()
                try Self.set(value, in: &root, tablePath: path[...], keys: keys[...], line: line)
            }
            skip(newlines: false)
            if let c = current, c != "\n" { throw fail("unexpected \(c) after value") }
        }
        return root
    }

    private mutating func dottedKey() throws -> [String] {
        var keys: [String] = []
        while true {
            skip(newlines: false)
            guard let c = current else { throw fail("expected a key") }
            if c == "\"" {
                keys.append(try basicString())
            } else if c == "'" {
                keys.append(try literalString())
            } else {
                var key = ""
                while let d = current, d.isLetter || d.isNumber || d == "-" || d == "_" {
                    key.append(d)
                    advance()
                }
                guard !key.isEmpty else { throw fail("expected a key, found \(c)") }
                keys.append(key)
            }
            skip(newlines: false)
            guard keys.count <= maxDepth else { throw fail("a dotted key deeper than \(maxDepth) levels") }
            if current == "." { advance() } else { return keys }
        }
    }

    private mutating func value() throws -> TOMLValue {
        guard let c = current else { throw fail("expected a value") }
        switch c {
        case "\"": return .string(try basicString())
        case "'": return .string(try literalString())
        case "[":
            advance()
            try enter()
            defer { depth -= 1 }
            var items: [TOMLValue] = []
            while true {
                skip(newlines: true)
                if current == "]" {
                    advance()
                    return .array(items)
                }
                items.append(try value())
                skip(newlines: true)
                if current == "," {
                    advance()
                } else if current == "]" {
                    advance()
                    return .array(items)
                } else {
                    throw fail("expected , or ] in array")
                }
            }
        case "{":
            advance()
            try enter()
            defer { depth -= 1 }
            var table: [String: TOMLValue] = [:]
            skip(newlines: false)
            if current == "}" {
                advance()
                return .table(table)
            }
            while true {
                skip(newlines: false)
                let keys = try dottedKey()
                skip(newlines: false)
                guard current == "=" else { throw fail("expected = in inline table") }
                advance()
                skip(newlines: false)
                let v = try value()
                try Self.set(v, in: &table, tablePath: [], keys: keys[...], line: line)
                skip(newlines: false)
                if current == "," {
                    advance()
                } else if current == "}" {
                    advance()
                    return .table(table)
                } else {
                    throw fail("expected , or } in inline table")
                }
            }
        default:
            var text = ""
            while let d = current, !(d == "," || d == "]" || d == "}" || d == "\n" || d == "#") {
                text.append(d)
                advance()
            }
            text = text.trimmingCharacters(in: .whitespaces)
            guard !text.isEmpty else { throw fail("expected a value") }
            return .scalar(text)
        }
    }

    private mutating func basicString() throws -> String {
        advance()  // opening quote
        let multi = current == "\"" && index + 1 < chars.count && chars[index + 1] == "\""
        if multi {
            advance()
            advance()
            if current == "\n" { advance() }
        }
        var out = ""
        while let c = current {
            if c == "\"" {
                if !multi {
                    advance()
                    return out
                }
                if index + 2 < chars.count, chars[index + 1] == "\"", chars[index + 2] == "\"" {
                    advance(); advance(); advance()
                    return out
                }
                out.append(c)
                advance()
            } else if c == "\\" {
                advance()
                guard let e = current else { break }
                advance()
                switch e {
                case "n": out.append("\n")
                case "t": out.append("\t")
                case "r": out.append("\r")
                case "\\": out.append("\\")
                case "\"": out.append("\"")
                case "b": out.append("\u{08}")
                case "f": out.append("\u{0C}")
                case "u", "U":
                    let count = e == "u" ? 4 : 8
                    var hex = ""
                    for _ in 0..<count {
                        guard let h = current else { break }
                        hex.append(h)
                        advance()
                    }
                    guard let scalar = UInt32(hex, radix: 16).flatMap(Unicode.Scalar.init) else {
                        throw fail("bad unicode escape \\\(e)\(hex)")
                    }
                    out.unicodeScalars.append(scalar)
                case "\n" where multi:
                    skip(newlines: true)
                default: throw fail("bad escape \\\(e)")
                }
            } else {
                if c == "\n" && !multi { throw fail("newline in string") }
                out.append(c)
                advance()
            }
        }
        throw fail("unterminated string")
    }

    private mutating func literalString() throws -> String {
        advance()
        let multi = current == "'" && index + 1 < chars.count && chars[index + 1] == "'"
        if multi {
            advance()
            advance()
            if current == "\n" { advance() }
        }
        var out = ""
        while let c = current {
            if c == "'" {
                if !multi {
                    advance()
                    return out
                }
                if index + 2 < chars.count, chars[index + 1] == "'", chars[index + 2] == "'" {
                    advance(); advance(); advance()
                    return out
                }
            }
            if c == "\n" && !multi { throw fail("newline in string") }
            out.append(c)
            advance()
        }
        throw fail("unterminated string")
    }

    // MARK: building the tree

    private static func set(
        _ value: TOMLValue, in root: inout [String: TOMLValue], tablePath: ArraySlice<String>, keys: ArraySlice<String>,
        line: Int
    ) throws {
        if let first = tablePath.first {
            var child = root[first] ?? .table([:])
            try modifyLast(&child, line: line) { table in
                try set(value, in: &table, tablePath: tablePath.dropFirst(), keys: keys, line: line)
            }
            root[first] = child
            return
        }
        guard let key = keys.first else { return }
        if keys.count == 1 {
            guard root[key] == nil else { throw TOMLParseError(line: line, message: "duplicate key \(key)") }
            root[key] = value
            return
        }
        var child = root[key] ?? .table([:])
        try modifyLast(&child, line: line) { table in
            try set(value, in: &table, tablePath: [], keys: keys.dropFirst(), line: line)
        }
        root[key] = child
    }

    /// Applies `body` to a table, or to the last table of an array of tables.
    private static func modifyLast(
        _ value: inout TOMLValue, line: Int, _ body: (inout [String: TOMLValue]) throws -> Void
    ) throws {
        switch value {
        case .table(var table):
            try body(&table)
            value = .table(table)
        case .array(var items):
            guard case .table(var table)? = items.last else {
                throw TOMLParseError(line: line, message: "cannot extend a non-table array")
            }
            try body(&table)
            items[items.count - 1] = .table(table)
            value = .array(items)
        default:
            throw TOMLParseError(line: line, message: "a key is used both as a value and as a table")
        }
    }

    private static func ensureTable(in root: inout [String: TOMLValue], path: ArraySlice<String>, line: Int) throws {
        guard let first = path.first else { return }
        var child = root[first] ?? .table([:])
        try modifyLast(&child, line: line) { table in try ensureTable(in: &table, path: path.dropFirst(), line: line) }
        root[first] = child
    }

    private static func appendTable(to root: inout [String: TOMLValue], path: ArraySlice<String>, line: Int) throws {
        guard let first = path.first else { return }
        if path.count == 1 {
            switch root[first] {
            case nil: root[first] = .array([.table([:])])
            case .array(var items)?:
                items.append(.table([:]))
                root[first] = .array(items)
            default: throw TOMLParseError(line: line, message: "\(first) is not an array of tables")
            }
            return
        }
        var child = root[first] ?? .table([:])
        try modifyLast(&child, line: line) { table in try appendTable(to: &table, path: path.dropFirst(), line: line) }
        root[first] = child
    }
}
