#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// What the CCM month needs to know about a patient (docs/billing.md § "Prerequisites").
public struct BillingPatient: Sendable, Hashable {
    public var id: String
    /// Distinct chronic conditions among the patient's codes (``ChronicConditions/count(_:)``).
    public var chronicConditions: Int
    public var medicarePartB: Bool
    /// The care-management consent (CCM, PCM and RPM alike): minutes before it do not count.
    public var consent: LocalDate?
    public var programs: Set<TimeEntryInput.Program>
    /// Complex CCM this month: moderate or high MDM, care plan established or substantially revised.
    public var complex: Bool
    /// RPM set-up and education: 99453 goes with the device code of the month (or period) holding it.
    public var rpmStart: LocalDate?
    /// A care plan is on file (CCM and PCM need one).
    public var hasCarePlan: Bool

    public init(
        id: String, chronicConditions: Int, medicarePartB: Bool, consent: LocalDate?,
        programs: Set<TimeEntryInput.Program>,
        complex: Bool = false, rpmStart: LocalDate? = nil, hasCarePlan: Bool = true
    ) {
        self.id = id
        self.chronicConditions = chronicConditions
        self.medicarePartB = medicarePartB
        self.consent = consent
        self.programs = programs
        self.complex = complex
        self.rpmStart = rpmStart
        self.hasCarePlan = hasCarePlan
    }
}

/// How RPM device days are grouped (docs/billing.md § "RPM: device codes 99445, 99454 and
/// 99453"): by calendar month (the default), or in 30-day
/// periods counted from the RPM start, each reported in the month it ends.
public enum DevicePeriod: String, Sendable, Hashable, CaseIterable {
    case calendarMonth = "calendar_month"
    case thirtyDays = "30_days"
}

/// One patient-month: the minutes, the device days, the codes and why others were not billed.
public struct MonthSummary: Sendable, Hashable {
    public struct NotBilled: Sendable, Hashable {
        public var code: String
        public var reason: String
    }

    public var patient: String
    public var month: CalendarMonth
    /// Minutes logged in the month (voided entries excluded), by program and role.
    public var minutes: [TimeEntryInput.Program: [TimeEntryInput.Role: Int]]
    /// Days with device data in the device period(s) reported this month.
    public var readingDays: Int
    /// Billed codes and units, in ``MonthRules/codeOrder``.
    public var codes: [(code: String, units: Int)]
    public var notBilled: [NotBilled]

    public static func == (a: MonthSummary, b: MonthSummary) -> Bool {
        a.patient == b.patient && a.month == b.month && a.minutes == b.minutes && a.readingDays == b.readingDays
            && a.codes.map(\.code) == b.codes.map(\.code) && a.codes.map(\.units) == b.codes.map(\.units)
            && a.notBilled == b.notBilled
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(patient)
        hasher.combine(month)
    }

    public func units(_ code: String) -> Int { codes.first { $0.code == code }?.units ?? 0 }
    public func reason(_ code: String) -> String? { notBilled.first { $0.code == code }?.reason }
}

/// The billing rules of docs/billing.md (each with its source there) for one patient-month. Pure
/// and deterministic.
///
/// Full minutes only (no midpoint rounding). CCM: physician time of 30 minutes or more bills
/// 99491 (+99437 per further full 30) and excludes 99490; under 30 it counts as clinical-staff
/// time toward 99490 (+99439 per further full 20, at most 2). A complex month bills 99487 at 60
/// (+99489 per further full 30) and falls back to non-complex under 60. PCM (99424/99425
/// physician, 99426/99427 staff, 30 and +30) is not billed in a month CCM is. RPM: 99445 for 2–15
/// device days, 99454 for 16 or more; 99470 for 10–19 management minutes, 99457 at 20 (+99458 per
/// further full 20, at most 2), management only with a real-time interactive contact; 99453 with
/// the device code of the period holding the RPM start. Codes whose prerequisites fail (Part B,
/// consent, conditions, care plan, enrolment) are listed as not billed with the reason.
public enum MonthRules {
    public static let codeOrder = [
        "99490", "99439", "99491", "99437", "99487", "99489", "99424", "99425", "99426", "99427", "99453", "99445",
        "99454", "99470",
        "99457", "99458",
    ]

