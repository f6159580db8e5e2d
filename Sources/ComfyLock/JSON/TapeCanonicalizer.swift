/// The fast path of `CanonicalJSON.canonicalize`: parses into a flat tape of byte ranges (no `JSONValue`, no
/// dictionaries, no `String`s) and writes the canonical form straight from it.
///
/// It accepts exactly what `JSONParser` accepts, but reports failure only as "no" (`nil`): on any problem the caller
/// re-runs the full parser, which produces the precise error (line, column, path, rule). Duplicate keys are found
/// after sorting an object's members.
struct TapeCanonicalizer {
    private enum Kind: UInt8 {
        case null, falseValue, trueValue
        /// A string with no escapes: bytes `a..<b` of the input.
        case rawString
        /// A string with escapes: decoded bytes `a..<b` of `decoded`.
        case decodedString
        /// An integer already in canonical form: bytes `a..<b` of the input, copied verbatim.
        case rawNumber
        /// Any other number: `doubles[a]`.
        case double
        /// `a` elements follow; the container's subtree ends before node `b`.
        case array
        /// `a` members (key node, value subtree) follow; the subtree ends before node `b`.
        case object
    }

    private struct Node {
        var kind: Kind
        var a: Int32
        var b: Int32
    }

    private struct Failure: Error {}

    private let bytes: UnsafeBufferPointer<UInt8>
    private let maxDepth: Int
    private var pos = 0
    private var tape: [Node] = []
    private var decoded: [UInt8] = []
    private var doubles: [Double] = []
    private var stack: [Int] = []

    private init(bytes: UnsafeBufferPointer<UInt8>, maxDepth: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
        tape.reserveCapacity(bytes.count / 8)
    }

    /// The canonical bytes, or `nil` when the input is not valid (strict) JSON.
    static func canonicalize(_ input: [UInt8], maxDepth: Int) -> [UInt8]? {
        input.withUnsafeBufferPointer { buffer -> [UInt8]? in
            guard buffer.count < Int(Int32.max) else { return nil }
            var state = TapeCanonicalizer(bytes: buffer, maxDepth: maxDepth)
            do {
                try state.parse()
                var out: [UInt8] = []
                out.reserveCapacity(buffer.count)
                try state.emit(into: &out)
                return out
            } catch {
                return nil
            }
        }
    }

    // MARK: parsing

    @inline(__always)
    private mutating func skipWhitespace() {
        while pos < bytes.count {
            let byte = bytes[pos]
            guard byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 else { return }
            pos += 1
        }
    }

    private mutating func parse() throws(Failure) {
        if bytes.count >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF { throw Failure() }
        skipWhitespace()
        while true {
            guard pos < bytes.count else { throw Failure() }
            let byte = bytes[pos]
            var closedScalar = true
            switch byte {
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                guard stack.count < maxDepth else { throw Failure() }
                stack.append(tape.count)
                tape.append(Node(kind: byte == UInt8(ascii: "{") ? .object : .array, a: 0, b: 0))
                pos += 1
                skipWhitespace()
                let close = byte == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")
                if pos < bytes.count && bytes[pos] == close {
                    pos += 1
                    closeContainer()
                } else {
                    if byte == UInt8(ascii: "{") { try key() }
                    closedScalar = false
                }
            case UInt8(ascii: "\""): try string()
            case UInt8(ascii: "t"): try literal(0x74, 0x72, 0x75, 0x65, count: 4, .trueValue)
            case UInt8(ascii: "f"): try literal(0x66, 0x61, 0x6C, 0x73, count: 5, .falseValue)
            case UInt8(ascii: "n"): try literal(0x6E, 0x75, 0x6C, 0x6C, count: 4, .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number()
            default: throw Failure()
            }
            if !closedScalar { continue }
            // A value is complete: continue the enclosing containers.
            while true {
                guard let open = stack.last else {
                    skipWhitespace()
                    guard pos == bytes.count else { throw Failure() }
                    return
                }
                tape[open].a += 1
                skipWhitespace()
                guard pos < bytes.count else { throw Failure() }
                let isObject = tape[open].kind == .object
                let next = bytes[pos]
                if next == UInt8(ascii: ",") {
                    pos += 1
                    skipWhitespace()
                    if isObject { try key() }
                    break
                } else if next == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                    pos += 1
                    closeContainer()
                } else {
                    throw Failure()
                }
            }
        }
    }

