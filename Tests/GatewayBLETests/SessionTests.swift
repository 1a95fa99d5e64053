import Foundation
import GatewayCore
import GatewayPipeline
import GatewayStore
import GatewayTestSupport
import Testing
import ccm_gatewayd

@testable import GatewayBLE

#if canImport(Glibc)
import Glibc
#endif

/// Whole sessions against the simulated peripheral over a socketpair: the ATT client, the
/// profiles, the store and the pipeline, all real.
@Suite("BLE sessions", .ownThreads)
struct SessionTests {
    @Test("A cuff indicates three stored measurements, each confirmed after it is stored, then disconnects")
    func cuffTransfer() throws {
        let world = try BLEWorld()
        let cuff = SimulatedPeripheral.cuff(measurements: [
            GATTBytes.bloodPressure(182, 121, pulse: 88, at: GATTBytes.dateTime(2026, 11, 28, 7, 30)),
            GATTBytes.bloodPressure(138, 88, pulse: 72, at: GATTBytes.dateTime(2026, 11, 28, 19, 5)),
            GATTBytes.bloodPressure(121, 79, pulse: 64, at: GATTBytes.dateTime(2026, 11, 29, 7, 12)),
        ])
        let summary = try world.session(cuff, device: BLEWorld.cuff)

        #expect(summary.report.failure == nil)
        #expect(summary.report.services == ["1800", "1810", "1805"])
        #expect(summary.report.bloodPressureFeature == 0x0027)
        #expect(summary.report.measurements == 3)
        #expect(summary.readingsStored == 3)
        #expect(cuff.confirmations == 3)
        // Both CCCDs armed: cuff pressure to notify, the measurement to indicate.
        #expect(cuff.cccdValue(0x2A36) == 0x0001)
        #expect(cuff.cccdValue(0x2A35) == 0x0002)

        let readings = try world.readings(.bloodPressure)
        #expect(readings.map { $0.values[.systolic] } == [182, 138, 121])
        #expect(readings.map { $0.values[.diastolic] } == [121, 88, 79])
        #expect(readings.map { $0.values[.pulse] } == [88, 72, 64])
        #expect(readings.allSatisfy { $0.source == "ble:\(BLEWorld.cuff)" })
        // 07:30 in Chicago (CST, UTC−6) on 28 November.
        #expect(readings.first?.measuredAt.map(RFC3339.format) == "2026-11-28T13:30:00Z")
        let state = try world.database.bleSyncState(device: BLEWorld.cuff)
        #expect(state.lastSyncAt != nil && state.lastError == nil && state.sessions == 1 && state.records == 3)
    }

    @Test("The device clock is set through Current Time when it is writable, and left alone when not")
    func currentTime() throws {
        let world = try BLEWorld()
        let writable = SimulatedPeripheral.cuff(measurements: [])
        let summary = try world.session(writable, device: BLEWorld.cuff)
        #expect(summary.report.clockSet)
        let value = try #require(writable.currentTime)
        #expect(value.count == 10)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = BLEWorld.zone
        let now = calendar.dateComponents([.year, .month, .day], from: Date())
        #expect(Int(value[0]) | Int(value[1]) << 8 == now.year)
        #expect(Int(value[2]) == now.month && Int(value[3]) == now.day)
        #expect((1...7).contains(value[7]), "day of week, 1 Monday … 7 Sunday")
        #expect(value[9] == 0x02, "adjust reason: external reference time update")

        let readOnly = SimulatedPeripheral.cuff(measurements: [], clockWritable: false)
        #expect(try world.session(readOnly, device: BLEWorld.cuff).report.clockSet == false)
        #expect(readOnly.currentTime == nil)
    }

