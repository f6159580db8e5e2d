/// Why a JSON document was refused: the rule it broke, where (line, column, byte offset) and the JSON path.
public struct JSONParseError: Error, Hashable, Sendable, CustomStringConvertible {
    fileprivate enum Code: Hashable, Sendable {
        case syntax, duplicateKey, invalidUTF8, loneSurrogate, numberOutOfRange, nonFiniteNumber, trailingComma
        case tooDeep, controlCharacter, invalidEscape, trailingData, emptyInput, byteOrderMark
    }

    private let code: Code
    /// What was wrong and what was expected.
    public let message: String
    /// 1-based line of the offending byte.
    public let line: Int
    /// 1-based column (in Unicode scalars) of the offending byte.
    public let column: Int
    /// 0-based byte offset of the offending byte.
    public let offset: Int
    /// JSON path of the value being read when the error happened (`$` at the top level).
    public let path: String

    /// `line L, column C (at PATH): MESSAGE`.
    public var description: String { "line \(line), column \(column) (at \(path)): \(message)" }

    /// The rule that was broken, as a short stable name (for tests and `--json` reports).
    public var rule: String {
        switch code {
        case .syntax: "syntax"
        case .duplicateKey: "duplicate-key"
        case .invalidUTF8: "invalid-utf8"
        case .loneSurrogate: "lone-surrogate"
        case .numberOutOfRange: "number-out-of-range"
        case .nonFiniteNumber: "non-finite-number"
        case .trailingComma: "trailing-comma"
        case .tooDeep: "nesting-too-deep"
        case .controlCharacter: "control-character"
        case .invalidEscape: "invalid-escape"
        case .trailingData: "trailing-data"
        case .emptyInput: "empty-input"
        case .byteOrderMark: "byte-order-mark"
        }
    }

    fileprivate init(_ code: Code, _ message: String, bytes: UnsafeBufferPointer<UInt8>, offset: Int, path: String) {
        self.code = code
        self.message = message
        self.offset = offset
        self.path = path
        var line = 1
        var lineStart = 0
        var i = 0
        let end = min(offset, bytes.count)
        while i < end {
            if bytes[i] == 0x0A {
                line += 1
                lineStart = i + 1
            }
            i += 1
        }
        var column = 1
        i = lineStart
        while i < end {
            if bytes[i] & 0xC0 != 0x80 { column += 1 }
            i += 1
        }
        self.line = line
        self.column = column
    }
}

/// A strict RFC 8259 / I-JSON parser over UTF-8 bytes.
///
/// Refuses: duplicate object keys, lone surrogates (raw or escaped), invalid UTF-8, `NaN`/`Infinity`, trailing commas,
/// leading zeros, numbers beyond the double range, unescaped control characters, a byte order mark, anything after
/// the value, and nesting deeper than `maxDepth`. The parser is iterative (no recursion), so depth is a policy limit,
/// not a stack-overflow risk.
///
/// UTF-8 is validated byte by byte: no overlong forms, no encoded surrogates, nothing above U+10FFFF. A failure is a
/// `JSONParseError` (rule, line, column in Unicode scalars, byte offset, JSON path); the line and column are computed
/// only when an error is thrown, so valid input pays nothing for them.
public struct JSONParser: Sendable {
    /// The nesting limit used when none is given: arrays and objects may nest this many levels.
    public static let defaultMaxDepth = 512

    /// How many arrays/objects may nest.
    public var maxDepth: Int

    /// A parser with the given nesting limit.
    public init(maxDepth: Int = JSONParser.defaultMaxDepth) {
        self.maxDepth = maxDepth
    }

    /// Parses one JSON document.
    public func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        let result: Result<JSONValue, JSONParseError> = bytes.withUnsafeBufferPointer { buffer in
            var state = ParserState(bytes: buffer, maxDepth: maxDepth)
            do throws(JSONParseError) {
                return .success(try state.parseDocument())
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Parses one JSON document with the default limits.
    public static func parse(_ bytes: [UInt8]) throws(JSONParseError) -> JSONValue {
        try JSONParser().parse(bytes)
    }

    /// Parses one JSON document held in a string.
    public static func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        try JSONParser().parse(Array(text.utf8))
    }
}

private struct ParserState {
    let bytes: UnsafeBufferPointer<UInt8>
    let maxDepth: Int
    var pos = 0

