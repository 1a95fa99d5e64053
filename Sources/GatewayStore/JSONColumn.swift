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

    static func value<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }
}
