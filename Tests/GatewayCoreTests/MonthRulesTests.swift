import Foundation
import GatewayCore
import Testing

/// The billing rules of docs/billing.md, rule by rule: each threshold just below, at
/// and past its boundary, each exclusion, each prerequisite, and the calendar.
@Suite("CCM month rules")
struct MonthRulesTests {
    static let chicago = TimeZone(identifier: "America/Chicago")!
    static let march = CalendarMonth(year: 2026, month: 3)

    static func patient(
        programs: Set<TimeEntryInput.Program> = [.ccm, .rpm], conditions: Int = 2, partB: Bool = true,
        consent: String? = "2026-01-05",
        complex: Bool = false, rpmStart: String? = nil
    ) -> BillingPatient {
        BillingPatient(
            id: "P1", chronicConditions: conditions, medicarePartB: partB, consent: consent.flatMap(LocalDate.init),
            programs: programs,
            complex: complex, rpmStart: rpmStart.flatMap(LocalDate.init))
    }

    static func entry(
        _ minutes: Int, _ role: TimeEntryInput.Role = .clinicalStaff, _ program: TimeEntryInput.Program = .ccm,
        at: String = "2026-03-10T15:00:00Z", interactive: Bool = false, voided: Bool = false
    ) -> LedgerEntry {
        LedgerEntry(
            id: 1, start: RFC3339.parse(at)!, minutes: minutes, role: role, program: program, interactive: interactive,
            voided: voided)
    }

    static func days(_ count: Int) -> Set<LocalDate> {
        Set((1...max(1, count)).prefix(count).map { LocalDate(year: 2026, month: 3, day: $0) })
    }

    func summary(
        _ patient: BillingPatient = patient(), _ entries: [LedgerEntry], days: Set<LocalDate> = [],
        zone: TimeZone = chicago,
        month: CalendarMonth = march, period: DevicePeriod = .calendarMonth
    ) -> MonthSummary {
        MonthRules.summarize(
            patient, month: month, entries: entries, readingDays: days, zone: zone, devicePeriod: period)
    }

    func codes(_ s: MonthSummary) -> [String: Int] {
        Dictionary(uniqueKeysWithValues: s.codes.map { ($0.code, $0.units) })
    }