    // The open containers, innermost last. `isObject[i]` says which stack the i-th container lives on.
    var isObject: [Bool] = []
    var arrays: [[JSONValue]] = []
    var objects: [[String: JSONValue]] = []
    var keys: [String] = []
    /// Whether the object at the same stack position has read a member name yet (for error paths).
    var hasKey: [Bool] = []
    var scratch: [UInt8] = []

    init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
    }

    // MARK: errors

    func currentPath() -> String {
        var components: [JSONPathComponent] = []
        var arrayIndex = 0
        var objectIndex = 0
        for object in isObject {
            if object {
                if objectIndex < keys.count, hasKey[objectIndex] {
                    components.append(.key(keys[objectIndex]))
                }
                objectIndex += 1
            } else {
                components.append(.index(arrays[arrayIndex].count))
                arrayIndex += 1
            }
        }
        return JSONPath.render(components)
    }

    func fail(_ code: JSONParseError.Code, _ message: String, at offset: Int? = nil) -> JSONParseError {
        JSONParseError(code, message, bytes: bytes, offset: offset ?? pos, path: currentPath())
    }

    func describeByte(at offset: Int) -> String {
        guard offset < bytes.count else { return "end of input" }
        let byte = bytes[offset]
        if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x" + String(byte, radix: 16, uppercase: true)
    }

    // MARK: whitespace

    @inline(__always)
    mutating func skipWhitespace() {
        while pos < bytes.count {
            let byte = bytes[pos]
            if byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 {
                pos += 1
            } else {
                return
            }
        }
    }

    // MARK: document

    mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        if bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF {
            throw fail(.byteOrderMark, "a byte order mark is not allowed; expected the document to start with a value")
        }
        skipWhitespace()
        if pos >= bytes.count { throw fail(.emptyInput, "expected a JSON value, found empty input") }
        while true {
            // Expecting a value at `pos` (whitespace already skipped).
            guard pos < bytes.count else { throw fail(.syntax, "unexpected end of input; expected a value") }
            var value: JSONValue
            switch bytes[pos] {
            case UInt8(ascii: "{"):
                try push(object: true)
                pos += 1
                skipWhitespace()
                if pos < bytes.count && bytes[pos] == UInt8(ascii: "}") {
                    pos += 1
                    value = popObject()
                } else {
                    try readKeyAndColon()
                    continue
                }
            case UInt8(ascii: "["):
                try push(object: false)
                pos += 1
                skipWhitespace()
                if pos < bytes.count && bytes[pos] == UInt8(ascii: "]") {
                    pos += 1
                    value = popArray()
                } else {
                    continue
                }
            case UInt8(ascii: "\""):
                value = .string(try parseString())
            case UInt8(ascii: "t"):
                try expectLiteral("true")
                value = .bool(true)
            case UInt8(ascii: "f"):
                try expectLiteral("false")
                value = .bool(false)
            case UInt8(ascii: "n"):
                try expectLiteral("null")
                value = .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                value = .number(try parseNumber())
            case UInt8(ascii: "N"), UInt8(ascii: "I"):
                throw fail(.nonFiniteNumber, "NaN and Infinity are not JSON numbers; expected a finite number")
            case UInt8(ascii: "]"), UInt8(ascii: "}"):
                throw fail(.syntax, "unexpected \(describeByte(at: pos)); expected a value")
            default:
                throw fail(.syntax, "unexpected \(describeByte(at: pos)); expected a value")
            }
            // A value is complete: hand it to the enclosing containers, closing them as they end.
            while true {
                guard let top = isObject.last else {
                    skipWhitespace()
                    if pos < bytes.count {
                        throw fail(
                            .trailingData,
                            "unexpected \(describeByte(at: pos)) after the JSON value; expected end of input")
                    }
                    return value
                }
                skipWhitespace()
                if top {
                    objects[objects.count - 1][keys[keys.count - 1]] = value
                    guard pos < bytes.count else {
                        throw fail(.syntax, "unexpected end of input; expected ',' or '}'")
                    }
                    let byte = bytes[pos]
                    if byte == UInt8(ascii: ",") {
                        pos += 1
                        skipWhitespace()
                        if pos < bytes.count && bytes[pos] == UInt8(ascii: "}") {
                            throw fail(.trailingComma, "trailing comma before '}'; expected another member")
                        }
                        try readKeyAndColon()
                        break
                    } else if byte == UInt8(ascii: "}") {
                        pos += 1
                        value = popObject()
                    } else {
                        throw fail(.syntax, "unexpected \(describeByte(at: pos)); expected ',' or '}'")
                    }
                } else {
                    arrays[arrays.count - 1].append(value)
                    guard pos < bytes.count else {
                        throw fail(.syntax, "unexpected end of input; expected ',' or ']'")
                    }
                    let byte = bytes[pos]
                    if byte == UInt8(ascii: ",") {
                        pos += 1
                        skipWhitespace()
                        if pos < bytes.count && bytes[pos] == UInt8(ascii: "]") {
                            throw fail(.trailingComma, "trailing comma before ']'; expected another element")
                        }
                        break
                    } else if byte == UInt8(ascii: "]") {
                        pos += 1
                        value = popArray()
                    } else {
                        throw fail(.syntax, "unexpected \(describeByte(at: pos)); expected ',' or ']'")
                    }
                }
            }
        }
    }

    mutating func push(object: Bool) throws(JSONParseError) {
        if isObject.count >= maxDepth {
            throw fail(
                .tooDeep, "nesting deeper than \(maxDepth) levels; expected at most \(maxDepth) nested arrays/objects")
        }
        isObject.append(object)
        if object {
            objects.append([:])
            keys.append("")
            hasKey.append(false)
        } else {
            arrays.append([])
        }
    }

    mutating func popObject() -> JSONValue {
        isObject.removeLast()
        keys.removeLast()
        hasKey.removeLast()
        return .object(objects.removeLast())
    }

    mutating func popArray() -> JSONValue {
        isObject.removeLast()
        return .array(arrays.removeLast())
    }

    mutating func readKeyAndColon() throws(JSONParseError) {
        guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else {
            throw fail(.syntax, "unexpected \(describeByte(at: pos)); expected a member name in double quotes")
        }
        let keyStart = pos
        let key = try parseString()
        if objects[objects.count - 1][key] != nil {
            keys[keys.count - 1] = key
            hasKey[hasKey.count - 1] = true
            throw fail(
                .duplicateKey, "duplicate member name \"\(key)\"; expected each name once per object", at: keyStart)
        }
        keys[keys.count - 1] = key
        hasKey[hasKey.count - 1] = true
        skipWhitespace()
        guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else {
            throw fail(.syntax, "unexpected \(describeByte(at: pos)); expected ':' after the member name")
        }
        pos += 1
        skipWhitespace()
    }

    mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let count = literal.utf8CodeUnitCount
        let start = literal.utf8Start
        if pos + count <= bytes.count {
            var same = true
            for i in 0..<count where bytes[pos + i] != start[i] {
                same = false
                break
            }
            if same {
                pos += count
                return
            }
        }
        throw fail(.syntax, "invalid literal; expected '\(literal)'")
    }

    // MARK: strings

    /// Parses a string starting at the opening quote; leaves `pos` after the closing quote.
    mutating func parseString() throws(JSONParseError) -> String {
        pos += 1
        let start = pos
        // Fast path: plain ASCII / valid UTF-8 without escapes.
        while pos < bytes.count {
            let byte = bytes[pos]
            if byte == UInt8(ascii: "\"") {
                let string = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
                pos += 1
                return string
            } else if byte == UInt8(ascii: "\\") {
                break
            } else if byte < 0x20 {
                throw fail(
                    .controlCharacter,
                    "unescaped control character 0x\(String(byte, radix: 16, uppercase: true)) in a string; "
                        + "expected it escaped"
                )
            } else if byte < 0x80 {
                pos += 1
            } else {
                try skipUTF8Sequence()
            }
        }
        if pos >= bytes.count { throw fail(.syntax, "unterminated string; expected a closing '\"'", at: start - 1) }
        // Slow path: escapes present.
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<pos]))
        while pos < bytes.count {
            let byte = bytes[pos]
            if byte == UInt8(ascii: "\"") {
                pos += 1
                return String(decoding: scratch, as: UTF8.self)
            } else if byte == UInt8(ascii: "\\") {
                try parseEscape()
            } else if byte < 0x20 {
                throw fail(
                    .controlCharacter,
                    "unescaped control character 0x\(String(byte, radix: 16, uppercase: true)) in a string; "
                        + "expected it escaped"
                )
            } else if byte < 0x80 {
                scratch.append(byte)
                pos += 1
            } else {
                let from = pos
                try skipUTF8Sequence()
                scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[from..<pos]))
            }
        }
        throw fail(.syntax, "unterminated string; expected a closing '\"'", at: start - 1)
    }

    /// Validates one multi-byte UTF-8 sequence at `pos` (strict: no overlongs, no surrogates, at most U+10FFFF).
    @inline(__always)
    mutating func skipUTF8Sequence() throws(JSONParseError) {
        let lead = bytes[pos]
        var need: Int
        var lower: UInt8 = 0x80
        var upper: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: need = 1
        case 0xE0:
            need = 2
            lower = 0xA0
        case 0xED:
            need = 2
            upper = 0x9F
        case 0xE1...0xEC, 0xEE...0xEF: need = 2
        case 0xF0:
            need = 3
            lower = 0x90
        case 0xF1...0xF3: need = 3
        case 0xF4:
            need = 3
            upper = 0x8F
        default:
            throw fail(
                .invalidUTF8,
                "invalid UTF-8 byte 0x\(String(lead, radix: 16, uppercase: true)) in a string; expected UTF-8 text")
        }
        var i = pos + 1
        while need > 0 {
            guard i < bytes.count, bytes[i] >= lower, bytes[i] <= upper else {
                if lead == 0xED {
                    throw fail(.loneSurrogate, "UTF-8-encoded surrogate in a string; expected valid Unicode scalars")
                }
                throw fail(.invalidUTF8, "invalid UTF-8 sequence in a string; expected UTF-8 text")
            }
            lower = 0x80
            upper = 0xBF
            i += 1
            need -= 1
        }
        pos = i
    }

    mutating func parseEscape() throws(JSONParseError) {
        let escapeStart = pos
        pos += 1
        guard pos < bytes.count else { throw fail(.syntax, "unterminated escape; expected a closing '\"'") }
        let byte = bytes[pos]
        pos += 1
        switch byte {
        case UInt8(ascii: "\""): scratch.append(0x22)
        case UInt8(ascii: "\\"): scratch.append(0x5C)
        case UInt8(ascii: "/"): scratch.append(0x2F)
        case UInt8(ascii: "b"): scratch.append(0x08)
        case UInt8(ascii: "f"): scratch.append(0x0C)
        case UInt8(ascii: "n"): scratch.append(0x0A)
        case UInt8(ascii: "r"): scratch.append(0x0D)
        case UInt8(ascii: "t"): scratch.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try readHex4(escapeStart: escapeStart)
            if scalar >= 0xD800 && scalar <= 0xDBFF {
                guard pos + 1 < bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u")
                else {
                    throw fail(
                        .loneSurrogate,
                        "lone high surrogate \\u\(String(format4: scalar)); expected a low surrogate escape to follow",
                        at: escapeStart)
                }
                pos += 2
                let low = try readHex4(escapeStart: pos - 2)
                guard low >= 0xDC00 && low <= 0xDFFF else {
                    throw fail(
                        .loneSurrogate,
                        "high surrogate \\u\(String(format4: scalar)) followed by \\u\(String(format4: low)); "
                            + "expected a low surrogate",
                        at: escapeStart)
                }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if scalar >= 0xDC00 && scalar <= 0xDFFF {
                throw fail(
                    .loneSurrogate, "lone low surrogate \\u\(String(format4: scalar)); expected a valid Unicode scalar",
                    at: escapeStart)
            }
            appendUTF8(scalar)
        default:
            throw fail(
                .invalidEscape,
                "invalid escape '\\\(describeByte(at: pos - 1))'; expected one of \\\" \\\\ \\/ \\b \\f \\n \\r "
                    + "\\t \\uXXXX",
                at: escapeStart)
        }
    }

    mutating func readHex4(escapeStart: Int) throws(JSONParseError) -> UInt32 {
        guard pos + 4 <= bytes.count else {
            throw fail(.invalidEscape, "truncated \\u escape; expected four hex digits", at: escapeStart)
        }
        var value: UInt32 = 0
        for i in 0..<4 {
            let byte = bytes[pos + i]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - 0x30)
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - 0x61 + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - 0x41 + 10)
            default: throw fail(.invalidEscape, "invalid \\u escape; expected four hex digits", at: escapeStart)
            }
            value = value << 4 | digit
        }
        pos += 4
        return value
    }

    mutating func appendUTF8(_ scalar: UInt32) {
        switch scalar {
        case 0..<0x80:
            scratch.append(UInt8(scalar))
        case 0x80..<0x800:
            scratch.append(UInt8(0xC0 | (scalar >> 6)))
            scratch.append(UInt8(0x80 | (scalar & 0x3F)))
        case 0x800..<0x10000:
            scratch.append(UInt8(0xE0 | (scalar >> 12)))
            scratch.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (scalar & 0x3F)))
        default:
            scratch.append(UInt8(0xF0 | (scalar >> 18)))
            scratch.append(UInt8(0x80 | ((scalar >> 12) & 0x3F)))
            scratch.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
            scratch.append(UInt8(0x80 | (scalar & 0x3F)))
        }
    }

    // MARK: numbers

    mutating func parseNumber() throws(JSONParseError) -> Double {
        let start = pos
        var negative = false
        if bytes[pos] == UInt8(ascii: "-") {
            negative = true
            pos += 1
        }
        guard pos < bytes.count, bytes[pos] >= 0x30 && bytes[pos] <= 0x39 else {
            if pos < bytes.count && bytes[pos] == UInt8(ascii: "I") {
                throw fail(.nonFiniteNumber, "-Infinity is not a JSON number; expected a finite number", at: start)
            }
            throw fail(.syntax, "expected a digit after '-'")
        }
        var mantissa: UInt64 = 0
        var digits = 0
        if bytes[pos] == UInt8(ascii: "0") {
            pos += 1
            if pos < bytes.count && bytes[pos] >= 0x30 && bytes[pos] <= 0x39 {
                throw fail(.syntax, "leading zero in a number; expected '0' alone or a non-zero first digit", at: start)
            }
        } else {
            while pos < bytes.count && bytes[pos] >= 0x30 && bytes[pos] <= 0x39 {
                if digits < 19 { mantissa = mantissa &* 10 &+ UInt64(bytes[pos] - 0x30) }
                digits += 1
                pos += 1
            }
        }
        var simple = true
        if pos < bytes.count && bytes[pos] == UInt8(ascii: ".") {
            simple = false
            pos += 1
            guard pos < bytes.count, bytes[pos] >= 0x30 && bytes[pos] <= 0x39 else {
                throw fail(.syntax, "expected a digit after the decimal point")
            }
            while pos < bytes.count && bytes[pos] >= 0x30 && bytes[pos] <= 0x39 { pos += 1 }
        }
        if pos < bytes.count && (bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E")) {
            simple = false
            pos += 1
            if pos < bytes.count && (bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-")) { pos += 1 }
            guard pos < bytes.count, bytes[pos] >= 0x30 && bytes[pos] <= 0x39 else {
                throw fail(.syntax, "expected a digit in the exponent")
            }
            while pos < bytes.count && bytes[pos] >= 0x30 && bytes[pos] <= 0x39 { pos += 1 }
        }
        if simple && digits <= 15 {
            // Exact: at most 15 decimal digits fit a double's 53-bit significand.
            let value = Double(mantissa)
            return negative ? -value : value
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else {
            throw fail(
                .numberOutOfRange,
                "number \(text.prefix(40)) is beyond the IEEE 754 double range; expected a magnitude below 1.8e308",
                at: start)
        }
        return value
    }
}
