import Foundation
import GatewayCore
import GatewayPipeline
import GatewayStore
import GatewayTestSupport
import Logging
import Testing
import ccm_gatewayd

@testable import GatewayBLE

extension GATTBytes {
    /// Weight Measurement (0x2A9D) in pounds (0.01 lb steps) with its time stamp, and a user id
    /// and BMI and height (0.1 in) when given.
    static func weight(
        pounds: Double, at time: [UInt8], user: UInt8? = nil, bmi: Int? = nil, heightTenthsInch: Int? = nil
    ) -> [UInt8] {
        let flags: UInt8 = 0x03 | (user == nil ? 0 : 0x04) | (bmi == nil ? 0 : 0x08)
        var value = [flags] + le(UInt16((pounds * 100).rounded())) + time
        if let user { value.append(user) }
        if let bmi, let heightTenthsInch { value += le(UInt16(bmi)) + le(UInt16(heightTenthsInch)) }
        return value
    }

    /// Body Composition Measurement (0x2A9C), SI, with time stamp, weight (0.005 kg steps) and
    /// body fat (0.1 %).
    static func bodyComposition(kilograms: Double, bodyFatTenths: Int, at time: [UInt8]) -> [UInt8] {
        le(0x0402) + le(UInt16(bodyFatTenths)) + time + le(UInt16((kilograms * 200).rounded()))
    }

    /// PLX Spot-check Measurement (0x2A5E): SpO2 and pulse, with a time stamp when given, and a
    /// Measurement Status when given.
    static func spotCheck(spo2: Int, pulse: Int, at time: [UInt8]?, status: UInt16? = nil) -> [UInt8] {
        let flags: UInt8 = (time == nil ? 0 : 0x01) | (status == nil ? 0 : 0x02)
        var value = [flags] + sfloat(spo2, 0) + sfloat(pulse, 0) + (time ?? [])
        if let status { value += le(status) }
        return value
    }

    /// PLX Continuous Measurement (0x2A5F): SpO2PR-Normal only.
    static func continuous(spo2: Int, pulse: Int) -> [UInt8] { [0x00] + sfloat(spo2, 0) + sfloat(pulse, 0) }

    /// Temperature Measurement (0x2A1C) in °F (FLOAT, 0.1 steps), with time stamp and type.
    static func temperature(fahrenheitTenths: Int, at time: [UInt8], type: UInt8) -> [UInt8] {
        let float = UInt32(0xFF) << 24 | UInt32(fahrenheitTenths)
        return [0x07] + [UInt8(float & 0xFF), UInt8(float >> 8 & 0xFF), UInt8(float >> 16 & 0xFF), UInt8(float >> 24)]
            + time + [type]
    }
}

extension BLEWorld {
    static let scale = "D0:5C:A1:E0:00:01"
    static let oximeter = "E0:0C:51:00:00:02"
    static let thermometer = "F0:7E:00:00:00:03"

    /// The world with a scale, an oximeter and a thermometer registered to P1 as well.
    static func withBodyDevices() throws -> BLEWorld {
        let world = try BLEWorld()
        for (id, kind) in [(scale, DeviceKind.scale), (oximeter, .pulseOximeter), (thermometer, .thermometer)] {
            _ = try world.pipeline.addDevice(Device(id: id, kind: kind, bleAddress: id, patientID: "P1"), by: "test")
        }
        return world
    }
}

@Suite("BLE scales, oximeters and thermometers", .ownThreads)
struct BodyProfileTests {
    static func day(_ day: Int, _ hour: Int, _ minute: Int = 0) -> [UInt8] {
        GATTBytes.dateTime(2026, 11, day, hour, minute)
    }