    @Test(
        "Clinical-staff minutes: 99490 at 20, then 99439 per full 20, at most 2",
        arguments: [
            (19, [:], "99490", "19 of the 20 minutes 99490 needs"),
            (20, ["99490": 1], "99439", "20 minutes; a unit needs 40 (full 20-minute increments)"),
            (39, ["99490": 1], "99439", "39 minutes; a unit needs 40 (full 20-minute increments)"),
            (40, ["99490": 1, "99439": 1], "99439", "40 minutes; another unit needs 60 (full 20-minute increments)"),
            (59, ["99490": 1, "99439": 1], "99439", "59 minutes; another unit needs 60 (full 20-minute increments)"),
            (60, ["99490": 1, "99439": 2], nil, nil),
            (61, ["99490": 1, "99439": 2], "99439", "at most 2 units a month; 1 minutes beyond 60 are not billable"),
            (95, ["99490": 1, "99439": 2], "99439", "at most 2 units a month; 35 minutes beyond 60 are not billable"),
        ] as [(Int, [String: Int], String?, String?)])
    func staffMinutes(minutes: Int, expected: [String: Int], code: String?, reason: String?) {
        let s = summary(Self.patient(programs: [.ccm]), [Self.entry(minutes)])
        #expect(codes(s) == expected)
        #expect(s.minutes[.ccm]?[.clinicalStaff] == minutes)
        if let code { #expect(s.reason(code) == reason) } else { #expect(s.notBilled.isEmpty) }
    }

    @Test(
        "Complex months: 99487 at 60, then 99489 per full 30; under 60 the month falls back to non-complex",
        arguments: [
            (
                59, ["99490": 1, "99439": 1], "99487",
                "complex month with 59 CCM minutes; 99487 needs 60, so the month is billed as non-complex"
            ),
            (60, ["99487": 1], "99489", "60 minutes; a unit needs 90 (full 30-minute increments)"),
            (89, ["99487": 1], "99489", "89 minutes; a unit needs 90 (full 30-minute increments)"),
            (90, ["99487": 1, "99489": 1], "99489", "90 minutes; another unit needs 120 (full 30-minute increments)"),
            (
                119, ["99487": 1, "99489": 1], "99489",
                "119 minutes; another unit needs 120 (full 30-minute increments)"
            ),
            (
                120, ["99487": 1, "99489": 2], "99489",
                "120 minutes; another unit needs 150 (full 30-minute increments)"
            ),
        ] as [(Int, [String: Int], String, String)])
    func complexMinutes(minutes: Int, expected: [String: Int], code: String, reason: String) {
        let s = summary(Self.patient(programs: [.ccm], complex: true), [Self.entry(minutes)])
        #expect(codes(s) == expected)
        #expect(s.reason(code) == reason)
    }

    @Test(
        "Physician minutes: 99491 at 30, then 99437 per full 30; under 30 they count as clinical-staff time",
        arguments: [
            (
                29, 0, ["99490": 1, "99439": 0], "99491",
                "29 physician minutes, under the 30 that 99491 needs; counted as clinical-staff time toward 99490"
            ),
            (30, 0, ["99491": 1], "99437", "30 minutes; a unit needs 60 (full 30-minute increments)"),
            (59, 0, ["99491": 1], "99437", "59 minutes; a unit needs 60 (full 30-minute increments)"),
            (
                60, 0, ["99491": 1, "99437": 1], "99437",
                "60 minutes; another unit needs 90 (full 30-minute increments)"
            ),
            (
                30, 25, ["99491": 1], "99490",
                "99491 is billed for physician time; 99490 is not reported in the same month (25 clinical-staff minutes not billed)"
            ),
            (
                10, 15, ["99490": 1], "99491",
                "10 physician minutes, under the 30 that 99491 needs; counted as clinical-staff time toward 99490"
            ),
            (
                15, 30, ["99490": 1, "99439": 1], "99439",
                "45 minutes; another unit needs 60 (full 20-minute increments)"
            ),
        ] as [(Int, Int, [String: Int], String, String)])
    func physicianMinutes(physician: Int, staff: Int, expected: [String: Int], code: String, reason: String) {
        var entries = [Self.entry(physician, .physician)]
        if staff > 0 { entries.append(Self.entry(staff, at: "2026-03-12T15:00:00Z")) }
        let s = summary(Self.patient(programs: [.ccm]), entries)
        #expect(codes(s) == expected.filter { $0.value > 0 })
        #expect(s.reason(code) == reason)
    }

    @Test("A complex month counts physician minutes toward 99487 and reports no 99491")
    func complexWithPhysician() {
        let s = summary(
            Self.patient(programs: [.ccm], complex: true),
            [Self.entry(35, .physician), Self.entry(30, at: "2026-03-11T15:00:00Z")])
        #expect(codes(s) == ["99487": 1])
        #expect(
            s.reason("99491") == "physician minutes count toward complex CCM (99487); 99491 is not reported with it")
    }

