import ArgumentParser
import Foundation
import GatewayConfig
import GatewayCore
import GatewayStore
import SwiftCSV

struct PatientsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "patients",
        abstract: "Add, change, list, show and import patients, with the facts billing needs.",
        subcommands: [Add.self, Change.self, MonthComplexity.self, List.self, Show.self, Import.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a patient.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The practice's patient id, e.g. an MRN: \(EntityID.rule(.patient)).")
        var id: String

        @Option(help: "Full name (shown to operators, never logged).")
        var name: String

        @Option(name: .customLong("time-zone"), help: "IANA time zone (default: practice.time_zone).")
        var timeZone: String?

        @Option(
            name: .customLong("conditions"), help: "Chronic conditions as ICD-10-CM codes, comma-separated (I10,E11.9)."
        )
        var conditions: [String] = []

        @Option(name: .customLong("medication"), help: "A current medication; repeat for each.")
        var medications: [String] = []

        @Flag(name: .customLong("medicare-part-b"), help: "The patient has Medicare Part B.")
        var medicarePartB = false

        @Option(name: .customLong("ccm-consent"), help: "Date of CCM consent (YYYY-MM-DD).")
        var ccmConsent: String?

        @Option(help: "Standing complexity: non-complex or complex.")
        var complexity: Complexity = .nonComplex

        @Option(
            help:
                "Programs the patient is enrolled in, comma-separated: ccm, rpm, pcm (none by default: nothing is billed)."
        )
        var programs: String?

        @Option(
            name: .customLong("rpm-start"),
            help: "Date of RPM device set-up and education (YYYY-MM-DD): 99453 and the start of 30-day device periods.")
        var rpmStart: String?

        func run() throws {
            let config = try global.loadConfig()
            let patient = Patient(
                id: try validatedPatientID(id),
                name: name,
                timeZone: try validatedTimeZone(timeZone ?? config.practice.timeZone, option: "--time-zone"),
                conditions: try validatedConditions(conditions, option: "--conditions"),
                medications: medications,
                medicarePartB: medicarePartB,
                ccmConsentDate: try validatedDate(ccmConsent, option: "--ccm-consent"),
                complexity: complexity,
                programs: try programs.map { try validatedPrograms($0, option: "--programs") } ?? [],
                rpmStart: try validatedDate(rpmStart, option: "--rpm-start"))
            try global.open().addPatient(patient, by: global.actor)
            print("added patient \(patient.id)")
        }
    }

    struct Change: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set",
            abstract:
                "Change a patient's facts: name, conditions, Medicare Part B, consent, programs, complexity, RPM start.",
            discussion: "Only the options given change. Write none to clear a date (--ccm-consent none).")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The patient id.")
        var id: String

        @Option(help: "Full name.")
        var name: String?

        @Option(name: .customLong("time-zone"), help: "IANA time zone.")
        var timeZone: String?

        @Option(
            name: .customLong("conditions"),
            help: "Chronic conditions as ICD-10-CM codes, comma-separated; replaces the list.")
        var conditions: [String] = []

        @Option(name: .customLong("medicare-part-b"), help: "yes or no.")
        var medicarePartB: String?

        @Option(name: .customLong("ccm-consent"), help: "Date of consent (YYYY-MM-DD), or none.")
        var ccmConsent: String?

        @Option(help: "Standing complexity: non-complex or complex.")
        var complexity: Complexity?

        @Option(help: "Programs, comma-separated: ccm, rpm, pcm; replaces the list (none for no program).")
        var programs: String?

        @Option(name: .customLong("rpm-start"), help: "Date of RPM device set-up and education (YYYY-MM-DD), or none.")
        var rpmStart: String?

        func run() throws {
            let partB = try medicarePartB.map { try validatedYesNo($0, option: "--medicare-part-b") }
            let zone = try timeZone.map { try validatedTimeZone($0, option: "--time-zone") }
            let codes = conditions.isEmpty ? nil : try validatedConditions(conditions, option: "--conditions")
            let consent = try ccmConsent.map { $0 == "none" ? nil : try validatedDate($0, option: "--ccm-consent") }
            let start = try rpmStart.map { $0 == "none" ? nil : try validatedDate($0, option: "--rpm-start") }
            let enrolled = try programs.map { $0 == "none" ? [] : try validatedPrograms($0, option: "--programs") }
            guard
                name != nil || zone != nil || codes != nil || partB != nil || consent != nil || complexity != nil
                    || enrolled != nil
                    || start != nil
            else {
                throw CLIError(
                    "nothing to change", fix: "give at least one option (ccmctl patients set --help lists them)")
            }
            let patient = try global.open(.existing).updatePatient(id, by: global.actor) { patient in
                if let name { patient.name = name }
                if let zone { patient.timeZone = zone }
                if let codes { patient.conditions = codes }
                if let partB { patient.medicarePartB = partB }
                if let consent { patient.ccmConsentDate = consent }
                if let complexity { patient.complexity = complexity }
                if let enrolled { patient.programs = enrolled }
                if let start { patient.rpmStart = start }
            }
            print("updated patient \(patient.id)")
        }
    }

    struct MonthComplexity: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "complexity",
            abstract: "Designate one month of a patient complex or non-complex CCM.",
            discussion: """
                Complex means moderate or high complexity medical decision making with the care plan \
                established or substantially revised that month. standing removes the designation, \
                so the patient's standing complexity applies.
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The patient id.")
        var id: String

        @Option(help: "The month, YYYY-MM.")
        var month: String

        @Argument(help: "complex, non-complex or standing.")
        var complexity: String

        func run() throws {
            let month = try validatedMonth(month)
            let value: Complexity?
            switch complexity {
            case "standing": value = nil
            default:
                guard let parsed = Complexity(rawValue: complexity) else {
                    throw CLIError("\"\(complexity)\" is not complex, non-complex or standing")
                }
                value = parsed
            }
            try global.open(.existing).setMonthComplexity(patient: id, month: month, value, by: global.actor)
            print("\(id) \(month): \(value?.rawValue ?? "standing complexity")")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List patients.")

        @OptionGroup var global: GlobalOptions

        @Option(help: "table, json or csv.")
        var format: OutputFormat = .table

        func run() throws {
            let patients = try global.open(.existing).patients()
            let listing = Listing(
                columns: [
                    "id", "name", "time_zone", "conditions", "medicare_part_b", "ccm_consent", "complexity", "programs",
                ],
                rows: patients.map { p in
                    [
                        .text(p.id), .text(p.name), .text(p.timeZone),
                        .text(p.conditions.joined(separator: ";")),
                        .bool(p.medicarePartB), .optional(p.ccmConsentDate?.description), .text(p.complexity.rawValue),
                        .text(p.programs.map(\.rawValue).joined(separator: ";")),
                    ]
                },
                emptyMessage: "no patients; add one with ccmctl patients add ID --name NAME")
            print(format == .json ? Listing.json(patients.map { PatientJSON($0) }) : listing.render(format))
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one patient with devices and recent readings.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The patient id.")
        var id: String

        @Option(help: "table or json.")
        var format: OutputFormat = .table

        func run() throws {
            let database = try global.open(.existing)
            guard let patient = try database.patient(id) else {
                throw CLIError("no patient \(id)", fix: "list patients with ccmctl patients list")
            }
            let devices = try database.devices(patient: id)
            let recent = try database.readings(patient: id, limit: 5)
            if format == .json {
                print(Listing.json(PatientJSON(patient, devices: devices.map(\.id))))
                return
            }
            let times = LocalTimes(zone: TimeZone(identifier: patient.timeZone) ?? .gmt)
            print(
                """
                patient         \(DisplayText.escaped(patient.id))
                name            \(DisplayText.escaped(patient.name))
                time zone       \(patient.timeZone)
                conditions      \(patient.conditions.isEmpty ? "none recorded" : patient.conditions.joined(separator: ", "))
                medications     \(patient.medications.isEmpty ? "none recorded" : DisplayText.escaped(patient.medications.joined(separator: "; ")))
                Medicare Part B \(patient.medicarePartB ? "yes" : "no")
                CCM consent     \(patient.ccmConsentDate?.description ?? "not recorded")
                complexity      \(patient.complexity.rawValue)
                programs        \(patient.programs.isEmpty ? "none" : patient.programs.map(\.rawValue).joined(separator: ", "))
                RPM start       \(patient.rpmStart?.description ?? "not recorded")
                devices         \(devices.isEmpty ? "none" : DisplayText.escaped(devices.map { "\($0.id) (\($0.kind.rawValue))" }.joined(separator: ", ")))
                """)
            print("recent readings")
            print(ReadingListing.make(recent, times: times, format: .table).render(.table))
        }
    }

    struct Import: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add or update patients from a CSV roster, all or nothing.",
            discussion: """
                The first line names the columns: id and name are required; time_zone, conditions \
                (ICD-10 codes separated by ; or spaces), medications (separated by ;), \
                medicare_part_b (yes/no), ccm_consent_date (YYYY-MM-DD, or declined), complexity \
                (non-complex/complex), programs (ccm;rpm;pcm), rpm_start (YYYY-MM-DD) and \
                other_practitioner (yes/no) are optional. A patient whose id exists is updated. \
                With --eligible-only, each row is screened as ccmctl eligibility does and only the \
                eligible are imported; the others are listed with their reasons.
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The CSV file.")
        var file: String

        @Flag(help: "Import only the patients eligible for CCM (see ccmctl eligibility).")
        var eligibleOnly = false

        func run() throws {
            let config = try global.loadConfig()
            let roster = try Roster(file)
            let list = eligibleOnly ? try config.chronicConditions() : nil
            var patients: [Patient] = []
            var skipped: [(String, [String])] = []
            for row in roster.rows {
                let candidate = try row.candidate()
                if let list {
                    let decision = Eligibility.screen(candidate, list: list)
                    guard decision.eligible else {
                        skipped.append((candidate.id, decision.reasons))
                        continue
                    }
                }
                var complexity = Complexity.nonComplex
                if let text = row.field("complexity") {
                    guard let value = Complexity(rawValue: text) else {
                        throw CLIError("\(row.at), complexity: \"\(text)\" is not non-complex or complex")
                    }
                    complexity = value
                }
                let consent: LocalDate? =
                    if case .given(let date) = candidate.consent { date } else { nil }
                patients.append(
                    Patient(
                        id: try validatedPatientID(candidate.id, at: row.at),
                        name: row.field("name") ?? "",
                        timeZone: try validatedTimeZone(
                            row.field("time_zone") ?? config.practice.timeZone, option: "\(row.at), time_zone"),
                        conditions: candidate.conditions,
                        medications: (row.field("medications") ?? "").split(separator: ";").map {
                            $0.trimmingCharacters(in: .whitespaces)
                        }
                        .filter { !$0.isEmpty },
                        medicarePartB: candidate.medicarePartB,
                        ccmConsentDate: consent,
                        complexity: complexity,
                        programs: try row.field("programs").map {
                            try validatedPrograms($0, option: "\(row.at), programs")
                        } ?? [],
                        rpmStart: try validatedDate(row.field("rpm_start"), option: "\(row.at), rpm_start")))
            }
            let result = try global.open().importPatients(patients, by: global.actor)
            print("imported \(patients.count) patients: \(result.added) added, \(result.updated) updated")
            for (id, reasons) in skipped {
                print("  not imported \(id): \(reasons.joined(separator: "; "))")
            }
        }
    }
}