    private mutating func closeContainer() {
        let open = stack.removeLast()
        tape[open].b = Int32(tape.count)
    }

    private mutating func key() throws(Failure) {
        guard pos < bytes.count, bytes[pos] == UInt8(ascii: "\"") else { throw Failure() }
        try string()
        skipWhitespace()
        guard pos < bytes.count, bytes[pos] == UInt8(ascii: ":") else { throw Failure() }
        pos += 1
        skipWhitespace()
    }

    @inline(__always)
    private mutating func literal(
        _ b0: UInt8, _ b1: UInt8, _ b2: UInt8, _ b3: UInt8, count: Int, _ kind: Kind
    )
        throws(Failure)
    {
        guard pos + count <= bytes.count, bytes[pos] == b0, bytes[pos + 1] == b1, bytes[pos + 2] == b2,
            bytes[pos + 3] == b3, count == 4 || bytes[pos + 4] == 0x65
        else { throw Failure() }
        pos += count
        tape.append(Node(kind: kind, a: 0, b: 0))
    }

    private mutating func string() throws(Failure) {
        pos += 1
        let start = pos
        while pos < bytes.count {
            let byte = bytes[pos]
            if byte == UInt8(ascii: "\"") {
                tape.append(Node(kind: .rawString, a: Int32(start), b: Int32(pos)))
                pos += 1
                return
            } else if byte == UInt8(ascii: "\\") {
                break
            } else if byte < 0x20 {
                throw Failure()
            } else if byte < 0x80 {
                pos += 1
            } else {
                try utf8Sequence()
            }
        }
        guard pos < bytes.count else { throw Failure() }
        let decodedStart = decoded.count
        decoded.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<pos]))
        while pos < bytes.count {
            let byte = bytes[pos]
            if byte == UInt8(ascii: "\"") {
                tape.append(Node(kind: .decodedString, a: Int32(decodedStart), b: Int32(decoded.count)))
                pos += 1
                return
            } else if byte == UInt8(ascii: "\\") {
                try escape()
            } else if byte < 0x20 {
                throw Failure()
            } else if byte < 0x80 {
                decoded.append(byte)
                pos += 1
            } else {
                let from = pos
                try utf8Sequence()
                decoded.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[from..<pos]))
            }
        }
        throw Failure()
    }

    @inline(__always)
    private mutating func utf8Sequence() throws(Failure) {
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
        default: throw Failure()
        }
        var i = pos + 1
        while need > 0 {
            guard i < bytes.count, bytes[i] >= lower, bytes[i] <= upper else { throw Failure() }
            lower = 0x80
            upper = 0xBF
            i += 1
            need -= 1
        }
        pos = i
    }

    private mutating func escape() throws(Failure) {
        pos += 1
        guard pos < bytes.count else { throw Failure() }
        let byte = bytes[pos]
        pos += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(byte)
        case UInt8(ascii: "b"): decoded.append(0x08)
        case UInt8(ascii: "f"): decoded.append(0x0C)
        case UInt8(ascii: "n"): decoded.append(0x0A)
        case UInt8(ascii: "r"): decoded.append(0x0D)
        case UInt8(ascii: "t"): decoded.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = try hex4()
            if scalar >= 0xD800 && scalar <= 0xDBFF {
                guard pos + 1 < bytes.count, bytes[pos] == UInt8(ascii: "\\"), bytes[pos + 1] == UInt8(ascii: "u")
                else {
                    throw Failure()
                }
                pos += 2
                let low = try hex4()
                guard low >= 0xDC00 && low <= 0xDFFF else { throw Failure() }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            } else if scalar >= 0xDC00 && scalar <= 0xDFFF {
                throw Failure()
            }
            switch scalar {
            case 0..<0x80:
                decoded.append(UInt8(scalar))
            case 0x80..<0x800:
                decoded.append(UInt8(0xC0 | (scalar >> 6)))
                decoded.append(UInt8(0x80 | (scalar & 0x3F)))
            case 0x800..<0x10000:
                decoded.append(UInt8(0xE0 | (scalar >> 12)))
                decoded.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
                decoded.append(UInt8(0x80 | (scalar & 0x3F)))
            default:
                decoded.append(UInt8(0xF0 | (scalar >> 18)))
                decoded.append(UInt8(0x80 | ((scalar >> 12) & 0x3F)))
                decoded.append(UInt8(0x80 | ((scalar >> 6) & 0x3F)))
                decoded.append(UInt8(0x80 | (scalar & 0x3F)))
            }
        default: throw Failure()
        }
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard pos + 4 <= bytes.count else { throw Failure() }
        var value: UInt32 = 0
        for i in 0..<4 {
            let byte = bytes[pos + i]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - 0x30)
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - 0x61 + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - 0x41 + 10)
            default: throw Failure()
            }
            value = value << 4 | digit
        }
        pos += 4
        return value
    }

    private mutating func number() throws(Failure) {
        let start = pos
        var negative = false
        if bytes[pos] == UInt8(ascii: "-") {
            negative = true
            pos += 1
        }
        guard pos < bytes.count, bytes[pos] >= 0x30 && bytes[pos] <= 0x39 else { throw Failure() }
        var mantissa: UInt64 = 0
        var digits = 0
        if bytes[pos] == UInt8(ascii: "0") {
            pos += 1
            if pos < bytes.count && bytes[pos] >= 0x30 && bytes[pos] <= 0x39 { throw Failure() }
            digits = 1
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
            guard pos < bytes.count, bytes[pos] >= 0x30 && bytes[pos] <= 0x39 else { throw Failure() }
            while pos < bytes.count && bytes[pos] >= 0x30 && bytes[pos] <= 0x39 { pos += 1 }
        }
        if pos < bytes.count && (bytes[pos] == UInt8(ascii: "e") || bytes[pos] == UInt8(ascii: "E")) {
            simple = false
            pos += 1
            if pos < bytes.count && (bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-")) { pos += 1 }
            guard pos < bytes.count, bytes[pos] >= 0x30 && bytes[pos] <= 0x39 else { throw Failure() }
            while pos < bytes.count && bytes[pos] >= 0x30 && bytes[pos] <= 0x39 { pos += 1 }
        }
        if simple && digits <= 15 && !(negative && mantissa == 0) {
            // An integer of at most 15 digits without leading zeros is exact and already in ECMAScript form.
            tape.append(Node(kind: .rawNumber, a: Int32(start), b: Int32(pos)))
            return
        }
        let value: Double?
        if simple && digits <= 15 {
            value = negative ? -Double(mantissa) : Double(mantissa)
        } else {
            value = Double(String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<pos]), as: UTF8.self))
        }
        guard let value, value.isFinite else { throw Failure() }
        tape.append(Node(kind: .double, a: Int32(doubles.count), b: 0))
        doubles.append(value)
    }

    // MARK: writing

    /// Index of the node after the subtree starting at `index`.
    @inline(__always)
    private func subtreeEnd(_ index: Int) -> Int {
        let node = tape[index]
        return node.kind == .array || node.kind == .object ? Int(node.b) : index + 1
    }

    private enum Frame {
        /// An open array: the next element to write (or the end), and whether one was written already.
        case array(next: Int, end: Int, first: Bool)
        /// An open object: its member key nodes in canonical order and the next one to write.
        case object(members: [Int], next: Int)
    }

    /// Object members (key node indexes) of the object at `index`, sorted by UTF-16 key order; throws on duplicates.
    private func sortedMembers(_ index: Int) throws(Failure) -> [Int] {
        let node = tape[index]
        var members: [Int] = []
        members.reserveCapacity(Int(node.a))
        var child = index + 1
        while child < Int(node.b) {
            members.append(child)
            child = subtreeEnd(child + 1)
        }
        guard members.count > 1 else { return members }
        let tape = self.tape
        let bytes = self.bytes
        try decoded.withUnsafeBufferPointer { (decodedBuffer) throws(Failure) in
            func key(_ index: Int) -> UnsafeBufferPointer<UInt8> {
                let node = tape[index]
                let source = node.kind == .rawString ? bytes : decodedBuffer
                return UnsafeBufferPointer(rebasing: source[Int(node.a)..<Int(node.b)])
            }
            members.sort { CanonicalJSON.utf16Precedes(utf8: key($0), key($1)) }
            for i in 1..<members.count where !CanonicalJSON.utf16Precedes(utf8: key(members[i - 1]), key(members[i])) {
                throw Failure()  // equal neighbours after sorting: a duplicate key
            }
        }
        return members
    }

    /// Writes a scalar node (never an array or object).
    private func emitScalar(_ node: Node, into out: inout [UInt8]) {
        switch node.kind {
        case .null: out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
        case .trueValue: out.append(contentsOf: [0x74, 0x72, 0x75, 0x65])
        case .falseValue: out.append(contentsOf: [0x66, 0x61, 0x6C, 0x73, 0x65])
        case .rawNumber: out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[Int(node.a)..<Int(node.b)]))
        case .double: CanonicalJSON.writeNumber(doubles[Int(node.a)], into: &out)
        case .rawString:
            // No escape and no control character occurred in the input, and '"' / '\' cannot occur unescaped:
            // the raw bytes are already minimally escaped.
            out.append(0x22)
            out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[Int(node.a)..<Int(node.b)]))
            out.append(0x22)
        case .decodedString:
            decoded.withUnsafeBufferPointer {
                CanonicalJSON.writeString(
                    utf8: UnsafeBufferPointer(rebasing: $0[Int(node.a)..<Int(node.b)]), into: &out)
            }
        case .array, .object: preconditionFailure("containers are written by emit")
        }
    }

    /// Writes the whole tape, iteratively (an explicit stack, so depth costs heap, not call stack).
    private func emit(into out: inout [UInt8]) throws(Failure) {
        var frames: [Frame] = []
        var pending: Int? = 0
        while true {
            if let index = pending {
                pending = nil
                let node = tape[index]
                switch node.kind {
                case .array:
                    out.append(UInt8(ascii: "["))
                    frames.append(.array(next: index + 1, end: Int(node.b), first: true))
                case .object:
                    out.append(UInt8(ascii: "{"))
                    frames.append(.object(members: try sortedMembers(index), next: 0))
                default:
                    emitScalar(node, into: &out)
                }
            }
            guard let top = frames.popLast() else { return }
            switch top {
            case .array(let next, let end, let first):
                if next >= end {
                    out.append(UInt8(ascii: "]"))
                } else {
                    if !first { out.append(UInt8(ascii: ",")) }
                    frames.append(.array(next: subtreeEnd(next), end: end, first: false))
                    pending = next
                }
            case .object(let members, let next):
                if next >= members.count {
                    out.append(UInt8(ascii: "}"))
                } else {
                    if next > 0 { out.append(UInt8(ascii: ",")) }
                    emitScalar(tape[members[next]], into: &out)
                    out.append(UInt8(ascii: ":"))
                    pending = members[next] + 1
                    frames.append(.object(members: members, next: next + 1))
                }
            }
        }
    }
}
