import Foundation
import GatewayCore
import Testing

@Suite("Native reading format v1")
struct NativeFormatTests {
    static let received = RFC3339.parse("2026-03-04T14:00:00Z")!

    func inputs(_ json: String) throws -> [Result<ReadingInput, Rejection>] {
        try NativeReadingV1.parse(Data(json.utf8)).get().items
    }

    @Test("The example of docs/native-format.md decodes field by field")
    func example() throws {
        let json = """
            {"v": 1, "device": "A4:C1:38:12:34:56", "kind": "blood_pressure",
             "measured_at": "2026-03-04T07:42:10-06:00", "unit": "mmHg",
             "values": {"systolic": 142, "diastolic": 91, "map": 108, "pulse": 72},
             "seq": 311, "id": "hub-7f3a-000123"}
            """
        let input = try #require(try inputs(json).first).get()
        #expect(input.device == "A4:C1:38:12:34:56")
        #expect(input.kind == .bloodPressure)
        #expect(input.unit == .mmHg)
        #expect(input.values == [.systolic: 142, .diastolic: 91, .meanArterialPressure: 108, .pulse: 72])
        #expect(input.measuredAt == RFC3339.parse("2026-03-04T13:42:10Z"))
        #expect(input.sequence == 311)
        #expect(input.messageID == "hub-7f3a-000123")
        let reading = try Normalizer.normalize(input, receivedAt: Self.received).get()
        #expect(reading.values == input.values)
        #expect(reading.effectiveAt == RFC3339.parse("2026-03-04T13:42:10Z"))
    }

    @Test("A missing device, kind or unit is rejected with the field and a fix that lists what is allowed")
    func missingFieldsNameTheFix() throws {
        func rejection(_ json: String) throws -> Rejection? {
            guard case .failure(let rejection) = try #require(try inputs(json).first) else { return nil }
            return rejection
        }
        let noDevice = try #require(try rejection(#"{"v":1,"kind":"glucose","unit":"mg/dL","values":{"glucose":99}}"#))
        #expect(noDevice.code == .missingField && noDevice.field == "device")
        #expect(noDevice.message.contains("add the device's id"))
        let noKind = try #require(try rejection(#"{"v":1,"device":"m1","unit":"mg/dL","values":{"glucose":99}}"#))
        #expect(noKind.code == .missingField && noKind.field == "kind")
        #expect(noKind.message.contains("add one of") && noKind.message.contains("blood_pressure"))
        let noUnit = try #require(try rejection(#"{"v":1,"device":"m1","kind":"glucose","values":{"glucose":99}}"#))
        #expect(noUnit.code == .missingField && noUnit.field == "unit")
        #expect(noUnit.message.contains("add the unit of the values") && noUnit.message.contains("mg/dL"))
    }

    @Test("kPa readings keep the original and store mmHg; pulse is never converted")
    func kilopascal() throws {
        let json =
            #"{"v":1,"device":"x","kind":"blood_pressure","unit":"kPa","values":{"systolic":18.9,"diastolic":11,"pulse":60},"seq":1}"#
        let reading = try Normalizer.normalize(try inputs(json)[0].get(), receivedAt: Self.received).get()
        #expect(reading.originalUnit == .kilopascal)
        #expect(reading.originalValues[.systolic] == 18.9)
        #expect(reading.values[.systolic] == 141.761637835)
        #expect(reading.values[.diastolic] == 82.506773343)
        #expect(reading.values[.pulse] == 60)
    }

    @Test("An array gives one result per element, field paths prefixed with the position")
    func batch() throws {
        let json =
            #"[{"v":1,"device":"x","kind":"pulse","unit":"/min","values":{"pulse":60},"id":"a"}, 5, {"v":1,"device":"x","kind":"pulse","unit":"/min","values":{},"id":"b"}]"#
        let results = try inputs(json)
        #expect(results.count == 3)
        #expect((try? results[0].get()) != nil)
        #expect(results[1].failure?.description == "[1]: expected a reading object, got a number")
        // Missing values are found by the normalizer, which every source shares.
        let third = try results[2].get()
        #expect(
            Normalizer.normalize(third, receivedAt: Self.received).failure?.description
                == "values.pulse: required for pulse readings; add it (a number in the reading's unit)")
    }

    @Test("SI glucose units are for BLE only, not the native format")
    func siUnitsNotNative() throws {
        let json = #"{"v":1,"device":"x","kind":"glucose","unit":"mol/L","values":{"glucose":0.0074}}"#
        #expect(
            try inputs(json)[0].failure?.description == #"unit: "mol/L" is not a unit for glucose; use mg/dL, mmol/L"#)
    }

    @Test("Non-finite values from other sources are no value, not numbers")
    func nonFinite() {
        let input = ReadingInput(device: "x", kind: .glucose, unit: .kilogramsPerLiter, values: [.glucose: .nan])
        #expect(
            Normalizer.normalize(input, receivedAt: Self.received).failure
                == Rejection(
                    .noValue, field: "values.glucose",
                    "not a finite number; send the measured value or leave the reading out"))
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
