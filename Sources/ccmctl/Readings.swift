import ArgumentParser
import Foundation
import GatewayConfig
import GatewayCore
import GatewayPipeline
import GatewayStore

struct ReadingsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "readings",
        abstract: "List normalized readings.",
        subcommands: [List.self, Controls.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List readings, oldest first.",
            discussion: """
                Values are in canonical units (mmHg, mg/dL, kg, Cel, %, /min); JSON and CSV also \
                carry the original value and unit. measured_at is the device clock, received_at \
                the gateway's; a suspect device clock is flagged and the reading is evaluated at \
                received_at. flags are what the device said about the measurement (cuff Measurement \
                Status: body_movement, cuff_too_loose, irregular_pulse, pulse_above_range, \
                pulse_below_range, improper_position; meter Sensor Status: battery_low, \
                result_above_range (HI), result_below_range (LO), temperature_too_high, ...; oximeter \
                status: questionable_measurement, low_perfusion, poor_signal, sensor_displaced, ...). A blood \
                pressure reading with body_movement, cuff_too_loose or improper_position is kept but \
                left out of threshold and average rules (excluded_from_rules says why). A HI or LO \
                glucose shows as HI/LO: its number is the meter's limit, not the value. user is a \
                multi-user cuff's or scale's user index; epoch is the meter's record numbering. A \
                thermometer's body site (ear, mouth, ...) is its sample_location.
                """)

        @OptionGroup var global: GlobalOptions

        @Option(help: "Only this patient's readings.")
        var patient: String?

        @Option(help: "Only this kind: \(ReadingKind.allCases.map(\.rawValue).joined(separator: ", ")).")
        var kind: ReadingKind?

        @Option(help: "Only readings at or after this date (practice time zone) or RFC 3339 time.")
        var since: String?

        @Option(help: "At most this many (the newest).")
        var limit: Int?

        @Option(help: "table, json or csv.")
        var format: OutputFormat = .table

        func run() throws {
            let config = try global.loadConfig()
            let times = LocalTimes(zone: config.practice.zone)
            let database = try GatewayDatabase(path: try global.databasePath(), mode: .existing)
            let readings = try database.readings(
                patient: patient, kind: kind, since: try since.map(times.parseSince), limit: limit)
            print(ReadingListing.make(readings, times: times, format: format).render(format))
        }
    }
}

enum ReadingListing {
    static func make(_ readings: [StoredReading], times: LocalTimes, format: OutputFormat) -> Listing {
        let table = format == .table
        return Listing(
            columns: table
                ? ["id", "patient", "device", "kind", "value", "measured", "received", "flags"]
                : [
                    "id", "patient", "device", "kind", "loinc", "unit", "values", "original_unit", "original_values",
                    "measured_at", "measured_at_text", "received_at", "effective_at", "clock_suspect", "windowed",
                    "meal", "seq",
                    "source", "flags", "excluded_from_rules", "user", "sample_type", "sample_location", "epoch",
                ],
            rows: readings.map { r in
                if table {
                    var flags: [String] = []
                    if r.clockSuspect { flags.append("clock_suspect") }
                    if !r.windowed { flags.append("not_windowed") }
                    if let meal = r.meal { flags.append(meal.rawValue) }
                    flags += r.flags.map(\.rawValue)
                    if !r.unreliableBecause.isEmpty { flags.append("excluded_from_rules") }
                    if let user = r.userIndex { flags.append("user=\(user)") }
                    return [
                        .int(r.id), .text(r.patientID), .text(r.deviceID), .text(r.kind.rawValue), .text(display(r)),
                        r.measuredAtText.map { .text($0) } ?? times.cell(r.measuredAt, format),
                        times.cell(r.receivedAt, format),
                        .text(flags.joined(separator: " ")),
                    ]
                }
                return [
                    .int(r.id), .text(r.patientID), .text(r.deviceID), .text(r.kind.rawValue), .text(r.kind.loinc),
                    .text(r.kind.canonicalUnit.rawValue), values(r.values, rounded: false),
                    .text(r.originalUnit.rawValue),
                    values(r.originalValues, rounded: false), .date(r.measuredAt), .optional(r.measuredAtText),
                    .date(r.receivedAt),
                    .date(r.effectiveAt), .bool(r.clockSuspect), .bool(r.windowed), .optional(r.meal?.rawValue),
                    .int(r.sequence),
                    .text(r.source), .array(r.flags.map { .text($0.rawValue) }), .optional(excluded(r)),
                    .int(r.userIndex),
                    .optional(r.sampleType), .optional(r.sampleLocation), .int(r.epoch),
                ]
            },
            emptyMessage: "no readings match")
    }

