import Foundation
import GatewayCore
import GatewayPipeline
import GatewayStore
import GatewayTestSupport
import Testing
import ccm_gatewayd

@testable import GatewayBLE

/// Byte builders for the status, user and sample fields (docs/ble.md, the 0x2A35 and 0x2A18 sections),
/// written apart from the decoders they test.
extension GATTBytes {
    /// A Glucose Measurement in mg/dL (kg/L on the wire) at `time`, with its Type-Sample Location
    /// byte and, when given, a Sensor Status Annunciation.
    static func glucose(
        _ sequence: Int, mgdL: Int, at time: [UInt8], typeLocation: UInt8 = 0x11, status: UInt16? = nil
    ) -> SimulatedPeripheral.GlucoseRecord {
        let flags: UInt8 = 0x02 | (status == nil ? 0 : 0x08)
        var value = [flags] + le(UInt16(sequence)) + time + sfloat(mgdL, -5) + [typeLocation]
        if let status { value += le(status) }
        return SimulatedPeripheral.GlucoseRecord(sequence: sequence, measurement: value, context: nil)
    }

    /// A Blood Pressure Measurement in mmHg with time, pulse, and optionally user id and status.
    static func bloodPressure(
        _ systolic: Int, _ diastolic: Int, at time: [UInt8], user: UInt8? = nil, status: UInt16? = nil
    ) -> [UInt8] {
        let flags: UInt8 = 0x06 | (user == nil ? 0 : 0x08) | (status == nil ? 0 : 0x10)
        var value =
            [flags] + sfloat(systolic, 0) + sfloat(diastolic, 0) + sfloat((systolic + 2 * diastolic) / 3, 0) + time
            + sfloat(72, 0)
        if let user { value.append(user) }
        if let status { value += le(status) }
        return value
    }
}

