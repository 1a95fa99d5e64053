import ArgumentParser
import Foundation
import GatewayConfig
import GatewayCore
import GatewayPipeline
import GatewayStore

#if canImport(Glibc)
import Glibc
#endif

struct AlertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alerts",
        abstract: "List, follow, acknowledge, snooze and resolve alerts.",
        discussion: """
            One alert stays open per patient and rule: a repeat updates it, a worse reading \
            escalates it from warning to urgent. Acknowledging or snoozing silences it at its \
            level and below; it resolves by itself after its rule's time back in range, or by hand.
            """,
        subcommands: [List.self, Tail.self, Ack.self, Snooze.self, Resolve.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List alerts, newest first.")

        @OptionGroup var global: GlobalOptions

        @Flag(help: "Only alerts that are not resolved.")
        var open = false

        @Option(help: "Only this patient's alerts.")
        var patient: String?

        @Option(help: "At most this many.")
        var limit: Int = 200

        @Option(help: "table, json or csv.")
        var format: OutputFormat = .table

        func run() throws {
            let config = try global.loadConfig()
            let times = LocalTimes(zone: config.practice.zone)
            let alerts = try global.open(.existing).alerts(openOnly: open, patient: patient, limit: limit)
            let listing = Listing(
                columns: [
                    "id", "patient", "rule", "level", "state", "opened", "count", "last_value", "threshold", "by",
                ],
                rows: alerts.map { a in
                    [
                        .int(a.id), .text(a.patientID), .text(a.ruleID), .text(a.level.rawValue),
                        .text(a.state.rawValue),
                        times.cell(a.openedAt, format), .int(a.count), .text(a.lastValue), .text(a.threshold),
                        .optional(a.resolvedBy ?? a.snoozedBy ?? a.ackedBy),
                    ]
                },
                emptyMessage: open ? "no open alerts" : "no alerts")
            print(listing.render(format))
        }
    }

    struct Ack: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ack",
            abstract: "Acknowledge an alert: seen, silent at its level until it escalates or resolves.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The alert id.")
        var id: Int64

        @Option(help: "Minutes of monitoring time spent on it: a time-ledger entry (activity alert) ending now.")
        var minutes: Int?

        @Option(
            help:
                "The program the minutes count for (default: rpm when the patient is enrolled in it, else ccm, else pcm)."
        )
        var program: TimeEntryInput.Program?

        @Option(
            help:
                "Whose minutes: clinical_staff or physician (default: the role --by is registered with; see ccmctl staff). The minutes are --by's, who must be registered staff."
        )
        var role: TimeEntryInput.Role?

        @Flag(help: "The minutes included a real-time call or video with the patient or caregiver.")
        var interactive = false

        @Option(help: "What was done.")
        var note: String?

        func run() throws {
            if let minutes, minutes < 1 || minutes > 600 {
                throw CLIError("--minutes: \(minutes) is not between 1 and 600", fix: "give the whole minutes spent")
            }
            let database = try global.open(.existing)
            _ = try database.acknowledge(
                id, by: global.actor, minutes: minutes, note: note, program: program, role: role,
                interactive: interactive)
            try global.announce(database)
            print("acknowledged alert \(id)" + (minutes.map { "; \($0) minutes recorded in the time ledger" } ?? ""))
        }
    }

    struct Snooze: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Silence an alert for a while.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The alert id.")
        var id: Int64

        @Option(name: .customLong("for"), help: "How long: 30m, 2h, 1d.")
        var duration: String

        func run() throws {
            guard let seconds = DurationText.parse(duration), seconds > 0, seconds <= 30 * 86_400 else {
                throw CLIError("--for: \"\(duration)\" is not a duration up to 30d", fix: "write it like 30m, 2h or 1d")
            }
            let database = try global.open(.existing)
            _ = try database.snooze(id, for: seconds, by: global.actor)
            try global.announce(database)
            print("snoozed alert \(id) for \(DurationText.format(seconds))")
        }
    }

    struct Resolve: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resolve an alert by hand.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The alert id.")
        var id: Int64

        @Option(help: "Why.")
        var note: String?

        func run() throws {
            let database = try global.open(.existing)
            _ = try database.resolve(id, by: global.actor, note: note)
            try global.announce(database)
            print("resolved alert \(id)")
        }
    }

    struct Tail: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the end of the alert log; with -f, keep following it, across log rotations.")

        @OptionGroup var global: GlobalOptions

        @Flag(name: .shortAndLong, help: "Keep following the log as it grows and when it is rotated.")
        var follow = false

        @Option(name: .shortAndLong, help: "How many of the last lines to print first.")
        var lines: Int = 10

        @Option(help: "text or json (either log format is shown in either).")
        var format: AlertLogFormat = .text

        func run() throws {
            let path = try global.loadConfig().alerts.log
            try AlertLogTail(path: path, format: format).run(last: lines, follow: follow)
        }
    }
}

extension AlertLogFormat: ExpressibleByArgument {}
