import Foundation
import GatewayCore
import Testing

@Suite("RFC 3339 times")
struct RFC3339Tests {
    @Test("Offsets, Z and fractions give the same instant")
    func parses() throws {
        let utc = try #require(RFC3339.parse("2026-03-04T13:42:10Z"))
        #expect(utc.timeIntervalSince1970 == 1_772_631_730)
        #expect(RFC3339.parse("2026-03-04T07:42:10-06:00") == utc)
        #expect(RFC3339.parse("2026-03-04T19:12:10+05:30") == utc)
        #expect(RFC3339.parse("2026-03-04t13:42:10z") == utc)
        #expect(RFC3339.parse("2026-03-04T13:42:10.250Z")?.timeIntervalSince1970 == 1_772_631_730.25)
        #expect(RFC3339.parse("2024-02-29T00:00:00Z") != nil)
        #expect(RFC3339.parse("1969-12-31T23:59:59Z")?.timeIntervalSince1970 == -1)
    }

    @Test(
        "Anything else is refused",
        arguments: [
            "2026-03-04T13:42:10", "2026-03-04 13:42:10Z", "2026-02-30T00:00:00Z", "2025-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z", "2026-03-04T24:00:00Z", "2026-03-04T13:42:10+0600", "2026-03-04T13:42:10.Z",
            "2026-03-04", "yesterday", "2026-03-04T13:42:10Z ",
        ])
    func refuses(_ text: String) {
        #expect(RFC3339.parse(text) == nil)
    }

    @Test("Formatting is UTC with milliseconds only when present")
    func formats() {
        #expect(RFC3339.format(Date(timeIntervalSince1970: 1_772_631_730)) == "2026-03-04T13:42:10Z")
        #expect(RFC3339.format(Date(timeIntervalSince1970: 1_772_631_730.25)) == "2026-03-04T13:42:10.250Z")
        #expect(RFC3339.format(Date(timeIntervalSince1970: -1)) == "1969-12-31T23:59:59Z")
    }
}

@Suite("Clock rules and identity")
struct ClockAndIdentityTests {
    let received = RFC3339.parse("2026-03-04T14:00:00Z")!

    func normalize(
        measuredAt: String?, kind: ReadingKind = .bloodPressure, seq: Int? = nil, id: String? = nil
    ) throws
        -> NormalizedReading
    {
        let values: [Quantity: Double] = kind == .glucose ? [.glucose: 100] : [.systolic: 120, .diastolic: 80]
        let input = ReadingInput(
            device: "a4-c1-38-12-34-56", kind: kind, unit: kind == .glucose ? .milligramsPerDeciliter : .mmHg,
            values: values,
            measuredAt: measuredAt.flatMap(RFC3339.parse), sequence: seq, messageID: id)
        return try Normalizer.normalize(input, receivedAt: received).get()
    }

    @Test("A believable device time is used for evaluation")
    func believable() throws {
        let reading = try normalize(measuredAt: "2026-03-04T14:09:59Z")
        #expect(!reading.clockSuspect)
        #expect(reading.effectiveAt == RFC3339.parse("2026-03-04T14:09:59Z"))
        #expect(reading.notes.isEmpty)
    }

