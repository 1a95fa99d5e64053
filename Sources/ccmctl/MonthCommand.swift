import ArgumentParser
import Foundation
import GatewayConfig
import GatewayCore
import GatewayStore

/// A month's summaries priced with the year's fee schedule.
struct PricedMonth {
    let month: CalendarMonth
    let summaries: [MonthSummary]
    let fees: FeeSchedule?
    /// Why there is no fee schedule, when there is none.
    let feeProblem: String?

    init(_ global: GlobalOptions, month text: String?, patient: String?) throws {
        let config = try global.loadConfig()
        let zone = config.practice.zone
        if let text {
            month = try validatedMonth(text)
        } else {
            month = CalendarMonth(Date(), in: zone)
        }
        let database = try global.open(.existing)
        if let patient, try database.patient(patient) == nil {
            throw CLIError("no patient \(patient)", fix: "list patients with ccmctl patients list")
        }
        summaries = try config.monthSummaries(database: database, month: month, patient: patient)
        do {
            fees = try config.feeSchedule(year: month.year)
            feeProblem = nil
        } catch let error as ConfigError {
            fees = nil
            feeProblem = error.description
        }
    }

    /// The amount of `units` of `code` in cents, or `nil` when no fee is on file.
    func amount(_ code: String, _ units: Int) -> Int? { fees?.fees[code].map { $0.cents * units } }

    /// Dollars as a JSON/CSV number cell.
    static func dollars(_ cents: Int?) -> Cell { cents.map { .number(Double($0) / 100, fractionDigits: 2) } ?? .null }

    /// What an operator should know about a code's price.
    func feeNote(_ code: String) -> String? {
        guard let fees else { return feeProblem }
        guard let fee = fees.fees[code] else {
            return "no \(month.year) amount on file for \(code); set billing.fee_overrides.\(code)"
        }
        return fee.verified ? nil : "estimate: the \(month.year) amount is not verified against the CMS file"
    }
}

struct MonthCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "month",
        abstract:
            "The CCM month: minutes by program and role, device days, the codes each patient-month may bill, and why not the others.",
        discussion: """
            Months are calendar months in practice.time_zone; an entry across local midnight counts on \
            each side of it. The rules (full minutes, caps, exclusions, prerequisites) are listed in \
            README under "The CCM month". Device days are days with an accepted reading, grouped by \
            billing.device_period. Amounts come from billing.fees_directory/YEAR.yaml with \
            billing.fee_overrides.
            """)

    @OptionGroup var global: GlobalOptions

    @Option(help: "The month, YYYY-MM (default: this month, to date).")
    var month: String?

    @Option(help: "Only this patient.")
    var patient: String?

    @Option(help: "table, json or csv.")
    var format: OutputFormat = .table

    func run() throws {
        let priced = try PricedMonth(global, month: month, patient: patient)
        switch format {
        case .json:
            let patients = priced.summaries.map { s in
                Cell.object([
                    ("patient", .text(s.patient)),
                    ("minutes", minutesCell(s)),
                    ("reading_days", .int(s.readingDays)),
                    ("codes", .object(s.codes.map { ($0.code, .int($0.units)) })),
                    (
                        "amounts",
                        .object(s.codes.map { ($0.code, PricedMonth.dollars(priced.amount($0.code, $0.units))) })
                    ),
                    (
                        "not_billed",
                        .array(s.notBilled.map { .object([("code", .text($0.code)), ("reason", .text($0.reason))]) })
                    ),
                ])
            }
            print(
                Listing.json(Cell.object([("month", .text(priced.month.description)), ("patients", .array(patients))])))
        case .csv, .table:
            let listing = Listing(
                columns: [
                    "patient", "ccm_staff", "ccm_physician", "rpm_staff", "rpm_physician", "pcm_staff", "pcm_physician",
                    "reading_days",
                    "codes",
                    "amount", "not_billed",
                ],
                rows: priced.summaries.map { s in
                    let amounts = s.codes.map { priced.amount($0.code, $0.units) }
                    let total: Int? =
                        amounts.contains(where: { $0 == nil }) ? nil : amounts.compactMap { $0 }.reduce(0, +)
                    return [
                        .text(s.patient),
                        .int(s.minutes[.ccm]?[.clinicalStaff] ?? 0), .int(s.minutes[.ccm]?[.physician] ?? 0),
                        .int(s.minutes[.rpm]?[.clinicalStaff] ?? 0), .int(s.minutes[.rpm]?[.physician] ?? 0),
                        .int(s.minutes[.pcm]?[.clinicalStaff] ?? 0), .int(s.minutes[.pcm]?[.physician] ?? 0),
                        .int(s.readingDays),
                        .text(s.codes.map { $0.units > 1 ? "\($0.code)x\($0.units)" : $0.code }.joined(separator: " ")),
                        format == .table ? .text(total.map(FeeSchedule.dollars) ?? "-") : PricedMonth.dollars(total),
                        .text(
                            format == .table
                                ? "\(s.notBilled.count)"
                                : s.notBilled.map { "\($0.code): \($0.reason)" }.joined(separator: " | ")),
                    ]
                },
                emptyMessage: "no patient has a program, minutes or device days in \(priced.month)")
            print(listing.render(format))
            if format == .table {
                for s in priced.summaries where !s.notBilled.isEmpty {
                    print("\n\(s.patient) not billed:")
                    for item in s.notBilled { print("  \(item.code)  \(item.reason)") }
                }
                if let problem = priced.feeProblem { print("\nno amounts: \(problem)") }
            }
        }
    }

    func minutesCell(_ s: MonthSummary) -> Cell {
        .object(
            TimeEntryInput.Program.allCases.map { program in
                (
                    program.rawValue,
                    .object(TimeEntryInput.Role.allCases.map { ($0.rawValue, .int(s.minutes[program]?[$0] ?? 0)) })
                )
            })
    }
}

