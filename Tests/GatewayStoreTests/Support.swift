import Foundation
import GRDB
import GatewayCore
import GatewayPipeline
@_exported import GatewayTestSupport
import Synchronization

@testable import GatewayStore

/// Keeps every alert event a pipeline delivers.
final class RecordingSink: AlertSink {
    private let store = Mutex<[AlertEvent]>([])
    func deliver(_ events: [AlertEvent]) { store.withLock { $0 += events } }
    var events: [AlertEvent] { store.withLock { $0 } }
    /// `kind level rule value` per event, for compact assertions.
    var lines: [String] { events.map { "\($0.kind.rawValue) \($0.level.rawValue) \($0.rule) \($0.value)" } }
    func clear() { store.withLock { $0.removeAll() } }
}

/// The gateway clock, set by the test.
final class ManualClock: Sendable {
    private let date: Mutex<Date>
    init(_ date: Date) { self.date = Mutex(date) }
    var now: Date { date.withLock { $0 } }
    func set(_ new: Date) { date.withLock { $0 = new } }
}

/// The repository's `Fixtures/` folder.
let fixtures = TestPaths.fixtures

/// A database with patient P1 (BP cuff A4:C1:38:12:34:56, glucometer C0:26:DA:01:02:03) and
/// patient P2 (scale hub7-scale-1 on hub hub7).
struct World {
    let directory = TemporaryDirectory()
    let database: GatewayDatabase
    let pipeline: Pipeline
    static let received = RFC3339.parse("2026-03-04T14:00:00Z")!

    let sink = RecordingSink()
    let clock = ManualClock(World.received)

    init(maxPayloadBytes: Int = 64 * 1024, templates: [CarePlanTemplate] = []) throws {
        database = try GatewayDatabase(path: directory.file("gateway.sqlite"), mode: .create)
        let clock = self.clock
        pipeline = Pipeline(
            database: database, maxPayloadBytes: maxPayloadBytes,
            templates: CarePlanTemplates(Dictionary(uniqueKeysWithValues: templates.map { ($0.name, $0) })), sink: sink,
            clock: { clock.now })
        try database.addPatient(
            Patient(id: "P1", name: "Ada Test", timeZone: "America/Chicago", conditions: ["I10", "E11.9"]), by: "test")
        try database.addPatient(Patient(id: "P2", name: "Bob Test", timeZone: "America/Chicago"), by: "test")
        try pipeline.addDevice(
            Device(id: "A4:C1:38:12:34:56", kind: .bloodPressureMonitor, patientID: "P1"), by: "test")
        try pipeline.addDevice(Device(id: "C0:26:DA:01:02:03", kind: .glucometer, patientID: "P1"), by: "test")
        try pipeline.addDevice(Device(id: "hub7-scale-1", kind: .scale, patientID: "P2", hubID: "hub7"), by: "test")
        try database.addStaff("nurse.kim", role: .clinicalStaff, by: "test")
    }

    func ingest(_ json: String, hub: String? = nil, received: Date = World.received) throws -> [ItemOutcome] {
        try pipeline.ingest(RawInput(source: "test", hubID: hub, payload: Data(json.utf8), receivedAt: received))
    }

    func count(_ sql: String) throws -> Int {
        try database.read { try Int.fetchOne($0, sql: sql) ?? 0 }
    }
}