    public static func summarize(
        _ patient: BillingPatient, month: CalendarMonth, entries: [LedgerEntry], readingDays: Set<LocalDate>,
        zone: TimeZone,
        devicePeriod: DevicePeriod = .calendarMonth
    ) -> MonthSummary {
        summarize(
            patient, month: month, entries: entries, readingDays: readingDays, days: LocalDays(zone, around: month),
            devicePeriod: devicePeriod)
    }

    /// ``summarize(_:month:entries:readingDays:zone:devicePeriod:)`` with the zone's days placed
    /// once for every patient of the month (`LocalDays(zone, around: month)`).
    public static func summarize(
        _ patient: BillingPatient, month: CalendarMonth, entries: [LedgerEntry], readingDays: Set<LocalDate>,
        days: LocalDays,
        devicePeriod: DevicePeriod = .calendarMonth
    ) -> MonthSummary {
        var minutes: [TimeEntryInput.Program: [TimeEntryInput.Role: Int]] = [:]
        var counted: [TimeEntryInput.Program: [TimeEntryInput.Role: Int]] = [:]
        var beforeConsent: [TimeEntryInput.Program: Int] = [:]
        var interactiveRPM = false
        for entry in entries where !entry.voided {
            for part in entry.split(in: days) where month.contains(part.date) {
                minutes[entry.program, default: [:]][entry.role, default: 0] += part.minutes
                // Without any consent the minutes count as if it were on file, and the consent
                // prerequisite withholds what they would bill, with that reason.
                if patient.consent.map({ part.date >= $0 }) ?? true {
                    counted[entry.program, default: [:]][entry.role, default: 0] += part.minutes
                    if entry.program == .rpm, entry.interactive { interactiveRPM = true }
                } else {
                    beforeConsent[entry.program, default: 0] += part.minutes
                }
            }
        }
        var result = Builder()
        func staff(_ program: TimeEntryInput.Program) -> Int { counted[program]?[.clinicalStaff] ?? 0 }
        func physician(_ program: TimeEntryInput.Program) -> Int { counted[program]?[.physician] ?? 0 }
        func consentNote(_ program: TimeEntryInput.Program) -> String? {
            guard let early = beforeConsent[program], early > 0 else { return nil }
            return patient.consent.map { "\(early) minutes before the consent of \($0) not counted" }
        }

        // CCM
        let ccmLogged = minutes[.ccm].map { $0.values.reduce(0, +) } ?? 0
        if patient.programs.contains(.ccm) || ccmLogged > 0 {
            var ccm = Builder()
            ccmCodes(
                staff: staff(.ccm), physician: physician(.ccm), complex: patient.complex, into: &ccm,
                note: consentNote(.ccm))
            var gates = common(patient, program: .ccm, name: "CCM")
            if patient.chronicConditions < 2 {
                gates.append("CCM needs two or more chronic conditions; \(patient.chronicConditions) on file")
            }
            if !patient.hasCarePlan {
                gates.append("no care plan on file; set one with ccmctl careplan set \(patient.id)")
            }
            result.merge(ccm, gates: gates)
        }
        let ccmBilled = result.codes.contains { ["99490", "99491", "99487"].contains($0.code) }

        // PCM
        let pcmLogged = minutes[.pcm].map { $0.values.reduce(0, +) } ?? 0
        if patient.programs.contains(.pcm) || pcmLogged > 0 {
            var pcm = Builder()
            pcmCodes(staff: staff(.pcm), physician: physician(.pcm), into: &pcm, note: consentNote(.pcm))
            var gates = common(patient, program: .pcm, name: "PCM")
            if patient.chronicConditions < 1 { gates.append("PCM needs a chronic condition on file") }
            if !patient.hasCarePlan {
                gates.append("no care plan on file; set one with ccmctl careplan set \(patient.id)")
            }
            if ccmBilled {
                gates.append("CCM is billed this month; CCM and PCM are not billed together by the same practice")
            }
            result.merge(pcm, gates: gates)
        }

        // RPM
        var days = 0
        let rpmLogged = minutes[.rpm].map { $0.values.reduce(0, +) } ?? 0
        let periods = Self.devicePeriods(month: month, start: patient.rpmStart, mode: devicePeriod)
        let deviceData = readingDays.contains { day in periods.contains { day >= $0.first && day <= $0.last } }
        if patient.programs.contains(.rpm) || rpmLogged > 0 || deviceData {
            var device = Builder()
            for period in periods {
                let inPeriod = readingDays.filter { day in
                    day >= period.first && day <= period.last && patient.consent.map { $0 <= day } ?? true
                }
                days += inPeriod.count
                let billedBefore = device.units("99445") + device.units("99454")
                deviceCodes(
                    days: inPeriod.count, into: &device,
                    label: periods.count > 1 || devicePeriod == .thirtyDays
                        ? " (\(period.first) to \(period.last))" : "")
                if let start = patient.rpmStart, start >= period.first, start <= period.last {
                    if device.units("99445") + device.units("99454") > billedBefore {
                        device.bill("99453", 1)
                    } else {
                        device.skip(
                            "99453",
                            "RPM set-up on \(start), but \(inPeriod.count) reading days; 99453 is billed with a device code, which needs 2"
                        )
                    }
                }
            }
            if periods.isEmpty, devicePeriod == .thirtyDays {
                device.skip(
                    "99454",
                    patient.rpmStart == nil
                        ? "no RPM start date on file; 30-day device periods count from it"
                        : "no 30-day device period ends this month")
            }
            var management = Builder()
            rpmManagement(
                minutes: staff(.rpm) + physician(.rpm), interactive: interactiveRPM, into: &management,
                note: consentNote(.rpm))
            let gates = common(patient, program: .rpm, name: "RPM")
            result.merge(device, gates: gates)
            result.merge(management, gates: gates)
        }
        return MonthSummary(
            patient: patient.id, month: month, minutes: minutes, readingDays: days,
            codes: codeOrder.compactMap { code in result.units(code) > 0 ? (code, result.units(code)) : nil },
            notBilled: result.notBilled)
    }

