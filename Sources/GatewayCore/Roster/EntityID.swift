/// The one rule for patient, device and hub ids, wherever they arrive: `ccmctl patients add`
/// and the roster import, `ccmctl devices add/assign --hub`, `ccmctl ingest --hub`, the device of
/// a reading, the patient of a time entry and the hub segment of an MQTT topic.
///
/// An id is 1 to 64 characters (device ids 1 to 128, as hubs name devices by long serials) from
/// `A–Z a–z 0–9 . _ - : @`. Ids end up in MQTT topics (where `#` and `+` are wildcards and `/`
/// separates levels, so an alert for patient `P#` could never be published), in terminals (where
/// control characters are escape sequences), in CSV exports and in file names; the short list
/// keeps every one of those safe without escaping, and covers MRNs, Bluetooth addresses
/// (`A4:C1:38:12:34:56`), serial numbers, UUIDs and hub names.
public enum EntityID {
    public enum Kind: String, Sendable, CaseIterable {
        case patient, device, hub

        /// Longest id accepted, in characters.
        public var maxLength: Int { self == .device ? 128 : 64 }
    }

    /// The characters allowed besides ASCII letters and digits.
    public static let punctuation: Set<Unicode.Scalar> = [".", "_", "-", ":", "@"]

    /// The rule in words, for messages and help texts.
    public static func rule(_ kind: Kind) -> String {
        "1 to \(kind.maxLength) characters from A-Z a-z 0-9 . _ - : @ (no spaces, control characters, #, + or /)"
    }

    public static func isAllowed(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "A"..."Z", "a"..."z", "0"..."9": true
        default: punctuation.contains(scalar)
        }
    }

    /// What is wrong with `id` as a `kind` id, with the fix, or `nil` when it is a valid one.
    /// The id is shown with its control characters escaped.
    public static func problem(_ id: String, _ kind: Kind) -> String? {
        let shown = "\"\(DisplayText.escaped(id))\""
        if id.isEmpty { return "a \(kind.rawValue) id cannot be empty; use \(rule(kind))" }
        if id.count > kind.maxLength {
            return "\(kind.rawValue) id of \(id.count) characters is too long; use \(rule(kind))"
        }
        if let bad = id.unicodeScalars.first(where: { !isAllowed($0) }) {
            return "\(shown) is not a valid \(kind.rawValue) id: \(describe(bad)) is not allowed; use \(rule(kind))"
        }
        return nil
    }

    /// The rejection of a bad id arriving in a payload, naming its field.
    public static func rejection(_ id: String, _ kind: Kind, field: String) -> Rejection? {
        problem(id, kind).map { Rejection(.invalidValue, field: field, $0) }
    }

    private static func describe(_ scalar: Unicode.Scalar) -> String {
        switch scalar {
        case " ": "a space"
        case "#", "+": "\"\(scalar)\" (an MQTT wildcard)"
        case "/": "\"/\" (the MQTT topic separator)"
        default:
            DisplayText.needsEscape(scalar)
                ? "the control character \(DisplayText.escaped(String(scalar)))" : "\"\(scalar)\""
        }
    }
}

/// Text from outside (ids, notes, JSON keys) made safe to print on a terminal: control and
/// invisible formatting characters are written as escapes (`\n`, `\t`, `\u{1B}`), so stored
/// text can neither drive the terminal nor break a table's layout.
public enum DisplayText {
    /// Whether a scalar is printed as an escape: C0 and C1 controls, DEL, and the format and
    /// separator characters that reorder or hide text (bidirectional overrides, zero-width
    /// characters, line and paragraph separators).
    public static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x20...0x7E: return false
        case 0x00...0x1F, 0x7F...0x9F: return true
        case 0x2028, 0x2029: return true
        default:
            return scalar.properties.generalCategory == .format
        }
    }

    /// `text` with every scalar of ``needsEscape(_:)`` written as an escape.
    public static func escaped(_ text: String) -> String {
        // Printable ASCII needs no escape: checked bytewise first (a month's JSON is megabytes).
        if text.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) { return text }
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar) else {
                out.append(scalar)
                continue
            }
            let escape: String
            switch scalar {
            case "\n": escape = "\\n"
            case "\r": escape = "\\r"
            case "\t": escape = "\\t"
            default: escape = "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            }
            out.append(contentsOf: escape.unicodeScalars)
        }
        return String(out)
    }
}
