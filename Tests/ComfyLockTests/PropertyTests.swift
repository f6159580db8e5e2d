import ComfyLock
import Foundation
import Testing

/// Deterministic random numbers (SplitMix64) so a failing document can be reproduced from its seed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random JSON documents and a deliberately non-canonical writer for them.
struct RandomJSON {
    var rng: SplitMix64

    static let alphabet: [Unicode.Scalar] = [
        "a", "b", "z", "A", "0", " ", "\"", "\\", "/", "\u{0}", "\u{1F}", "\u{7F}", "\u{80}", "é", "ö", "€", "\u{2028}",
        "\u{D7FF}", "\u{E000}", "\u{FB33}", "\u{FFFF}", "😂", "\u{10000}", "\u{10FFFF}", "\n", "\t", "\r", "\u{8}",
        "\u{C}",
    ]

    mutating func string() -> String {
        var out = String.UnicodeScalarView()
        for _ in 0..<Int.random(in: 0...8, using: &rng) {
            out.append(Self.alphabet.randomElement(using: &rng)!)
        }
        return String(out)
    }

    mutating func number() -> Double {
        switch Int.random(in: 0..<6, using: &rng) {
        case 0: return Double(Int.random(in: -1000...1000, using: &rng))
        case 1: return Double(Int64.random(in: -(1 << 53)...(1 << 53), using: &rng))
        case 2: return Double.random(in: -1...1, using: &rng)
        case 3: return Double(Int.random(in: -99999...99999, using: &rng)) / 100
        default:
            while true {
                let value = Double(bitPattern: rng.next())
                if value.isFinite { return value }
            }
        }
    }

    mutating func value(depth: Int = 0) -> JSONValue {
        let pick = Int.random(in: 0..<(depth >= 5 ? 4 : 7), using: &rng)
        switch pick {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2: return .number(number())
        case 3: return .string(string())
        case 4, 5:
            var members: [String: JSONValue] = [:]
            for _ in 0..<Int.random(in: 0...5, using: &rng) { members[string()] = value(depth: depth + 1) }
            return .object(members)
        default:
            return .array((0..<Int.random(in: 0...5, using: &rng)).map { _ in value(depth: depth + 1) })
        }
    }

    /// Writes `value` as valid but non-canonical JSON: random whitespace, shuffled keys, escaped characters, numbers
    /// in Swift's own notation (`1e-07`, `100.0`, `-0.0`, `1.5E+300`).
    mutating func noisy(_ value: JSONValue) -> String {
        var out = ""
        writeNoisy(value, into: &out)
        return out
    }

    mutating func space() -> String {
        ["", "", " ", "\n", "\t", "  \r\n "].randomElement(using: &rng)!
    }

    mutating func writeNoisy(_ value: JSONValue, into out: inout String) {
        out += space()
        switch value {
        case .null: out += "null"
        case .bool(let bool): out += bool ? "true" : "false"
        case .number(let number):
            var text = number.description
            if Bool.random(using: &rng) { text = text.uppercased() }
            out += text
        case .string(let string): writeNoisyString(string, into: &out)
        case .array(let elements):
            out += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { out += space() + "," }
                writeNoisy(element, into: &out)
            }
            out += space() + "]"
        case .object(let members):
            out += "{"
            for (index, key) in members.keys.shuffled(using: &rng).enumerated() {
                if index > 0 { out += "," }
                out += space()
                writeNoisyString(key, into: &out)
                out += space() + ":"
                writeNoisy(members[key]!, into: &out)
            }
            out += space() + "}"
        }
        out += space()
    }

    mutating func writeNoisyString(_ string: String, into out: inout String) {
        out += "\""
        for scalar in string.unicodeScalars {
            let escapeAnyway = Int.random(in: 0..<4, using: &rng) == 0
            if scalar == "\"" {
                out += "\\\""
            } else if scalar == "\\" {
                out += "\\\\"
            } else if scalar.value < 0x20 || escapeAnyway {
                for unit in String(scalar).utf16 {
                    let hex = String(unit, radix: 16)
                    let padded = String(repeating: "0", count: 4 - hex.count) + hex
                    out += "\\u" + (Bool.random(using: &rng) ? padded.uppercased() : padded)
                }
            } else if scalar == "/" && Bool.random(using: &rng) {
                out += "\\/"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

@Suite("canonical JSON properties over random documents")
struct PropertyTests {
    @Test("3,000 random documents: canonical output re-parses to an equal value and is a fixed point")
    func roundTrip() throws {
        var generator = RandomJSON(rng: SplitMix64(seed: 0xC0FF_EE00_8785))
        for index in 0..<3_000 {
            let value = generator.value()
            let canonical = CanonicalJSON.encode(value)
            let reparsed = try JSONParser.parse(canonical)
            #expect(reparsed == value, "document \(index): \(canonical.text)")
            #expect(try CanonicalJSON.canonicalize(canonical) == canonical, "document \(index) not a fixed point")
            if reparsed != value { break }
        }
    }

    @Test("3,000 random documents written noisily (whitespace, key order, escapes) canonicalize to the same bytes")
    func noisyInputs() throws {
        var generator = RandomJSON(rng: SplitMix64(seed: 0x5EED_0000_2021))
        for index in 0..<3_000 {
            let value = generator.value()
            let noisy = generator.noisy(value)
            let canonical = try CanonicalJSON.canonicalize(Array(noisy.utf8))
            #expect(canonical == CanonicalJSON.encode(value), "document \(index): \(noisy)")
            if canonical != CanonicalJSON.encode(value) { break }
        }
    }

    @Test("random finite doubles survive text and back exactly")
    func numbers() throws {
        var rng = SplitMix64(seed: 42)
        for _ in 0..<20_000 {
            let value = Double(bitPattern: rng.next())
            guard value.isFinite else { continue }
            var out: [UInt8] = []
            CanonicalJSON.writeNumber(value, into: &out)
            let back = try JSONParser.parse(out)
            #expect(back == .number(value), "\(value) → \(out.text)")
            // ECMAScript form never has a '+' in the mantissa, a leading zero exponent or a trailing '.0'.
            #expect(!out.text.hasSuffix(".0") && !out.text.contains("e+0") && !out.text.contains("e-0"))
        }
    }

    @Test("random locks encode canonically and decode to the sorted lock")
    func randomLocks() throws {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<300 {
            var lock = Fixtures.fullLock()
            lock.models = (0..<Int.random(in: 0...20, using: &rng)).map { n in
                ModelEntry(
                    path: "m/\(Int.random(in: 0...1_000_000, using: &rng))-\(n)",
                    size: Int64.random(in: 1...(1 << 53), using: &rng),
                    sha256: Fixtures.shaA, sources: ["https://example.com/\(n)"])
            }
            lock.customNodes.shuffle(using: &rng)
            let bytes = LockFile.encode(lock)
            let decoded = try LockFile.decode(bytes)
            #expect(decoded == lock.sorted())
            #expect(LockFile.encode(decoded) == bytes)
        }
    }
}