    @Test(
        "A scale indicates its weights (lb, user, BMI and height) and body composition; users map to patients as for cuffs"
    )
    func scale() throws {
        let world = try BLEWorld.withBodyDevices()
        try world.database.addPatient(
            Patient(id: "P2", name: "Bea Test", timeZone: "America/Chicago", conditions: ["I50.9"]), by: "test")
        _ = try world.pipeline.assignDeviceUser(BLEWorld.scale, user: 1, to: "P1", by: "test")
        let scale = SimulatedPeripheral.scale(
            weights: [
                GATTBytes.weight(pounds: 182.5, at: Self.day(29, 7), user: 1, bmi: 262, heightTenthsInch: 703),
                GATTBytes.weight(pounds: 150.2, at: Self.day(29, 7, 5), user: 2),
            ],
            bodyComposition: [GATTBytes.bodyComposition(kilograms: 82.5, bodyFatTenths: 281, at: Self.day(29, 8))])
        let summary = try world.session(scale, device: BLEWorld.scale)
        #expect(summary.report.failure == nil)
        #expect(summary.report.services == ["181d", "181b"])
        #expect(summary.lines.contains("weight scale feature: 0x0000000E"))
        #expect(summary.lines.contains("body composition feature: 0x00000201"))
        #expect(summary.report.measurements == 3)
        #expect(scale.confirmations == 3, "each indication confirmed")
        #expect(summary.outcomes.map(\.status) == [.accepted, .quarantined, .accepted])
        #expect(summary.outcomes[1].code == "unmapped_user")
        #expect(summary.outcomes[0].reason == "the device also reported bmi 26.2 kg/m2, height 70.3 in")
        #expect(summary.outcomes[2].reason == "the device also reported body_fat 28.1 %")

        let weights = try world.readings(.weight)
        #expect(weights.map { $0.originalValues[.weight] } == [182.5, 82.5])
        #expect(weights.map(\.originalUnit) == [.pound, .kilogram])
        #expect(weights.first?.values[.weight] == Normalizer.trimConversionNoise(182.5 * 0.45359237))
        #expect(weights.first?.userIndex == 1)

        let replayed = try world.pipeline.assignDeviceUser(BLEWorld.scale, user: 2, to: "P2", by: "test")
        #expect(replayed.map(\.status) == [.accepted])
        #expect(try world.database.readings(patient: "P2", kind: .weight).map { $0.originalValues[.weight] } == [150.2])
    }

    @Test(
        "An oximeter's stored spot-checks come through its RACP (count, report all, delete) and are not downloaded twice"
    )
    func storedSpotChecks() throws {
        let world = try BLEWorld.withBodyDevices()
        let stored = [
            GATTBytes.spotCheck(spo2: 95, pulse: 70, at: Self.day(29, 8)),
            GATTBytes.spotCheck(spo2: 93, pulse: 74, at: Self.day(29, 12), status: 1 << 14),
            GATTBytes.spotCheck(spo2: 91, pulse: 80, at: Self.day(29, 18), status: 1 << 15),
        ]
        let oximeter = SimulatedPeripheral.oximeter(stored: stored)
        let summary = try world.session(oximeter, device: BLEWorld.oximeter)
        #expect(summary.report.failure == nil)
        #expect(oximeter.racpRequests == [[0x04, 0x01], [0x01, 0x01], [0x02, 0x01]])
        #expect(summary.lines.contains("pulse oximeter features: 0x000F"))
        #expect(summary.lines.contains("stored spot-checks on the oximeter: 3 (deleted from it once stored here)"))
        #expect(summary.outcomes.map(\.status) == [.accepted, .accepted, .rejected])
        #expect(summary.outcomes[2].code == "device_error")
        #expect(
            summary.outcomes[2].reason
                == "sensor_status: the device reported invalid measurement detected (invalid_measurement); its number is not a measurement; check the sensor and measure again"
        )
        let readings = try world.readings(.spo2)
        #expect(readings.map { $0.values[.spo2] } == [95, 93])
        #expect(readings.map { $0.values[.pulse] } == [70, 74])
        #expect(readings[1].flags == [.questionableMeasurement])
        #expect(oximeter.spotChecksDeleted == 1)