    @Test(
        "RPM device days: 99445 for 2 to 15, 99454 for 16 or more, nothing for fewer than 2",
        arguments: [
            (0, [:], "99445"), (1, [:], "99445"), (2, ["99445": 1], "99454"), (15, ["99445": 1], "99454"),
            (16, ["99454": 1], nil),
            (31, ["99454": 1], nil),
        ] as [(Int, [String: Int], String?)])
    func deviceDays(count: Int, expected: [String: Int], skipped: String?) {
        let s = summary(Self.patient(programs: [.rpm]), [], days: Self.days(count))
        #expect(codes(s) == expected)
        #expect(s.readingDays == count)
        if let skipped { #expect(s.reason(skipped) != nil) }
        #expect(s.units("99445") + s.units("99454") <= 1, "99445 and 99454 are never billed together")
    }

    @Test(
        "RPM management minutes with an interactive contact: 99470 for 10–19, 99457 at 20, 99458 per full 20 (at most 2)",
        arguments: [
            (9, [:]), (10, ["99470": 1]), (19, ["99470": 1]), (20, ["99457": 1]), (39, ["99457": 1]),
            (40, ["99457": 1, "99458": 1]),
            (59, ["99457": 1, "99458": 1]), (60, ["99457": 1, "99458": 2]), (85, ["99457": 1, "99458": 2]),
        ] as [(Int, [String: Int])])
    func rpmMinutes(minutes: Int, expected: [String: Int]) {
        let call = Self.entry(5, .clinicalStaff, .rpm, at: "2026-03-02T15:00:00Z", interactive: true)
        let review = Self.entry(minutes - 5, .physician, .rpm)
        let s = summary(Self.patient(programs: [.rpm]), minutes > 5 ? [call, review] : [call])
        #expect(codes(s) == expected)
        #expect(s.units("99470") == 0 || s.units("99457") == 0, "99470 and 99457 are never billed together")
    }

    @Test("Without a real-time interactive contact no RPM management code is billed", arguments: [10, 19, 20, 40, 60])
    func rpmWithoutContact(minutes: Int) {
        let s = summary(Self.patient(programs: [.rpm]), [Self.entry(minutes, .clinicalStaff, .rpm)])
        #expect(codes(s).isEmpty)
        let code = minutes < 20 ? "99470" : "99457"
        #expect(
            s.reason(code)
                == "no real-time interactive communication (a call or video) in RPM this month; management codes need one"
        )
    }

    @Test("CCM and RPM in one month: each program's minutes count once, for its own codes")
    func ccmAndRPM() {
        let entries = [
            Self.entry(25), Self.entry(20, .clinicalStaff, .rpm, at: "2026-03-04T15:00:00Z", interactive: true),
        ]
        let s = summary(Self.patient(), entries, days: Self.days(17))
        #expect(codes(s) == ["99490": 1, "99454": 1, "99457": 1])
        #expect(s.minutes[.ccm]?[.clinicalStaff] == 25 && s.minutes[.rpm]?[.clinicalStaff] == 20)
    }

