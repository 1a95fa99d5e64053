import Foundation
import GatewayCore
import Testing

@Suite("GATT health characteristics")
struct GATTDecoderTests {
    /// Device wall-clock times read as UTC in these tests.
    static let utc: HealthCharacteristic.Clock = { t in
        let days = RFC3339.daysFromCivil(year: t.year, month: t.month, day: t.day)
        return Date(timeIntervalSince1970: Double(days * 86_400 + t.hour * 3600 + t.minute * 60 + t.second))
    }

    static func hex(_ text: String) -> [UInt8] { HealthCharacteristic.bytes(Data(text.utf8)) }

    func decode(_ char: String, _ text: String) -> Result<ReadingInput, Rejection> {
        HealthCharacteristic.decode(
            characteristic: char, device: "A4:C1:38:12:34:56", bytes: Self.hex(text), clock: Self.utc)
    }

    @Test("E3: blood pressure in mmHg with every optional field; year 0 means no device time")
    func e3() throws {
        let input = try decode("2a35", "1E 8A 00 58 00 78 00 00 00 04 11 14 29 3B 3C 00 01 27 00").get()
        #expect(input.unit == .mmHg)
        #expect(input.values == [.systolic: 138, .diastolic: 88, .meanArterialPressure: 120, .pulse: 60])
        #expect(input.measuredAt == nil)
    }

    @Test("E4: blood pressure in kPa, no time stamp")
    func e4() throws {
        let input = try decode("2a35", "15 BD F0 0B 00 9F F0 3C 00 12 00").get()
        #expect(input.unit == .kilopascal)
        #expect(input.values == [.systolic: 18.9, .diastolic: 11, .meanArterialPressure: 15.9, .pulse: 60])
        let normalized = try Normalizer.normalize(input, receivedAt: Date()).get()
        #expect(normalized.values[.systolic] == 141.761637835)
    }

    @Test("A time stamp becomes measured_at; NaN pressures are no value; short values name the field")
    func bpEdges() throws {
        let timed = try decode("2a35", "02 8A 00 58 00 FF 07 EA 07 03 04 07 2A 0A").get()
        #expect(timed.measuredAt == RFC3339.parse("2026-03-04T07:42:10Z"))
        #expect(timed.values[.meanArterialPressure] == nil)
        #expect(
            decode("2a35", "00 FF 07 58 00 78 00").failure?.description
                == "values.systolic: the device sent NaN, not a number; nothing to store")
        #expect(
            decode("2a35", "04 8A 00 58 00 78 00").failure?.description
                == "pulse rate: Blood Pressure Measurement value of 7 bytes ends before this field; the flags announce more"
        )
    }

    @Test("E5 and E6: glucose in kg/L and mol/L, time offset applied, sequence kept")
    func glucose() throws {
        let e5 = try decode("2a18", "02 01 00 E9 07 05 15 07 0C 00 69 B0 11").get()
        #expect(e5.sequence == 1)
        #expect(e5.unit == .kilogramsPerLiter)
        #expect(e5.values[.glucose] == 0.00105)
        #expect(e5.measuredAt == RFC3339.parse("2025-05-21T07:12:00Z"))
        #expect(try Normalizer.normalize(e5, receivedAt: Date()).get().values[.glucose] == 105)
        let e6 = try decode("2a18", "1F 02 00 E9 07 05 15 0C 28 0A FB FF 4A C0 12 01 00").get()
        #expect(e6.sequence == 2)
        #expect(e6.unit == .molesPerLiter)
        #expect(e6.measuredAt == RFC3339.parse("2025-05-21T12:35:10Z"))
        #expect(try Normalizer.normalize(e6, receivedAt: Date()).get().values[.glucose] == 133.3184)
    }

    @Test("E7: a Glucose Measurement Context gives the sequence number and the meal")
    func context() throws {
        let e7 = try HealthCharacteristic.glucoseContext(Self.hex("06 02 00 02 51")).get()
        #expect(e7 == HealthCharacteristic.GlucoseContext(sequence: 2, meal: .afterMeal))
        // Extended flags and carbohydrate come before the meal when present.
        let full = try HealthCharacteristic.glucoseContext(Self.hex("83 07 00 00 01 10 F0 03")).get()
        #expect(full == HealthCharacteristic.GlucoseContext(sequence: 7, meal: .fasting))
        #expect(HealthCharacteristic.glucoseContext(Self.hex("02 07 00")).failure?.field == "meal")
    }

    @Test("Characteristics that are not readings say why")
    func others() {
        #expect(decode("2a36", "00 8A 00").failure?.code == .unsupportedFormat)
        #expect(decode("2a34", "06 02 00 02 51").failure?.code == .unsupportedFormat)
        #expect(
            decode("2a99", "00").failure?.description.hasPrefix("characteristic 2a99 is not a health measurement")
                == true)
    }
}

