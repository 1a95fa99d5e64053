import Foundation
import Testing

@testable import GatewayCore

/// PlainJSON answers only where its answer is JSONDecoder's: checked here value by value (numbers
/// by bit pattern, strings and keys by their UTF-8 bytes) on fixtures, edge cases, random
/// documents and random mutations of a reading.
@Suite("Plain JSON parser against JSONDecoder")
struct PlainJSONTests {
    /// Checks one text; returns whether PlainJSON answered.
    @discardableResult
    static func check(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) -> Bool {
        let data = Data(bytes)
        let decoded = Result { try JSONValue.parseWithDecoder(data) }
        guard let plain = PlainJSON.parse(data) else {
            // Not answered: parse(_:) is JSONDecoder's answer, error included.
            let full = Result { try JSONValue.parse(data) }
            switch (full, decoded) {
            case (.success(let x), .success(let y)):
                #expect(
                    x.isIdentical(to: y), "\(String(decoding: bytes, as: UTF8.self))", sourceLocation: sourceLocation)
            case (.failure(let x), .failure(let y)):
                #expect("\(x)" == "\(y)", sourceLocation: sourceLocation)
            default:
                Issue.record("parse and JSONDecoder differ on \(bytes)", sourceLocation: sourceLocation)
            }
            return false
        }
        guard case .success(let value) = decoded else {
            Issue.record(
                "PlainJSON accepted what JSONDecoder refuses: \(String(decoding: bytes, as: UTF8.self))",
                sourceLocation: sourceLocation)
            return true
        }
        #expect(
            plain.isIdentical(to: value), "differs from JSONDecoder: \(String(decoding: bytes, as: UTF8.self))",
            sourceLocation: sourceLocation)
        return true
    }

    static let reading = #"""
        {"v": 1, "device": "AA:BB:CC:DD:EE:01", "kind": "blood_pressure", "measured_at": "2026-03-04T07:42:10-06:00", "unit": "mmHg", "values": {"systolic": 128, "diastolic": 82.5, "pulse": 71}, "seq": 12, "id": "m-1"}
        """#

    @Test("readings, batches and fixtures are answered, as JSONDecoder does")
    func answered() throws {
        var texts = [
            Self.reading, "[\(Self.reading), \(Self.reading)]", "{}", "[]", " {\"a\" : [ ] } \n",
            #"{"a":null,"b":true,"c":false,"d":[1,-2.5,3e2,4E-2,0.1,123456789012345678e-3]}"#,
            #"{"s":"tab\tquote\" slash\/ back\\ \b\f\n\r","é":"ünï","emoji":"😀"}"#,
            #"[[[[{"deep":[0]}]]]]"#,
        ]
        let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Fixtures").standardizedFileURL
        if let files = FileManager.default.enumerator(atPath: fixtures.path) {
            for case let file as String in files where file.hasSuffix(".jsonl") || file.hasSuffix(".json") {
                let text = try String(contentsOf: fixtures.appendingPathComponent(file), encoding: .utf8)
                texts += text.split(separator: "\n").map(String.init)
            }
        }
        var answered = 0
        for text in texts where Self.check(Array(text.utf8)) { answered += 1 }
        #expect(answered >= 8)
        #expect(PlainJSON.parse(Data(Self.reading.utf8)) != nil)
    }

    @Test("what it leaves to JSONDecoder gets JSONDecoder's answer")
    func declined() {
        let texts = [
            "", " ", "1", "\"s\"", "null", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "[01]", "[1.]", "[.5]", "[-]",
            "[1e]", "[+1]", "[0e5]", "[-0E1]", "[-0]", "[-0.0]", "[1e400]", "[1e-400]", "[123456789012345678]",
            "{\"a\":1,\"a\":2}", "{\"v\":{\"x\":1,\"x\":1}}", #"["\u00e9"]"#, #"["\ud83d\ude00"]"#, #"["\x"]"#,
            "[\"a\u{1}\"]", "[tru]", "[nul]", "[true false]", "{} {}", "\u{FEFF}{}", "[NaN]", "[Infinity]",
            String(repeating: "[", count: 40) + String(repeating: "]", count: 40),
        ]
        for text in texts { #expect(!Self.check(Array(text.utf8)), "\(text)") }
        #expect(!Self.check([0x5B, 0x22, 0xC3, 0x28, 0x22, 0x5D]))  // ["\xC3("]: not UTF-8
        #expect(!Self.check([0x5B, 0x22, 0xFF, 0x22, 0x5D]))
    }

    @Test("random numbers convert to the same bits")
    func numbers() {
        var generator = SplitMix64(seed: 18)
        var answered = 0
        for _ in 0..<20_000 {
            var text = Bool.random(using: &generator) ? "-" : ""
            let whole = Int.random(in: 0...9, using: &generator)
            text +=
                whole == 0
                ? "0"
                : String(
                    (0..<whole).map { i in Character(String(Int.random(in: (i == 0 ? 1 : 0)...9, using: &generator))) })
            if Bool.random(using: &generator) {
                text +=
                    "."
                    + String(
                        (0..<Int.random(in: 1...12, using: &generator)).map { _ in
                            Character(String(Int.random(in: 0...9, using: &generator)))
                        })
            }
            if Int.random(in: 0..<3, using: &generator) == 0 {
                text +=
                    ["e", "E"].randomElement(using: &generator)! + ["", "+", "-"].randomElement(using: &generator)!
                    + String(Int.random(in: 0...320, using: &generator))
            }
            if Self.check(Array("[\(text)]".utf8)) { answered += 1 }
        }
        #expect(answered > 10_000)
    }

    @Test("random documents and mutated readings")
    func randomDocuments() {
        var generator = SplitMix64(seed: 18)
        let pieces = [
            "a", "é", "\\n", "\\\"", "\\\\", "\\/", "😀", " ", "\\t", "Z", "\\u0041", "\u{7F}", "ü",
        ]
        func string() -> String {
            "\""
                + (0..<Int.random(in: 0...4, using: &generator)).map { _ in pieces.randomElement(using: &generator)! }
                .joined() + "\""
        }
        func value(_ depth: Int) -> String {
            switch Int.random(in: 0..<(depth > 3 ? 5 : 7), using: &generator) {
            case 0: return "null"
            case 1: return Bool.random(using: &generator) ? "true" : "false"
            case 2: return String(Double.random(in: -1e6...1e6, using: &generator))
            case 3: return String(Int.random(in: -100_000...100_000, using: &generator))
            case 4: return string()
            case 5:
                return "["
                    + (0..<Int.random(in: 0...3, using: &generator)).map { _ in value(depth + 1) }.joined(
                        separator: ",") + "]"
            default:
                return "{"
                    + (0..<Int.random(in: 0...3, using: &generator)).map { _ in string() + ":" + value(depth + 1) }
                    .joined(separator: ", ")
                    + "}"
            }
        }
        var answered = 0
        for _ in 0..<3_000 where Self.check(Array(("{\"k\":" + value(0) + "}").utf8)) { answered += 1 }
        #expect(answered > 1_000)
        let base = Array(Self.reading.utf8)
        let alphabet = Array(#"{}[]",:0123456789.-+eE \"\\tnru"#.utf8) + [0x00, 0x1F, 0x80, 0xC3, 0xA9, 0xFF]
        for _ in 0..<5_000 {
            var bytes = base
            for _ in 0..<Int.random(in: 1...3, using: &generator) {
                let at = Int.random(in: 0..<bytes.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: bytes[at] = alphabet.randomElement(using: &generator)!
                case 1: bytes.remove(at: at)
                default: bytes.insert(alphabet.randomElement(using: &generator)!, at: at)
                }
            }
            Self.check(bytes)
        }
    }
}

/// A seeded generator (SplitMix64), so that a failure of the random tests above can be run
/// again; the fuzzer (Fuzz/native.swift) explores at random.
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