    /// Why the reading is left out of threshold and average rules, when the device said so.
    static func excluded(_ r: StoredReading) -> String? {
        let flags = r.unreliableBecause
        guard !flags.isEmpty else { return nil }
        return flags.map(\.meaning).joined(separator: ", ") + ": left out of threshold and average rules"
    }

    static func values(_ values: [Quantity: Double], rounded: Bool) -> Cell {
        .object(
            values.keys.sorted().map { q in
                (q.rawValue, .number(values[q]!, fractionDigits: rounded ? q.displayFractionDigits : nil))
            })
    }

    /// `142/91 mmHg, pulse 72` — rounded to what is worth showing.
    static func display(_ r: StoredReading) -> String {
        func show(_ q: Quantity) -> String {
            formatNumber(r.values[q] ?? .nan, fractionDigits: q.displayFractionDigits)
        }
        var text: String
        switch r.kind {
        case .bloodPressure:
            text = "\(show(.systolic))/\(show(.diastolic)) mmHg"
            if r.values[.meanArterialPressure] != nil { text += " map \(show(.meanArterialPressure))" }
        default:
            let main = r.kind.requiredQuantities[0]
            text = "\(show(main)) \(main.canonicalUnit.rawValue)"
            // The meter's limit, not the value: HI is above it, LO below.
            if r.flags.contains(.resultAboveRange) { text = "HI (above the meter's range; it sent \(text))" }
            if r.flags.contains(.resultBelowRange) { text = "LO (below the meter's range; it sent \(text))" }
        }
        if r.kind != .pulse, r.values[.pulse] != nil { text += ", pulse \(show(.pulse))" }
        return text
    }
}

extension ReadingsCommand {
    struct Controls: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List glucose control-solution tests, oldest first.",
            discussion: """
                A meter's control-solution test (Glucose Measurement type 10 or sample location 4) checks \
                the meter and strips against a solution of known concentration. It is kept here, never as \
                the patient's reading, and no care-plan rule sees it.
                """)

        @OptionGroup var global: GlobalOptions

        @Option(help: "Only this device's tests.")
        var device: String?

        @Option(help: "table, json or csv.")
        var format: OutputFormat = .table

        func run() throws {
            let config = try global.loadConfig()
            let times = LocalTimes(zone: config.practice.zone)
            let tests = try global.open(.existing).controlTests(device: device.map(DeviceID.canonical))
            let listing = Listing(
                columns: [
                    "id", "device", "patient", "glucose", "measured", "received", "seq", "sample_type",
                    "sample_location", "flags", "inbox",
                ],
                rows: tests.map { t in
                    [
                        .int(t.id), .text(t.deviceID), .optional(t.patientID),
                        format == .table
                            ? .text("\(formatNumber(t.glucose, fractionDigits: 0)) mg/dL")
                            : .number(t.glucose, fractionDigits: nil),
                        times.cell(t.measuredAt, format), times.cell(t.receivedAt, format), .int(t.sequence),
                        .optional(t.sampleType),
                        .optional(t.sampleLocation),
                        format == .json
                            ? .array(t.flags.map { .text($0.rawValue) })
                            : .text(t.flags.map(\.rawValue).joined(separator: " ")),
                        .int(t.inboxID),
                    ]
                },
                emptyMessage: "no control-solution tests")
            print(listing.render(format))
        }
    }
}

/// A payload as `inbox list` prints it: UTF-8 text when it is, otherwise base64, labelled.
enum PayloadText {
    static func encode(_ payload: Data) -> (text: String, encoding: String) {
        if let text = String(validating: Array(payload), as: UTF8.self) { return (text, "utf8") }
        return (payload.base64EncodedString(), "base64")
    }
}