    @Test("More than 10 minutes ahead is suspect; the receive time is used and both are kept")
    func future() throws {
        let reading = try normalize(measuredAt: "2026-03-04T14:10:01Z")
        #expect(reading.clockSuspect)
        #expect(reading.effectiveAt == received)
        #expect(reading.measuredAt == RFC3339.parse("2026-03-04T14:10:01Z"))
        #expect(
            reading.notes == [
                "measured_at 2026-03-04T14:10:01Z is 10 minutes after received_at; device clock suspect: evaluated on its own at received_at, left out of rules over a time window or the last N readings"
            ])
    }

    @Test("Before 2015 is suspect")
    func past() throws {
        let reading = try normalize(measuredAt: "2014-12-31T23:59:59Z")
        #expect(reading.clockSuspect)
        #expect(reading.effectiveAt == received)
        #expect(
            reading.notes == [
                "measured_at 2014-12-31T23:59:59Z is before 2015; device clock suspect: evaluated on its own at received_at, left out of rules over a time window or the last N readings"
            ])
        #expect(try !normalize(measuredAt: "2015-01-01T00:00:00Z").clockSuspect)
    }

    @Test("No device time: evaluated at the receive time, not suspect")
    func missing() throws {
        let reading = try normalize(measuredAt: nil)
        #expect(!reading.clockSuspect)
        #expect(reading.effectiveAt == received)
    }

    @Test("Dedup key: glucose sequence first, then device time, then message id, else none")
    func dedupKeys() throws {
        #expect(
            try normalize(measuredAt: "2026-03-04T13:00:00Z", kind: .glucose, seq: 7).dedupKey?.description
                == "A4:C1:38:12:34:56|glucose|seq:7")
        #expect(
            try normalize(measuredAt: "2026-03-04T07:00:00-06:00", seq: 7).dedupKey?.description
                == "A4:C1:38:12:34:56|blood_pressure|at:2026-03-04T13:00:00Z")
        #expect(
            try normalize(measuredAt: nil, id: "m-1").dedupKey?.description == "A4:C1:38:12:34:56|blood_pressure|id:m-1"
        )
        #expect(try normalize(measuredAt: nil).dedupKey == nil)
        // The same instant written with another offset is the same reading.
        #expect(
            try normalize(measuredAt: "2026-03-04T13:00:00Z").dedupKey
                == normalize(measuredAt: "2026-03-04T07:00:00-06:00").dedupKey)
    }

    @Test("Bluetooth addresses have one spelling; other ids are kept")
    func deviceIDs() {
        #expect(DeviceID.canonical("a4:c1:38:12:34:56") == "A4:C1:38:12:34:56")
        #expect(DeviceID.canonical("A4-C1-38-12-34-56") == "A4:C1:38:12:34:56")
        #expect(DeviceID.canonical(" hub7-scale-1 ") == "hub7-scale-1")
        #expect(DeviceID.canonical("A4:C1:38:12:34") == "A4:C1:38:12:34")
        // The ASCII fast path spells every id as the character-by-character one did.
        #expect(DeviceID.canonical("a4c138123456") == "A4:C1:38:12:34:56")
        #expect(DeviceID.canonical("123456789012") == "123456789012")
        #expect(DeviceID.canonical("\tBENCH-00001\r\n") == "BENCH-00001")
        #expect(DeviceID.canonical("aa-bb-cc-dd-ee-0f") == "AA:BB:CC:DD:EE:0F")
        #expect(DeviceID.canonical("A4:C1:38:12:34:5G") == "A4:C1:38:12:34:5G")
        #expect(DeviceID.canonical("a4:c1-38:12:34:56") == "a4:c1-38:12:34:56")
        #expect(DeviceID.canonical("   ") == "")
        #expect(DeviceID.canonical("\u{00A0}cuff-é\u{00A0}") == "cuff-é")
        #expect(DeviceID.isBluetoothAddress("A4:C1:38:12:34:56"))
        #expect(!DeviceID.isBluetoothAddress("hub7-scale-1"))
    }

    @Test("ICD-10 codes and dates")
    func rosterValues() {
        #expect(ICD10.canonical("e119") == "E11.9")
        #expect(ICD10.canonical("I10") == "I10")
        #expect(ICD10.canonical("I50.22") == "I50.22")
        #expect(ICD10.canonical("10") == nil)
        #expect(ICD10.canonical("hypertension") == nil)
        #expect(LocalDate("2026-02-28")?.description == "2026-02-28")
        #expect(LocalDate("2026-02-29") == nil)
        #expect(LocalDate("2026-2-28") == nil)
    }
}

@Suite("Correcting a suspect device clock")
struct ClockCorrectionTests {
    static let received = RFC3339.parse("2026-03-04T14:00:00Z")!

