import ArgumentParser
import GatewayCore
import GatewayPipeline
import GatewayStore

struct DevicesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "devices",
        abstract: "Register devices, assign them to patients, and see what BLE discovered and how each device syncs.",
        discussion: """
            Readings from a device that is unknown or not assigned to a patient are quarantined, \
            not dropped. Registering or assigning the device replays them through the pipeline.
            """,
        subcommands: [
            Add.self, Assign.self, Unassign.self, List.self, Discovered.self, Sync.self, Pair.self, Unpair.self,
            Bonds.self,
        ])

    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a device.")

        @OptionGroup var global: GlobalOptions

        @Argument(
            help:
                "The id readings carry in \"device\": a Bluetooth address (A4:C1:38:12:34:56) or a hub's device id (\(EntityID.rule(.device)))."
        )
        var id: String

        @Option(help: "What it is: \(DeviceKind.allCases.map(\.rawValue).joined(separator: ", ")).")
        var kind: DeviceKind

        @Option(
            help: "Bluetooth address, when the gateway connects to it itself (default: the id, if it is an address).")
        var address: String?

        @Option(help: "Make and model, for operators.")
        var model: String?

        @Option(help: "Assign it to this patient now.")
        var patient: String?

        @Option(
            help:
                "The only hub allowed to publish its readings (its id: \(EntityID.rule(.hub))); registered as a hub (ccmctl hubs) if it is not yet. Without it, only hubs registered for the device's patient (ccmctl hubs add HUB --patient P) may."
        )
        var hub: String?

        func run() throws {
            let id = try validatedID(DeviceID.canonical(id), .device, at: "device id")
            if let hub { _ = try validatedID(hub, .hub, at: "--hub") }
            var bleAddress = address.map(DeviceID.canonical)
            if let bleAddress, !DeviceID.isBluetoothAddress(bleAddress) {
                throw CLIError(
                    "--address: \"\(bleAddress)\" is not a Bluetooth address",
                    fix: "write six hex pairs like A4:C1:38:12:34:56")
            }
            if bleAddress == nil, DeviceID.isBluetoothAddress(id) { bleAddress = id }
            let outcomes = try global.pipeline().addDevice(
                Device(id: id, kind: kind, bleAddress: bleAddress, model: model, patientID: patient, hubID: hub),
                by: global.actor)
            print("added device \(id)" + (patient.map { " for patient \($0)" } ?? ""))
            printReplay(outcomes)
        }
    }

    struct Assign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Assign a device to a patient and replay its quarantined readings.",
            discussion: """
                A multi-user cuff or scale sends a user index with each reading (User ID of 0x2A35, \
                0x2A9D, 0x2A9C). Its readings go to the patient mapped to that index with --user N \
                --patient P (audited), never to the device's own patient; a reading from an index \
                that is not mapped is quarantined (unmapped_user) and replayed when it is mapped. User \
                255 is the device's "unknown user".
                """)

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The device id.")
        var id: String

        @Option(help: "The patient whose readings it takes (with --user: whose readings that user's are).")
        var patient: String

        @Option(
            help:
                "The only hub allowed to publish its readings (unchanged when omitted); registered as a hub if it is not yet."
        )
        var hub: String?

        @Option(
            help: "Map this user index of a multi-user device (0-255) to the patient, instead of assigning the device.")
        var user: Int?

        func validate() throws {
            if let user, !(0...255).contains(user) {
                throw ValidationError(
                    "--user: \(user) is not a user index; use 0 to 255 as the device numbers its users")
            }
            if user != nil, hub != nil {
                throw ValidationError(
                    "--user maps a user index only; set the hub with a separate ccmctl devices assign ID --patient P --hub H"
                )
            }
        }

        func run() throws {
            let id = DeviceID.canonical(id)
            if let user {
                let outcomes = try global.pipeline().assignDeviceUser(id, user: user, to: patient, by: global.actor)
                print("mapped user \(user) of device \(id) to patient \(patient)")
                printReplay(outcomes)
                return
            }
            if let hub { _ = try validatedID(hub, .hub, at: "--hub") }
            let outcomes = try global.pipeline().assignDevice(
                id, to: patient, hub: hub.map { .some($0) } ?? .none, by: global.actor)
            print("assigned device \(id) to patient \(patient)")
            printReplay(outcomes)
        }
    }

    struct Unassign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Take a device away from its patient; its readings are quarantined until it is assigned again.")

        @OptionGroup var global: GlobalOptions

        @Argument(help: "The device id.")
        var id: String

        func run() throws {
            let id = DeviceID.canonical(id)
            try global.open(.existing).unassignDevice(id, by: global.actor)
            print("unassigned device \(id)")
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List devices.")

        @OptionGroup var global: GlobalOptions

        @Option(help: "Only this patient's devices.")
        var patient: String?

        @Option(help: "table, json or csv.")
        var format: OutputFormat = .table

        func run() throws {
            let devices = try global.open(.existing).devices(patient: patient)
            let listing = Listing(
                columns: ["id", "kind", "ble_address", "model", "patient", "hub"],
                rows: devices.map { d in
                    [
                        .text(d.id), .text(d.kind.rawValue), .optional(d.bleAddress), .optional(d.model),
                        .optional(d.patientID),
                        .optional(d.hubID),
                    ]
                },
                emptyMessage: "no devices; register one with ccmctl devices add ID --kind KIND --patient PATIENT")
            print(listing.render(format))
        }
    }
}