@Suite("FHIR R4 Observations")
struct FHIRTests {
    static let bp = """
        {"resourceType": "Observation", "id": "obs-1", "status": "final",
         "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
         "device": {"identifier": {"value": "A4:C1:38:12:34:56"}},
         "effectiveDateTime": "2026-03-04T07:42:10-06:00",
         "component": [
           {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}, "valueQuantity": {"value": 142, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
           {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]}, "valueQuantity": {"value": 91, "unit": "mmHg", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}},
           {"code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}, "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}}
         ]}
        """

    @Test("A blood-pressure panel becomes one reading")
    func bloodPressure() throws {
        let input = try FHIRObservation.parse(Data(Self.bp.utf8)).get().items[0].get()
        #expect(input.kind == .bloodPressure)
        #expect(input.device == "A4:C1:38:12:34:56")
        #expect(input.values == [.systolic: 142, .diastolic: 91, .pulse: 72])
        #expect(input.unit == .mmHg)
        #expect(input.measuredAt == RFC3339.parse("2026-03-04T13:42:10Z"))
        #expect(input.messageID == "obs-1")
    }

    @Test("A Bundle of single-value Observations; units are UCUM codes")
    func bundle() throws {
        let json = """
            {"resourceType": "Bundle", "type": "collection", "entry": [
              {"resource": {"resourceType": "Observation", "status": "final", "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
                "device": {"reference": "Device/hub7-scale-1"}, "effectiveDateTime": "2026-03-04T06:30:00-06:00",
                "valueQuantity": {"value": 201.4, "unit": "lb", "system": "http://unitsofmeasure.org", "code": "[lb_av]"}}},
              {"resource": {"resourceType": "Patient"}}
            ]}
            """
        let items = try FHIRObservation.parse(Data(json.utf8)).get().items
        let weight = try items[0].get()
        #expect(weight.kind == .weight)
        #expect(weight.device == "hub7-scale-1")
        #expect(weight.unit == .pound)
        #expect(items[1].failure?.description == "entry[1].resource: expected an Observation")
    }

    @Test("Mistakes name the field")
    func mistakes() {
        let noDevice = Self.bp.replacingOccurrences(
            of: #""device": {"identifier": {"value": "A4:C1:38:12:34:56"}},"#, with: "")
        #expect(
            FHIRObservation.parse(Data(noDevice.utf8)).map { $0.items[0].failure?.description }
                == .success("device: required; name the device with device.identifier.value or a Device/ID reference"))
        let unknownCode = Self.bp.replacingOccurrences(of: "85354-9", with: "1234-5")
        #expect((try? FHIRObservation.parse(Data(unknownCode.utf8)).get().items[0].failure?.field) == "code")
        let error = Self.bp.replacingOccurrences(of: #""status": "final""#, with: #""status": "entered-in-error""#)
        #expect(
            (try? FHIRObservation.parse(Data(error.utf8)).get().items[0].failure?.description)
                == "status: \"entered-in-error\" is not a measurement to store")
        #expect(
            FHIRObservation.parse(Data(#"{"resourceType": "Patient"}"#.utf8)).failure?.description
                == "resourceType: expected Observation or Bundle")
    }
}