        // The next session finds the oximeter empty: nothing is asked twice.
        let again = try world.session(oximeter, device: BLEWorld.oximeter)
        #expect(again.outcomes.isEmpty)
        #expect(again.report.spotChecksDeleted == false, "no records, nothing deleted")
        #expect(try world.readings(.spo2).count == 2)
    }

    @Test("Continuous measurements: one stored per storage interval, not every notification, across sessions too")
    func continuousInterval() throws {
        // The session alone, with a clock that moves a minute per notification.
        let oximeter = SimulatedPeripheral.oximeter(
            continuous: (0..<40).map { GATTBytes.continuous(spo2: 90 + $0 % 5, pulse: 70) })
        var stored: [HealthRecord] = []
        var options = HealthSession.Options(idle: .milliseconds(500), procedureTimeout: .seconds(5))
        options.continuousInterval = 900
        let session = HealthSession(
            client: ATTClient(bearer: oximeter.connect(), timeout: .seconds(5)), options: options
        ) {
            stored.append($0)
        }
        var now = Date(timeIntervalSince1970: 1_800_000_000)
        session.now = {
            defer { now += 60 }
            return now
        }
        let report = session.run()
        #expect(oximeter.finish())
        #expect(report.failure == nil)
        #expect(report.continuousReceived == 40)
        #expect(report.continuousStored == 3, "minutes 0, 15 and 30 of 40")
        #expect(stored.map(\.characteristic) == ["2a5f", "2a5f", "2a5f"])
        #expect(stored.map { $0.value[1] } == [90, 90, 90])

        // Through BLESync: the first session stores one; the next, a moment later, none (the
        // last stored one is read from the database).
        let world = try BLEWorld.withBodyDevices()
        let streaming = SimulatedPeripheral.oximeter(
            continuous: (0..<5).map { _ in GATTBytes.continuous(spo2: 94, pulse: 71) })
        let first = try world.session(streaming, device: BLEWorld.oximeter)
        #expect(first.report.continuousReceived == 5 && first.report.continuousStored == 1)
        #expect(first.lines.contains("continuous measurements received: 5, stored: 1"))
        let second = try world.session(streaming, device: BLEWorld.oximeter)
        #expect(second.report.continuousReceived == 5 && second.report.continuousStored == 0)
        let readings = try world.readings(.spo2)
        #expect(readings.count == 1)
        #expect(
            readings.first?.measuredAt == nil, "a continuous measurement carries no time: it counts when it arrived")
    }

    @Test("A thermometer indicates its temperatures (°F, time, body site); intermediate temperature is ignored")
    func thermometer() throws {
        let world = try BLEWorld.withBodyDevices()
        let thermometer = SimulatedPeripheral.thermometer(measurements: [
            GATTBytes.temperature(fahrenheitTenths: 1004, at: Self.day(29, 9), type: 3),
            GATTBytes.temperature(fahrenheitTenths: 986, at: Self.day(29, 21), type: 6),
        ])
        thermometer.pushed.insert((0x2A1E, [0x01, 0xE8, 0x03, 0x00, 0xFF]), at: 0)
        let summary = try world.session(thermometer, device: BLEWorld.thermometer)
        #expect(summary.report.failure == nil)
        #expect(summary.report.measurements == 2)
        let readings = try world.readings(.temperature)
        #expect(readings.map { $0.originalValues[.temperature] } == [100.4, 98.6])
        #expect(readings.map(\.originalUnit) == [.fahrenheit, .fahrenheit])
        #expect(readings.map { $0.values[.temperature] } == [38, 37])
        #expect(readings.map(\.sampleLocation) == ["ear", "mouth"])
    }

    @Test("The same values over the MQTT gatt topic give the same readings as over BLE")
    func sameOverMQTTGatt() throws {
        let ble = try BLEWorld.withBodyDevices(), bridge = try BLEWorld.withBodyDevices()
        for world in [ble, bridge] {
            _ = try world.pipeline.assignDeviceUser(BLEWorld.scale, user: 1, to: "P1", by: "test")
        }
        let weights = [GATTBytes.weight(pounds: 182.5, at: Self.day(29, 7), user: 1, bmi: 262, heightTenthsInch: 703)]
        let composition = [GATTBytes.bodyComposition(kilograms: 82.5, bodyFatTenths: 281, at: Self.day(29, 8))]
        let spotChecks = [
            GATTBytes.spotCheck(spo2: 86, pulse: 92, at: Self.day(29, 10)),
            GATTBytes.spotCheck(spo2: 91, pulse: 80, at: Self.day(29, 11), status: 1 << 15),
        ]
        let stored = [GATTBytes.spotCheck(spo2: 95, pulse: 70, at: Self.day(28, 8), status: 1 << 14)]
        let continuous = [GATTBytes.continuous(spo2: 93, pulse: 75)]
        let temperatures = [GATTBytes.temperature(fahrenheitTenths: 1004, at: Self.day(29, 9), type: 3)]
        var outcomes = try ble.session(
            SimulatedPeripheral.scale(weights: weights, bodyComposition: composition), device: BLEWorld.scale
        )
        .outcomes
        outcomes += try ble.session(
            SimulatedPeripheral.oximeter(stored: stored, spotChecks: spotChecks, continuous: continuous),
            device: BLEWorld.oximeter
        ).outcomes
        outcomes += try ble.session(
            SimulatedPeripheral.thermometer(measurements: temperatures), device: BLEWorld.thermometer
        ).outcomes

        var published = weights.map { (BLEWorld.scale, "2a9d", $0) } + composition.map { (BLEWorld.scale, "2a9c", $0) }
        published +=
            (stored + spotChecks).map { (BLEWorld.oximeter, "2a5e", $0) }
            + continuous.map { (BLEWorld.oximeter, "2a5f", $0) }
        published += temperatures.map { (BLEWorld.thermometer, "2a1c", $0) }
        var bridged: [ItemOutcome] = []
        for (device, characteristic, value) in published {
            bridged += try bridge.pipeline.ingest(
                RawInput(
                    source: "mqtt:ccm/v1/hub/h1/gatt/\(device)/\(characteristic)",
                    format: .gatt(characteristic: characteristic, device: device),
                    payload: Data(hexString(value).utf8)))
        }
        #expect(outcomes.map(\.status) == bridged.map(\.status))
        #expect(outcomes.map(\.code) == bridged.map(\.code))
        #expect(outcomes.map(\.reason) == bridged.map(\.reason))
        #expect(
            outcomes.map(\.status) == [.accepted, .accepted, .accepted, .accepted, .rejected, .accepted, .accepted])
        for kind in [ReadingKind.weight, .spo2, .temperature] {
            let a = try ble.database.readings(kind: kind), b = try bridge.database.readings(kind: kind)
            #expect(a.count == b.count && !a.isEmpty, "\(kind)")
            for (x, y) in zip(a, b) {
                #expect(
                    x.patientID == y.patientID && x.values == y.values && x.originalUnit == y.originalUnit
                        && x.measuredAt == y.measuredAt)
                #expect(
                    x.flags == y.flags && x.userIndex == y.userIndex && x.sampleLocation == y.sampleLocation
                        && x.windowed == y.windowed)
            }
        }
    }
}