/// A patient roster in CSV, as `patients import` and `eligibility` read it.
struct Roster {
    static let columns = [
        "id", "name", "time_zone", "conditions", "medications", "medicare_part_b", "ccm_consent_date", "complexity",
        "programs",
        "rpm_start",
        "other_practitioner",
    ]

    struct Row {
        let values: [String: String]
        /// `roster.csv line 4`, for messages.
        let at: String

        func field(_ name: String) -> String? {
            guard let value = values[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
            return value
        }

        func flag(_ name: String) throws -> Bool {
            try field(name).map { try validatedYesNo($0, option: "\(at), \(name)") } ?? false
        }

        /// The row's screening facts (checked: id, conditions, Part B, consent).
        func candidate() throws -> Eligibility.Candidate {
            guard let id = field("id") else {
                throw CLIError("\(at), id: required", fix: "give the practice's patient id")
            }
            let consent: Eligibility.Consent
            switch field("ccm_consent_date") {
            case nil: consent = .notAsked
            case "declined"?: consent = .declined
            case let text?: consent = .given(try validatedDate(text, option: "\(at), ccm_consent_date")!)
            }
            return Eligibility.Candidate(
                id: id, medicarePartB: try flag("medicare_part_b"),
                conditions: try validatedConditions(
                    field("conditions").map { [$0] } ?? [], option: "\(at), conditions"),
                otherPractitioner: try flag("other_practitioner"), consent: consent)
        }
    }

