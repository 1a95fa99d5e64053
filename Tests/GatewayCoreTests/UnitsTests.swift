import GatewayCore
import Testing

@Suite("Units and conversions")
struct UnitsTests {
    struct Conversion: CustomTestStringConvertible, Sendable {
        let value: Double
        let unit: MeasurementUnit
        let quantity: Quantity
        let expected: Double
        var testDescription: String { "\(value) \(unit.rawValue) → \(quantity.rawValue)" }
    }

    @Test(
        "Every accepted unit converts to the canonical one by its exact factor",
        arguments: [
            Conversion(value: 142, unit: .mmHg, quantity: .systolic, expected: 142),
            // 18.9 kPa = 18900 Pa / 133.322387415 Pa per mmHg = 141.7616378348…
            Conversion(value: 18.9, unit: .kilopascal, quantity: .systolic, expected: 141.761637835),
            Conversion(value: 13.3322387415, unit: .kilopascal, quantity: .diastolic, expected: 100),
            Conversion(value: 7.4, unit: .millimolesPerLiter, quantity: .glucose, expected: 133.3184),
            Conversion(value: 1, unit: .millimolesPerLiter, quantity: .glucose, expected: 18.016),
            // BLE Glucose Measurement units (docs/ble.md § "Glucose Measurement (0x2A18), GLS", flags bit 2)
            Conversion(value: 0.00105, unit: .kilogramsPerLiter, quantity: .glucose, expected: 105),
            Conversion(value: 0.0074, unit: .molesPerLiter, quantity: .glucose, expected: 133.3184),
            Conversion(value: 201.4, unit: .pound, quantity: .weight, expected: 91.353503318),
            Conversion(value: 1, unit: .pound, quantity: .weight, expected: 0.45359237),
            Conversion(value: 98.6, unit: .fahrenheit, quantity: .temperature, expected: 37),
            Conversion(value: 32, unit: .fahrenheit, quantity: .temperature, expected: 0),
            Conversion(value: 37.1, unit: .celsius, quantity: .temperature, expected: 37.1),
            Conversion(value: 95, unit: .percent, quantity: .spo2, expected: 95),
            Conversion(value: 72, unit: .perMinute, quantity: .pulse, expected: 72),
        ])
    func conversion(_ c: Conversion) throws {
        let converted = try #require(c.unit.convert(c.value, toCanonicalOf: c.quantity))
        #expect(Normalizer.trimConversionNoise(converted) == c.expected)
    }

    @Test("A unit of another dimension does not convert")
    func wrongDimension() {
        #expect(MeasurementUnit.milligramsPerDeciliter.convert(100, toCanonicalOf: .systolic) == nil)
        #expect(MeasurementUnit.mmHg.convert(100, toCanonicalOf: .glucose) == nil)
        #expect(MeasurementUnit.pound.convert(100, toCanonicalOf: .temperature) == nil)
        #expect(MeasurementUnit.percent.convert(100, toCanonicalOf: .pulse) == nil)
    }

    @Test("Native and UCUM spellings parse; others do not")
    func spellings() {
        #expect(MeasurementUnit(spelling: "mmHg") == .mmHg)
        #expect(MeasurementUnit(spelling: "mm[Hg]") == .mmHg)
        #expect(MeasurementUnit(spelling: "lb") == .pound)
        #expect(MeasurementUnit(spelling: "[lb_av]") == .pound)
        #expect(MeasurementUnit(spelling: "mmhg") == nil)
        #expect(MeasurementUnit(spelling: "F") == nil)
        #expect(MeasurementUnit.mmHg.ucum == "mm[Hg]")
    }

    @Test("LOINC codes of docs/native-format.md")
    func loinc() {
        #expect(ReadingKind.bloodPressure.loinc == "85354-9")
        #expect(Quantity.systolic.loinc == "8480-6")
        #expect(Quantity.diastolic.loinc == "8462-4")
        #expect(Quantity.meanArterialPressure.loinc == "8478-0")
        #expect(Quantity.pulse.loinc == "8867-4")
        #expect(ReadingKind.glucose.loinc == "41653-7")
        #expect(ReadingKind.weight.loinc == "29463-7")
        #expect(ReadingKind.spo2.loinc == "59408-5")
        #expect(ReadingKind.temperature.loinc == "8310-5")
    }

    struct Bound: CustomTestStringConvertible, Sendable {
        let quantity: Quantity
        let value: Double
        let plausible: Bool
        var testDescription: String { "\(quantity.rawValue) \(value) \(plausible ? "in" : "out")" }
    }

    @Test(
        "Plausible ranges are inclusive at both ends",
        arguments: [
            Bound(quantity: .systolic, value: 40, plausible: true),
            Bound(quantity: .systolic, value: 39.9, plausible: false),
            Bound(quantity: .systolic, value: 300, plausible: true),
            Bound(quantity: .systolic, value: 300.1, plausible: false),
            Bound(quantity: .diastolic, value: 20, plausible: true),
            Bound(quantity: .diastolic, value: 19, plausible: false),
            Bound(quantity: .glucose, value: 10, plausible: true),
            Bound(quantity: .glucose, value: 9.9, plausible: false),
            Bound(quantity: .glucose, value: 1000, plausible: true),
            Bound(quantity: .glucose, value: 1001, plausible: false),
            Bound(quantity: .pulse, value: 20, plausible: true), Bound(quantity: .pulse, value: 301, plausible: false),
            Bound(quantity: .weight, value: 500, plausible: true),
            Bound(quantity: .weight, value: 0.5, plausible: false),
            Bound(quantity: .spo2, value: 100, plausible: true), Bound(quantity: .spo2, value: 100.5, plausible: false),
            Bound(quantity: .temperature, value: 45, plausible: true),
            Bound(quantity: .temperature, value: 24.9, plausible: false),
        ])
    func plausibility(_ b: Bound) {
        #expect(b.quantity.plausibleRange.contains(b.value) == b.plausible)
    }

    @Test("Quantities sort in their declared order and hash by it: each its own position")
    func quantityOrder() {
        #expect(Quantity.allCases.map(\.ordinal) == Array(Quantity.allCases.indices))
        #expect(Quantity.allCases.shuffled().sorted() == Quantity.allCases)
        var values: [Quantity: Double] = [:]
        for (index, quantity) in Quantity.allCases.enumerated() { values[quantity] = Double(index) }
        #expect(values.count == Quantity.allCases.count)
        for (index, quantity) in Quantity.allCases.enumerated() { #expect(values[quantity] == Double(index)) }
    }
}
