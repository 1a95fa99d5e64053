import Foundation
import GatewayConfig
import GatewayCore
import GatewayPipeline
import GatewayStore
import GatewayTestSupport
import Synchronization
import Testing

/// A month of fixture traffic for five patients (Fixtures/alerts/month.jsonl, made by
/// make-month.py) through the real pipeline, templates and alert timer, hour by hour, must
/// write exactly the alert log in Fixtures/alerts/month.golden.log. After an intended change,
/// `UPDATE_GOLDEN=1 swift test --filter GoldenMonth` rewrites it; read the diff before committing.
@Suite("A month of alerts", .ownThreads)
struct GoldenMonthTests {
    static let fixtures = repository.appendingPathComponent("Fixtures/alerts")

    final class Clock: Sendable {
        let date = Mutex(Date(timeIntervalSince1970: 0))
        var now: Date { date.withLock { $0 } }
    }

    @Test("month.jsonl produces exactly the golden alert log")
    func month() throws {
        let directory = TemporaryDirectory()
        let database = try GatewayDatabase(path: directory.path + "/gateway.sqlite", mode: .create)
        let logPath = directory.path + "/alerts.log"
        let log = AlertLogOutbox(database: database, log: AlertLogFile(path: logPath, format: .text)) {
            Issue.record("\($0)")
        }
        let clock = Clock()
        let pipeline = Pipeline(
            database: database,
            templates: CarePlanTemplates(try CarePlanLibrary.load(directory: templatesDirectory).templates), sink: log,
            clock: { clock.now })
        let start = RFC3339.parse("2026-03-01T00:00:00-06:00")!
        let setup: [(patient: String, templates: [String], devices: [(String, DeviceKind, String?)])] = [
            ("H1", ["hypertension"], [("A4:C1:38:00:00:01", .bloodPressureMonitor, nil)]),
            ("D1", ["diabetes-t2"], [("C0:26:DA:00:00:02", .glucometer, nil)]),
            (
                "I1", ["diabetes-insulin", "hypertension"],
                [("C0:26:DA:00:00:03", .glucometer, nil), ("A4:C1:38:00:00:03", .bloodPressureMonitor, nil)]
            ),
            ("F1", ["heart-failure"], [("hub2-scale", .scale, "hub2")]),
            ("C1", ["copd"], [("hub2-oximeter", .pulseOximeter, "hub2")]),
        ]
        for (patient, templates, devices) in setup {
            try database.addPatient(
                Patient(id: patient, name: "Golden \(patient)", timeZone: "America/Chicago"), by: "test")
            for (id, kind, hub) in devices {
                try pipeline.addDevice(Device(id: id, kind: kind, patientID: patient, hubID: hub), by: "test")
            }
            try database.setCarePlan(patient: patient, templates: templates, overrides: [], by: "test", now: start)
        }

        let lines = try String(contentsOf: Self.fixtures.appendingPathComponent("month.jsonl"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        let readings = try lines.map { line -> (Date, String) in
            let input = try NativeReadingV1.parse(Data(line.utf8)).get().items[0].get()
            return (try #require(input.measuredAt), line)
        }
        var next = 0
        var accepted = 0
        for hour in 1...(31 * 24) {
            let end = start.addingTimeInterval(Double(hour) * 3600)
            while next < readings.count, readings[next].0 < end {
                let received = readings[next].0.addingTimeInterval(60)
                clock.date.withLock { $0 = received }
                let outcomes = try pipeline.ingest(
                    RawInput(
                        source: "golden", hubID: readings[next].1.contains("hub2-") ? "hub2" : nil,
                        payload: Data(readings[next].1.utf8),
                        receivedAt: received))
                accepted += outcomes.filter { $0.status == .accepted }.count
                next += 1
            }
            clock.date.withLock { $0 = end }
            try pipeline.checkAlerts(now: end)
        }
        #expect(accepted == readings.count)

        let produced = try String(contentsOfFile: logPath, encoding: .utf8)
        let goldenPath = Self.fixtures.appendingPathComponent("month.golden.log").path
        if ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] == "1" {
            try produced.write(toFile: goldenPath, atomically: true, encoding: .utf8)
        }
        let golden = try String(contentsOfFile: goldenPath, encoding: .utf8)
        let producedLines = produced.split(separator: "\n")
        let goldenLines = golden.split(separator: "\n")
        #expect(producedLines.count == goldenLines.count)
        for (index, (a, b)) in zip(producedLines, goldenLines).enumerated() where a != b {
            Issue.record("line \(index + 1) differs:\n  produced \(a)\n  golden   \(b)")
            break
        }
    }
}
