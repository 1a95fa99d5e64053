/// A patient enrolled in the practice's monitoring program.
///
/// Names are stored for the people who use `ccmctl`; they never appear in logs or alert sinks
/// (patient ids only).
public struct Patient: Sendable, Hashable, Codable {
    /// The practice's own patient id (MRN or similar), 1–64 characters.
    public var id: String
    public var name: String
    /// IANA time zone the patient's days and months are counted in; the practice's by default.
    public var timeZone: String
    /// Chronic conditions as ICD-10-CM codes, canonical form (`E11.9`).
    public var conditions: [String]
    public var medications: [String]
    public var medicarePartB: Bool
    /// Date the patient consented to CCM, in the practice's calendar.
    public var ccmConsentDate: LocalDate?
    /// Standing complexity; a month can be designated otherwise (``CalendarMonth``).
    public var complexity: Complexity
    /// The programs the patient is enrolled in: only these are billed.
    public var programs: [TimeEntryInput.Program]
    /// RPM device set-up and education: 99453 is billed with the device code of its period.
    public var rpmStart: LocalDate?

    public init(
        id: String, name: String, timeZone: String, conditions: [String] = [], medications: [String] = [],
        medicarePartB: Bool = false, ccmConsentDate: LocalDate? = nil, complexity: Complexity = .nonComplex,
        programs: [TimeEntryInput.Program] = [], rpmStart: LocalDate? = nil
    ) {
        self.id = id
        self.name = name
        self.timeZone = timeZone
        self.conditions = conditions
        self.medications = medications
        self.medicarePartB = medicarePartB
        self.ccmConsentDate = ccmConsentDate
        self.complexity = complexity
        self.programs = programs
        self.rpmStart = rpmStart
    }
}

/// CCM complexity: complex CCM needs moderate or high medical decision making.
public enum Complexity: String, Sendable, Hashable, Codable, CaseIterable {
    case nonComplex = "non-complex"
    case complex
}

/// What a device is; decides nothing yet but is shown to operators and checked by later rules.
public enum DeviceKind: String, Sendable, Hashable, Codable, CaseIterable {
    case bloodPressureMonitor = "bp_monitor"
    case glucometer
    case scale
    case pulseOximeter = "pulse_oximeter"
    case thermometer
    case hub
    case other
}

extension DeviceKind {
    /// The Bluetooth SIG health services a device advertises, and the kind each makes it:
    /// Blood Pressure 0x1810, Glucose 0x1808, Weight Scale 0x181D, Body Composition 0x181B,
    /// Pulse Oximeter 0x1822, Health Thermometer 0x1809.
    public static let gattServices: [UInt16: DeviceKind] = [
        0x1810: .bloodPressureMonitor, 0x1808: .glucometer, 0x181D: .scale, 0x181B: .scale, 0x1822: .pulseOximeter,
        0x1809: .thermometer,
    ]

    /// The kind of a device advertising `services` (the first health service it names), or
    /// `nil` when it names none.
    public init?(advertising services: [UInt16]) {
        guard let kind = services.lazy.compactMap({ Self.gattServices[$0] }).first else { return nil }
        self = kind
    }
}

/// A device known to the gateway, and whom its readings belong to.
public struct Device: Sendable, Hashable, Codable {
    /// The id readings carry in `device` (canonical, see ``DeviceID``).
    public var id: String
    public var kind: DeviceKind
    /// Bluetooth address for devices the gateway connects to itself.
    public var bleAddress: String?
    public var model: String?
    public var patientID: String?
    /// The only hub allowed to publish this device's readings, when set.
    public var hubID: String?

    public init(
        id: String, kind: DeviceKind, bleAddress: String? = nil, model: String? = nil, patientID: String? = nil,
        hubID: String? = nil
    ) {
        self.id = id
        self.kind = kind
        self.bleAddress = bleAddress
        self.model = model
        self.patientID = patientID
        self.hubID = hubID
    }
}

/// A calendar date without a time zone (`2026-03-04`), as consent dates and billing months use.
public struct LocalDate: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public let year: Int
    public let month: Int
    public let day: Int

    /// Parses `YYYY-MM-DD`, rejecting impossible dates.
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]),
            (1...12).contains(m), d >= 1, d <= RFC3339.daysInMonth(year: y, month: m)
        else { return nil }
        (year, month, day) = (y, m, d)
    }

    /// A valid date from its parts (the caller guarantees it exists).
    public init(year: Int, month: Int, day: Int) {
        (self.year, self.month, self.day) = (year, month, day)
    }

    /// Days since 1970-01-01, for date arithmetic.
    public var dayNumber: Int { RFC3339.daysFromCivil(year: year, month: month, day: day) }

    public init(dayNumber: Int) {
        let civil = RFC3339.civilFromDays(dayNumber)
        self.init(year: civil.year, month: civil.month, day: civil.day)
    }

    public func adding(days: Int) -> LocalDate { LocalDate(dayNumber: dayNumber + days) }

    public var description: String {
        RFC3339.pad(year, 4) + "-" + RFC3339.pad(month, 2) + "-" + RFC3339.pad(day, 2)
    }

    public static func < (a: LocalDate, b: LocalDate) -> Bool {
        (a.year, a.month, a.day) < (b.year, b.month, b.day)
    }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let date = LocalDate(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: decoder.codingPath, debugDescription: "not a YYYY-MM-DD date: \(text)"))
        }
        self = date
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// ICD-10-CM code shape: a letter, two characters, then optionally a dot and up to four more.
public enum ICD10 {
    /// The canonical spelling (`e119` → `E11.9`), or `nil` when `code` is not shaped like one.
    public static func canonical(_ code: String) -> String? {
        let upper = code.uppercased().filter { $0 != "." }
        let chars = Array(upper)
        guard (3...7).contains(chars.count), chars[0].isASCII, chars[0].isLetter,
            chars[1].isASCII, chars[1].isNumber,
            chars.dropFirst(2).allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) })
        else { return nil }
        return chars.count == 3 ? upper : String(chars[0..<3]) + "." + String(chars[3...])
    }
}
