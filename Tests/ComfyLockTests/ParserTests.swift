import ComfyLock
import Testing

@Suite("strict JSON parser")
struct ParserTests {
    struct Case: Sendable, CustomTestStringConvertible {
        let input: [UInt8]
        let rule: String
        let line: Int
        let column: Int
        let path: String
        var testDescription: String { "\(rule): \(String(decoding: input, as: UTF8.self).prefix(40))" }

        init(_ text: String, _ rule: String, _ line: Int, _ column: Int, _ path: String) {
            self.input = Array(text.utf8)
            self.rule = rule
            self.line = line
            self.column = column
            self.path = path
        }

        init(bytes: [UInt8], _ rule: String, _ line: Int, _ column: Int, _ path: String) {
            self.input = bytes
            self.rule = rule
            self.line = line
            self.column = column
            self.path = path
        }
    }

    static let cases: [Case] = [
        Case("{\"a\":1,\n \"a\":2}", "duplicate-key", 2, 2, "$.a"),
        Case("{\"a\":{\"b\":[1,2,]}}", "trailing-comma", 1, 16, "$.a.b[2]"),
        Case("{\"a\":1,}", "trailing-comma", 1, 8, "$.a"),
        Case("[NaN]", "non-finite-number", 1, 2, "$[0]"),
        Case("[1,Infinity]", "non-finite-number", 1, 4, "$[1]"),
        Case("[-Infinity]", "non-finite-number", 1, 2, "$[0]"),
        Case("{\"x\":[1e309]}", "number-out-of-range", 1, 7, "$.x[0]"),
        Case("[-1e400]", "number-out-of-range", 1, 2, "$[0]"),
        Case("[\"\\ud800\"]", "lone-surrogate", 1, 3, "$[0]"),
        Case("[\"\\udc00x\"]", "lone-surrogate", 1, 3, "$[0]"),
        Case("[\"\\ud800\\u0041\"]", "lone-surrogate", 1, 3, "$[0]"),
        Case(bytes: [0x5B, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x5D], "lone-surrogate", 1, 3, "$[0]"),
        Case(bytes: [0x7B, 0x22, 0x6B, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D], "invalid-utf8", 1, 7, "$.k"),
        Case(bytes: [0x5B, 0x22, 0xC0, 0xAF, 0x22, 0x5D], "invalid-utf8", 1, 3, "$[0]"),
        Case(bytes: [0x5B, 0x22, 0xE2, 0x82, 0x22, 0x5D], "invalid-utf8", 1, 3, "$[0]"),
        Case("[\"a\u{1}\"]", "control-character", 1, 4, "$[0]"),
        Case("[\"\\x\"]", "invalid-escape", 1, 3, "$[0]"),
        Case("[01]", "syntax", 1, 2, "$[0]"),
        Case("[1.]", "syntax", 1, 4, "$[0]"),
        Case("[.5]", "syntax", 1, 2, "$[0]"),
        Case("[+1]", "syntax", 1, 2, "$[0]"),
        Case("{'a':1}", "syntax", 1, 2, "$"),
        Case("{\"a\" 1}", "syntax", 1, 6, "$.a"),
        Case("[1 2]", "syntax", 1, 4, "$[1]"),
        Case("[1]]", "trailing-data", 1, 4, "$"),
        Case("", "empty-input", 1, 1, "$"),
        Case("   ", "empty-input", 1, 4, "$"),
        Case("\u{FEFF}{}", "byte-order-mark", 1, 1, "$"),
        Case("[tru]", "syntax", 1, 2, "$[0]"),
        Case("{\"a\":\"b", "syntax", 1, 6, "$.a"),
        Case("{\"é\":[\n\n  ,]}", "syntax", 3, 3, "$[\"é\"][0]"),
        Case("{\"\":[1,]}", "trailing-comma", 1, 8, "$[\"\"][1]"),
    ]

    @Test("malformed JSON is refused with rule, line:column and path", arguments: cases)
    func refused(testCase: Case) {
        #expect {
            _ = try JSONParser().parse(testCase.input)
        } throws: { error in
            guard let error = error as? JSONParseError else { return false }
            #expect(error.rule == testCase.rule, "\(error)")
            #expect(error.line == testCase.line, "\(error)")
            #expect(error.column == testCase.column, "\(error)")
            #expect(error.path == testCase.path, "\(error)")
            #expect(error.description.hasPrefix("line \(testCase.line), column \(testCase.column)"))
            return true
        }
        // canonicalize's fast path refuses the same input and reports the very same error.
        #expect {
            _ = try CanonicalJSON.canonicalize(testCase.input)
        } throws: { error in
            (error as? JSONParseError)?.rule == testCase.rule && (error as? JSONParseError)?.path == testCase.path
        }
    }

    @Test("10,000 levels of nesting are refused cleanly, without recursion")
    func deepNesting() throws {
        for (open, close) in [("[", "]"), ("{\"k\":", "}")] {
            let text = String(repeating: open, count: 10_000) + "1" + String(repeating: close, count: 10_000)
            #expect {
                _ = try JSONParser().parse(Array(text.utf8))
            } throws: { error in
                let error = try #require(error as? JSONParseError)
                #expect(error.rule == "nesting-too-deep")
                #expect(error.message.contains("512"))
                return true
            }
        }
        // The limit is a policy: an explicit larger limit parses the same document (the parser is iterative).
        let text = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
        let value = try JSONParser(maxDepth: 20_000).parse(Array(text.utf8))
        var depth = 0
        var cursor = value
        while case .array(let elements) = cursor, let first = elements.first {
            depth += 1
            cursor = first
        }
        #expect(depth == 9_999)
        // Exactly at the limit is fine, one more is not.
        let atLimit = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        #expect(throws: Never.self) { try JSONParser().parse(Array(atLimit.utf8)) }
        let overLimit = "[" + atLimit + "]"
        #expect(throws: JSONParseError.self) { try JSONParser().parse(Array(overLimit.utf8)) }
    }

    @Test("valid edge cases parse")
    func validEdges() throws {
        #expect(try JSONParser.parse("\"\\ud83d\\ude02\"") == .string("😂"))
        #expect(try JSONParser.parse("\"\\u00e9\\/\"") == .string("é/"))
        #expect(try JSONParser.parse(" 0 ") == .number(0))
        #expect(try JSONParser.parse("-0.0e+0") == .number(0))
        #expect(try JSONParser.parse("1E2") == .number(100))
        #expect(try JSONParser.parse("1e-400") == .number(0))  // underflow rounds to zero, as in ECMAScript
        #expect(try JSONParser.parse("{\"a\":[],\"b\":{}}") == .object(["a": .array([]), "b": .object([:])]))
        #expect(try JSONParser.parse("\"\u{10FFFF}\u{7F}\"") == .string("\u{10FFFF}\u{7F}"))
    }
}