@Suite("What a device says: resets, users, status flags, control solution, HI/LO", .ownThreads)
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

    @Test(
        "A reset meter (newest record numbered below the last stored): said, audited, every record downloaded and stored once"
    )
    func resetBelowLast() throws {
        let world = try BLEWorld()
        let meter = SimulatedPeripheral.meter(records: Self.october(20))
        _ = try world.session(meter, device: BLEWorld.meter)
        #expect(try world.readings(.glucose).count == 20)

        meter.glucoseRecords = Self.november(5)
        let summary = try world.session(meter, device: BLEWorld.meter)
        let reset = try #require(summary.report.reset)
        #expect(
            reset
                == "the meter's newest record is sequence 5, below the last one stored (20): the meter was reset or its sequence numbers wrapped past 65535"
        )
        #expect(summary.lines.contains("METER RESET DETECTED: \(reset)"))
        #expect(
            summary.lines.contains(
                "  its records are numbered anew (epoch 1); every record on the meter is downloaded, none is folded into the old ones"
            ))
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

    @Test(
        "A reset meter that already holds more records than before: its record with the last stored number has another time"
    )
    func resetTimeDisagrees() throws {
        let world = try BLEWorld()
        let meter = SimulatedPeripheral.meter(records: Self.october(20))
        _ = try world.session(meter, device: BLEWorld.meter)
        meter.glucoseRecords = Self.november(25)
        let summary = try world.session(meter, device: BLEWorld.meter)
        #expect(
            summary.report.reset
                == "the meter's record 20 has another time (2026-11-20 09:30:00) than the one stored (2026-10-21 08:00:00): the meter was reset"
        )
        #expect(
            meter.racpRequests.suffix(4) == [
                [0x01, 0x06], [0x01, 0x04, 0x01, 20, 0, 20, 0], [0x04, 0x01], [0x01, 0x01],
            ])
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
        #expect(
            meter.racpRequests.suffix(4) == [
                [0x01, 0x06], [0x01, 0x04, 0x01, 10, 0, 10, 0], [0x04, 0x03, 0x01, 11, 0], [0x01, 0x03, 0x01, 11, 0],
            ])
        #expect(summary.outcomes.map(\.status) == Array(repeating: .accepted, count: 4))
        #expect(try world.readings(.glucose).count == 14)
        #expect(try world.database.inbox(status: "duplicate").isEmpty)
    }

    @Test(
        "The sequence number wraps past 65535: a new epoch; records from before the wrap still on the meter fold as duplicates"
    )
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
        #expect(
            summary.report.reset?.hasPrefix(
                "the meter's newest record is sequence 2, below the last one stored (65535)") == true)
        #expect(summary.outcomes.map(\.status) == [.duplicate, .duplicate, .accepted, .accepted, .accepted])
        let readings = try world.readings(.glucose)
        #expect(readings.count == 7)
        #expect(readings.filter { $0.epoch == 1 }.map(\.sequence) == [0, 1, 2])
    }

    @Test("A two-user cuff: user 1's reading is P1's, user 2's is quarantined until mapped, then lands on P2")
    func twoUserCuff() throws {
        let world = try BLEWorld()
        try world.database.addPatient(
            Patient(id: "P2", name: "Bea Test", timeZone: "America/Chicago", conditions: ["I10"]), by: "test")
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
                == "device \(BLEWorld.cuff) sent user 2, which is not mapped to a patient; map it with ccmctl devices assign \(BLEWorld.cuff) --user 2 --patient PATIENT, which replays its quarantined readings"
        )
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
        #expect(
            controls.first?.sampleType == "control_solution" && controls.first?.sampleLocation == "control_solution")
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
                == "sensor_status: the meter reported sample size insufficient, strip insertion error (sample_size_insufficient); its number is not a measurement; measure again with a new strip"
        )
        let alerts = summary.outcomes.flatMap(\.alerts)
        #expect(alerts.count == 1)
        #expect(alerts.first?.level == .urgent)
        #expect(alerts.first?.value == "HI (above the meter's range)")
        let reading = try #require(try world.readings(.glucose).first)
        #expect(reading.flags == [.resultAboveRange])
    }

    @Test(
        "Body movement, a loose cuff or an improper position: stored and shown, no threshold or average alert; irregular pulse in 2 of 3 alerts"
    )
    func unreliableAndIrregular() throws {
        let world = try BLEWorld()
        try world.database.setCarePlan(patient: "P1", templates: ["bp"], overrides: [], by: "test")
        func at(_ minute: Int) -> [UInt8] { GATTBytes.dateTime(2026, 11, 27, 8, minute) }
        let cuff = SimulatedPeripheral.cuff(measurements: [
            GATTBytes.bloodPressure(195, 125, at: at(0), status: 0x0001),  // body movement
            GATTBytes.bloodPressure(190, 122, at: at(5), status: 0x0002),  // cuff too loose
            GATTBytes.bloodPressure(188, 121, at: at(10), status: 0x0020),  // improper position
            GATTBytes.bloodPressure(128, 80, at: at(15), status: 0x0004),  // irregular pulse
            GATTBytes.bloodPressure(126, 79, at: at(20), status: 0x0004),  // irregular pulse again: 2 of 3
        ])
        let summary = try world.session(cuff, device: BLEWorld.cuff)
        #expect(summary.outcomes.map(\.status) == Array(repeating: .accepted, count: 5))
        #expect(
            summary.outcomes[0].reason
                == "body movement during the measurement: stored and shown, left out of threshold and average rules")
        let alerts = summary.outcomes.flatMap(\.alerts)
        #expect(alerts.map(\.rule) == ["irregular-pulse"], "no bp-high or average alert from the unreliable readings")
        #expect(alerts.first?.value == "irregular pulse in 2 of last 2")
        let readings = try world.readings(.bloodPressure)
        #expect(
            readings.map(\.flags) == [
                [.bodyMovement], [.cuffTooLoose], [.improperPosition], [.irregularPulse], [.irregularPulse],
            ])
        #expect(readings.map(\.windowed) == [false, false, false, true, true])

        // The same high value without a status: the urgent alert it would have been (and the
        // 7-day average counts it, with the two reliable readings only).
        let plain = SimulatedPeripheral.cuff(measurements: [GATTBytes.bloodPressure(195, 125, at: at(30))])
        let urgent = try world.session(plain, device: BLEWorld.cuff).outcomes.flatMap(\.alerts)
        #expect(urgent.filter { $0.rule == "bp-high" }.map(\.level) == [.urgent])
        #expect(urgent.first { $0.rule == "systolic-7d-average" }?.value == "average 149.7 mmHg of 3")
    }

    @Test(
        "A cuff without Current Time whose Blood Pressure service has a writable Date Time gets its clock set through it"
    )
    func dateTimeClock() throws {
        let world = try BLEWorld()
        let cuff = SimulatedPeripheral.cuffWithDateTime(measurements: [])
        let summary = try world.session(cuff, device: BLEWorld.cuff)
        #expect(summary.report.clockSet && summary.report.clockSetThrough == "Date Time (2a08)")
        #expect(summary.lines.contains("device clock set: yes, through Date Time (2a08)"))
        let value = try #require(cuff.dateTime)
        #expect(value.count == 7)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = BLEWorld.zone
        let now = calendar.dateComponents([.year, .month, .day], from: Date())
        #expect(
            Int(value[0]) | Int(value[1]) << 8 == now.year && Int(value[2]) == now.month && Int(value[3]) == now.day)

        let readOnly = SimulatedPeripheral.cuffWithDateTime(measurements: [], writable: false)
        let other = try world.session(readOnly, device: BLEWorld.cuff)
        #expect(!other.report.clockSet && readOnly.dateTime == nil)
        #expect(other.lines.contains("device clock set: no"))
        // With Current Time (the usual cuff) the summary names it.
        #expect(
            try world.session(SimulatedPeripheral.cuff(measurements: []), device: BLEWorld.cuff).lines.contains(
                "device clock set: yes, through Current Time (2a2b)"))
    }

    @Test("A Report Stored Records procedure that runs past its time-out is named, not given as an ATT opcode")
    func racpTimeoutNamed() throws {
        var world = try BLEWorld()
        world.sync.timeout = .milliseconds(300)
        let meter = SimulatedPeripheral.meter(records: Self.october(3))
        meter.racpSilentOnReport = true
        let summary = try world.session(meter, device: BLEWorld.meter)
        #expect(
            summary.report.failure
                == "the meter did not finish the RACP procedure \"Report Stored Records\" within 0.3 s (procedure time-out); records received before it are kept"
        )
    }

    @Test(
        "The same values over the MQTT gatt topic give the same readings, flags, users, control tests and rejections; a reset meter there too"
    )
    func sameOverMQTTGatt() throws {
        let ble = try BLEWorld(), bridge = try BLEWorld()
        for world in [ble, bridge] {
            try world.database.addPatient(
                Patient(id: "P2", name: "Bea Test", timeZone: "America/Chicago", conditions: ["I10"]), by: "test")
            _ = try world.pipeline.assignDeviceUser(BLEWorld.cuff, user: 2, to: "P2", by: "test")
        }
        let glucose =
            Self.october(3) + [
                GATTBytes.glucose(4, mgdL: 125, at: GATTBytes.dateTime(2026, 11, 1, 8, 0), typeLocation: 0x4A),
                GATTBytes.glucose(5, mgdL: 600, at: GATTBytes.dateTime(2026, 11, 1, 9, 0), status: 1 << 5),
                GATTBytes.glucose(6, mgdL: 20, at: GATTBytes.dateTime(2026, 11, 1, 10, 0), status: 1 << 3),
                GATTBytes.glucose(
                    7, mgdL: 110, at: GATTBytes.dateTime(2026, 11, 1, 11, 0), typeLocation: 0x21, status: 1 << 0),
            ]
        let cuff = [
            GATTBytes.bloodPressure(
                168, 101, at: GATTBytes.dateTime(2026, 11, 27, 8, 0), user: 2, status: 0x0004 | 0x0008),
            GATTBytes.bloodPressure(150, 95, at: GATTBytes.dateTime(2026, 11, 27, 8, 5), status: 0x0001),
        ]
        let reset = Self.november(2)
        let meter = SimulatedPeripheral.meter(records: glucose)
        let bleOutcomes =
            try ble.session(meter, device: BLEWorld.meter).outcomes
            + ble.session(SimulatedPeripheral.cuff(measurements: cuff), device: BLEWorld.cuff).outcomes
        meter.glucoseRecords = reset
        let resetOutcomes = try ble.session(meter, device: BLEWorld.meter).outcomes

        var published: [(String, String, [UInt8])] = glucose.map { (BLEWorld.meter, "2a18", $0.measurement) }
        published += cuff.map { (BLEWorld.cuff, "2a35", $0) }
        var bridgeOutcomes: [ItemOutcome] = []
        for (device, characteristic, value) in published + reset.map({ (BLEWorld.meter, "2a18", $0.measurement) }) {
            bridgeOutcomes += try bridge.pipeline.ingest(
                RawInput(
                    source: "mqtt:ccm/v1/hub/h1/gatt/\(device)/\(characteristic)",
                    format: .gatt(characteristic: characteristic, device: device),
                    payload: Data(hexString(value).utf8)))
        }
        #expect((bleOutcomes + resetOutcomes).map(\.status) == bridgeOutcomes.map(\.status))
        #expect((bleOutcomes + resetOutcomes).map(\.code) == bridgeOutcomes.map(\.code))
        for kind in [ReadingKind.glucose, .bloodPressure] {
            let a = try ble.database.readings(kind: kind), b = try bridge.database.readings(kind: kind)
            #expect(a.count == b.count && !a.isEmpty)
            for (x, y) in zip(a, b) {
                #expect(
                    x.patientID == y.patientID && x.values == y.values && x.measuredAt == y.measuredAt
                        && x.sequence == y.sequence)
                #expect(
                    x.flags == y.flags && x.userIndex == y.userIndex && x.sampleType == y.sampleType
                        && x.sampleLocation == y.sampleLocation
                )
                #expect(x.epoch == y.epoch && x.windowed == y.windowed)
            }
        }
        #expect(
            try ble.readings(.glucose).count == 7,
            "3 + HI + 1 flagged battery_low + 2 after the reset; the control test and the strip error are not readings")
        #expect(
            try ble.database.readings(kind: .glucose).filter { $0.epoch == 1 }.map { $0.values[.glucose] } == [
                201, 202,
            ])
        #expect(try ble.database.controlTests().map(\.glucose) == bridge.database.controlTests().map(\.glucose))
        #expect(
            try bridge.database.readings(patient: "P2", kind: .bloodPressure).first?.flags == [
                .irregularPulse, .pulseAboveRange,
            ])
    }
}