    @Test("CCM and PCM are not billed together: CCM wins, PCM says why")
    func ccmAndPCM() {
        let s = summary(Self.patient(programs: [.ccm, .pcm]), [Self.entry(25), Self.entry(35, .clinicalStaff, .pcm)])
        #expect(codes(s) == ["99490": 1])
        #expect(
            s.reason("99426") == "CCM is billed this month; CCM and PCM are not billed together by the same practice")
        let pcmOnly = summary(Self.patient(programs: [.pcm], conditions: 1), [Self.entry(35, .clinicalStaff, .pcm)])
        #expect(codes(pcmOnly) == ["99426": 1])
    }

    @Test("Minutes before the consent date do not count; without consent nothing is billed")
    func consent() {
        let entries = [Self.entry(15, at: "2026-03-03T15:00:00Z"), Self.entry(15, at: "2026-03-20T15:00:00Z")]
        let late = summary(Self.patient(programs: [.ccm], consent: "2026-03-10"), entries)
        #expect(codes(late).isEmpty)
        #expect(
            late.reason("99490")
                == "15 of the 20 minutes 99490 needs (15 minutes before the consent of 2026-03-10 not counted)")
        #expect(late.minutes[.ccm]?[.clinicalStaff] == 30, "logged minutes are shown; counted ones decide")
        let onTime = summary(Self.patient(programs: [.ccm], consent: "2026-03-03"), entries)
        #expect(codes(onTime) == ["99490": 1])
        let none = summary(Self.patient(programs: [.ccm], consent: nil), entries)
        #expect(codes(none).isEmpty)
        #expect(none.reason("99490") == "no consent on file; record it with ccmctl patients set P1 --ccm-consent DATE")
    }

    @Test(
        "Prerequisites withhold every code of the program with the reason",
        arguments: [
            (1, true, "CCM needs two or more chronic conditions; 1 on file"),
            (2, false, "no Medicare Part B on file"),
            (1, false, "no Medicare Part B on file; CCM needs two or more chronic conditions; 1 on file"),
        ] as [(Int, Bool, String)])
    func prerequisites(conditions: Int, partB: Bool, reason: String) {
        let s = summary(Self.patient(programs: [.ccm], conditions: conditions, partB: partB), [Self.entry(45)])
        #expect(codes(s).isEmpty)
        #expect(s.notBilled.map(\.code) == ["99490", "99439"])
        #expect(s.notBilled.allSatisfy { $0.reason == reason })
    }

    @Test("Minutes logged for a program the patient is not enrolled in are not billed")
    func notEnrolled() {
        let s = summary(Self.patient(programs: [.ccm]), [Self.entry(25, .clinicalStaff, .rpm, interactive: true)])
        #expect(codes(s).isEmpty)
        #expect(
            s.reason("99457") == "the patient is not enrolled in RPM; enrol with ccmctl patients set P1 --programs …")
    }

    @Test("Device data outside the month says nothing about RPM for a patient not enrolled in it")
    func readingsLastMonth() {
        let february = Set((1...20).map { LocalDate(year: 2026, month: 2, day: $0) })
        let s = summary(Self.patient(programs: [.ccm]), [Self.entry(25)], days: february)
        #expect(codes(s) == ["99490": 1])
        #expect(s.notBilled.allSatisfy { $0.code.hasPrefix("9943") }, "no RPM line: \(s.notBilled)")
        let inMarch = summary(Self.patient(programs: [.ccm]), [Self.entry(25)], days: Self.days(3))
        #expect(
            inMarch.reason("99445")
                == "the patient is not enrolled in RPM; enrol with ccmctl patients set P1 --programs …")
    }

    @Test("Voided entries never count")
    func voided() {
        let s = summary(Self.patient(programs: [.ccm]), [Self.entry(15), Self.entry(10, voided: true)])
        #expect(codes(s).isEmpty)
        #expect(s.minutes[.ccm]?[.clinicalStaff] == 15)
    }

    @Test("99453 goes with the device code of the month holding the RPM start")
    func setup() {
        let billed = summary(Self.patient(programs: [.rpm], rpmStart: "2026-03-02"), [], days: Self.days(3))
        #expect(codes(billed) == ["99453": 1, "99445": 1])
        let tooFew = summary(Self.patient(programs: [.rpm], rpmStart: "2026-03-02"), [], days: Self.days(1))
        #expect(
            tooFew.reason("99453")
                == "RPM set-up on 2026-03-02, but 1 reading days; 99453 is billed with a device code, which needs 2")
        let later = summary(Self.patient(programs: [.rpm], rpmStart: "2026-02-02"), [], days: Self.days(20))
        #expect(codes(later) == ["99454": 1], "once per episode: only in the set-up month")
    }

    @Test("30-day device periods from the RPM start are reported in the month they end")
    func thirtyDayPeriods() {
        // From 10 February: 10 Feb–11 Mar, then 12 Mar–10 Apr. March reports the first.
        let days = Set(
            (0..<40).map { LocalDate(year: 2026, month: 2, day: 10).adding(days: $0) }.filter { $0.day % 2 == 0 })
        let s = summary(Self.patient(programs: [.rpm], rpmStart: "2026-02-10"), [], days: days, period: .thirtyDays)
        #expect(s.readingDays == 15)
        #expect(codes(s) == ["99453": 1, "99445": 1], "the set-up goes with the first period's device code")
        #expect(s.reason("99454") == "15 reading days (2026-02-10 to 2026-03-11); 99454 needs 16, so 99445 is billed")
        let april = summary(
            Self.patient(programs: [.rpm], rpmStart: "2026-02-10"), [], days: days,
            month: CalendarMonth(year: 2026, month: 4),
            period: .thirtyDays)
        #expect(april.readingDays == 5)  // 12 Mar–10 Apr holds the even days 12 to 20 March
    }
}

@Suite("The ledger's calendar")
struct LedgerCalendarTests {
    static let losAngeles = TimeZone(identifier: "America/Los_Angeles")!
    static let chicago = TimeZone(identifier: "America/Chicago")!