/// The "done when", end to end: `ccm-gatewayd ble-sync` against a simulated scale and
/// oximeter, with the shipped care plans (config/careplans) deciding the alerts.
@Suite("Heart-failure scale and COPD oximeter alerts over BLE", .ownThreads)
struct BodyProfileAlertTests {
    func sync(_ world: BLEWorld, _ peripheral: SimulatedPeripheral, device: String) throws -> String {
        let socket = world.directory.file("device-\(UUID().uuidString.prefix(6)).sock")
        try peripheral.listen(path: socket)
        let (status, output) = try BLESyncCommandTests().run(
            world, ["unix:\(socket)", "--device", device, "--timeout", "5", "--idle", "1"])
        #expect(peripheral.finish())
        #expect(status == 0, "\(output)")
        return output
    }

    @Test("A heart-failure patient's scale reporting +2.5 lb in a day raises the weight-gain warning")
    func weightGain() throws {
        let world = try BLEWorld.withBodyDevices()
        try world.database.setCarePlan(patient: "P1", templates: ["heart-failure"], overrides: [], by: "test")
        let first = try sync(
            world,
            SimulatedPeripheral.scale(weights: [GATTBytes.weight(pounds: 180.0, at: BodyProfileTests.day(28, 8))]),
            device: BLEWorld.scale)
        #expect(first.contains("readings stored: 1 (0 duplicate, 0 rejected, 0 quarantined)"))
        #expect(try world.database.alerts(patient: "P1").isEmpty)
        let second = try sync(
            world,
            SimulatedPeripheral.scale(weights: [GATTBytes.weight(pounds: 182.5, at: BodyProfileTests.day(29, 7, 30))]),
            device: BLEWorld.scale)
        #expect(second.contains("weight scale feature: 0x0000000E"))
        let alerts = try world.database.alerts(patient: "P1")
        #expect(alerts.map(\.ruleID) == ["weight-gain-day"])
        #expect(alerts.first?.level == .warning)
        #expect(alerts.first?.state == .open)
    }

    @Test("A COPD patient's oximeter spot-check of 86 % raises the urgent low-SpO2 alert")
    func lowSpO2() throws {
        let world = try BLEWorld.withBodyDevices()
        try world.database.setCarePlan(patient: "P1", templates: ["copd"], overrides: [], by: "test")
        let output = try sync(
            world,
            SimulatedPeripheral.oximeter(spotChecks: [
                GATTBytes.spotCheck(spo2: 86, pulse: 96, at: BodyProfileTests.day(29, 10))
            ]),
            device: BLEWorld.oximeter)
        #expect(output.contains("readings stored: 1 (0 duplicate, 0 rejected, 0 quarantined)"))
        let alerts = try world.database.alerts(patient: "P1")
        #expect(alerts.map(\.ruleID) == ["spo2-low"])
        #expect(alerts.first?.level == .urgent)
        #expect(alerts.first?.lastValue.hasPrefix("86") == true)
    }
}
