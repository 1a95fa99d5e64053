#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Any JSON value, decoded first so that validation can name every field it refuses (a
/// `Decodable` struct would stop at the first `DecodingError` with a generic message).
public enum JSONValue: Sendable, Hashable, Decodable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let bool = try? container.decode(Bool.self) {
            self = .bool(bool)
        } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else if let string = try? container.decode(String.self) {
            self = .string(string)
        } else if let array = try? container.decode([JSONValue].self) {
            self = .array(array)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// Parses UTF-8 JSON text. A key repeated in one object throws ``DuplicateJSONKey`` (the
    /// decoder would keep one of them silently); anything else that is not JSON throws the
    /// decoder's error.
    public static func parse(_ data: Data) throws -> JSONValue {
        if let value = PlainJSON.parse(data) { return value }
        return try parseWithDecoder(data)
    }

    /// ``parse(_:)`` through `JSONDecoder` alone (what ``PlainJSON`` is checked against).
    static func parseWithDecoder(_ data: Data) throws -> JSONValue {
        let value = try JSONDecoder().decode(JSONValue.self, from: data)
        if let duplicate = JSONDuplicateKeys.first(in: data) { throw duplicate }
        return value
    }

    /// Parses an input's payload, turning what is wrong with it into the rejection stored for it:
    /// a repeated key names the key; text that is not JSON says to send `expected` instead.
    public static func parse(input data: Data, expected: String) throws(Rejection) -> JSONValue {
        do {
            return try parse(data)
        } catch let duplicate as DuplicateJSONKey {
            throw duplicate.rejection
        } catch {
            throw Rejection(
                .malformedJSON, field: nil, "malformed JSON: the payload is not valid JSON; send \(expected)")
        }
    }

    /// The JSON type name, for "expected a number, got a string" messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}