    func parts(_ start: String, _ minutes: Int, _ zone: TimeZone) -> [String] {
        LedgerEntry(
            id: 1, start: RFC3339.parse(start)!, minutes: minutes, role: .clinicalStaff, program: .ccm,
            interactive: false
        )
        .split(in: zone).map { "\($0.date) \($0.minutes)" }
    }

    @Test(
        "West of UTC, the last and first day of a month are the practice's days, not UTC's",
        arguments: [
            ("2026-04-01T03:00:00Z", 20, ["2026-03-31 20"]),  // 20:00 PDT on 31 March
            ("2026-03-01T07:30:00Z", 20, ["2026-02-28 20"]),  // 23:30 PST on 28 February
            ("2026-03-01T08:30:00Z", 20, ["2026-03-01 20"]),  // 00:30 PST on 1 March
        ] as [(String, Int, [String])])
    func monthEdges(start: String, minutes: Int, expected: [String]) {
        #expect(parts(start, minutes, Self.losAngeles) == expected)
    }

    @Test("An entry across local midnight at a month end is split there")
    func acrossMonthEnd() {
        // 23:50 PDT on 31 March, 25 minutes.
        #expect(parts("2026-04-01T06:50:00Z", 25, Self.losAngeles) == ["2026-03-31 10", "2026-04-01 15"])
        let patient = MonthRulesTests.patient(programs: [.ccm])
        let entries = [
            LedgerEntry(
                id: 1, start: RFC3339.parse("2026-04-01T06:50:00Z")!, minutes: 25, role: .clinicalStaff, program: .ccm,
                interactive: false),
            LedgerEntry(
                id: 2, start: RFC3339.parse("2026-03-20T16:00:00Z")!, minutes: 12, role: .clinicalStaff, program: .ccm,
                interactive: false),
        ]
        let march = MonthRules.summarize(
            patient, month: CalendarMonth(year: 2026, month: 3), entries: entries, readingDays: [],
            zone: Self.losAngeles)
        #expect(march.minutes[.ccm]?[.clinicalStaff] == 22)
        #expect(march.units("99490") == 1)
        let april = MonthRules.summarize(
            patient, month: CalendarMonth(year: 2026, month: 4), entries: entries, readingDays: [],
            zone: Self.losAngeles)
        #expect(april.minutes[.ccm]?[.clinicalStaff] == 15)
    }

    @Test(
        "Daylight-saving days: midnight is found on the 23-hour and the 25-hour day",
        arguments: [
            ("2026-03-09T04:30:00Z", 60, ["2026-03-08 30", "2026-03-09 30"]),  // 23:30 CDT, the spring-forward day
            ("2026-03-08T07:30:00Z", 60, ["2026-03-08 60"]),  // 01:30 CST across the skipped hour: 03:30 CDT, same day
            ("2026-11-02T05:00:00Z", 90, ["2026-11-01 60", "2026-11-02 30"]),  // 23:00 CST, the fall-back day
            ("2026-11-01T05:30:00Z", 180, ["2026-11-01 180"]),  // 00:30 CDT for three elapsed hours: 02:30 CST
            ("2026-03-10T15:00:30Z", 20, ["2026-03-10 20"]),  // seconds are dropped: whole minutes
        ] as [(String, Int, [String])])
    func daylightSaving(start: String, minutes: Int, expected: [String]) {
        #expect(parts(start, minutes, Self.chicago) == expected)
    }

