#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// Monitoring time spent on a patient: what the CCM month counts (docs/billing.md § "The ledger").
public struct TimeEntryInput: Sendable, Hashable {
    public enum Role: String, Sendable, CaseIterable, Codable { case clinicalStaff = "clinical_staff", physician }
    public enum Program: String, Sendable, CaseIterable, Codable { case ccm, rpm, pcm }
    public enum Activity: String, Sendable, CaseIterable, Codable {
        case call, video, email, review
        case carePlan = "care_plan"
        case coordination, alert

        /// Calls and video are real-time interactive communication unless said otherwise.
        public var interactiveByDefault: Bool { self == .call || self == .video }
    }

    public var patientID: String
    public var start: Date
    public var minutes: Int
    public var staff: String
    public var role: Role
    public var program: Program
    public var activity: Activity
    public var interactive: Bool
    public var note: String?
    /// The publisher's id for the entry: the same id from the same hub is the same entry.
    public var messageID: String?

    public init(
        patientID: String, start: Date, minutes: Int, staff: String, role: Role, program: Program, activity: Activity,
        interactive: Bool? = nil, note: String? = nil, messageID: String? = nil
    ) {
        self.patientID = patientID
        self.start = start
        self.minutes = minutes
        self.staff = staff
        self.role = role
        self.program = program
        self.activity = activity
        self.interactive = interactive ?? activity.interactiveByDefault
        self.note = note
        self.messageID = messageID
    }
}

/// The time entry format v1 of the MQTT `time` topic: one JSON object (or an array of them).
///
/// ```json
/// {"v": 1, "patient": "P1", "start": "2026-03-04T10:05:00-06:00", "minutes": 12,
///  "staff": "nurse.kim", "role": "clinical_staff", "program": "ccm", "activity": "call",
///  "note": "reviewed the week's readings", "id": "app-4411"}
/// ```
///
/// `end` may stand for `minutes` (whole minutes between start and end count); `interactive`
/// defaults to true for `call` and `video`.
public enum TimeEntryV1 {
    public static let fields = [
        "v", "patient", "start", "minutes", "end", "staff", "role", "program", "activity", "interactive", "note", "id",
    ]
    /// One entry is at most ten hours; anything longer is a typing mistake.
    public static let maxMinutes = 600

    public static func parse(_ payload: Data) -> Result<[Result<TimeEntryInput, Rejection>], Rejection> {
        let json: JSONValue
        do { json = try JSONValue.parse(input: payload, expected: "one time entry object (or an array of them)") } catch
        {
            return .failure(error)
        }
        switch json {
        case .object(let object): return .success([entry(object)])
        case .array(let items) where !items.isEmpty:
            return .success(
                items.enumerated().map { index, item in
                    guard case .object(let object) = item else {
                        return .failure(
                            Rejection(
                                .notAnObject, field: "[\(index)]", "expected a time entry object, got \(item.typeName)")
                        )
                    }
                    return entry(object).mapError { $0.within("[\(index)]") }
                })
        case .array: return .failure(Rejection(.emptyBatch, field: nil, "empty array: send at least one time entry"))
        default:
            return .failure(Rejection(.notAnObject, field: nil, "expected a time entry object, got \(json.typeName)"))
        }
    }

    static func entry(_ o: [String: JSONValue]) -> Result<TimeEntryInput, Rejection> {
        Result { () throws(Rejection) in
            if let unknown = o.keys.sorted().first(where: { !fields.contains($0) }) {
                throw Rejection(
                    .unknownField, field: unknown,
                    "unknown field; a time entry v1 allows \(fields.joined(separator: ", "))")
            }
            guard o["v"] == .number(1) else {
                throw Rejection(.unsupportedVersion, field: "v", "required; add \"v\": 1")
            }
            func string(_ field: String, required: Bool = true) throws(Rejection) -> String? {
                switch o[field] {
                case .string(let text)? where !text.isEmpty: return text
                case nil, .null?:
                    if required { throw Rejection(.missingField, field: field, "required") }
                    return nil
                case let other?:
                    throw Rejection(.wrongType, field: field, "expected a non-empty string, got \(other.typeName)")
                }
            }
            func choice<T: RawRepresentable & CaseIterable>(_ field: String, _ type: T.Type) throws(Rejection) -> T
            where T.RawValue == String {
                let text = try string(field)!
                guard let value = T(rawValue: text) else {
                    throw Rejection(
                        .invalidValue, field: field,
                        "\"\(text)\" is not one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return value
            }
            let patient = try string("patient")!
            if let rejection = EntityID.rejection(patient, .patient, field: "patient") { throw rejection }
            guard let start = RFC3339.parse(try string("start")!) else {
                throw Rejection(
                    .invalidTimestamp, field: "start",
                    "not an RFC 3339 time with an offset; write it like 2026-03-04T10:05:00-06:00")
            }
            // Billable time is from this century's clinic, and must read back as a date.
            guard start >= ClockRules.earliestBelievable, ClockRules.storable.contains(start) else {
                throw Rejection(
                    .invalidTimestamp, field: "start",
                    "\(RFC3339.format(start)) is not between 2015 and 2099; check the clock of the app that sent it")
            }
            var minutes: Int
            switch (o["minutes"], o["end"]) {
            case (.number(let n)?, nil) where n == n.rounded():
                // Checked as a number first: Int(1e308) would stop the process.
                guard n >= 1, n <= Double(maxMinutes) else {
                    throw Rejection(
                        .implausible, field: "minutes",
                        "\(formatNumber(n)) is not between 1 and \(maxMinutes); split longer work into entries")
                }
                minutes = Int(n)
            case (nil, .string(let text)?):
                guard let end = RFC3339.parse(text), end > start else {
                    throw Rejection(.invalidTimestamp, field: "end", "must be an RFC 3339 time after start")
                }
                minutes = Int(end.timeIntervalSince(start) / 60)
            case (.some, .some):
                throw Rejection(.inconsistent, field: "end", "give minutes or end, not both")
            default:
                throw Rejection(.missingField, field: "minutes", "required: whole minutes (or an end time)")
            }
            guard (1...maxMinutes).contains(minutes) else {
                throw Rejection(
                    .implausible, field: "minutes",
                    "\(minutes) is not between 1 and \(maxMinutes); split longer work into entries")
            }
            let activity = try choice("activity", TimeEntryInput.Activity.self)
            var interactive = activity.interactiveByDefault
            switch o["interactive"] {
            case nil, .null?: break
            case .bool(let flag)?: interactive = flag
            case let other?:
                throw Rejection(.wrongType, field: "interactive", "expected true or false, got \(other.typeName)")
            }
            return TimeEntryInput(
                patientID: patient, start: start, minutes: minutes, staff: try string("staff")!,
                role: try choice("role", TimeEntryInput.Role.self),
                program: try choice("program", TimeEntryInput.Program.self),
                activity: activity, interactive: interactive, note: try string("note", required: false),
                messageID: try string("id", required: false))
        }
    }
}