    let rows: [Row]

    init(_ file: String) throws {
        let csv: CSV<Named>
        do {
            csv = try CSV<Named>(url: URL(fileURLWithPath: file))
        } catch {
            throw CLIError(
                "cannot read \(file) as CSV: \(error)", fix: "check the path and that the first line names the columns")
        }
        for column in csv.header where !Self.columns.contains(column) {
            throw CLIError(
                "\(file): unknown column \"\(column)\"",
                fix: "the roster's columns are \(Self.columns.joined(separator: ", "))")
        }
        guard csv.header.contains("id") else {
            throw CLIError("\(file): missing column \"id\"", fix: "the first line must name at least id")
        }
        var seen: Swift.Set<String> = []
        rows = try csv.rows.enumerated().map { index, values in
            let row = Row(values: values, at: "\(file) line \(index + 2)")
            if let id = row.field("id"), !seen.insert(id).inserted {
                throw CLIError("\(row.at), id: \(id) appears twice", fix: "keep one line per patient")
            }
            return row
        }
    }
}

/// A patient id by the one id rule (``EntityID``).
func validatedPatientID(_ id: String, at: String? = nil) throws -> String {
    try validatedID(id, .patient, at: at.map { "\($0), id" } ?? "patient id")
}

/// An id by the one id rule (``EntityID``), or the error naming `what` and the fix.
func validatedID(_ id: String, _ kind: EntityID.Kind, at what: String) throws -> String {
    if let problem = EntityID.problem(id, kind) { throw CLIError("\(what): \(problem)") }
    return id
}

/// The JSON shape of a patient.
struct PatientJSON: Encodable {
    var id: String
    var name: String
    var timeZone: String
    var conditions: [String]
    var medications: [String]
    var medicarePartB: Bool
    var ccmConsentDate: String?
    var complexity: String
    var programs: [String]
    var rpmStart: String?
    var devices: [String]?