    /// Part B, enrolment and consent: what every program needs.
    static func common(_ patient: BillingPatient, program: TimeEntryInput.Program, name: String) -> [String] {
        var gates: [String] = []
        if !patient.programs.contains(program) {
            gates.append(
                "the patient is not enrolled in \(name); enrol with ccmctl patients set \(patient.id) --programs …")
        }
        if !patient.medicarePartB { gates.append("no Medicare Part B on file") }
        if patient.consent == nil {
            gates.append("no consent on file; record it with ccmctl patients set \(patient.id) --ccm-consent DATE")
        }
        return gates
    }

    /// Whole add-on units beyond `first`, each `each` minutes, up to `cap`; and the reason the
    /// next unit is not billed.
    static func addOns(_ minutes: Int, first: Int, each: Int, cap: Int?, code: String, into b: inout Builder) {
        let earned = (minutes - first) / each
        let units = cap.map { min($0, earned) } ?? earned
        b.bill(code, units)
        if let cap, units == cap {
            if minutes > first + cap * each {
                b.skip(
                    code,
                    "at most \(cap) units a month; \(minutes - first - cap * each) minutes beyond \(first + cap * each) are not billable"
                )
            }
        } else {
            let next = first + (units + 1) * each
            b.skip(
                code,
                "\(minutes) minutes; \(units == 0 ? "a unit" : "another unit") needs \(next) (full \(each)-minute increments)"
            )
        }
    }

    static func ccmCodes(staff: Int, physician: Int, complex: Bool, into b: inout Builder, note: String?) {
        let total = staff + physician
        let suffix = note.map { " (\($0))" } ?? ""
        if complex {
            if total >= 60 {
                b.bill("99487", 1)
                addOns(total, first: 60, each: 30, cap: nil, code: "99489", into: &b)
                if physician >= 30 {
                    b.skip("99491", "physician minutes count toward complex CCM (99487); 99491 is not reported with it")
                }
                return
            }
            b.skip(
                "99487",
                "complex month with \(total) CCM minutes\(suffix); 99487 needs 60, so the month is billed as non-complex"
            )
        }
        if physician >= 30 {
            b.bill("99491", 1)
            addOns(physician, first: 30, each: 30, cap: nil, code: "99437", into: &b)
            if staff > 0 {
                b.skip(
                    "99490",
                    "99491 is billed for physician time; 99490 is not reported in the same month (\(staff) clinical-staff minutes not billed)"
                )
            }
            return
        }
        if physician > 0 {
            b.skip(
                "99491",
                "\(physician) physician minutes, under the 30 that 99491 needs; counted as clinical-staff time toward 99490"
            )
        }
        if total >= 20 {
            b.bill("99490", 1)
            addOns(total, first: 20, each: 20, cap: 2, code: "99439", into: &b)
        } else if total > 0 || note != nil {
            b.skip("99490", "\(total) of the 20 minutes 99490 needs\(suffix)")
        } else {
            b.skip("99490", "no CCM minutes this month")
        }
    }

