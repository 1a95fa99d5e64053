import Foundation
import GRDB
import GatewayCore
import GatewayPipeline
import GatewayTestSupport
import Testing

@testable import GatewayStore

@Suite("Registered hubs and staff", .ownThreads)
struct HubsTests {
    static func time(_ staff: String = "nurse.kim", role: String = "clinical_staff", id: String = "t1") -> String {
        #"{"v":1,"patient":"P1","start":"2026-03-04T10:05:00-06:00","minutes":12,"staff":"\#(staff)","role":"\#(role)","program":"ccm","activity":"call","id":"\#(id)"}"#
    }

    func timeInput(_ json: String, hub: String?) -> RawInput {
        RawInput(
            source: "mqtt:ccm/v1/hub/\(hub ?? "-")/time", format: .timeEntryV1, hubID: hub, payload: Data(json.utf8))
    }

    @Test(
        "An unregistered hub's reading is quarantined, not stored; registering the hub replays it; a device fix alone does not"
    )
    func unknownHubQuarantined() throws {
        let world = try World()
        let outcomes = try world.ingest(World.bp, hub: "h5")
        #expect(outcomes.map(\.status) == [.quarantined])
        #expect(outcomes.first?.code == "unknown_hub")
        #expect(outcomes.first?.deviceID == "A4:C1:38:12:34:56", "the claimed device is shown in the inbox")
        #expect(
            outcomes.first?.reason
                == "unknown hub h5; nothing from it is stored as a reading or time until it is registered: ccmctl hubs add h5, which replays its quarantined inputs"
        )
        #expect(try world.count("SELECT COUNT(*) FROM reading") == 0)
        // Re-assigning the device replays device quarantine only, never a hub's.
        #expect(try world.pipeline.assignDevice("A4:C1:38:12:34:56", to: "P1", by: "test").isEmpty)
        #expect(try world.count("SELECT COUNT(*) FROM reading") == 0)

