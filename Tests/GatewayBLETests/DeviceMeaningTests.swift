import Foundation
import GatewayCore
import GatewayStore
import Testing

@testable import GatewayBLE

/// Byte builders for the status, user and sample fields (`ble-health-profiles.md` §4.1, §5.1),
/// written apart from the decoders they test.
extension GATTBytes {
    /// A Glucose Measurement in mg/dL (kg/L on the wire) at `time`, with its Type-Sample Location
    /// byte and, when given, a Sensor Status Annunciation.
    static func glucose(_ sequence: Int, mgdL: Int, at time: [UInt8], typeLocation: UInt8 = 0x11, status: UInt16? = nil) -> SimulatedPeripheral.GlucoseRecord {
        let flags: UInt8 = 0x02 | (status == nil ? 0 : 0x08)
        var value = [flags] + le(UInt16(sequence)) + time + sfloat(mgdL, -5) + [typeLocation]
        if let status { value += le(status) }
        return SimulatedPeripheral.GlucoseRecord(sequence: sequence, measurement: value, context: nil)
    }

    /// A Blood Pressure Measurement in mmHg with time, pulse, and optionally user id and status.
    static func bloodPressure(_ systolic: Int, _ diastolic: Int, at time: [UInt8], user: UInt8? = nil, status: UInt16? = nil) -> [UInt8] {
        let flags: UInt8 = 0x06 | (user == nil ? 0 : 0x08) | (status == nil ? 0 : 0x10)
        var value = [flags] + sfloat(systolic, 0) + sfloat(diastolic, 0) + sfloat((systolic + 2 * diastolic) / 3, 0) + time + sfloat(72, 0)
        if let user { value.append(user) }
        if let status { value += le(status) }
        return value
    }
}

@Suite("What a device says: resets, users, status flags, control solution, HI/LO")
struct DeviceMeaningTests {
    /// Records 1…`count` of October 2026, 95 + n mg/dL.
    static func october(_ count: Int) -> [SimulatedPeripheral.GlucoseRecord] {
        (1...count).map { GATTBytes.glucose($0, mgdL: 95 + $0, at: GATTBytes.dateTime(2026, 10, 1 + $0 % 28, 8, 0)) }
    }

    /// A reset meter's new records: numbered from 1 again, November 2026, 200 + n mg/dL.
    static func november(_ count: Int) -> [SimulatedPeripheral.GlucoseRecord] {
        (1...count).map { GATTBytes.glucose($0, mgdL: 200 + $0, at: GATTBytes.dateTime(2026, 11, $0, 9, 30)) }
    }

    func audits(_ world: BLEWorld, _ action: String) throws -> Int {
        try world.database.auditLog().filter { $0.action == action }.count
    }

    @Test("A reset meter (newest record numbered below the last stored): said, audited, every record downloaded and stored once")
    func resetBelowLast() throws {
        let world = try BLEWorld()
        let meter = SimulatedPeripheral.meter(records: Self.october(20))
        _ = try world.session(meter, device: BLEWorld.meter)
        #expect(try world.readings(.glucose).count == 20)

        meter.glucoseRecords = Self.november(5)
        let summary = try world.session(meter, device: BLEWorld.meter)
        let reset = try #require(summary.report.reset)
        #expect(reset == "the meter's newest record is sequence 5, below the last one stored (20): the meter was reset or its sequence numbers wrapped past 65535")
        #expect(summary.lines.contains("METER RESET DETECTED: \(reset)"))
        #expect(summary.lines.contains("  its records are numbered anew (epoch 1); every record on the meter is downloaded, none is folded into the old ones"))
        #expect(summary.report.requestedFrom == nil)
        #expect(meter.racpRequests.suffix(3) == [[0x01, 0x06], [0x04, 0x01], [0x01, 0x01]])
        #expect(summary.outcomes.map(\.status) == Array(repeating: .accepted, count: 5))
        #expect(summary.lines.contains("result: complete"))

        let readings = try world.readings(.glucose)
        #expect(readings.count == 25)
        let new = readings.filter { $0.epoch == 1 }
        #expect(new.map { $0.values[.glucose] } == [201, 202, 203, 204, 205])
        #expect(new.map(\.sequence) == [1, 2, 3, 4, 5])
        let state = try world.database.bleSyncState(device: BLEWorld.meter)
        #expect(state.glucoseEpoch == 1 && state.lastGlucoseSeq == 5 && state.glucoseResetReason == reset)
        #expect(try audits(world, "glucose.reset") == 1)

        // The next session finds the meter as it was left: no reset, nothing new.
        let third = try world.session(meter, device: BLEWorld.meter)
        #expect(third.report.reset == nil)
        #expect(third.report.requestedFrom == 6 && third.report.measurements == 0 && third.report.failure == nil)
        #expect(try world.readings(.glucose).count == 25)
        #expect(try audits(world, "glucose.reset") == 1)
    }

