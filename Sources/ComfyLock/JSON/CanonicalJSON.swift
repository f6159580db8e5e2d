/// RFC 8785 JSON Canonicalization Scheme (JCS): the one serialization of a JSON value that locks are hashed in.
///
/// Object members sorted by their names' UTF-16 code units, numbers in ECMAScript's shortest round-trip form
/// (`-0` → `0`), strings with minimal escaping, no whitespace.
public enum CanonicalJSON {
    /// The canonical bytes of `value` (no trailing newline).
    public static func encode(_ value: JSONValue) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(4096)
        write(value, into: &out)
        return out
    }

    /// Parses `bytes` strictly and returns their canonical form (no trailing newline).
    ///
    /// A fast path parses into a flat tape of byte ranges and writes from it (no `JSONValue` per value); it accepts
    /// exactly what `JSONParser` accepts. On any failure `JSONParser` re-reads the input, so the error thrown is the
    /// one `JSONParser` would throw.
    public static func canonicalize(
        _ bytes: [UInt8], maxDepth: Int = JSONParser.defaultMaxDepth
    ) throws(JSONParseError)
        -> [UInt8]
    {
        if let fast = TapeCanonicalizer.canonicalize(bytes, maxDepth: maxDepth) { return fast }
        // Invalid input (or a case the fast path does not take): the full parser gives the precise error.
        let value = try JSONParser(maxDepth: maxDepth).parse(bytes)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        write(value, into: &out)
        return out
    }

    /// Appends the canonical bytes of `value` to `out`.
    public static func write(_ value: JSONValue, into out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
        case .bool(let bool):
            if bool {
                out.append(contentsOf: [0x74, 0x72, 0x75, 0x65])
            } else {
                out.append(contentsOf: [0x66, 0x61, 0x6C, 0x73, 0x65])
            }
        case .number(let number): writeNumber(number, into: &out)
        case .string(let string): writeString(string, into: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            var first = true
            for element in elements {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                write(element, into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            let names = members.keys.sorted(by: utf16Precedes)
            var first = true
            for name in names {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                writeString(name, into: &out)
                out.append(UInt8(ascii: ":"))
                write(members[name]!, into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    // MARK: strings

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `string` as a JSON string with RFC 8785's minimal escaping.
    public static func writeString(_ string: String, into out: inout [UInt8]) {
        var string = string
        string.withUTF8 { writeString(utf8: $0, into: &out) }
    }

    static func writeString(utf8: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var runStart = 0
        var i = 0
        let count = utf8.count
        while i < count {
            let byte = utf8[i]
            if byte >= 0x20 && byte != 0x22 && byte != 0x5C {
                i += 1
                continue
            }
            if runStart < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<i])) }
            out.append(UInt8(ascii: "\\"))
            switch byte {
            case 0x22: out.append(0x22)
            case 0x5C: out.append(0x5C)
            case 0x08: out.append(UInt8(ascii: "b"))
            case 0x0C: out.append(UInt8(ascii: "f"))
            case 0x0A: out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "t"))
            default:
                out.append(contentsOf: [UInt8(ascii: "u"), 0x30, 0x30])
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0xF)])
            }
            i += 1
            runStart = i
        }
        if runStart < count { out.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<count])) }
        out.append(UInt8(ascii: "\""))
    }

    // MARK: key order

    /// True when `a` sorts before `b` by UTF-16 code units (RFC 8785 §3.2.3).
    ///
    /// Works on UTF-8 bytes: UTF-8 byte order is code point order, which differs from UTF-16 order only between a
    /// supplementary-plane character (UTF-16 surrogates, 0xD800–0xDFFF) and one in U+E000–U+FFFF.
    public static func utf16Precedes(_ a: String, _ b: String) -> Bool {
        var a = a
        var b = b
        return a.withUTF8 { ua in b.withUTF8 { ub in utf16Precedes(utf8: ua, ub) } }
    }

    static func utf16Precedes(utf8 a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        let n = min(a.count, b.count)
        var i = 0
        while i < n {
            let x = a[i]
            let y = b[i]
            if x != y {
                if x >= 0xF0 && (y == 0xEE || y == 0xEF) { return true }
                if y >= 0xF0 && (x == 0xEE || x == 0xEF) { return false }
                return x < y
            }
            i += 1
        }
        return a.count < b.count
    }

    // MARK: numbers

    /// Appends `number` in ECMAScript `Number.prototype.toString` form (RFC 8785 §3.2.2.3).
    ///
    /// Integers below 2^53 in magnitude are printed directly. Every other value takes its shortest round-trip digits
    /// from Swift's `Double.description` and lays them out by ECMAScript's Number::toString rules: plain digits for
    /// `k ≤ n ≤ 21`, a decimal point inside for `0 < n ≤ 21`, leading `0.` and zeros for `-6 < n ≤ 0`, otherwise the
    /// exponent form with an explicit sign (`1e+21`, `1e-7`).
    ///
    /// - Precondition: `number` is finite (JSON has no NaN or Infinity; the parser never produces them).
    public static func writeNumber(_ number: Double, into out: inout [UInt8]) {
        precondition(number.isFinite, "RFC 8785 cannot serialize NaN or Infinity")
        if number == 0 {
            out.append(UInt8(ascii: "0"))
            return
        }
        // Integers below 2^53 print exactly (their shortest round-trip digits are the integer itself).
        if number.magnitude < 9_007_199_254_740_992, number == number.rounded(.towardZero) {
            var value = Int64(number)
            if value < 0 {
                out.append(UInt8(ascii: "-"))
                value = -value
            }
            var digits:
                (
                    UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                    UInt8, UInt8, UInt8
                ) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
            var count = 0
            withUnsafeMutableBytes(of: &digits) { buffer in
                while value > 0 {
                    buffer[count] = UInt8(value % 10) + 0x30
                    value /= 10
                    count += 1
                }
                var i = count - 1
                while i >= 0 {
                    out.append(buffer[i])
                    i -= 1
                }
            }
            return
        }
        // Otherwise: Swift's description is the shortest round-trip digit string; re-layout it per ECMAScript.
        let shortest = ShortestDigits(number)
        if number < 0 { out.append(UInt8(ascii: "-")) }
        shortest.writeECMAScript(into: &out)
    }
}