    @Test(
        "The month's table of local days answers as the calendar does, every 7 minutes and at every midnight, inside the span and out",
        arguments: ["America/Chicago", "America/Los_Angeles", "Asia/Kolkata", "Australia/Lord_Howe", "UTC"])
    func localDaysAsCalendar(zoneName: String) throws {
        let zone = try #require(TimeZone(identifier: zoneName))
        // March 2026 holds the American spring-forward day; April the Australian fall-back.
        let days = LocalDays(
            zone, from: LocalDate(year: 2026, month: 3, day: 1), through: LocalDate(year: 2026, month: 4, day: 10))
        let from = LocalDay.start(of: LocalDate(year: 2026, month: 2, day: 25), in: zone)
        for step in 0..<(50 * 24 * 60 / 7) {
            let instant = from.addingTimeInterval(Double(step) * 7 * 60 + 0.5)
            #expect(days.date(of: instant) == LocalDay.date(of: instant, in: zone), "\(instant)")
        }
        for dayNumber in LocalDate(year: 2026, month: 2, day: 25)
            .dayNumber...LocalDate(year: 2026, month: 4, day: 20).dayNumber
        {
            let date = LocalDate(dayNumber: dayNumber)
            let midnight = days.start(of: date)
            #expect(midnight == LocalDay.start(of: date, in: zone))
            #expect(days.date(of: midnight) == date)
            #expect(days.date(of: midnight.addingTimeInterval(-0.001)) == date.adding(days: -1))
        }
    }
}

@Suite("Chronic conditions and eligibility")
struct EligibilityTests {
    static let list = ChronicConditions(categories: [
        .init(name: "Hypertension", codes: ["I10", "I11.0", "I11.9", "I12", "I13"]),
        .init(name: "Diabetes", codes: ["E08", "E09", "E10", "E11", "E13"]),
        .init(name: "Chronic Kidney Disease", codes: ["N18", "E11.21", "E11.22", "I12", "I13"]),
        .init(name: "Heart Failure", codes: ["I50"]),
    ])

    @Test(
        "Conditions count by category over distinct codes",
        arguments: [
            (["I10", "E11.9"], 2), (["I10", "I11.9"], 1), (["E11.22"], 1), (["E11.22", "E11.9"], 2),
            (["E11.22", "I10"], 2),
            (["I16.0", "Z00.00"], 0), (["I12.9", "I13.0"], 2), (["i10", "I10"], 1),
        ] as [([String], Int)])
    func counting(codes: [String], count: Int) {
        #expect(Self.list.count(codes).count == count)
    }

    func screen(
        partB: Bool = true, conditions: [String] = ["I10", "I50.22"], other: Bool = false,
        consent: Eligibility.Consent = .given(LocalDate("2026-01-05")!)
    ) -> Eligibility.Decision {
        Eligibility.screen(
            .init(id: "R1", medicarePartB: partB, conditions: conditions, otherPractitioner: other, consent: consent),
            list: Self.list)
    }

    @Test("Each reason a roster patient is not eligible, and all of them together")
    func reasons() {
        #expect(screen().eligible)
        #expect(screen().conditions == ["Hypertension", "Heart Failure"])
        #expect(screen(partB: false).reasons == ["no Medicare Part B"])
        #expect(
            screen(conditions: ["I10"]).reasons == [
                "one chronic condition (Hypertension); CCM needs two or more (PCM may apply)"
            ])
        #expect(screen(conditions: ["J06.9"]).reasons == ["no chronic condition from the CMS list among J06.9"])
        #expect(screen(conditions: []).reasons == ["no ICD-10 codes on the roster"])
        #expect(
            screen(other: true).reasons == [
                "enrolled in CCM with another practitioner; only one practitioner is paid per month"
            ])
        #expect(screen(consent: .declined).reasons == ["declined CCM"])
        let notAsked = screen(consent: .notAsked)
        #expect(notAsked.eligible && notAsked.notes == ["obtain and record consent before the first billed minute"])
        let all = screen(partB: false, conditions: ["I10", "G35"], other: true, consent: .declined)
        #expect(all.reasons.count == 4 && !all.eligible)
        #expect(all.notes == ["not on the chronic-condition list: G35"])
    }

    @Test("Fee amounts parse to exact cents")
    func cents() {
        #expect(FeeSchedule.cents("66.13") == 6613)
        #expect(FeeSchedule.cents("66.1") == 6610)
        #expect(FeeSchedule.cents("66") == 6600)
        #expect(FeeSchedule.cents("66.135") == nil && FeeSchedule.cents("-1") == nil && FeeSchedule.cents("x") == nil)
        #expect(FeeSchedule.dollars(6605) == "66.05")
    }
}