    @Test(
        "A cuff whose clock runs two years ahead: its Current Time is read before it is set, and its readings count at the corrected time"
    )
    func clockAheadCorrected() throws {
        let world = try BLEWorld()
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = BLEWorld.zone
        func wall(_ date: Date) -> [UInt8] {
            let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
            return GATTBytes.dateTime(c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
        }
        let skew = 730 * 86_400.0
        let now = Date()
        let measured = now.addingTimeInterval(-3600)
        let cuff = SimulatedPeripheral.cuff(
            measurements: [GATTBytes.bloodPressure(138, 88, pulse: 72, at: wall(measured.addingTimeInterval(skew)))],
            clock: wall(now.addingTimeInterval(skew)) + [1, 0, 0])
        let summary = try world.session(cuff, device: BLEWorld.cuff)
        #expect(summary.readingsStored == 1)
        #expect(summary.lines.contains("device clock was 1051200 minutes ahead; suspect record times corrected by it"))
        #expect(summary.report.clockSet)
        let reading = try #require(try world.readings(.bloodPressure).first)
        #expect(reading.clockSuspect)
        #expect(reading.windowed)
        #expect(abs(reading.effectiveAt.timeIntervalSince(measured)) < 5, "evaluated at the corrected time")
        #expect(try world.database.inbox().first?.reason?.contains("evaluated at the corrected time") == true)

        // A clock that says "unknown" gives no correction: the same reading stays out of windows.
        let unknown = SimulatedPeripheral.cuff(
            measurements: [
                GATTBytes.bloodPressure(139, 88, pulse: 72, at: wall(measured.addingTimeInterval(skew + 60)))
            ])
        _ = try world.session(unknown, device: BLEWorld.cuff)
        let second = try #require(try world.readings(.bloodPressure).first { $0.values[.systolic] == 139 })
        #expect(!second.windowed)
        #expect(second.effectiveAt == second.receivedAt)
    }

    @Test("500 stored glucose records arrive as 500 readings, once each, across two sessions broken mid-transfer")
    func incrementalGlucoseDownload() throws {
        let world = try BLEWorld()
        let records = (1...500).map { GATTBytes.glucoseRecord($0, mgdL: 80 + $0 % 150, meal: $0 % 7 == 0 ? 3 : nil) }
        let meter = SimulatedPeripheral.meter(records: records)
        meter.disconnectAfterRecords = 180

        let first = try world.session(meter, device: BLEWorld.meter)
        #expect(first.report.requestedFrom == nil)
        #expect(meter.racpRequests == [[0x04, 0x01], [0x01, 0x01]])
        #expect(first.report.recordsOnMeter == 500)
        #expect(first.report.measurements == 180)
        #expect(
            first.report.failure
                == "the device disconnected after 180 records; the next session resumes from sequence 181")
        #expect(try world.database.bleSyncState(device: BLEWorld.meter).lastGlucoseSeq == 180)
        #expect(try world.readings(.glucose).count == 180)

        meter.disconnectAfterRecords = nil
        let second = try world.session(meter, device: BLEWorld.meter)
        #expect(second.report.failure == nil)
        #expect(second.report.requestedFrom == 181)
        #expect(meter.racpRequests.suffix(2) == [[0x04, 0x03, 0x01, 0xB5, 0x00], [0x01, 0x03, 0x01, 0xB5, 0x00]])
        #expect(second.report.recordsOnMeter == 320)
        #expect(second.report.racpResult == "success")
        #expect(second.report.measurements == 320)

        let readings = try world.readings(.glucose)
        #expect(readings.count == 500)
        #expect(readings.compactMap(\.sequence) == Array(1...500))
        let expected: [Double?] = (1...500).map { Double(80 + $0 % 150) }
        #expect(readings.map { $0.values[.glucose] } == expected)
        // Every seventh record carried a context with meal 3 (fasting), joined by sequence number.
        #expect(
            readings.filter { $0.meal == .fasting }.map { $0.sequence! } == Array(stride(from: 7, through: 500, by: 7)))
        #expect(try world.database.inbox(status: "duplicate").isEmpty)

