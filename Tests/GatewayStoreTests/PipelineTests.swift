import Foundation
import GRDB
import GatewayCore
import GatewayPipeline
import GatewayTestSupport
import Testing

@testable import GatewayStore

@Suite("The pipeline", .ownThreads)
struct PipelineTests {
    static let bp =
        #"{"v":1,"device":"a4:c1:38:12:34:56","kind":"blood_pressure","measured_at":"2026-03-04T07:42:10-06:00","unit":"mmHg","values":{"systolic":142,"diastolic":91,"pulse":72},"seq":311}"#

    @Test("An accepted reading is stored normalized with both times, its source and its inbox entry")
    func accepted() throws {
        let world = try World()
        let outcomes = try world.ingest(Self.bp)
        #expect(outcomes.map(\.status) == [.accepted])
        #expect(outcomes[0].reason == nil)
        let reading = try #require(try world.database.readings().first)
        #expect(reading.id == outcomes[0].readingID)
        #expect(reading.patientID == "P1")
        #expect(reading.deviceID == "A4:C1:38:12:34:56")
        #expect(reading.values == [.systolic: 142, .diastolic: 91, .pulse: 72])
        #expect(reading.measuredAt == RFC3339.parse("2026-03-04T13:42:10Z"))
        #expect(reading.receivedAt == World.received)
        #expect(reading.effectiveAt == reading.measuredAt)
        #expect(reading.source == "test")
        let entry = try #require(try world.database.inbox().first)
        #expect(entry.status == "accepted")
        #expect(entry.payload == Data(Self.bp.utf8))
    }