struct InvoiceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "invoice",
        abstract:
            "One line per patient, month and billed code, with units and amount, and the totals; for the billing staff's spreadsheet.",
        discussion: """
            Amounts are the year's national non-facility fees (billing.fees_directory) or the practice's \
            own (billing.fee_overrides). fee_note marks an amount that is an unverified estimate, or a \
            code with no amount on file. CSV has a last line, total, with the units and the amount.
            """)

    @OptionGroup var global: GlobalOptions

    @Option(help: "The month, YYYY-MM.")
    var month: String

    @Option(help: "csv, json or table.")
    var format: OutputFormat = .csv

    func run() throws {
        let priced = try PricedMonth(global, month: month, patient: nil)
        var rows: [[Cell]] = []
        var units = 0, cents = 0
        for s in priced.summaries {
            for (code, count) in s.codes {
                let amount = priced.amount(code, count)
                units += count
                cents += amount ?? 0
                rows.append([
                    .text(s.patient), .text(priced.month.description), .text(code), .int(count),
                    PricedMonth.dollars(priced.fees?.fees[code]?.cents), PricedMonth.dollars(amount),
                    .optional(priced.feeNote(code)),
                ])
            }
        }
        let columns = ["patient", "month", "code", "units", "unit_amount", "amount", "fee_note"]
        let unpriced = priced.summaries.flatMap(\.codes).filter { priced.amount($0.code, $0.units) == nil }.count
        if format == .json {
            let lines = rows.map { Cell.object(Array(zip(columns, $0))) }
            print(
                Listing.json(
                    Cell.object([
                        ("month", .text(priced.month.description)), ("lines", .array(lines)),
                        (
                            "total",
                            .object([
                                ("units", .int(units)), ("amount", PricedMonth.dollars(cents)),
                                ("unpriced_codes", .int(unpriced)),
                            ])
                        ),
                    ])))
            return
        }
        rows.append([
            .text("total"), .text(priced.month.description), .null, .int(units), .null, PricedMonth.dollars(cents),
            unpriced == 0
                ? .null : .text("excludes \(unpriced) billed code\(unpriced == 1 ? "" : "s") with no amount on file"),
        ])
        let listing = Listing(columns: columns, rows: rows, emptyMessage: "")
        print(listing.render(format))
    }
}

struct EligibilityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eligibility",
        abstract:
            "Screen a roster for CCM: Medicare Part B, two or more chronic conditions, no other practitioner, consent not declined.",
        discussion: """
            The roster is CSV with the columns of ccmctl patients import (id required; \
            medicare_part_b, conditions, other_practitioner yes/no, ccm_consent_date a date, \
            declined or empty). Chronic conditions are counted by category of the list in \
            billing.conditions (config/chronic-conditions.yaml, from the CMS Chronic Conditions \
            Warehouse). Every reason is given. ccmctl patients import FILE --eligible-only imports the \
            eligible ones.
            """)

    @OptionGroup var global: GlobalOptions

    @Option(help: "The roster CSV.")
    var roster: String

    @Option(help: "table, json or csv.")
    var format: OutputFormat = .table

    func run() throws {
        let list = try global.loadConfig().chronicConditions()
        let rows = try Roster(roster).rows
        let decisions = try rows.map { row in
            let candidate = try row.candidate()
            return (candidate.id, Eligibility.screen(candidate, list: list))
        }
        let listing = Listing(
            columns: ["id", "eligible", "conditions", "reasons", "notes"],
            rows: decisions.map { id, d in
                [
                    .text(id), .bool(d.eligible), .text(d.conditions.joined(separator: "; ")),
                    .text(d.reasons.joined(separator: "; ")),
                    .text(d.notes.joined(separator: "; ")),
                ]
            },
            emptyMessage: "the roster has no patients")
        print(listing.render(format))
        if format == .table {
            print("\(decisions.filter { $0.1.eligible }.count) of \(decisions.count) eligible")
        }
    }
}