    init(_ p: Patient, devices: [String]? = nil) {
        id = p.id
        name = p.name
        timeZone = p.timeZone
        conditions = p.conditions
        medications = p.medications
        medicarePartB = p.medicarePartB
        ccmConsentDate = p.ccmConsentDate?.description
        complexity = p.complexity.rawValue
        programs = p.programs.map(\.rawValue)
        rpmStart = p.rpmStart?.description
        self.devices = devices
    }

    enum CodingKeys: String, CodingKey {
        case id, name, conditions, medications, complexity, programs, devices
        case rpmStart = "rpm_start"
        case timeZone = "time_zone"
        case medicarePartB = "medicare_part_b"
        case ccmConsentDate = "ccm_consent_date"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(id, forKey: .id)
        try c.encode(name, forKey: .name)
        try c.encode(timeZone, forKey: .timeZone)
        try c.encode(conditions, forKey: .conditions)
        try c.encode(medications, forKey: .medications)
        try c.encode(medicarePartB, forKey: .medicarePartB)
        try c.encode(ccmConsentDate, forKey: .ccmConsentDate)
        try c.encode(complexity, forKey: .complexity)
        try c.encode(programs, forKey: .programs)
        try c.encode(rpmStart, forKey: .rpmStart)
        try c.encodeIfPresent(devices, forKey: .devices)
    }
}

func validatedPrograms(_ text: String, option: String) throws -> [TimeEntryInput.Program] {
    var programs: [TimeEntryInput.Program] = []
    for part in text.split(whereSeparator: { $0 == "," || $0 == ";" || $0 == " " }) {
        guard let program = TimeEntryInput.Program(rawValue: part.lowercased()) else {
            throw CLIError("\(option): \"\(part)\" is not a program", fix: "use ccm, rpm or pcm, comma-separated")
        }
        if !programs.contains(program) { programs.append(program) }
    }
    return programs
}
