import ArgumentParser
import Foundation
import GatewayCore

/// Everything ccmctl prints to standard output goes through this: stored text (ids, names,
/// notes, the reasons that quote a payload) could hold control characters, which a terminal
/// runs as escape sequences. They are written as escapes (``DisplayText``); only the line feeds
/// between lines of output stay. Tables escape line feeds inside cells too.
func print(_ text: String = "") {
    // Printable ASCII and line ends, as listings mostly are, need no escape: checked bytewise.
    if text.utf8.allSatisfy({ (0x20...0x7E).contains($0) || $0 == 0x0A }) {
        Swift.print(text)
        return
    }
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    Swift.print(lines.map { DisplayText.escaped(String($0)) }.joined(separator: "\n"))
}

/// How listings are printed: aligned tables for people, JSON or CSV for scripts.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, csv
}

/// One value of a listing. Objects keep their key order in tables and CSV.
indirect enum Cell: Encodable {
    case text(String)
    case number(Double, fractionDigits: Int?)
    case bool(Bool)
    case null
    case object([(String, Cell)])
    case array([Cell])

    static func optional(_ text: String?) -> Cell { text.map(Cell.text) ?? .null }
    static func int<T: BinaryInteger>(_ value: T?) -> Cell {
        value.map { .number(Double($0), fractionDigits: 0) } ?? .null
    }
    static func date(_ date: Date?) -> Cell { date.map { .text(RFC3339.format($0)) } ?? .null }

    /// Text for tables and CSV.
    var plain: String {
        switch self {
        case .text(let text): text
        case .number(let value, let digits): formatNumber(value, fractionDigits: digits)
        case .bool(let value): value ? "yes" : "no"
        case .null: ""
        case .object(let pairs): pairs.map { "\($0.0)=\($0.1.plain)" }.joined(separator: " ")
        case .array(let items): items.map(\.plain).joined(separator: "; ")
        }
    }

    func encode(to encoder: any Encoder) throws {
        switch self {
        case .text(let text):
            var container = encoder.singleValueContainer()
            try container.encode(text)
        case .number(let value, _):
            var container = encoder.singleValueContainer()
            if value == value.rounded(), abs(value) < 1e15 {
                try container.encode(Int64(value))
            } else {
                try container.encode(value)
            }
        case .bool(let value):
            var container = encoder.singleValueContainer()
            try container.encode(value)
        case .null:
            var container = encoder.singleValueContainer()
            try container.encodeNil()
        case .object(let pairs):
            var container = encoder.container(keyedBy: Key.self)
            for (key, value) in pairs { try container.encode(value, forKey: Key(key)) }
        case .array(let items):
            var container = encoder.unkeyedContainer()
            for item in items { try container.encode(item) }
        }
    }

    /// Appends the cell as JSON, as JSONEncoder writes it with `.prettyPrinted`, `.sortedKeys`
    /// and `.withoutEscapingSlashes`: two spaces a level, `"key" : value`, keys in String order,
    /// an empty array or object with an empty line inside.
    func writeJSON(to out: inout String, depth: Int) {
        func newline(_ depth: Int) {
            out += "\n"
            out += String(repeating: "  ", count: depth)
        }
        /// Opens, writes the elements each on a line of its own (keys first for an object),
        /// closes; an empty one has an empty line inside.
        func container(_ open: String, _ close: String, _ elements: [(key: String?, value: Cell)]) {
            out += open
            if elements.isEmpty { out += "\n" }
            for (index, element) in elements.enumerated() {
                if index > 0 { out += "," }
                newline(depth + 1)
                if let key = element.key {
                    Self.writeJSONString(key, to: &out)
                    out += " : "
                }
                element.value.writeJSON(to: &out, depth: depth + 1)
            }
            newline(depth)
            out += close
        }
        switch self {
        case .text(let text): Self.writeJSONString(text, to: &out)
        case .number(let value, _):
            if value == value.rounded(), abs(value) < 1e15 {
                out += String(Int64(value))
            } else if value.isFinite {
                let text = value.description
                out += text.hasSuffix(".0") ? String(text.dropLast(2)) : text
            } else {
                out += "null"
            }
        case .bool(let value): out += value ? "true" : "false"
        case .null: out += "null"
        case .array(let items): container("[", "]", items.map { (nil, $0) })
        case .object(let pairs): container("{", "}", pairs.sorted { $0.0 < $1.0 }.map { ($0.0, $0.1) })
        }
    }

    /// A JSON string: quotes, backslashes and control characters escaped, the rest as it is.
    static func writeJSONString(_ text: String, to out: inout String) {
        out += "\""
        if !text.utf8.contains(where: { $0 < 0x20 || $0 == 0x22 || $0 == 0x5C }) {
            out += text
        } else {
            for scalar in text.unicodeScalars {
                switch scalar {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case "\u{08}": out += "\\b"
                case "\u{0C}": out += "\\f"
                case _ where scalar.value < 0x20:
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                default: out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(_ string: String) { stringValue = string }
        init?(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }
}

/// A listing: named columns and rows of cells, printable in every ``OutputFormat``.
struct Listing {
    var columns: [String]
    var rows: [[Cell]]
    /// Printed instead of an empty table (JSON and CSV print an empty array or just the header).
    var emptyMessage: String

    func render(_ format: OutputFormat) -> String {
        switch format {
        case .table:
            guard !rows.isEmpty else { return emptyMessage }
            let texts = rows.map { $0.map { DisplayText.escaped($0.plain) } }
            let widths = columns.indices.map { i in max(columns[i].count, texts.map { $0[i].count }.max() ?? 0) }
            func line(_ cells: [String]) -> String {
                var parts = cells.enumerated().map { i, cell in
                    cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                }
                parts[parts.count - 1] = cells[cells.count - 1]
                return parts.joined(separator: "  ")
            }
            return ([line(columns.map { $0.uppercased() })] + texts.map(line)).joined(separator: "\n")
        case .json:
            return Self.json(Cell.array(rows.map { row in Cell.object(Array(zip(columns, row))) }))
        case .csv:
            return ([columns] + rows.map { $0.map(\.plain) }).map { $0.map(Self.csvField).joined(separator: ",") }
                .joined(separator: "\n")
        }
    }

    /// One object as JSON (for `show` commands).
    static func json(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: (try? encoder.encode(value)) ?? Data("null".utf8), as: UTF8.self)
    }

    /// Cells as JSON: the text ``json(_:)`` gives, written directly (JSONEncoder took 0.6 s for
    /// the month summary of 5,000 patients).
    static func json(_ value: Cell) -> String {
        var out = ""
        value.writeJSON(to: &out, depth: 0)
        return out
    }

    /// RFC 4180 quoting.
    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
