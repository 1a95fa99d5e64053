import Foundation
import GatewayCore
import GatewayPipeline
import GatewayStore

/// The daemon's metrics in the Prometheus text format, written to a file for node_exporter's
/// textfile collector (and read by `ccmctl status`).
///
/// A file rather than an HTTP port: the daemon opens no listening socket (nothing more to
/// harden or authenticate on a box that holds patient data), node_exporter is what a Raspberry
/// Pi fleet usually runs already, and the file is replaced atomically (rename), so a reader
/// never sees half of it.
struct MetricsFile: Sendable {
    let path: String
    let started: Date

    struct Snapshot: Sendable {
        var bySource: [String: [String: Int]]
        var lastBySource: [String: Date]
        var inFlight: Int
        var health: GatewayDatabase.Health?
        /// `nil` when MQTT is off.
        var mqttConnected: Bool?
        /// BLE: whether it runs (`nil`: off or no adapter), sessions and failed sessions.
        var bleAvailable: Bool? = nil
        var bleSessions = 0
        var bleSessionFailures = 0
        /// False in the last file, written as the daemon stops.
        var up: Bool
        /// Alert events committed and not yet delivered, by sink (those this daemon serves).
        var alertsUndelivered: [AlertSinkName: Int]? = nil
    }

    func render(_ s: Snapshot) -> String {
        var lines: [String] = []
        func metric(_ name: String, _ type: String, _ help: String, _ samples: [(String, Double)]) {
            lines.append("# HELP ccm_gateway_\(name) \(help)")
            lines.append("# TYPE ccm_gateway_\(name) \(type)")
            for (labels, value) in samples { lines.append("ccm_gateway_\(name)\(labels) \(formatted(value))") }
        }
        metric(
            "inputs_total", "counter", "Inputs decided since the daemon started, by source and outcome.",
            s.bySource.keys.sorted().flatMap { source in
                s.bySource[source]!.keys.sorted().map { status in
                    ("{source=\"\(source)\",status=\"\(status)\"}", Double(s.bySource[source]![status]!))
                }
            })
        metric(
            "last_input_timestamp_seconds", "gauge", "When an input from each source was last decided (Unix time).",
            s.lastBySource.keys.sorted().map { ("{source=\"\($0)\"}", s.lastBySource[$0]!.timeIntervalSince1970) })
        metric(
            "inputs_in_flight", "gauge", "Inputs a source has in hand or has stored, not yet decided.",
            [("", Double(s.inFlight))])
        if let health = s.health {
            metric(
                "inbox_pending", "gauge", "Inputs in the inbox waiting for the pipeline.",
                [("", Double(health.pending))])
            metric(
                "inbox_oldest_pending_seconds", "gauge",
                "Age of the oldest input waiting for the pipeline (inbox lag).",
                [("", health.oldestPending.map { Date().timeIntervalSince($0) } ?? 0)])
            metric(
                "alerts_open", "gauge", "Alerts not resolved, by level.",
                ["warning", "urgent"].map { ("{level=\"\($0)\"}", Double(health.openAlerts[$0] ?? 0)) })
        }
        if let waiting = s.alertsUndelivered {
            metric(
                "alert_events_undelivered", "gauge",
                "Alert events committed and not yet delivered, by sink (log, journal, mqtt).",
                AlertSinkName.allCases.filter { waiting[$0] != nil }.map {
                    ("{sink=\"\($0.rawValue)\"}", Double(waiting[$0]!))
                })
        }
        metric("mqtt_enabled", "gauge", "1 when the MQTT source is configured.", [("", s.mqttConnected == nil ? 0 : 1)])
        metric("mqtt_connected", "gauge", "1 while connected to the broker.", [("", s.mqttConnected == true ? 1 : 0)])
        metric(
            "ble_available", "gauge", "1 when BLE is enabled and an adapter is usable.",
            [("", s.bleAvailable == true ? 1 : 0)])
        metric(
            "ble_sessions_total", "counter", "BLE sessions (connection attempts) since the daemon started.",
            [("", Double(s.bleSessions))])
        metric(
            "ble_session_failures_total", "counter", "BLE sessions that failed to connect or ended with an error.",
            [("", Double(s.bleSessionFailures))])
        metric(
            "start_time_seconds", "gauge", "When the daemon started (Unix time).", [("", started.timeIntervalSince1970)]
        )
        metric("up", "gauge", "1 while the daemon runs; 0 in the file it leaves when it stops.", [("", s.up ? 1 : 0)])
        return lines.joined(separator: "\n") + "\n"
    }

    private func formatted(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    /// Writes the file atomically: a temporary file beside it, then a rename.
    func write(_ snapshot: Snapshot) throws {
        let temporary = path + ".tmp"
        try Data(render(snapshot).utf8).write(to: URL(fileURLWithPath: temporary))
        _ = rename(temporary, path)
    }
}
