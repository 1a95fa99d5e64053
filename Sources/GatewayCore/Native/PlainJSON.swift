#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A strict, small parser for the plain JSON that nearly every payload is, in front of
/// `JSONDecoder` (``JSONValue/parse(_:)``).
///
/// Decoding a reading into ``JSONValue`` through `JSONDecoder` tries each JSON type in turn, and
/// every failed try builds a `DecodingError`: about 230,000 instructions for a one-line
/// blood-pressure reading, a sixth of deciding it (callgrind, Benchmarks/decide-profile.md).
/// This takes about 30,000.
///
/// It answers only where its answer is certainly `JSONDecoder`'s: a top-level object or array;
/// strings without `\u` escapes (other escapes resolved), valid UTF-8, no control characters;
/// numbers with at most 17 significant digits and an exponent within ±250, read by the
/// standard library's correctly rounded conversion; no key twice in one object; nesting at
/// most ``maxDepth`` deep. For anything else (including every malformed text) it returns
/// `nil` and the caller asks `JSONDecoder`, whose answer and errors stay what they were.
/// Tests and the `native` fuzz target check it against `JSONDecoder` wherever it answers.
enum PlainJSON {
    static let maxDepth = 32

    static func parse(_ data: Data) -> JSONValue? {
        data.withUnsafeBytes { raw in
            var parser = Parser(bytes: raw.bindMemory(to: UInt8.self))
            parser.skipSpace()
            guard parser.at(UInt8(ascii: "{")) || parser.at(UInt8(ascii: "[")),
                let value = parser.value(depth: 0)
            else { return nil }
            parser.skipSpace()
            return parser.index == parser.bytes.count ? value : nil
        }
    }

    private struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var index = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        func at(_ byte: UInt8) -> Bool { index < bytes.count && bytes[index] == byte }

