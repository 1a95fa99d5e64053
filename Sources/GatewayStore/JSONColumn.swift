import Foundation

/// The one way JSON goes into and comes out of a text column: sorted keys, slashes unescaped
/// (so equal values are equal text), and errors thrown, never swallowed or trapped: a row the
/// store cannot read back is an error the caller reports (the pipeline marks that input
/// `failed`), not a default value.
enum JSONColumn {
    static func text(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// An object of numbers, as ``text(_:)`` writes it (`{"diastolic":82.5,"systolic":128}`),
    /// written directly: a reading's original values go through this for every reading, and
    /// JSONEncoder took about 40,000 instructions for them (callgrind,
    /// Benchmarks/decide-profile.md). Only plain keys (letters, digits, `_`) and numbers that
    /// JSONEncoder is known to write this way (whole numbers under 10^15 as integers, fractions
    /// by `description` without an exponent) are written here; anything else by ``text(_:)``.
    static func numbers(_ object: [String: Double]) throws -> String {
        var out = "{"
        for (index, key) in object.keys.sorted().enumerated() {
            let value = object[key]!
            guard
                !key.isEmpty,
                key.utf8.allSatisfy({
                    switch $0 {
                    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                        UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"):
                        true
                    default: false
                    }
                }),
                value.isFinite, value != 0 || value.sign == .plus
            else { return try text(object) }
            if index > 0 { out += "," }
            out += "\"" + key + "\":"
            if value == value.rounded(), abs(value) < 1e15 {
                out += String(Int64(value))
            } else {
                let description = value.description
                guard value != value.rounded(), !description.contains("e") else { return try text(object) }
                out += description
            }
        }
        return out + "}"
    }

    static func value<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }

    /// A list of strings without escapes, as ``text(_:)`` writes `["I10","E11.9"]` or `[]`, read
    /// without a JSONDecoder (a patient row holds three such lists); `nil` for any other text,
    /// which ``value(_:from:)`` reads.
    static func plainStrings(_ text: String) -> [String]? {
        let bytes = Array(text.utf8)
        guard bytes.first == UInt8(ascii: "["), bytes.last == UInt8(ascii: "]") else { return nil }
        var strings: [String] = []
        var index = 1
        let end = bytes.count - 1
        while index < end {
            if !strings.isEmpty {
                guard bytes[index] == UInt8(ascii: ",") else { return nil }
                index += 1
            }
            guard index < end, bytes[index] == UInt8(ascii: "\"") else { return nil }
            let start = index + 1
            guard let close = bytes[start..<end].firstIndex(of: UInt8(ascii: "\"")) else { return nil }
            let content = bytes[start..<close]
            guard !content.contains(UInt8(ascii: "\\")), !content.contains(where: { $0 < 0x20 }) else { return nil }
            strings.append(String(decoding: content, as: UTF8.self))
            index = close + 1
        }
        return strings
    }
}
