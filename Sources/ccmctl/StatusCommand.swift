import ArgumentParser
import Foundation
import GatewayConfig
import GatewayCore
import GatewayPipeline
import GatewayStore

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract:
            "The gateway at a glance: the daemon, the broker, BLE, the inbox, open and undelivered alerts, the last input from each source.",
        discussion: """
            The daemon's side comes from its metrics file (metrics.textfile, rewritten every 15 s); \
            the rest from the database.
            """)

    @OptionGroup var global: GlobalOptions

    @Option(help: "table or json.")
    var format: OutputFormat = .table

    func run() throws {
        let config = try global.loadConfig()
        let times = LocalTimes(zone: config.practice.zone)
        let database = try global.open(.existing)
        let health = try database.health(lastInputs: true)
        let today = try database.statusCounts(today: times.timeZone)
        let waiting = try database.alertEventsWaiting()
        let undelivered: [AlertSinkName] = config.mqtt.enabled ? [.log, .journal, .mqtt] : [.log, .journal]

        // The daemon: alive when its metrics file is fresh.
        var metrics: [String: Double] = [:]
        var age: Double?
        if let text = try? String(contentsOfFile: config.metrics.textfile, encoding: .utf8),
            let modified = (try? FileManager.default.attributesOfItem(atPath: config.metrics.textfile))?[
                .modificationDate] as? Date
        {
            age = Date().timeIntervalSince(modified)
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                let parts = line.split(separator: " ")
                if parts.count == 2, let value = Double(parts[1]) { metrics[String(parts[0])] = value }
            }
        }
        let running = (age.map { $0 < 60 } ?? false) && metrics["ccm_gateway_up"] == 1
        let daemon: String
        if let age, let started = metrics["ccm_gateway_start_time_seconds"] {
            let since = times.cell(Date(timeIntervalSince1970: started), .table).plain
            daemon =
                running
                ? "running since \(since)"
                : metrics["ccm_gateway_up"] == 0
                    ? "stopped (it ran from \(since))"
                    : "not reporting (last report \(Int(age)) s ago; started \(since))"
        } else {
            daemon = "not reporting (no metrics file at \(config.metrics.textfile))"
        }
        let mqtt =
            metrics["ccm_gateway_mqtt_enabled"] == 0
            ? "off"
            : !running ? "unknown" : metrics["ccm_gateway_mqtt_connected"] == 1 ? "connected" : "disconnected"
        let ble: String
        if !config.ble.enabled {
            ble = "off"
        } else if !running {
            ble = "unknown"
        } else if metrics["ccm_gateway_ble_available"] != 1 {
            ble = "unavailable (no Bluetooth adapter; see the daemon's log)"
        } else {
            let sessions = Int(metrics["ccm_gateway_ble_sessions_total"] ?? 0),
                failed = Int(metrics["ccm_gateway_ble_session_failures_total"] ?? 0)
            ble = "on, \(sessions) sessions, \(failed) failed (ccmctl devices sync)"
        }
        // The adapter as the daemon last recorded it (ccmctl does not talk to the kernel).
        let adapter: Cell
        if let state = try database.adapterState() {
            adapter = .object(
                [
                    ("name", .text(state.adapter ?? "none")), ("address", .text(state.address ?? "-")),
                    ("powered", .bool(state.powered)),
                    ("settings", .text(state.settings)), ("owner", .text(state.owner)),
                    ("bluetoothd", .bool(state.owner == "bluetoothd")),
                    ("bonds", .int(try database.bondSummaries().count)),
                    ("seen", times.cell(state.updatedAt, format)),
                ] + (state.detail.map { [("detail", Cell.text($0))] } ?? []))
        } else {
            adapter = .text("not seen yet (the daemon records it when BLE starts)")
        }
        let rows: [(String, Cell)] = [
            ("daemon", .text(daemon)),
            ("mqtt", .text(mqtt)),
            ("ble", .text(ble)),
            ("bluetooth_adapter", adapter),
            ("readings_today", .int(today.readings)),
            ("inbox_pending", .int(health.pending)),
            ("inbox_oldest_pending", times.cell(health.oldestPending, format)),
            ("alerts_open", .object(["urgent", "warning"].map { ($0, Cell.int(health.openAlerts[$0] ?? 0)) })),
            // Alert events committed but not yet delivered to a sink (an unwritable log, a broker away).
            ("alerts_undelivered", .object(undelivered.map { ($0.rawValue, Cell.int(waiting[$0] ?? 0)) })),
            (
                "last_input",
                .object(health.lastInput.keys.sorted().map { ($0, times.cell(health.lastInput[$0], format)) })
            ),
        ]
        if format == .json {
            print(Listing.json(Cell.object(rows)))
            return
        }
        let width = rows.map(\.0.count).max() ?? 0
        for (key, value) in rows {
            print(
                key.padding(toLength: width, withPad: " ", startingAt: 0) + "  "
                    + (value.plain.isEmpty ? "-" : value.plain))
        }
    }
}