        // A third session finds nothing new.
        let third = try world.session(meter, device: BLEWorld.meter)
        #expect(
            third.report.racpResult == "no records found" && third.report.failure == nil
                && third.report.measurements == 0)
        #expect(meter.racpRequests.last == [0x01, 0x03, 0x01, 0xF5, 0x01])
        #expect(try world.readings(.glucose).count == 500)
        #expect(try world.database.bleSyncState(device: BLEWorld.meter).sessions == 3)
    }

    @Test("A disconnect between a measurement and its context downloads that record again: stored once, with its meal")
    func disconnectBeforeContext() throws {
        let world = try BLEWorld()
        let meter = SimulatedPeripheral.meter(records: [
            GATTBytes.glucoseRecord(1, mgdL: 100), GATTBytes.glucoseRecord(2, mgdL: 180, meal: 2),
            GATTBytes.glucoseRecord(3, mgdL: 95),
        ])
        meter.disconnectBeforeContextOf = 2
        let first = try world.session(meter, device: BLEWorld.meter)
        #expect(
            first.report.failure == "the device disconnected after 2 records; the next session resumes from sequence 2")
        #expect(try world.database.bleSyncState(device: BLEWorld.meter).lastGlucoseSeq == 1)

        meter.disconnectBeforeContextOf = nil
        let second = try world.session(meter, device: BLEWorld.meter)
        #expect(second.report.requestedFrom == 2)
        #expect(second.outcomes.map(\.status) == [.duplicate, .accepted])
        let readings = try world.readings(.glucose)
        #expect(readings.map(\.sequence) == [1, 2, 3])
        #expect(readings[1].meal == .afterMeal)
        #expect(try world.database.bleSyncState(device: BLEWorld.meter).lastGlucoseSeq == 3)
    }

    @Test("Every CCCD is armed again on each new connection")
    func cccdsRearmed() throws {
        let world = try BLEWorld()
        let meter = SimulatedPeripheral.meter(records: [GATTBytes.glucoseRecord(1, mgdL: 100)])
        for _ in 0..<2 {
            _ = try world.session(meter, device: BLEWorld.meter)
            // The simulated meter forgets its CCCDs between connections, as an unbonded server does.
            #expect(meter.cccdValue(0x2A18) == 1 && meter.cccdValue(0x2A34) == 1 && meter.cccdValue(0x2A52) == 2)
        }
        let cccdWrites = meter.writes.filter {
            [meter.cccdHandle(0x2A18), meter.cccdHandle(0x2A34), meter.cccdHandle(0x2A52)].contains($0.handle)
        }
        #expect(cccdWrites.count == 6)
    }

    @Test(
        "Insufficient Authentication is answered by raising the security level and retrying once",
        arguments: [UInt8(0x05), 0x0F])
    func securityRetry(code: UInt8) throws {
        let world = try BLEWorld()
        let meter = SimulatedPeripheral.meter(records: [GATTBytes.glucoseRecord(1, mgdL: 100)])
        meter.securityError = code
        let summary = try world.session(meter, device: BLEWorld.meter)
        #expect(summary.report.failure == nil)
        #expect(summary.report.securityRaised)
        #expect(meter.securityRaises == 1)
        #expect(summary.readingsStored == 1)
    }

    @Test(
        "A device that still refuses after the security level is raised ends the session with the error, without looping"
    )
    func securityRefused() throws {
        let world = try BLEWorld()
        let meter = SimulatedPeripheral.meter(records: [GATTBytes.glucoseRecord(1, mgdL: 100)])
        meter.securityError = 0x05
        meter.securityCures = false
        let summary = try world.session(meter, device: BLEWorld.meter)
        #expect(meter.securityRaises == 1)
        #expect(summary.report.failure?.contains("Insufficient Authentication (0x05)") == true)
        #expect(summary.report.failure?.hasPrefix("security failure: the device still answers") == true)
        let state = try world.database.bleSyncState(device: BLEWorld.meter)
        #expect(state.lastError == summary.report.failure && state.lastSyncAt == nil)
    }

    @Test(
        "A RACP procedure already in progress (GLS 0x80 or CSS 0xFE) is aborted, then the request is sent again",
        arguments: [UInt8(0x80), 0xFE])
    func procedureInProgress(code: UInt8) throws {
        let world = try BLEWorld()
        let meter = SimulatedPeripheral.meter(records: [GATTBytes.glucoseRecord(1, mgdL: 100)])
        meter.racpWriteErrors = [code]
        let summary = try world.session(meter, device: BLEWorld.meter)
        #expect(summary.report.failure == nil)
        #expect(meter.racpRequests == [[0x04, 0x01], [0x03, 0x00], [0x04, 0x01], [0x01, 0x01]])
        #expect(summary.readingsStored == 1)
    }

    @Test(
        "Each RACP response code other than success and no records ends the download with its name",
        arguments: [
            (UInt8(2), "op code not supported"), (3, "invalid operator"), (4, "operator not supported"),
            (5, "invalid operand"),
            (7, "abort unsuccessful"), (8, "procedure not completed"), (9, "operand not supported"),
            (0x42, "response code 66"),
        ])
    func racpResponseCodes(code: UInt8, name: String) throws {
        let world = try BLEWorld()
        let meter = SimulatedPeripheral.meter(records: [GATTBytes.glucoseRecord(1, mgdL: 100)])
        meter.racpResponseOverride = code
        let summary = try world.session(meter, device: BLEWorld.meter)
        #expect(summary.report.racpResult == name)
        #expect(summary.report.failure == "the meter ended the download with \"\(name)\"")
        // What arrived before the response is kept.
        #expect(summary.readingsStored == 1)
    }

    @Test("A CCCD the meter needs but did not get (0x81) is reported by name")
    func cccdImproperlyConfigured() throws {
        let world = try BLEWorld()
        let meter = SimulatedPeripheral.meter(records: [GATTBytes.glucoseRecord(1, mgdL: 100)])
        meter.racpWriteErrors = [0x81]
        let summary = try world.session(meter, device: BLEWorld.meter)
        #expect(
            summary.report.failure?.contains(
                "Client Characteristic Configuration Descriptor Improperly Configured (0x81)") == true)
    }

    @Test(
        "Junk PDUs (unknown opcodes, values without a handle, stray responses) are ignored and the transfer completes")
    func junkIgnored() throws {
        let world = try BLEWorld()
        let meter = SimulatedPeripheral.meter(records: (1...3).map { GATTBytes.glucoseRecord($0, mgdL: 110) })
        meter.junk = [[0xFF, 0x01], [0x1B, 0x01], [0x0B, 0x00], [0x1D]]
        let summary = try world.session(meter, device: BLEWorld.meter)
        #expect(summary.report.failure == nil)
        #expect(summary.readingsStored == 3)
        #expect(summary.report.ignoredPDUs > 0)
        // The indication without a handle was still confirmed, so the device was not left waiting.
        #expect(meter.confirmations >= 2)
    }

    @Test(
        "A malformed response ends the session with a clear error and no crash",
        arguments: [
            [UInt8(0x11), 0x06, 0x01, 0x00, 0x05],  // service list cut short
            [0x11, 0x03, 0x01, 0x00, 0x05],  // entry length below 6
            [0x01, 0x10, 0x01],  // error response cut short
            [0x03],  // MTU response without an MTU
        ])
    func malformedResponse(response: [UInt8]) throws {
        let world = try BLEWorld()
        let meter = SimulatedPeripheral.meter(records: [GATTBytes.glucoseRecord(1, mgdL: 100)])
        meter.replaceResponse[response[0] == 0x03 ? 0x02 : 0x10] = response
        let summary = try world.session(meter, device: BLEWorld.meter)
        #expect(summary.report.failure?.hasPrefix("malformed ATT PDU:") == true)
        #expect(summary.readingsStored == 0)
    }

    @Test("A request the device never answers times out")
    func requestTimeout() throws {
        var world = try BLEWorld()
        world.sync.timeout = .milliseconds(300)
        let meter = SimulatedPeripheral.meter(records: [])
        meter.silentOn = [0x0A]  // Read Request: the feature read never comes back.
        // The failure's text says the 0.3 s transaction timeout ended it; how long the session took
        // on a machine busy with the parallel run says nothing more.
        let summary = try world.session(meter, device: BLEWorld.meter)
        #expect(summary.report.failure == "no answer to request 0x0A within 0.3 s (ATT transaction timeout)")
    }

    @Test("A feature that cannot be read is noted and the transfer goes on")
    func featureNotReadable() throws {
        let world = try BLEWorld()
        let meter = SimulatedPeripheral.meter(records: [GATTBytes.glucoseRecord(1, mgdL: 100)])
        meter.replaceResponse[0x0A] = [0x01, 0x0A, 0x00, 0x00, 0x02]
        let summary = try world.session(meter, device: BLEWorld.meter)
        #expect(summary.report.failure == nil)
        #expect(summary.report.notes.contains { $0.contains("Read Not Permitted (0x02)") })
        #expect(summary.readingsStored == 1)
    }

    @Test("kPa and mol/L arrive as mmHg and mg/dL, keeping the device's own unit")
    func siUnits() throws {
        let world = try BLEWorld()
        // E4: kPa, no time stamp: 18.9 / 11 kPa, pulse 60.
        let cuff = SimulatedPeripheral.cuff(measurements: [GATTBytes.hex("15 BD F0 0B 00 9F F0 3C 00 12 00")])
        #expect(try world.session(cuff, device: BLEWorld.cuff).readingsStored == 1)
        let pressure = try #require(try world.readings(.bloodPressure).first)
        #expect(pressure.originalUnit == .kilopascal)
        #expect(pressure.originalValues[.systolic] == 18.9)
        #expect(abs(pressure.values[.systolic]! - 141.76) < 0.01)

        // E6 and E7: 7.4 mmol/L (74e-4 mol/L) with its context, postprandial.
        let meter = SimulatedPeripheral.meter(records: [
            .init(
                sequence: 2, measurement: GATTBytes.hex("1F 02 00 E9 07 05 15 0C 28 0A FB FF 4A C0 12 01 00"),
                context: GATTBytes.hex("06 02 00 02 51"))
        ])
        #expect(try world.session(meter, device: BLEWorld.meter).readingsStored == 1)
        let glucose = try #require(try world.readings(.glucose).first)
        #expect(glucose.originalUnit == .molesPerLiter)
        #expect(abs(glucose.values[.glucose]! - 7.4 * 18.016) < 0.01)
        #expect(glucose.meal == .afterMeal)
        // Base time 12:40:10 minus the 5-minute offset, in Chicago (CDT, UTC−5, in May).
        #expect(glucose.measuredAt.map(RFC3339.format) == "2025-05-21T17:35:10Z")
    }

    @Test("SFLOAT special values: NaN systolic is rejected with its reason and still confirmed; NaN MAP is only absent")
    func specialValues() throws {
        let world = try BLEWorld()
        let nanSystolic = [0x00] + [0xFF, 0x07] + GATTBytes.sfloat(80, 0) + GATTBytes.sfloat(100, 0)
        let nanMAP = [0x00] + GATTBytes.sfloat(120, 0) + GATTBytes.sfloat(80, 0) + [0xFF, 0x07]
        // 0x17FE is 20460, not +INF.
        let highExponent = [0x00] + [0xFE, 0x17] + GATTBytes.sfloat(80, 0) + GATTBytes.sfloat(100, 0)
        let cuff = SimulatedPeripheral.cuff(measurements: [nanSystolic, nanMAP, highExponent])
        let summary = try world.session(cuff, device: BLEWorld.cuff)
        #expect(cuff.confirmations == 3)
        #expect(summary.outcomes.map(\.status) == [.rejected, .accepted, .rejected])
        #expect(summary.outcomes[0].reason == "values.systolic: the device sent NaN, not a number; nothing to store")
        #expect(summary.outcomes[2].code == "implausible")
        let stored = try world.readings(.bloodPressure)
        #expect(stored.count == 1 && stored[0].values[.meanArterialPressure] == nil)
        // The rejected values are kept in the inbox with their reasons.
        #expect(try world.database.inbox(status: "rejected").count == 2)
    }

    @Test("The same bytes published by a BLE-to-MQTT bridge on the gatt topic decode to the same readings")
    func sameAsBridge() throws {
        let ble = try BLEWorld(), bridge = try BLEWorld()
        let records = (1...20).map { GATTBytes.glucoseRecord($0, mgdL: 90 + 3 * $0, meal: $0 % 4 == 0 ? 1 : nil) }
        let cuffValues = [GATTBytes.bloodPressure(150, 95, pulse: 70, at: GATTBytes.dateTime(2026, 11, 27, 8, 0))]
        _ = try ble.session(SimulatedPeripheral.meter(records: records), device: BLEWorld.meter)
        _ = try ble.session(SimulatedPeripheral.cuff(measurements: cuffValues), device: BLEWorld.cuff)

        // What a bridge publishes: ccm/v1/gatt/{device}/{char}, the value as hex text.
        var published: [(String, String, [UInt8])] = []
        for record in records {
            published.append((BLEWorld.meter, "2a18", record.measurement))
            if let context = record.context { published.append((BLEWorld.meter, "2a34", context)) }
        }
        published += cuffValues.map { (BLEWorld.cuff, "2a35", $0) }
        for (device, characteristic, value) in published {
            _ = try bridge.pipeline.ingest(
                RawInput(
                    source: "mqtt:ccm/v1/gatt/\(device)/\(characteristic)",
                    format: .gatt(characteristic: characteristic, device: device),
                    payload: Data(hexString(value).utf8)))
        }
        for kind in [ReadingKind.glucose, .bloodPressure] {
            let fromBLE = try ble.readings(kind), fromBridge = try bridge.readings(kind)
            #expect(fromBLE.count == fromBridge.count && !fromBLE.isEmpty)
            for (a, b) in zip(fromBLE, fromBridge) {
                #expect(
                    a.values == b.values && a.measuredAt == b.measuredAt && a.sequence == b.sequence && a.meal == b.meal
                )
                #expect(a.originalUnit == b.originalUnit && a.originalValues == b.originalValues)
            }
        }
    }
}

