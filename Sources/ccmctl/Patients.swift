import ArgumentParser
import Foundation
import GatewayConfig
import GatewayCore
import GatewayStore
import SwiftCSV

struct Patients: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add, list, show and import patients.",
        subcommands: [Add.self, List.self, Show.self, Import.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a patient.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The practice's patient id (1–64 characters), e.g. an MRN.")
        var id: String

        @Option(help: "Full name (shown to operators, never logged).")
        var name: String

        @Option(name: .customLong("time-zone"), help: "IANA time zone (default: practice.time_zone).")
        var timeZone: String?

        @Option(name: .customLong("conditions"), help: "Chronic conditions as ICD-10-CM codes, comma-separated (I10,E11.9).")
        var conditions: [String] = []

        @Option(name: .customLong("medication"), help: "A current medication; repeat for each.")
        var medications: [String] = []

        @Flag(name: .customLong("medicare-part-b"), help: "The patient has Medicare Part B.")
        var medicarePartB = false

        @Option(name: .customLong("ccm-consent"), help: "Date of CCM consent (YYYY-MM-DD).")
        var ccmConsent: String?

        @Option(help: "Standing complexity: non-complex or complex.")
        var complexity: Complexity = .nonComplex

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
                complexity: complexity)
            try global.open().addPatient(patient, by: global.actor)
            print("added patient \(patient.id)")
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
                columns: ["id", "name", "time_zone", "conditions", "medicare_part_b", "ccm_consent", "complexity"],
                rows: patients.map { p in
                    [
                        .text(p.id), .text(p.name), .text(p.timeZone),
                        .text(p.conditions.joined(separator: ";")),
                        .bool(p.medicarePartB), .optional(p.ccmConsentDate?.description), .text(p.complexity.rawValue),
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
                throw CLIError("no patient \(id); list patients with ccmctl patients list")
            }
            let devices = try database.devices(patient: id)
            let recent = try database.readings(patient: id, limit: 5)
            if format == .json {
                print(Listing.json(PatientJSON(patient, devices: devices.map(\.id))))
                return
            }
            let times = LocalTimes(timeZone: patient.timeZone)
            print("""
                patient         \(patient.id)
                name            \(patient.name)
                time zone       \(patient.timeZone)
                conditions      \(patient.conditions.isEmpty ? "none recorded" : patient.conditions.joined(separator: ", "))
                medications     \(patient.medications.isEmpty ? "none recorded" : patient.medications.joined(separator: "; "))
                Medicare Part B \(patient.medicarePartB ? "yes" : "no")
                CCM consent     \(patient.ccmConsentDate?.description ?? "not recorded")
                complexity      \(patient.complexity.rawValue)
                devices         \(devices.isEmpty ? "none" : devices.map { "\($0.id) (\($0.kind.rawValue))" }.joined(separator: ", "))
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
                medicare_part_b (yes/no), ccm_consent_date (YYYY-MM-DD) and complexity \
                (non-complex/complex) are optional. A patient whose id exists is updated.
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The CSV file.")
        var file: String

        func run() throws {
            let config = try global.loadConfig()
            let csv: CSV<Named>
            do {
                csv = try CSV<Named>(url: URL(fileURLWithPath: file))
            } catch {
                throw CLIError("cannot read \(file) as CSV: \(error); check the path and that the first line names the columns")
            }
            let known = ["id", "name", "time_zone", "conditions", "medications", "medicare_part_b", "ccm_consent_date", "complexity"]
            for column in csv.header where !known.contains(column) {
                throw CLIError("\(file): unknown column \"\(column)\"; the roster's columns are \(known.joined(separator: ", "))")
            }
            for column in ["id", "name"] where !csv.header.contains(column) {
                throw CLIError("\(file): missing column \"\(column)\"; the first line must name at least id,name")
            }
            var patients: [Patient] = []
            var seen: Set<String> = []
            for (index, row) in csv.rows.enumerated() {
                let line = index + 2
                func field(_ name: String) -> String? {
                    guard let value = row[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
                    return value
                }
                let at = "\(file) line \(line)"
                guard let id = field("id") else { throw CLIError("\(at), id: required; give the practice's patient id") }
                guard seen.insert(id).inserted else { throw CLIError("\(at), id: \(id) appears twice; keep one line per patient") }
                var partB = false
                if let text = field("medicare_part_b")?.lowercased() {
                    switch text {
                    case "yes", "y", "true", "1": partB = true
                    case "no", "n", "false", "0": partB = false
                    default: throw CLIError("\(at), medicare_part_b: \"\(text)\" is not yes or no")
                    }
                }
                var complexity = Complexity.nonComplex
                if let text = field("complexity") {
                    guard let value = Complexity(rawValue: text) else {
                        throw CLIError("\(at), complexity: \"\(text)\" is not non-complex or complex")
                    }
                    complexity = value
                }
                patients.append(
                    Patient(
                        id: try validatedPatientID(id, at: at),
                        name: field("name") ?? "",
                        timeZone: try validatedTimeZone(field("time_zone") ?? config.practice.timeZone, option: "\(at), time_zone"),
                        conditions: try validatedConditions(field("conditions").map { [$0] } ?? [], option: "\(at), conditions"),
                        medications: (field("medications") ?? "").split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty },
                        medicarePartB: partB,
                        ccmConsentDate: try validatedDate(field("ccm_consent_date"), option: "\(at), ccm_consent_date"),
                        complexity: complexity))
            }
            let result = try global.open().importPatients(patients, by: global.actor)
            print("imported \(patients.count) patients: \(result.added) added, \(result.updated) updated")
        }
    }
}

func validatedPatientID(_ id: String, at: String? = nil) throws -> String {
    guard (1...64).contains(id.count), !id.contains(where: { $0.isWhitespace || $0.isNewline }) else {
        throw CLIError("\(at.map { "\($0), id" } ?? "patient id"): \"\(id)\" must be 1 to 64 characters without spaces")
    }
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
        self.devices = devices
    }

    enum CodingKeys: String, CodingKey {
        case id, name, conditions, medications, complexity, devices
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
        try c.encodeIfPresent(devices, forKey: .devices)
    }
}