    @Test("A reset meter that already holds more records than before: its record with the last stored number has another time")
    func resetTimeDisagrees() throws {
        let world = try BLEWorld()
        let meter = SimulatedPeripheral.meter(records: Self.october(20))
        _ = try world.session(meter, device: BLEWorld.meter)
        meter.glucoseRecords = Self.november(25)
        let summary = try world.session(meter, device: BLEWorld.meter)
        #expect(summary.report.reset == "the meter's record 20 has another time (2026-11-20 09:30:00) than the one stored (2026-10-21 08:00:00): the meter was reset")
        #expect(meter.racpRequests.suffix(4) == [[0x01, 0x06], [0x01, 0x04, 0x01, 20, 0, 20, 0], [0x04, 0x01], [0x01, 0x01]])
        #expect(summary.readingsStored == 25)
        #expect(try world.readings(.glucose).count == 45)
        #expect(try world.readings(.glucose).filter { $0.epoch == 1 }.map(\.sequence) == (1...25).map { Optional($0) })
    }

    @Test("A meter that was not reset is checked and left alone: the probes store nothing")
    func notReset() throws {
        let world = try BLEWorld()
        let meter = SimulatedPeripheral.meter(records: Self.october(10))
        _ = try world.session(meter, device: BLEWorld.meter)
        meter.glucoseRecords = Self.october(14)
        let summary = try world.session(meter, device: BLEWorld.meter)
        #expect(summary.report.reset == nil)
        #expect(meter.racpRequests.suffix(4) == [[0x01, 0x06], [0x01, 0x04, 0x01, 10, 0, 10, 0], [0x04, 0x03, 0x01, 11, 0], [0x01, 0x03, 0x01, 11, 0]])
        #expect(summary.outcomes.map(\.status) == Array(repeating: .accepted, count: 4))
        #expect(try world.readings(.glucose).count == 14)
        #expect(try world.database.inbox(status: "duplicate").isEmpty)
    }

    @Test("The sequence number wraps past 65535: a new epoch; records from before the wrap still on the meter fold as duplicates")
    func wrap() throws {
        let world = try BLEWorld()
        func record(_ sequence: Int, day: Int, hour: Int) -> SimulatedPeripheral.GlucoseRecord {
            GATTBytes.glucose(sequence, mgdL: 100 + hour, at: GATTBytes.dateTime(2026, 11, day, hour, 0))
        }
        let before = (65532...65535).enumerated().map { record($0.element, day: 20, hour: $0.offset) }
        let meter = SimulatedPeripheral.meter(records: before)
        _ = try world.session(meter, device: BLEWorld.meter)
        #expect(try world.database.bleSyncState(device: BLEWorld.meter).lastGlucoseSeq == 65535)

        meter.glucoseRecords = Array(before.suffix(2)) + (0...2).map { record($0, day: 21, hour: $0) }
        let summary = try world.session(meter, device: BLEWorld.meter)
        #expect(summary.report.reset?.hasPrefix("the meter's newest record is sequence 2, below the last one stored (65535)") == true)
        #expect(summary.outcomes.map(\.status) == [.duplicate, .duplicate, .accepted, .accepted, .accepted])
        let readings = try world.readings(.glucose)
        #expect(readings.count == 7)
        #expect(readings.filter { $0.epoch == 1 }.map(\.sequence) == [0, 1, 2])
    }

