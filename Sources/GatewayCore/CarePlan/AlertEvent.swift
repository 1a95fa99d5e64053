#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// One thing that happened to an alert: what the alert log, the journal and the MQTT alert topic
/// carry. Patient ids only, never names.
public struct AlertEvent: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable, CaseIterable, Codable {
        case raised, repeated, escalated, acknowledged, snoozed, resolved
    }

    public var at: Date
    public var kind: Kind
    public var alertID: Int64
    public var level: AlertLevel
    public var patientID: String
    public var rule: String
    public var title: String
    /// The value that decided it, with its unit (`182 mmHg`).
    public var value: String
    /// What it was compared with (`> 180 mmHg`).
    public var threshold: String
    /// Who acted (acknowledged, snoozed, resolved), or `auto`.
    public var by: String?
    public var note: String?
    /// The event's own id, given when it is stored in the outbox (`alert_event`) in the
    /// transaction that caused it: each sink delivers events in this order, and a line or
    /// message that carries it twice is recognisably the same event.
    public var eventID: Int64?

    public init(
        at: Date, kind: Kind, alertID: Int64, level: AlertLevel, patientID: String, rule: String, title: String,
        value: String, threshold: String, by: String? = nil, note: String? = nil, eventID: Int64? = nil
    ) {
        self.at = at
        self.kind = kind
        self.alertID = alertID
        self.level = level
        self.patientID = patientID
        self.rule = rule
        self.title = title
        self.value = value
        self.threshold = threshold
        self.by = by
        self.note = note
        self.eventID = eventID
    }
}

/// The alert log's line formats: text for `tail -f` (`key="value"` pairs after time, level and
/// event), or one JSON object per line. Each parses back, so `ccmctl alerts tail --format`
/// shows either log in either format. A stored event's line ends with its id (`event_id=17`,
/// `"event_id":17`), so a line seen twice is recognisably the same event.
public enum AlertLogFormat: String, Sendable, CaseIterable, Codable {
    case text
    case json

    public func line(_ event: AlertEvent) -> String {
        switch self {
        case .text:
            var parts = [
                RFC3339.format(event.at), event.level.rawValue.uppercased(), event.kind.rawValue,
                "alert=\(event.alertID)",
                "patient=\(Self.quoted(event.patientID))", "rule=\(Self.quoted(event.rule))",
                "value=\(Self.quoted(event.value))",
                "threshold=\(Self.quoted(event.threshold))", "title=\(Self.quoted(event.title))",
            ]
            if let by = event.by { parts.append("by=\(Self.quoted(by))") }
            if let note = event.note { parts.append("note=\(Self.quoted(note))") }
            if let id = event.eventID { parts.append("event_id=\(id)") }
            return parts.joined(separator: " ")
        case .json:
            var object: [String: String] = [
                "time": RFC3339.format(event.at), "level": event.level.rawValue, "event": event.kind.rawValue,
                "patient": event.patientID, "rule": event.rule, "value": event.value, "threshold": event.threshold,
                "title": event.title,
            ]
            object["by"] = event.by
            object["note"] = event.note
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            var text = String(decoding: (try? encoder.encode(object)) ?? Data(), as: UTF8.self)
            // The id as a number, first among equals for readers who grep.
            text = "{\"alert\":\(event.alertID)," + text.dropFirst()
            if let id = event.eventID { text = String(text.dropLast()) + ",\"event_id\":\(id)}" }
            return text
        }
    }

    /// Quotes a value when it holds a space, a quote or an equals sign.
    static func quoted(_ value: String) -> String {
        guard
            value.isEmpty
                || value.contains(where: { $0 == " " || $0 == "\"" || $0 == "=" || $0 == "\\" || $0.isNewline })
        else {
            return value
        }
        var out = "\""
        for c in value {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            default: out.append(c)
            }
        }
        return out + "\""
    }

    /// Parses a line in either format (the log's format may have changed over its life).
    public static func parse(_ line: String) -> AlertEvent? {
        if line.hasPrefix("{") { return parseJSON(line) }
        return parseText(line)
    }

    static func parseJSON(_ line: String) -> AlertEvent? {
        guard case .object(let o)? = try? JSONValue.parse(Data(line.utf8)) else { return nil }
        func s(_ k: String) -> String? { if case .string(let v)? = o[k] { return v } else { return nil } }
        guard case .number(let id)? = o["alert"], let time = s("time").flatMap(RFC3339.parse),
            let level = s("level").flatMap(AlertLevel.init(rawValue:)),
            let kind = s("event").flatMap(AlertEvent.Kind.init(rawValue:)),
            let patient = s("patient"), let rule = s("rule")
        else { return nil }
        return AlertEvent(
            at: time, kind: kind, alertID: Int64(id), level: level, patientID: patient, rule: rule,
            title: s("title") ?? "",
            value: s("value") ?? "", threshold: s("threshold") ?? "", by: s("by"), note: s("note"),
            eventID: { if case .number(let n)? = o["event_id"] { return Int64(exactly: n) } else { return nil } }())
    }

    static func parseText(_ line: String) -> AlertEvent? {
        var fields: [String: String] = [:]
        var words: [String] = []
        var i = line.startIndex
        while i < line.endIndex {
            while i < line.endIndex, line[i] == " " { i = line.index(after: i) }
            guard i < line.endIndex else { break }
            var key = ""
            while i < line.endIndex, line[i] != " ", line[i] != "=" {
                key.append(line[i])
                i = line.index(after: i)
            }
            guard i < line.endIndex, line[i] == "=" else {
                words.append(key)
                continue
            }
            i = line.index(after: i)
            var value = ""
            if i < line.endIndex, line[i] == "\"" {
                i = line.index(after: i)
                while i < line.endIndex, line[i] != "\"" {
                    if line[i] == "\\", line.index(after: i) < line.endIndex {
                        i = line.index(after: i)
                        switch line[i] {
                        case "n": value.append("\n")
                        case "r": value.append("\r")
                        default: value.append(line[i])
                        }
                    } else {
                        value.append(line[i])
                    }
                    i = line.index(after: i)
                }
                if i < line.endIndex { i = line.index(after: i) }
            } else {
                while i < line.endIndex, line[i] != " " {
                    value.append(line[i])
                    i = line.index(after: i)
                }
            }
            fields[key] = value
        }
        guard words.count == 3, let time = RFC3339.parse(words[0]),
            let level = AlertLevel(rawValue: words[1].lowercased()),
            let kind = AlertEvent.Kind(rawValue: words[2]), let id = fields["alert"].flatMap(Int64.init),
            let patient = fields["patient"],
            let rule = fields["rule"]
        else { return nil }
        return AlertEvent(
            at: time, kind: kind, alertID: id, level: level, patientID: patient, rule: rule,
            title: fields["title"] ?? "",
            value: fields["value"] ?? "", threshold: fields["threshold"] ?? "", by: fields["by"], note: fields["note"],
            eventID: fields["event_id"].flatMap(Int64.init))
    }
}