/// The shortest round-trip decimal digits of a double and its decimal exponent: value = 0.d1d2…dk × 10^n.
struct ShortestDigits {
    var digits: [UInt8] = []
    /// ECMAScript's `n`: the position of the decimal point relative to the first digit.
    var pointPosition = 0

    init(_ number: Double) {
        // `Double.description` prints the shortest digits that round-trip (Swift's SwiftDtoa), e.g. "1e-07",
        // "5e-324", "0.30000000000000004", "1.2345e+21", "123.0".
        var text = number.magnitude.description
        var exponent = 0
        var digitsBeforePoint = 0
        var seenPoint = false
        var leadingZeros = true
        text.withUTF8 { bytes in
            var i = 0
            while i < bytes.count {
                let byte = bytes[i]
                if byte == UInt8(ascii: ".") {
                    seenPoint = true
                } else if byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
                    var sign = 1
                    var j = i + 1
                    if j < bytes.count && bytes[j] == UInt8(ascii: "-") {
                        sign = -1
                        j += 1
                    } else if j < bytes.count && bytes[j] == UInt8(ascii: "+") {
                        j += 1
                    }
                    var value = 0
                    while j < bytes.count {
                        value = value * 10 + Int(bytes[j] - 0x30)
                        j += 1
                    }
                    exponent = sign * value
                    break
                } else {
                    if leadingZeros && byte == UInt8(ascii: "0") {
                        // A zero before the first significant digit: only shifts the point when after it.
                        if seenPoint { digitsBeforePoint -= 1 }
                    } else {
                        leadingZeros = false
                        digits.append(byte)
                        if !seenPoint { digitsBeforePoint += 1 }
                    }
                }
                i += 1
            }
        }
        while digits.count > 1 && digits.last == UInt8(ascii: "0") { digits.removeLast() }
        pointPosition = digitsBeforePoint + exponent
    }

    /// Lays the digits out per ECMAScript Number::toString (radix 10) for a positive value.
    func writeECMAScript(into out: inout [UInt8]) {
        let k = digits.count
        let n = pointPosition
        if k <= n && n <= 21 {
            out.append(contentsOf: digits)
            for _ in 0..<(n - k) { out.append(UInt8(ascii: "0")) }
        } else if 0 < n && n <= 21 {
            out.append(contentsOf: digits[0..<n])
            out.append(UInt8(ascii: "."))
            out.append(contentsOf: digits[n...])
        } else if -6 < n && n <= 0 {
            out.append(UInt8(ascii: "0"))
            out.append(UInt8(ascii: "."))
            for _ in 0..<(-n) { out.append(UInt8(ascii: "0")) }
            out.append(contentsOf: digits)
        } else {
            out.append(digits[0])
            if k > 1 {
                out.append(UInt8(ascii: "."))
                out.append(contentsOf: digits[1...])
            }
            out.append(UInt8(ascii: "e"))
            let e = n - 1
            out.append(e < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
            out.append(contentsOf: Array(String(e.magnitude).utf8))
        }
    }
}