    @Test("The same reading twice is stored once; the second is a duplicate naming the first")
    func duplicate() throws {
        let world = try World()
        let first = try world.ingest(Self.bp)
        // Another spelling of the same device and the same instant in another offset.
        let again = try world.ingest(
            Self.bp.replacingOccurrences(of: "a4:c1", with: "A4:C1").replacingOccurrences(
                of: "07:42:10-06:00", with: "13:42:10Z"))
        #expect(again.map(\.status) == [.duplicate])
        #expect(again[0].readingID == first[0].readingID)
        #expect(
            again[0].reason
                == "same reading as reading \(first[0].readingID!) (A4:C1:38:12:34:56|blood_pressure|at:2026-03-04T13:42:10Z)"
        )
        #expect(try world.count("SELECT COUNT(*) FROM reading") == 1)
        #expect(try world.count("SELECT COUNT(*) FROM inbox") == 2)
    }

    @Test(
        "Stored glucose records downloaded again fold by sequence number; the same number with another time is a reset meter's new record"
    )
    func glucoseSequence() throws {
        let world = try World()
        let record =
            #"{"v":1,"device":"C0:26:DA:01:02:03","kind":"glucose","measured_at":"2026-03-04T06:55:00-06:00","unit":"mmol/L","values":{"glucose":7.4},"meal":"fasting","seq":2}"#
        #expect(try world.ingest(record).map(\.status) == [.accepted])
        // The same record again, its time in another offset: the same reading.
        #expect(
            try world.ingest(record.replacingOccurrences(of: "2026-03-04T06:55:00-06:00", with: "2026-03-04T12:55:00Z"))
                .map(\.status) == [
                    .duplicate
                ])
        // Same sequence number, another time: the meter was reset and numbers its records anew.
        // Folding it would lose a reading; it starts the meter's record epoch 1 (audited).
        let reset = try world.ingest(
            record.replacingOccurrences(of: "2026-03-04T06:55", with: "2026-03-05T06:55").replacingOccurrences(
                of: "7.4", with: "11.2"))
        #expect(reset.map(\.status) == [.accepted])
        #expect(
            reset[0].reason?.hasPrefix("meter reset detected (sequence 2 already stored with another time)") == true)
        #expect(try world.database.readings(kind: .glucose).map(\.epoch) == [0, 1])
        #expect(try world.count("SELECT COUNT(*) FROM audit WHERE action = 'glucose.reset'") == 1)
        // The new record downloaded again folds under its epoch.
        #expect(
            try world.ingest(
                record.replacingOccurrences(of: "2026-03-04T06:55", with: "2026-03-05T06:55").replacingOccurrences(
                    of: "7.4", with: "11.2")
            ).map(\.status) == [.duplicate])
        let reading = try #require(try world.database.readings(kind: .glucose).first)
        #expect(reading.values[.glucose] == 133.3184)
        #expect(reading.originalValues[.glucose] == 7.4)
        #expect(reading.originalUnit == .millimolesPerLiter)
        #expect(reading.meal == .fasting)
    }

    @Test("Unknown device: quarantined; registering it for a patient replays it into a reading")
    func quarantineThenRegister() throws {
        let world = try World()
        let json =
            #"{"v":1,"device":"hub7-oxi-1","kind":"spo2","measured_at":"2026-03-04T06:31:00-06:00","unit":"%","values":{"spo2":95,"pulse":77}}"#
        let outcomes = try world.ingest(json)
        #expect(outcomes.map(\.status) == [.quarantined])
        #expect(outcomes[0].code == "unknown_device")
        #expect(
            outcomes[0].reason
                == "unknown device hub7-oxi-1; register it with ccmctl devices add hub7-oxi-1 --kind KIND --patient PATIENT, which replays its quarantined readings"
        )
        #expect(try world.database.readings().isEmpty)
        let replayed = try world.pipeline.addDevice(
            Device(id: "hub7-oxi-1", kind: .pulseOximeter, patientID: "P2"), by: "nurse")
        #expect(replayed.map(\.status) == [.accepted])
        let reading = try #require(try world.database.readings().first)
        #expect(reading.patientID == "P2")
        #expect(reading.receivedAt == World.received)
        #expect(try world.database.inbox(status: "quarantined").isEmpty)
        #expect(try world.database.auditLog(entity: "inbox").map(\.action) == ["inbox.replay"])
    }

    @Test("Unassigned device: quarantined; assigning it replays; unassigning quarantines the next one")
    func quarantineThenAssign() throws {
        let world = try World()
        try world.pipeline.addDevice(Device(id: "hub7-thermo-1", kind: .thermometer), by: "nurse")
        let json =
            #"{"v":1,"device":"hub7-thermo-1","kind":"temperature","measured_at":"2026-03-04T06:32:00-06:00","unit":"[degF]","values":{"temperature":99.5}}"#
        let outcomes = try world.ingest(json)
        #expect(outcomes.map(\.code) == ["unassigned_device"])
        #expect(
            outcomes[0].reason
                == "device hub7-thermo-1 is not assigned to a patient; assign it with ccmctl devices assign hub7-thermo-1 --patient PATIENT, which replays its quarantined readings"
        )
        let replayed = try world.pipeline.assignDevice("hub7-thermo-1", to: "P2", by: "nurse")
        #expect(replayed.map(\.status) == [.accepted])
        #expect(try world.database.readings().first?.values[.temperature] == 37.5)
        try world.database.unassignDevice("hub7-thermo-1", by: "nurse")
        #expect(try world.ingest(json.replacingOccurrences(of: "06:32", with: "07:32")).map(\.status) == [.quarantined])
        let actions = try world.database.auditLog(entity: "device", id: "hub7-thermo-1").map(\.action)
        #expect(actions == ["device.add", "device.assign", "device.unassign"])
    }

    @Test("A hub cannot publish for another hub's device: rejected and audited")
    func wrongHub() throws {
        let world = try World()
        let json =
            #"{"v":1,"device":"hub7-scale-1","kind":"weight","measured_at":"2026-03-04T06:30:00-06:00","unit":"lb","values":{"weight":201.4}}"#
        try world.pipeline.addHub("hub9", by: "test")
        let outcomes = try world.ingest(json, hub: "hub9")
        #expect(outcomes.map(\.status) == [.rejected])
        #expect(
            outcomes[0].reason
                == "device: device hub7-scale-1 is assigned to hub hub7, not hub hub9; a hub cannot publish for another hub's devices (if the device moved, run ccmctl devices assign hub7-scale-1 --patient P2 --hub hub9)"
        )
        let audit = try #require(try world.database.auditLog(entity: "device", id: "hub7-scale-1").last)
        #expect(audit.action == "reading.wrong_hub")
        #expect(audit.actor == "hub:hub9")
        // From its own hub it is accepted, converted exactly.
        #expect(try world.ingest(json, hub: "hub7").map(\.status) == [.accepted])
        #expect(try world.database.readings().first?.values[.weight] == 91.353503318)
    }

    @Test("An array is decided reading by reading")
    func batch() throws {
        let world = try World()
        let json = """
            [\(Self.bp), {"v":1,"device":"A4:C1:38:12:34:56","kind":"blood_pressure","measured_at":"2026-03-04T08:00:00-06:00","unit":"mmHg","values":{"systolic":350,"diastolic":91}}, {"v":1,"device":"nobody","kind":"pulse","unit":"/min","values":{"pulse":60},"id":"m-3"}]
            """
        let outcomes = try world.ingest(json)
        #expect(outcomes.map(\.status) == [.accepted, .rejected, .quarantined])
        #expect(outcomes.map(\.item) == [0, 1, 2])
        #expect(
            outcomes[1].reason
                == "[1].values.systolic: 350 mmHg is outside the plausible range 40–300 mmHg; check the device and the unit, then measure again"
        )
    }

    @Test("A payload over the limit is rejected whole, and kept")
    func oversized() throws {
        let world = try World(maxPayloadBytes: 1024)
        let padded = Self.bp.replacingOccurrences(
            of: "\"seq\":311", with: "\"seq\":311\(String(repeating: " ", count: 1024))")
        let outcomes = try world.ingest(padded)
        #expect(outcomes.map(\.code) == ["too_large"])
        #expect(
            outcomes[0].reason
                == "payload of \(padded.utf8.count) bytes is over the 1024-byte limit; split it into smaller messages")
        #expect(try world.database.inbox(status: "rejected").first?.payload.count == padded.utf8.count)
    }

    @Test("A source's inputs are stored and decided in one commit: one fsync for both, nothing left pending")
    func receiveAndDecideCommitsOnce() throws {
        let world = try World()
        let commits = CommitCounter()
        try world.database.pool.write { db in db.add(transactionObserver: commits) }
        let before = commits.count
        let inputs = [Self.bp, Self.bp.replacingOccurrences(of: "07:42", with: "08:42"), "not json"].map {
            RawInput(source: "test", payload: Data($0.utf8), receivedAt: World.received)
        }
        let received = try world.pipeline.receiveAndDecide(inputs)
        #expect(commits.count - before == 1)
        #expect(try received.decision.get().map(\.status) == [.accepted, .accepted, .rejected])
        #expect(try world.pipeline.pendingCount() == 0)
        #expect(try world.database.inbox().map(\.inboxID).sorted() == received.inboxIDs)
    }

    @Test("Inputs received but not decided before a crash are decided on the next start, once")
    func pendingAfterCrash() throws {
        let world = try World()
        let id = try world.pipeline.receive(
            RawInput(source: "test", payload: Data(Self.bp.utf8), receivedAt: World.received))
        #expect(try world.database.inbox(status: "pending").map(\.inboxID) == [id])
        // A new process opens the same file.
        let restarted = Pipeline(database: try GatewayDatabase(path: world.database.path))
        #expect(try restarted.processPending().map(\.status) == [.accepted])
        #expect(try restarted.processPending().isEmpty)
        #expect(try restarted.process(inboxID: id).isEmpty)
        #expect(try world.count("SELECT COUNT(*) FROM reading") == 1)
    }

    @Test("A far-future device time is accepted, flagged, with the note stored")
    func farFuture() throws {
        let world = try World()
        let json = Self.bp.replacingOccurrences(of: "2026-03-04T07:42:10-06:00", with: "2031-03-04T14:00:00Z")
        let outcomes = try world.ingest(json)
        #expect(outcomes.map(\.status) == [.accepted])
        #expect(
            outcomes[0].reason
                == "measured_at 2031-03-04T14:00:00Z is 2629440 minutes after received_at; device clock suspect: evaluated on its own at received_at, left out of rules over a time window or the last N readings"
        )
        let reading = try #require(try world.database.readings().first)
        #expect(reading.clockSuspect)
        #expect(reading.effectiveAt == World.received)
        #expect(try world.database.inbox().first?.reason == outcomes[0].reason)
    }

    @Test("Every invalid fixture is rejected with the exact reason stored beside it", arguments: try invalidFixtures())
    func invalidFixture(_ name: String) throws {
        let world = try World()
        let payload = try Data(contentsOf: fixtures.appendingPathComponent("native/invalid/\(name).json"))
        let expected = try String(
            contentsOf: fixtures.appendingPathComponent("native/invalid/\(name).reason"), encoding: .utf8
        )
        .trimmingCharacters(in: .newlines)
        _ = try world.pipeline.ingest(RawInput(source: "fixture", payload: payload, receivedAt: World.received))
        let stored = try world.database.inbox(status: "rejected")
        #expect(stored.count == 1)
        #expect(stored.first?.reason == expected)
        #expect(stored.first?.payload == payload)
    }

    @Test("Every valid fixture is accepted", arguments: try validFixtures())
    func validFixture(_ name: String) throws {
        let world = try World()
        for device in ["hub7-oxi-1", "hub7-thermo-1"] {
            try world.pipeline.addDevice(Device(id: device, kind: .other, patientID: "P2"), by: "test")
        }
        let payload = try Data(contentsOf: fixtures.appendingPathComponent("native/valid/\(name).json"))
        let outcomes = try world.pipeline.ingest(
            RawInput(source: "fixture", payload: payload, receivedAt: World.received))
        #expect(!outcomes.isEmpty)
        #expect(outcomes.allSatisfy { $0.status == .accepted }, "\(outcomes.map { $0.reason ?? "" })")
    }

    static func invalidFixtures() throws -> [String] { try names(in: "native/invalid", ext: "reason") }
    static func validFixtures() throws -> [String] { try names(in: "native/valid", ext: "json") }

    static func names(in folder: String, ext: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: fixtures.appendingPathComponent(folder).path)
            .filter { $0.hasSuffix(".\(ext)") }.map { String($0.dropLast(ext.count + 1)) }.sorted()
    }
}
