import ComfyLock
import Foundation
import Testing

@Suite("RFC 8785 canonical JSON")
struct CanonicalJSONTests {
    static let pairs = ["arrays", "french", "structures", "unicode", "values", "weird"]

    @Test("the RFC's input/output pairs canonicalize byte for byte", arguments: pairs)
    func rfcPairs(name: String) throws {
        let input = try Fixtures.bytes(Fixtures.jcs.appendingPathComponent("input/\(name).json"))
        let expected = try Fixtures.bytes(Fixtures.jcs.appendingPathComponent("output/\(name).json"))
        let output = try CanonicalJSON.canonicalize(input)
        #expect(output.text == expected.text)
        // Canonical form is a fixed point.
        #expect(try CanonicalJSON.canonicalize(output) == output)
    }

    @Test("all 10,000 ECMAScript number reference lines serialize exactly")
    func es6Numbers() throws {
        let text = try String(
            contentsOf: Fixtures.jcs.appendingPathComponent("es6testfile100m_first10000.txt"), encoding: .utf8)
        var checked = 0
        var failures: [String] = []
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ",")
            try #require(parts.count == 2)
            let bits = try #require(UInt64(parts[0], radix: 16))
            let value = Double(bitPattern: bits)
            var out: [UInt8] = []
            CanonicalJSON.writeNumber(value, into: &out)
            if out.text != parts[1] { failures.append("\(parts[0]): got \(out.text), want \(parts[1])") }
            // And the expected text parses back to the same double.
            let reparsed = try JSONParser.parse(String(parts[1]))
            if reparsed != .number(value) && value != 0 {
                failures.append("\(parts[1]) did not parse back to \(value)")
            }
            checked += 1
        }
        #expect(checked == 10_000)
        #expect(failures.isEmpty, "\(failures.prefix(5))")
    }

    @Test(
        "the issue's named number cases",
        arguments: [
            ("1e21", "1e+21"), ("1e20", "100000000000000000000"), ("1e-7", "1e-7"), ("1e-6", "0.000001"),
            ("5e-324", "5e-324"), ("1.7976931348623157e308", "1.7976931348623157e+308"),
            ("0.30000000000000004", "0.30000000000000004"), ("-0", "0"), ("-0.0", "0"),
            ("9007199254740993", "9007199254740992"), ("9007199254740992", "9007199254740992"),
            ("1152921504606846976", "1152921504606847000"), ("123.456e2", "12345.6"), ("-1.5E-10", "-1.5e-10"),
            ("0.1", "0.1"), ("100", "100"), ("2.5e-5", "0.000025"), ("333333333.3333333", "333333333.3333333"),
            ("4.35", "4.35"), ("1e400000000000000000000000", ""),
        ])
    func namedNumbers(input: String, expected: String) throws {
        if expected.isEmpty {
            #expect(throws: JSONParseError.self) { try CanonicalJSON.canonicalize(Array(input.utf8)) }
        } else {
            #expect(try CanonicalJSON.canonicalize(Array(input.utf8)).text == expected)
        }
    }

    @Test("0.1 + 0.2 prints as ECMAScript does")
    func sumOfTenths() {
        var out: [UInt8] = []
        CanonicalJSON.writeNumber(0.1 + 0.2, into: &out)
        #expect(out.text == "0.30000000000000004")
    }

    @Test("keys sort by UTF-16 code units, not by code points")
    func utf16Order() throws {
        // U+FB33 (BMP, above the surrogates) sorts AFTER U+1F602 (a surrogate pair) in UTF-16 order.
        let input = #"{"\ufb33":1,"\ud83d\ude02":2,"a":3,"":4,"aa":5,"\u00e9":6}"#
        let output = try CanonicalJSON.canonicalize(Array(input.utf8)).text
        #expect(output == "{\"\":4,\"a\":3,\"aa\":5,\"é\":6,\"😂\":2,\"דּ\":1}")
        #expect(CanonicalJSON.utf16Precedes("😂", "\u{FB33}"))
        #expect(!CanonicalJSON.utf16Precedes("\u{FB33}", "😂"))
        #expect(CanonicalJSON.utf16Precedes("\u{E000}", "\u{FFFF}"))
    }

    @Test("strings use minimal escaping")
    func escaping() throws {
        let input = #"["\u0000\u001f\b\f\n\r\t\"\\\/\u007f\u2028é😂</script>"]"#
        let output = try CanonicalJSON.canonicalize(Array(input.utf8)).text
        #expect(output == "[\"\\u0000\\u001f\\b\\f\\n\\r\\t\\\"\\\\/\u{7f}\u{2028}é😂</script>\"]")
    }

    @Test("whitespace is removed and literals kept")
    func whitespace() throws {
        let input = " {\n\t\"b\" : [ true , false , null ] ,\r\n \"a\" : { } , \"c\" : [ ] } "
        #expect(try CanonicalJSON.canonicalize(Array(input.utf8)).text == #"{"a":{},"b":[true,false,null],"c":[]}"#)
    }
}