        let replayed = try world.pipeline.addHub("h5", patients: ["P1"], model: "Acme Hub 2", by: "ops")
        #expect(replayed.map(\.status) == [.accepted])
        #expect(try world.count("SELECT COUNT(*) FROM reading") == 1)
        let hub = try #require(try world.database.hub("h5"))
        #expect(hub.patients == ["P1"] && hub.model == "Acme Hub 2" && hub.enabled)
        #expect(try world.database.auditLog(entity: "hub", id: "h5").map(\.action) == ["hub.add"])
        #expect(try world.database.auditLog(entity: "inbox").last?.action == "inbox.replay")
    }

    @Test("A disabled hub's inputs are rejected with the reason; a hub bound to devices cannot be removed")
    func disabledHub() throws {
        let world = try World()
        try world.database.setHubEnabled("hub7", false, by: "ops")
        let json =
            #"{"v":1,"device":"hub7-scale-1","kind":"weight","measured_at":"2026-03-04T06:30:00-06:00","unit":"kg","values":{"weight":91.2}}"#
        let outcomes = try world.ingest(json, hub: "hub7")
        #expect(outcomes.map(\.status) == [.rejected])
        #expect(outcomes.first?.code == "hub_disabled")
        #expect(
            outcomes.first?.reason
                == "hub hub7 is disabled (by ops); its inputs are not taken; if that was a mistake, run ccmctl hubs enable hub7"
        )
        let time = try world.pipeline.ingest(timeInput(Self.time(), hub: "hub7"))
        #expect(time.map(\.code) == ["hub_disabled"])
        #expect(try world.count("SELECT COUNT(*) FROM reading") == 0)
        #expect(try world.count("SELECT COUNT(*) FROM time_entry") == 0)
        #expect(throws: StoreError.self) { try world.database.removeHub("hub7", by: "ops") }
        try world.database.setHubEnabled("hub7", true, by: "ops")
        #expect(
            try world.ingest(json.replacingOccurrences(of: "91.2", with: "91.3"), hub: "hub7").map(\.status) == [
                .accepted
            ])
        #expect(
            try world.database.auditLog(entity: "hub", id: "hub7").map(\.action) == [
                "hub.add", "hub.disable", "hub.enable",
            ])
    }

    @Test(
        "Time names registered, enabled staff in their role, from a hub registered for the patient; an entry id counts once per patient"
    )
    func timeRules() throws {
        let world = try World()
        try world.pipeline.addHub("app1", patients: ["P1"], by: "ops")
        try world.pipeline.addHub("app2", patients: ["P1"], by: "ops")
        try world.pipeline.addHub("app3", by: "ops")
        try world.database.addStaff("dr.lee", role: .physician, by: "ops")
        try world.database.addStaff("nurse.old", role: .clinicalStaff, by: "ops")
        try world.database.disableStaff("nurse.old", by: "ops")
        let cases: [(String, String?, String)] = [
            (
                Self.time("mallory", id: "a"), "app1",
                "staff: unknown staff mallory; only registered staff's time bills: register them with ccmctl staff add mallory --role clinical_staff"
            ),
            (
                Self.time("nurse.old", id: "b"), "app1",
                "staff: staff nurse.old is disabled; their time does not bill (ask the practice administrator if this is wrong)"
            ),
            (
                Self.time("dr.lee", id: "c"), "app1",
                "role: staff dr.lee is registered as physician, not clinical_staff; record the time with role physician"
            ),
            (
                Self.time(id: "d"), "app3",
                "patient: hub app3 is not registered for patient P1; time is taken only from a hub registered for the patient: ccmctl hubs add app3 --patient P1"
            ),
        ]
        for (json, hub, reason) in cases {
            let outcome = try world.pipeline.ingest(timeInput(json, hub: hub))
            #expect(outcome.map(\.status) == [.rejected])
            #expect(outcome.first?.reason == reason)
        }
        #expect(try world.pipeline.ingest(timeInput(Self.time(id: "e"), hub: "app1")).map(\.status) == [.accepted])
        #expect(
            try world.pipeline.ingest(timeInput(Self.time(id: "e"), hub: "app2")).map(\.status) == [.duplicate],
            "same id, other hub")
        #expect(
            try world.pipeline.ingest(timeInput(Self.time("dr.lee", role: "physician", id: "f"), hub: "app2")).map(
                \.status) == [.accepted])
        #expect(try world.count("SELECT COUNT(*) FROM time_entry") == 2)

        // ccmctl time add and alert acknowledgements check staff the same way.
        let entry = TimeEntryInput(
            patientID: "P1", start: World.received, minutes: 5, staff: "mallory", role: .clinicalStaff, program: .ccm,
            activity: .review,
            interactive: false, note: nil)
        #expect(throws: StoreError.self) { try world.database.addTimeEntry(entry, source: "ccmctl", by: "mallory") }
        var physician = entry
        physician.staff = "nurse.kim"
        physician.role = .physician
        #expect(throws: StoreError.self) {
            try world.database.addTimeEntry(physician, source: "ccmctl", by: "nurse.kim")
        }
        #expect(try world.count("SELECT COUNT(*) FROM time_entry") == 2)
    }

    @Test("Upgrading registers the hubs devices name and makes time entry ids unique per patient")
    func migration() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("gateway.sqlite")
        let queue = try DatabaseQueue(path: path)
        try Schema.migrator.migrate(queue, upTo: "2026-11-30-alert-outbox")
        try queue.write { db in
            try db.execute(
                sql: """
                    INSERT INTO patient (id, time_zone, created_at, updated_at) VALUES ('P1', 'UTC', '2026-03-01', '2026-03-01');
                    INSERT INTO device (id, kind, patient_id, hub_id, created_at) VALUES ('hub7-scale-1', 'scale', 'P1', 'hub7', '2026-03-01');
                    INSERT INTO device (id, kind, patient_id, created_at) VALUES ('cuff-1', 'bp_monitor', 'P1', '2026-03-01');
                    INSERT INTO time_entry (patient_id, start, minutes, staff, role, program, activity, interactive, source, dedup_key, created_at)
                    VALUES ('P1', '2026-03-04', 12, 'nurse.kim', 'clinical_staff', 'ccm', 'call', 1, 'mqtt:a', 'careapp|id:app-1', '2026-03-04'),
                           ('P1', '2026-03-04', 12, 'nurse.kim', 'clinical_staff', 'ccm', 'call', 1, 'mqtt:b', 'other|id:app-1', '2026-03-04');
                    """)
        }
        try queue.close()
        let database = try GatewayDatabase(path: path)
        #expect(try database.hubs().map(\.id) == ["hub7"])
        let keys = try database.read { try String.fetchAll($0, sql: "SELECT dedup_key FROM time_entry ORDER BY id") }
        #expect(keys == ["P1|id:app-1", "other|id:app-1"], "the copy that came through a second hub keeps its old key")
    }
}