    @Test("A two-user cuff: user 1's reading is P1's, user 2's is quarantined until mapped, then lands on P2")
    func twoUserCuff() throws {
        let world = try BLEWorld()
        try world.database.addPatient(Patient(id: "P2", name: "Bea Test", timeZone: "America/Chicago", conditions: ["I10"]), by: "test")
        _ = try world.pipeline.assignDeviceUser(BLEWorld.cuff, user: 1, to: "P1", by: "test")
        let cuff = SimulatedPeripheral.cuff(measurements: [
            GATTBytes.bloodPressure(128, 82, at: GATTBytes.dateTime(2026, 11, 27, 8, 0), user: 1),
            GATTBytes.bloodPressure(168, 101, at: GATTBytes.dateTime(2026, 11, 27, 8, 5), user: 2),
        ])
        let summary = try world.session(cuff, device: BLEWorld.cuff)
        #expect(summary.outcomes.map(\.status) == [.accepted, .quarantined])
        #expect(summary.outcomes[1].code == "unmapped_user")
        #expect(
            summary.outcomes[1].reason
                == "device \(BLEWorld.cuff) sent user 2, which is not mapped to a patient; map it with ccmctl devices assign \(BLEWorld.cuff) --user 2 --patient PATIENT, which replays its quarantined readings")
        #expect(try world.database.readings(kind: .bloodPressure).map(\.patientID) == ["P1"])

        let replayed = try world.pipeline.assignDeviceUser(BLEWorld.cuff, user: 2, to: "P2", by: "test")
        #expect(replayed.map(\.status) == [.accepted])
        let p2 = try world.database.readings(patient: "P2", kind: .bloodPressure)
        #expect(p2.map { $0.values[.systolic] } == [168])
        #expect(p2.first?.userIndex == 2)
        #expect(try world.database.readings(patient: "P1", kind: .bloodPressure).map { $0.values[.systolic] } == [128])
        #expect(try audits(world, "device.assign_user") == 2)
    }

    @Test("A control-solution test is stored as a control test, not a reading, and raises nothing")
    func controlSolution() throws {
        let world = try BLEWorld()
        try world.database.setCarePlan(patient: "P1", templates: ["glucose"], overrides: [], by: "test")
        let meter = SimulatedPeripheral.meter(records: [
            GATTBytes.glucose(1, mgdL: 125, at: GATTBytes.dateTime(2026, 11, 27, 8, 0), typeLocation: 0x4A),
            GATTBytes.glucose(2, mgdL: 110, at: GATTBytes.dateTime(2026, 11, 27, 9, 0), typeLocation: 0x12),
        ])
        let summary = try world.session(meter, device: BLEWorld.meter)
        #expect(summary.outcomes.map(\.code) == ["control_test", nil])
        #expect(summary.lines.contains("readings stored: 1 (0 duplicate, 0 rejected, 0 quarantined)"))
        #expect(summary.lines.contains("control-solution tests stored: 1 (not readings; not evaluated)"))
        let readings = try world.readings(.glucose)
        #expect(readings.map { $0.values[.glucose] } == [110])
        #expect(readings.first?.sampleType == "capillary_plasma" && readings.first?.sampleLocation == "finger")
        let controls = try world.database.controlTests(device: BLEWorld.meter)
        #expect(controls.map(\.glucose) == [125])
        #expect(controls.first?.sampleType == "control_solution" && controls.first?.sampleLocation == "control_solution")
        #expect(summary.outcomes.flatMap(\.alerts).isEmpty)
    }

    @Test("A HI result raises one urgent alert worded HI; a strip error with 20 mg/dL is rejected and raises nothing")
    func hiAndStripError() throws {
        let world = try BLEWorld()
        try world.database.setCarePlan(patient: "P1", templates: ["glucose"], overrides: [], by: "test")
        let meter = SimulatedPeripheral.meter(records: [
            GATTBytes.glucose(1, mgdL: 600, at: GATTBytes.dateTime(2026, 11, 27, 8, 0), status: 1 << 5),
            GATTBytes.glucose(2, mgdL: 20, at: GATTBytes.dateTime(2026, 11, 27, 9, 0), status: 1 << 2 | 1 << 3),
        ])
        let summary = try world.session(meter, device: BLEWorld.meter)
        #expect(summary.outcomes.map(\.status) == [.accepted, .rejected])
        #expect(summary.outcomes[1].code == "device_error")
        #expect(
            summary.outcomes[1].reason
                == "sensor_status: the meter reported sample size insufficient, strip insertion error (sample_size_insufficient); its number is not a measurement; measure again with a new strip")
        let alerts = summary.outcomes.flatMap(\.alerts)
        #expect(alerts.count == 1)
        #expect(alerts.first?.level == .urgent)
        #expect(alerts.first?.value == "HI (above the meter's range)")
        let reading = try #require(try world.readings(.glucose).first)
        #expect(reading.flags == [.resultAboveRange])
    }
}