        mutating func skipSpace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x09, 0x0A, 0x0D: index += 1
                default: return
                }
            }
        }

        /// Consumes `byte` (after white space) when it is next.
        mutating func take(_ byte: UInt8) -> Bool {
            skipSpace()
            guard at(byte) else { return false }
            index += 1
            return true
        }

        mutating func value(depth: Int) -> JSONValue? {
            skipSpace()
            guard index < bytes.count, depth < maxDepth else { return nil }
            switch bytes[index] {
            case UInt8(ascii: "{"):
                index += 1
                var object: [String: JSONValue] = [:]
                if take(UInt8(ascii: "}")) { return .object(object) }
                repeat {
                    skipSpace()
                    guard at(UInt8(ascii: "\"")), let key = string(), take(UInt8(ascii: ":")),
                        let member = value(depth: depth + 1),
                        object.updateValue(member, forKey: key) == nil
                    else { return nil }
                } while take(UInt8(ascii: ","))
                return take(UInt8(ascii: "}")) ? .object(object) : nil
            case UInt8(ascii: "["):
                index += 1
                var array: [JSONValue] = []
                if take(UInt8(ascii: "]")) { return .array(array) }
                repeat {
                    guard let element = value(depth: depth + 1) else { return nil }
                    array.append(element)
                } while take(UInt8(ascii: ","))
                return take(UInt8(ascii: "]")) ? .array(array) : nil
            case UInt8(ascii: "\""):
                return string().map(JSONValue.string)
            case UInt8(ascii: "t"):
                return literal("true") ? .bool(true) : nil
            case UInt8(ascii: "f"):
                return literal("false") ? .bool(false) : nil
            case UInt8(ascii: "n"):
                return literal("null") ? .null : nil
            default:
                return number().map(JSONValue.number)
            }
        }

        mutating func literal(_ word: StaticString) -> Bool {
            let count = word.utf8CodeUnitCount
            guard bytes.count - index >= count else { return false }
            for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { return false }
            index += count
            return true
        }

        /// The string whose opening quote is at `index`.
        mutating func string() -> String? {
            index += 1
            let start = index
            var escaped = false
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") { break }
                if byte < 0x20 { return nil }
                if byte == UInt8(ascii: "\\") {
                    escaped = true
                    index += 1
                    guard index < bytes.count else { return nil }
                    switch bytes[index] {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                        UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        break
                    default: return nil
                    }
                }
                index += 1
            }
            guard index < bytes.count else { return nil }
            let raw = UnsafeBufferPointer(rebasing: bytes[start..<index])
            index += 1
            guard escaped else { return String(validating: raw, as: UTF8.self) }
            var unescaped: [UInt8] = []
            unescaped.reserveCapacity(raw.count)
            var position = 0
            while position < raw.count {
                var byte = raw[position]
                if byte == UInt8(ascii: "\\") {
                    position += 1
                    switch raw[position] {
                    case UInt8(ascii: "b"): byte = 0x08
                    case UInt8(ascii: "f"): byte = 0x0C
                    case UInt8(ascii: "n"): byte = 0x0A
                    case UInt8(ascii: "r"): byte = 0x0D
                    case UInt8(ascii: "t"): byte = 0x09
                    default: byte = raw[position]
                    }
                }
                unescaped.append(byte)
                position += 1
            }
            return String(validating: unescaped, as: UTF8.self)
        }

        /// A number in JSON's grammar, within the limits above.
        mutating func number() -> Double? {
            let start = index
            var digits = 0
            var leading = true
            func isDigit(_ i: Int) -> Bool {
                i < bytes.count && bytes[i] >= UInt8(ascii: "0") && bytes[i] <= UInt8(ascii: "9")
            }
            if at(UInt8(ascii: "-")) { index += 1 }
            guard isDigit(index) else { return nil }
            if bytes[index] == UInt8(ascii: "0") {
                index += 1
                // JSONDecoder refuses 0e5 (and reads 01 as no number): left to it.
                if isDigit(index) || at(UInt8(ascii: "e")) || at(UInt8(ascii: "E")) { return nil }
            } else {
                while isDigit(index) {
                    if bytes[index] != UInt8(ascii: "0") || !leading {
                        leading = false
                        digits += 1
                    }
                    index += 1
                }
            }
            if at(UInt8(ascii: ".")) {
                index += 1
                guard isDigit(index) else { return nil }
                while isDigit(index) {
                    if bytes[index] != UInt8(ascii: "0") || !leading {
                        leading = false
                        digits += 1
                    }
                    index += 1
                }
            }
            if at(UInt8(ascii: "e")) || at(UInt8(ascii: "E")) {
                index += 1
                if at(UInt8(ascii: "+")) || at(UInt8(ascii: "-")) { index += 1 }
                guard isDigit(index) else { return nil }
                var exponent = 0
                while isDigit(index) {
                    exponent = exponent * 10 + Int(bytes[index] - UInt8(ascii: "0"))
                    guard exponent <= 250 else { return nil }
                    index += 1
                }
            }
            // Far from overflow and from subnormal numbers; -0 is left to JSONDecoder too.
            guard digits <= 17, index - start <= 40 else { return nil }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
            guard let number = Double(text), number.isFinite, number != 0 || bytes[start] != UInt8(ascii: "-")
            else { return nil }
            return number
        }
    }
}

extension JSONValue {
    /// Whether two values are the same to the bit: numbers by bit pattern (unlike `==`, which
    /// takes 0 and -0 as equal), text and keys by their UTF-8 bytes. The tests and the `native`
    /// fuzz target compare PlainJSON's answers with JSONDecoder's by it.
    func isIdentical(to other: JSONValue) -> Bool {
        switch (self, other) {
        case (.null, .null): return true
        case (.bool(let x), .bool(let y)): return x == y
        case (.number(let x), .number(let y)): return x.bitPattern == y.bitPattern
        case (.string(let x), .string(let y)): return Array(x.utf8) == Array(y.utf8)
        case (.array(let x), .array(let y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.isIdentical(to: $1) }
        case (.object(let x), .object(let y)):
            guard x.count == y.count else { return false }
            let others = Dictionary(uniqueKeysWithValues: y.map { (Array($0.key.utf8), $0.value) })
            return x.allSatisfy { key, value in others[Array(key.utf8)].map { value.isIdentical(to: $0) } ?? false }
        default: return false
        }
    }
}