    func reading(at time: String, offset: Double?) throws -> NormalizedReading {
        let input = ReadingInput(
            device: "A4:C1:38:12:34:56", kind: .bloodPressure, unit: .mmHg, values: [.systolic: 130, .diastolic: 80],
            measuredAt: RFC3339.parse(time))
        return try Normalizer.normalize(input, receivedAt: Self.received, clockOffset: offset).get()
    }

    @Test("A clock a year ahead, with its offset measured, counts at the corrected time")
    func corrected() throws {
        let reading = try reading(at: "2027-03-04T13:00:00Z", offset: 365 * 86_400)
        #expect(reading.clockSuspect)
        #expect(reading.windowed)
        #expect(reading.effectiveAt == RFC3339.parse("2026-03-04T13:00:00Z"))
        #expect(
            reading.notes == [
                "measured_at 2027-03-04T13:00:00Z is by a device clock 525600 minutes ahead (read from the device in this session); evaluated at the corrected time 2026-03-04T13:00:00Z"
            ])
        // The identity stays the device's own time, so a later download folds onto it.
        #expect(reading.dedupKey?.description == "A4:C1:38:12:34:56|blood_pressure|at:2027-03-04T13:00:00Z")
    }

    @Test("Without an offset, or with one that does not explain the time, the reading stays out of windows")
    func notCorrected() throws {
        for offset in [nil, 60.0] {
            let reading = try reading(at: "2027-03-04T13:00:00Z", offset: offset)
            #expect(!reading.windowed)
            #expect(reading.effectiveAt == Self.received)
            #expect(
                reading.notes.first?.hasSuffix("left out of rules over a time window or the last N readings") == true)
        }
        // A sane time is left alone whatever the offset.
        let sane = try reading(at: "2026-03-04T13:00:00Z", offset: 3600)
        #expect(sane.effectiveAt == RFC3339.parse("2026-03-04T13:00:00Z"))
        #expect(sane.notes.isEmpty)
    }
}

@Suite("A device time the device does not know")
struct UnknownDeviceTimeTests {
    static let received = RFC3339.parse("2026-03-04T14:00:00Z")!

    func glucose(baseTime: [UInt8]) throws -> NormalizedReading {
        let bytes: [UInt8] = [0x02, 0x01, 0x00] + baseTime + [0x6E, 0xB0, 0x11]
        let input = try HealthCharacteristic.decode(characteristic: "2a18", device: "C0:26:DA:01:02:03", bytes: bytes) {
            _ in Self.received
        }.get()
        return try Normalizer.normalize(input, receivedAt: Self.received).get()
    }

    @Test("A stored glucose record whose base time is zeros (unknown) or impossible stays out of windowed rules")
    func unknownBaseTime() throws {
        for time: [UInt8] in [[0, 0, 0, 0, 0, 0, 0], [0xEA, 0x07, 0xFF, 0x01, 0x00, 0x00, 0x00]] {
            let reading = try glucose(baseTime: time)
            #expect(reading.measuredAt == nil)
            #expect(reading.clockSuspect)
            #expect(!reading.windowed)
            #expect(reading.notes.first?.hasPrefix("the device sent its time as unknown or impossible") == true)
        }
        let known = try glucose(baseTime: [0xEA, 0x07, 0x03, 0x04, 0x07, 0x00, 0x00])
        #expect(known.windowed && !known.clockSuspect)
    }

    @Test("A blood pressure measurement without a time stamp is taken as measured when it arrived")
    func noTimeStamp() throws {
        let bytes: [UInt8] = [0x00, 0x80, 0x00, 0x50, 0x00, 0x60, 0x00]
        let input = try HealthCharacteristic.decode(characteristic: "2a35", device: "A4:C1:38:12:34:56", bytes: bytes) {
            _ in nil
        }.get()
        let reading = try Normalizer.normalize(input, receivedAt: Self.received).get()
        #expect(!reading.clockSuspect)
        #expect(reading.windowed)
        #expect(reading.effectiveAt == Self.received)
    }
}
