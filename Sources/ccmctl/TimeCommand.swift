import ArgumentParser
import Foundation
import GatewayConfig
import GatewayCore
import GatewayStore

extension TimeEntryInput.Role: ExpressibleByArgument {}
extension TimeEntryInput.Program: ExpressibleByArgument {}
extension TimeEntryInput.Activity: ExpressibleByArgument {}

/// The options every new piece of time carries.
struct TimeOptions: ParsableArguments {
    @Option(
        help:
            "Whose time: clinical_staff or physician (physician/QHP personal time); default: the role the staff member (--by) is registered with."
    )
    var role: TimeEntryInput.Role?

    /// The role given, else the staff member's registered role (an unknown staff member is
    /// refused when the entry is stored).
    func role(of staff: String, in database: GatewayDatabase) throws -> TimeEntryInput.Role {
        try role ?? database.staffMember(staff)?.role ?? .clinicalStaff
    }

    @Option(help: "The program the time is for: ccm, rpm or pcm. A minute counts for one program only.")
    var program: TimeEntryInput.Program

    @Option(help: "call, video, email, review, care_plan, coordination or alert.")
    var activity: TimeEntryInput.Activity

    @Flag(
        inversion: .prefixedNo,
        help:
            "A real-time interactive communication with the patient or caregiver (default: yes for call and video, no otherwise)."
    )
    var interactive: Bool?

    @Option(help: "What was done (shown to billing staff; never logged).")
    var note: String?
}

