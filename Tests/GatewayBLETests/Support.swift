import Foundation
import GatewayCore
import GatewayPipeline
import GatewayStore
@_exported import GatewayTestSupport
import Logging
import Testing
import ccm_gatewayd

@testable import GatewayBLE

/// A database with patient P1, a cuff and a meter assigned to P1, and the BLE sync that stores
/// through its pipeline. Device times are read in America/Chicago, the practice's zone.
struct BLEWorld {
    static let cuff = "A4:C1:38:12:34:56"
    static let meter = "C0:26:DA:01:02:03"
    static let zone = TimeZone(identifier: "America/Chicago")!

    let directory = TemporaryDirectory("ccm-ble")
    let database: GatewayDatabase
    let pipeline: Pipeline
    var sync: BLESync

    init() throws {
        database = try GatewayDatabase(path: directory.file("gateway.sqlite"), mode: .create)
        pipeline = Pipeline(
            database: database, templates: CarePlanTemplates(["glucose": Self.glucoseTemplate, "bp": Self.bpTemplate]),
            timeZone: Self.zone)
        try database.addPatient(
            Patient(id: "P1", name: "Ada Test", timeZone: "America/Chicago", conditions: ["I10", "E11.9"]), by: "test")
        try pipeline.addDevice(
            Device(id: Self.cuff, kind: .bloodPressureMonitor, bleAddress: Self.cuff, patientID: "P1"), by: "test")
        try pipeline.addDevice(
            Device(id: Self.meter, kind: .glucometer, bleAddress: Self.meter, patientID: "P1"), by: "test")
        sync = BLESync(pipeline: pipeline, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() })
        sync.idle = .milliseconds(500)
        sync.timeout = .seconds(5)
    }

    /// Glucose thresholds as diabetes-t2 has them: high > 250 warning, > 300 urgent; low < 70, < 54.
    static let glucoseTemplate = CarePlanTemplate(
        name: "glucose", description: "", goals: [:],
        rules: [
            TemplateRule(
                id: "glucose-high", type: .threshold, kind: .glucose, quantities: [.glucose], direction: .above,
                meals: nil,
                unit: .milligramsPerDeciliter,
                parameters: [ParameterKey(.warning): 250, ParameterKey(.urgent): 300], limitIsGoal: false,
                source: "test",
                title: "Glucose high"),
            TemplateRule(
                id: "glucose-low", type: .threshold, kind: .glucose, quantities: [.glucose], direction: .below,
                meals: nil,
                unit: .milligramsPerDeciliter,
                parameters: [ParameterKey(.warning): 70, ParameterKey(.urgent): 54], limitIsGoal: false, source: "test",
                title: "Glucose low"),
        ])

    /// Blood pressure as the hypertension template has it: bp-high > 160/100 warning, > 180/120
    /// urgent; a 7-day systolic average over 130 (3 readings); irregular pulse in 2 of the last 3.
    static let bpTemplate = CarePlanTemplate(
        name: "bp", description: "", goals: [:],
        rules: [
            TemplateRule(
                id: "bp-high", type: .threshold, kind: .bloodPressure, quantities: [.systolic, .diastolic],
                direction: .above, meals: nil,
                unit: .mmHg,
                parameters: [
                    ParameterKey(.warning, .systolic): 160, ParameterKey(.urgent, .systolic): 180,
                    ParameterKey(.warning, .diastolic): 100,
                    ParameterKey(.urgent, .diastolic): 120,
                ], limitIsGoal: false, source: "test", title: "Blood pressure high"),
            TemplateRule(
                id: "systolic-7d-average", type: .average, kind: .bloodPressure, quantities: [.systolic],
                direction: .above, meals: nil,
                unit: .mmHg,
                parameters: [
                    ParameterKey(.limit): 130, ParameterKey(.window): 7 * 86_400, ParameterKey(.minReadings): 3,
                ],
                limitIsGoal: false, source: "test", title: "Systolic 7-day average above goal"),
            TemplateRule(
                id: "irregular-pulse", type: .irregularPulse, kind: .bloodPressure, quantities: [], direction: .above,
                meals: nil,
                unit: nil,
                parameters: [ParameterKey(.n): 2, ParameterKey(.m): 3], limitIsGoal: false, source: "test",
                title: "Irregular pulse"),
        ])

    /// One session of `device` against the simulated peripheral, waiting for it to end.
    func session(_ peripheral: SimulatedPeripheral, device: String) throws -> BLESync.Summary {
        let summary = try sync.run(device: try database.device(device)!, address: device, bearer: peripheral.connect())
        #expect(peripheral.finish(), "the simulated peripheral did not end its connection")
        return summary
    }

    func readings(_ kind: ReadingKind) throws -> [StoredReading] {
        try database.readings(patient: "P1", kind: kind).sorted {
            ($0.sequence ?? 0, $0.id) < ($1.sequence ?? 0, $1.id)
        }
    }
}

/// Byte builders for health-profile values (docs/ble.md, the number and characteristic sections), written apart from
/// the decoders they test.
enum GATTBytes {
    /// SFLOAT: 4-bit exponent, 12-bit mantissa, little-endian.
    static func sfloat(_ mantissa: Int, _ exponent: Int) -> [UInt8] {
        le(UInt16((exponent & 0xF) << 12 | (mantissa & 0xFFF)))
    }

    static func dateTime(
        _ year: Int, _ month: Int, _ day: Int, _ hour: Int, _ minute: Int, _ second: Int = 0
    ) -> [UInt8] {
        le(UInt16(year)) + [UInt8(month), UInt8(day), UInt8(hour), UInt8(minute), UInt8(second)]
    }

    /// Blood Pressure Measurement in mmHg with a time stamp and pulse.
    static func bloodPressure(_ systolic: Int, _ diastolic: Int, pulse: Int, at time: [UInt8]) -> [UInt8] {
        [0x06] + sfloat(systolic, 0) + sfloat(diastolic, 0) + sfloat((systolic + 2 * diastolic) / 3, 0) + time
            + sfloat(pulse, 0)
    }

    /// A stored glucose record in mg/dL (kg/L on the wire), with a context carrying the meal
    /// when `meal` is given (1 preprandial, 2 postprandial, 3 fasting, 4 casual, 5 bedtime).
    static func glucoseRecord(_ sequence: Int, mgdL: Int, meal: UInt8? = nil) -> SimulatedPeripheral.GlucoseRecord {
        let day = 1 + (sequence / 24) % 28, hour = sequence % 24
        let flags: UInt8 = 0x02 | (meal == nil ? 0 : 0x10)
        let measurement = [flags] + le(UInt16(sequence)) + dateTime(2026, 10, day, hour, 15) + sfloat(mgdL, -5) + [0x11]
        let context = meal.map { [0x02] + le(UInt16(sequence)) + [$0] }
        return SimulatedPeripheral.GlucoseRecord(sequence: sequence, measurement: measurement, context: context)
    }

    /// Hex text (`1E 8A 00`) to bytes.
    static func hex(_ text: String) -> [UInt8] {
        let digits = text.filter(\.isHexDigit)
        return stride(from: 0, to: digits.count, by: 2).map { offset in
            let start = digits.index(digits.startIndex, offsetBy: offset)
            return UInt8(digits[start..<digits.index(start, offsetBy: 2)], radix: 16)!
        }
    }
}

/// The repository's `Fixtures/` folder.
let fixtures = TestPaths.fixtures