struct InboxCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inbox",
        abstract: "Look into the inbox: every input as received, with what became of it.",
        subcommands: [List.self, Retry.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List inbox entries, newest last.",
            discussion: """
                With --payload (and always in JSON and CSV) each payload is given exactly as received: \
                as text when it is valid UTF-8 (payload_encoding utf8), otherwise as base64 \
                (payload_encoding base64), so binary GATT values can be recovered byte for byte.
                """)

        @OptionGroup var global: GlobalOptions

        @Option(help: "Only this outcome: pending, accepted, rejected, quarantined, duplicate or failed.")
        var status: String?

        @Option(help: "Only readings from this device.")
        var device: String?

        @Option(help: "At most this many (the newest).")
        var limit: Int = 100

        @Flag(help: "Show the payload as received.")
        var payload = false

        @Option(help: "table, json or csv.")
        var format: OutputFormat = .table

        func run() throws {
            let statuses = ["pending"] + ItemStatus.allCases.map(\.rawValue)
            if let status, !statuses.contains(status) {
                throw CLIError(
                    "--status: unknown status \"\(status)\"", fix: "use one of \(statuses.joined(separator: ", "))")
            }
            let config = try global.loadConfig()
            let times = LocalTimes(zone: config.practice.zone)
            let entries = try global.open(.existing).inbox(
                status: status, device: device.map(DeviceID.canonical), limit: limit)
            var columns = ["inbox", "item", "received_at", "source", "status", "device", "kind", "reading", "reason"]
            if payload || format != .table { columns += ["payload_encoding", "payload"] }
            let listing = Listing(
                columns: columns,
                rows: entries.map { e in
                    var row: [Cell] = [
                        .int(e.inboxID), .int(e.item), times.cell(e.receivedAt, format), .text(e.source),
                        .text(e.status),
                        .optional(e.deviceID), .optional(e.kind), .int(e.readingID), .optional(e.reason),
                    ]
                    if columns.count > 9 {
                        let (text, encoding) = PayloadText.encode(e.payload)
                        row += [.text(encoding), .text(text)]
                    }
                    return row
                },
                emptyMessage: status.map { "no \($0) inputs" } ?? "the inbox is empty")
            print(listing.render(format))
        }
    }

    struct Retry: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decide failed inputs again (after the cause was fixed, often by an upgrade).",
            discussion: """
                An input fails when deciding it went wrong in a way that is not the sender's \
                fault (ccmctl inbox list --status failed shows the reason). Nothing of it was \
                stored but the input itself. This makes it pending again and decides it now, \
                printing what became of it; one that fails again stays failed with the new \
                reason. Audited.
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: "Inbox ids of failed inputs (see ccmctl inbox list --status failed).")
        var ids: [Int64] = []

        @Flag(help: "Retry every failed input.")
        var all = false

        func validate() throws {
            if ids.isEmpty == !all {
                throw ValidationError("name the inbox ids to retry, or pass --all for every failed input (not both)")
            }
        }

        func run() throws {
            let pipeline = try global.pipeline()
            let ids = all ? try pipeline.database.inbox(status: "failed", limit: Int.max).map(\.inboxID) : ids
            let outcomes = try pipeline.retry(inboxIDs: ids, by: global.actor)
            let retried = Set(outcomes.map(\.inboxID))
            var unknown: [Int64] = []
            for id in ids where !retried.contains(id) {
                if try pipeline.database.inboxEntryExists(id) {
                    print("inbox \(id): not failed; nothing to retry")
                } else {
                    unknown.append(id)
                }
            }
            for outcome in outcomes {
                print(
                    "inbox \(outcome.inboxID)\(outcome.item > 0 ? " [\(outcome.item)]" : ""): \(outcome.status.rawValue)\(outcome.reason.map { ": \($0)" } ?? "")"
                )
            }
            printAlerts(outcomes.flatMap(\.alerts))
            if !unknown.isEmpty {
                throw CLIError(
                    "no inbox entry \(unknown.map(String.init).joined(separator: ", "))",
                    fix: "list failed inputs with ccmctl inbox list --status failed")
            }
            if outcomes.contains(where: { $0.status == .failed }) { throw ExitCode(1) }
        }
    }
}