/// Sessions against a scripted peer: PDUs queued on a socketpair, then end of stream. The fuzzer
/// drives the same path (Fuzz/att.swift); its crash inputs become cases here.
@Suite("BLE sessions against a scripted peer", .ownThreads)
struct ScriptedPeerTests {
    func run(_ pdus: [[UInt8]]) -> SessionReport {
        var fds: [Int32] = [0, 0]
        precondition(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &fds) == 0)
        defer { close(fds[1]) }
        for pdu in pdus { _ = pdu.withUnsafeBytes { send(fds[1], $0.baseAddress, $0.count, 0) } }
        shutdown(fds[1], Int32(SHUT_WR))
        let client = ATTClient(bearer: ATTBearer(fd: fds[0]) {}, timeout: .milliseconds(200))
        return HealthSession(
            client: client, options: .init(idle: .milliseconds(50), procedureTimeout: .milliseconds(200))
        ) { _ in }.run()
    }

    @Test("A characteristic whose value handle is 0xFFFF, outside its service, is reported, not a crash (fuzzer find)")
    func valueHandleOverflow() {
        let report = run([
            [0x03, 0xB9, 0x00],
            [0x11, 0x06, 0x01, 0x00, 0x0C, 0x00, 0x08, 0x18],
            [0x01, 0x10, 0x0D, 0x00, 0x0A],
            [0x09, 0x07, 0x02, 0x00, 0x10, 0xFF, 0xFF, 0x18, 0x2A],
        ])
        #expect(
            report.failure
                == "malformed ATT PDU: characteristic declaration at 0x0002 puts its value at 0xFFFF, outside its service (to 0x000C)"
        )
    }

    @Test("A peer that ends the stream in the middle of discovery is a disconnect")
    func endOfStream() {
        #expect(run([[0x03, 0x17, 0x00]]).failure == "the device disconnected")
    }
}