struct TimeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "time",
        abstract: "The time ledger: monitoring minutes per patient, program and role, which the CCM month counts.",
        discussion: """
            Entries are never deleted: a mistaken one is voided with a reason and stays visible. The staff \
            member is --by (default: your login name), who must be registered (ccmctl staff add NAME --role \
            ROLE), enabled, and record time in their registered role. Alert acknowledgements with --minutes \
            and the MQTT time topic (only from a hub registered for the patient) add entries too.
            """,
        subcommands: [Add.self, Start.self, Stop.self, List.self, VoidEntry.self])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record minutes spent on a patient.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The patient id.")
        var patient: String

        @Option(help: "Whole minutes (1 to 600).")
        var minutes: Int

        @Option(
            help:
                "When the work started: 2026-03-04T10:05:00-06:00, or 2026-03-04 10:05 in the practice's time zone (default: minutes ago, so the entry ends now)."
        )
        var at: String?

        @OptionGroup var time: TimeOptions

        func run() throws {
            guard (1...TimeEntryV1.maxMinutes).contains(minutes) else {
                throw CLIError(
                    "--minutes: \(minutes) is not between 1 and \(TimeEntryV1.maxMinutes)",
                    fix: "split longer work into entries")
            }
            let config = try global.loadConfig()
            let start =
                try at.map { try parseLocalTime($0, zone: config.practice.zone, option: "--at") }
                ?? Date().addingTimeInterval(-Double(minutes) * 60)
            let database = try global.open(.existing)
            let entry = TimeEntryInput(
                patientID: patient, start: start, minutes: minutes, staff: global.actor,
                role: try time.role(of: global.actor, in: database),
                program: time.program, activity: time.activity, interactive: time.interactive, note: time.note)
            let id = try database.addTimeEntry(entry, source: "ccmctl", by: global.actor)
            let local = LocalTimes(zone: config.practice.zone)
            print(
                "time entry \(id): \(patient) \(minutes) min \(time.program.rawValue) \(entry.role.rawValue) \(time.activity.rawValue)\(entry.interactive ? " interactive" : "") at \(local.formatter.string(from: start))"
            )
        }
    }

    struct Start: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Start a timer for a patient; time stop records its whole minutes.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The patient id.")
        var patient: String

        @OptionGroup var time: TimeOptions

        func run() throws {
            let database = try global.open(.existing)
            let timer = RunningTimer(
                patientID: patient, staff: global.actor, startedAt: Date(),
                role: try time.role(of: global.actor, in: database),
                program: time.program,
                activity: time.activity, interactive: time.interactive ?? time.activity.interactiveByDefault,
                note: time.note)
            try database.startTimer(timer, by: global.actor)
            print("timer started for \(patient) by \(global.actor); stop it with ccmctl time stop \(patient)")
        }
    }

    struct Stop: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop your timer for a patient and record its whole minutes.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The patient id.")
        var patient: String

        @Option(help: "What was done (replaces the note given at start).")
        var note: String?

        func run() throws {
            guard
                let (id, entry) = try global.open(.existing).stopTimer(
                    patient: patient, staff: global.actor, note: note, by: global.actor)
            else {
                print("timer stopped under a minute; nothing recorded")
                return
            }
            print(
                "time entry \(id): \(patient) \(entry.minutes) min \(entry.program.rawValue) \(entry.role.rawValue) \(entry.activity.rawValue)"
            )
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List time entries, voided ones marked, and the timers running.")

        @OptionGroup var global: GlobalOptions

        @Option(help: "Only this patient's entries.")
        var patient: String?

        @Option(help: "Only entries starting in this month (YYYY-MM, practice time zone).")
        var month: String?

        @Option(help: "table, json or csv.")
        var format: OutputFormat = .table

        func run() throws {
            let config = try global.loadConfig()
            let zone = config.practice.zone
            var from: Date?, to: Date?
            if let month {
                let parsed = try validatedMonth(month)
                from = LocalDay.start(of: parsed.first, in: zone)
                to = LocalDay.start(of: parsed.last.adding(days: 1), in: zone)
            }
            let database = try global.open(.existing)
            let entries = try database.timeEntries(patient: patient, from: from, to: to)
            let times = LocalTimes(zone: config.practice.zone)
            let listing = Listing(
                columns: [
                    "id", "patient", "start", "minutes", "staff", "role", "program", "activity", "interactive",
                    "source", "note", "void",
                ],
                rows: entries.map { e in
                    [
                        .int(e.id), .text(e.patientID), times.cell(e.start, format), .int(e.minutes), .text(e.staff),
                        .text(e.role.rawValue),
                        .text(e.program.rawValue), .text(e.activity), .bool(e.interactive), .text(e.source),
                        .optional(e.note),
                        e.voidedAt == nil ? .null : .text("voided by \(e.voidedBy ?? "?"): \(e.voidReason ?? "")"),
                    ]
                },
                emptyMessage:
                    "no time entries; record one with ccmctl time add PATIENT --minutes N --program ccm --activity call"
            )
            print(listing.render(format))
            if format == .table {
                for timer in try database.runningTimers() where patient == nil || timer.patientID == patient {
                    print(
                        "timer running: \(timer.patientID) by \(timer.staff) since \(times.formatter.string(from: timer.startedAt)) (\(timer.program.rawValue) \(timer.activity.rawValue))"
                    )
                }
            }
        }
    }

    struct VoidEntry: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "void", abstract: "Void a time entry: it stays in the ledger, marked, and never counts.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The entry id (ccmctl time list).")
        var id: Int64

        @Option(help: "Why (kept with the entry and in the audit log).")
        var reason: String

        func run() throws {
            guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw CLIError("--reason: say why the entry is void")
            }
            try global.open(.existing).voidTimeEntry(id, reason: reason, by: global.actor)
            print("time entry \(id) voided")
        }
    }
}

/// A time given on the command line: RFC 3339 with an offset, or `YYYY-MM-DD HH:MM` (or with
/// a `T`) in the practice's zone.
func parseLocalTime(_ text: String, zone: TimeZone, option: String) throws -> Date {
    if let date = RFC3339.parse(text) { return date }
    let parts = text.split(whereSeparator: { $0 == " " || $0 == "T" })
    if parts.count == 2, let day = LocalDate(String(parts[0])) {
        let clock = parts[1].split(separator: ":")
        if clock.count == 2, let hour = Int(clock[0]), let minute = Int(clock[1]), (0..<24).contains(hour),
            (0..<60).contains(minute)
        {
            if let date = LocalDay.instant(day, hour: hour, minute: minute, in: zone) { return date }
        }
    }
    throw CLIError(
        "\(option): \"\(text)\" is not a time",
        fix: "write 2026-03-04 10:05 (practice time) or 2026-03-04T10:05:00-06:00")
}