    static func pcmCodes(staff: Int, physician: Int, into b: inout Builder, note: String?) {
        let suffix = note.map { " (\($0))" } ?? ""
        if physician >= 30 {
            b.bill("99424", 1)
            addOns(physician, first: 30, each: 30, cap: nil, code: "99425", into: &b)
            if staff > 0 {
                b.skip("99426", "99424 is billed for physician time (\(staff) clinical-staff minutes not billed)")
            }
            return
        }
        let total = staff + physician
        if total >= 30 {
            b.bill("99426", 1)
            addOns(total, first: 30, each: 30, cap: nil, code: "99427", into: &b)
        } else {
            b.skip("99426", "\(total) of the 30 minutes PCM needs\(suffix)")
        }
    }

    static func deviceCodes(days: Int, into b: inout Builder, label: String) {
        switch days {
        case ..<2: b.skip("99445", "\(days) reading day\(days == 1 ? "" : "s")\(label); 99445 needs 2")
        case 2...15:
            b.bill("99445", 1)
            b.skip("99454", "\(days) reading days\(label); 99454 needs 16, so 99445 is billed")
        default: b.bill("99454", 1)
        }
    }

    static func rpmManagement(minutes: Int, interactive: Bool, into b: inout Builder, note: String?) {
        let suffix = note.map { " (\($0))" } ?? ""
        switch minutes {
        case ..<10:
            if minutes > 0 || note != nil {
                b.skip("99470", "\(minutes) of the 10 RPM management minutes 99470 needs\(suffix)")
            }
        case 10..<20:
            b.bill("99470", 1)
            b.skip("99457", "\(minutes) of the 20 minutes 99457 needs (99470 is the code for 10 to 19)")
        default:
            b.bill("99457", 1)
            addOns(minutes, first: 20, each: 20, cap: 2, code: "99458", into: &b)
        }
        if !interactive, !b.codes.isEmpty {
            b.withhold(
                "no real-time interactive communication (a call or video) in RPM this month; management codes need one")
        }
    }

    /// The device periods reported in `month`: the month itself, or the 30-day periods from the
    /// RPM start that end in it.
    static func devicePeriods(
        month: CalendarMonth, start: LocalDate?, mode: DevicePeriod
    ) -> [(first: LocalDate, last: LocalDate)] {
        switch mode {
        case .calendarMonth:
            return [(month.first, month.last)]
        case .thirtyDays:
            guard let start else { return [] }
            var periods: [(LocalDate, LocalDate)] = []
            var first = start
            while first <= month.last {
                let last = first.adding(days: 29)
                if month.contains(last) { periods.append((first, last)) }
                first = last.adding(days: 1)
            }
            return periods
        }
    }

    /// Codes and reasons as a program's rules produce them, before the prerequisites are applied.
    struct Builder {
        var codes: [(code: String, units: Int)] = []
        var notBilled: [MonthSummary.NotBilled] = []

        func units(_ code: String) -> Int { codes.first { $0.code == code }?.units ?? 0 }

        mutating func bill(_ code: String, _ units: Int) {
            guard units > 0 else { return }
            if let index = codes.firstIndex(where: { $0.code == code }) {
                codes[index].units += units
            } else {
                codes.append((code, units))
            }
        }

        mutating func skip(_ code: String, _ reason: String) { notBilled.append(.init(code: code, reason: reason)) }

        /// Moves every code to not billed, with `reason`.
        mutating func withhold(_ reason: String) {
            notBilled = codes.map { .init(code: $0.code, reason: reason) } + notBilled
            codes = []
        }

        /// Takes a program's codes. When a prerequisite fails it takes none: each code the program
        /// would have billed is listed with the failed prerequisites; when it would have billed
        /// nothing, its own reasons are kept with the prerequisites added.
        mutating func merge(_ other: Builder, gates: [String]) {
            guard gates.isEmpty else {
                let because = gates.joined(separator: "; ")
                if other.codes.isEmpty {
                    notBilled += other.notBilled.map { .init(code: $0.code, reason: "\($0.reason); and \(because)") }
                } else {
                    notBilled += other.codes.map { .init(code: $0.code, reason: because) }
                }
                return
            }
            for (code, units) in other.codes { bill(code, units) }
            notBilled += other.notBilled
        }
    }
}