extension DevicesCommand {
    struct Discovered: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List Bluetooth health devices heard advertising that are not assigned to a patient.",
            discussion: """
                The daemon notes the health devices it hears while scanning, with the kind their \
                advertised services make them: bp_monitor (service 1810), glucometer (1808), scale \
                (weight scale 181d, body composition 181b), pulse_oximeter (1822), thermometer (1809). \
                Pair one to a patient with ccmctl devices add ADDRESS --kind KIND --patient PATIENT \
                (or devices assign, for a device already registered).
                """)

        @OptionGroup var global: GlobalOptions

        @Flag(help: "Also those already assigned.")
        var all = false

        @Option(help: "table, json or csv.")
        var format: OutputFormat = .table

        func run() throws {
            let seen = try global.open(.existing).discoveredDevices(unassignedOnly: !all)
            let listing = Listing(
                columns: [
                    "address", "type", "name", "kind", "services", "rssi", "first_seen", "last_seen", "device",
                    "patient",
                ],
                rows: seen.map { d in
                    [
                        .text(d.address), .text(d.addressType), .optional(d.name), .optional(d.kind?.rawValue),
                        .text(d.services),
                        .int(d.rssi), .date(d.firstSeen),
                        .date(d.lastSeen), .optional(d.deviceID), .optional(d.patientID),
                    ]
                },
                emptyMessage: all
                    ? "no health devices heard yet; is ccm-gatewayd running with ble.scan on, and is the device advertising?"
                    : "no unassigned health devices heard; ccmctl devices discovered --all lists the assigned ones too")
            print(listing.render(format))
        }
    }

    struct Sync: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Show each Bluetooth device's sync state: last session, last error, where the next glucose download starts.",
            discussion: """
                A glucose meter is asked for the records after the last one stored. Each session first \
                checks that the meter was not reset: when its newest record is numbered below the last one \
                stored, or its record with that number has another time, the meter's records start a new \
                epoch (audited as glucose.reset; shown here as epoch and last_reset) and every record is \
                downloaded; the new records are stored as new readings, never folded into the old ones. \
                --reset ID makes the next session download every stored record without starting a new \
                epoch (records already stored are folded as duplicates; one whose time is more than 5 \
                minutes from the stored one with its number starts a new epoch).
                """)

        @OptionGroup var global: GlobalOptions

        @Option(help: ArgumentHelp("Forget where this device's glucose download stands.", valueName: "id"))
        var reset: String?

        @Option(help: "table, json or csv.")
        var format: OutputFormat = .table

        func run() throws {
            let database = try global.open(.existing)
            if let reset {
                try database.resetBLESync(device: reset, by: global.actor)
                print("\(reset): the next session downloads every stored record")
                return
            }
            let devices = try database.devices().filter { $0.bleAddress != nil }
            let listing = Listing(
                columns: [
                    "device", "patient", "last_sync", "last_attempt", "sessions", "records", "next_glucose_seq",
                    "epoch", "last_reset",
                    "last_error", "last_error_at",
                ],
                rows: try devices.map { device in
                    let state = try database.bleSyncState(device: device.id)
                    let reset = state.glucoseResetAt.map { at in
                        "meter reset detected \(RFC3339.format(at)): \(state.glucoseResetReason ?? "")"
                    }
                    return [
                        .text(device.id), .optional(device.patientID), .date(state.lastSyncAt),
                        .date(state.lastAttemptAt),
                        .int(state.sessions),
                        .int(state.records), .int(state.lastGlucoseSeq.map { $0 + 1 }), .int(state.glucoseEpoch),
                        .optional(reset),
                        .optional(state.lastError), .date(state.lastErrorAt),
                    ]
                },
                emptyMessage:
                    "no Bluetooth devices; register one with ccmctl devices add ID --kind KIND --address ADDRESS --patient PATIENT"
            )
            print(listing.render(format))
        }
    }
}

/// Tells the operator what replaying a device's quarantined readings did.
func printReplay(_ outcomes: [ItemOutcome]) {
    guard !outcomes.isEmpty else { return }
    var summary = IngestSummary()
    summary.add(outcomes)
    print("replayed \(outcomes.count) quarantined readings: " + summaryLine(summary))
    for outcome in outcomes where outcome.status == .rejected {
        print("  inbox \(outcome.inboxID)/\(outcome.item) rejected: \(outcome.reason ?? "")")
    }
    printAlerts(outcomes.flatMap(\.alerts))
}

/// `5 accepted, 2 rejected, 3 quarantined, 0 duplicate`, with `, 1 failed` only when some failed.
func summaryLine(_ summary: IngestSummary) -> String {
    ItemStatus.allCases.filter { $0 != .failed || summary[$0] > 0 }.map { "\(summary[$0]) \($0.rawValue)" }.joined(
        separator: ", ")
}

/// One line per alert event an operator action caused.
func printAlerts(_ events: [AlertEvent]) {
    for event in events {
        print(
            "alert \(event.alertID) \(event.kind.rawValue): \(event.level.rawValue) \(event.patientID) \(event.rule) \(event.value) (\(event.threshold))"
        )
    }
}
