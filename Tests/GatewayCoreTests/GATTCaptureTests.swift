import Foundation
import GatewayCore
import Testing

/// Every flag combination of the Blood Pressure Measurement, Glucose Measurement, Glucose
/// Measurement Context, Weight Measurement, Body Composition Measurement, PLX Spot-check and
/// Continuous Measurement and Temperature Measurement values, and each one cut a byte short,
/// from the hex captures in `Fixtures/gatt/captures.jsonl` (composed field by field by
/// `make-captures.py`).
@Suite("GATT captures")
struct GATTCaptureTests {
    struct Capture: Decodable, CustomTestStringConvertible, Sendable {
        struct Expect: Decodable, Sendable {
            var unit: String?
            var values: [String: Double]?
            var measured_at: String?
            var sequence: Int?
            var meal: String?
            var rejected: String?
            var field: String?
            var flags: [String]?
            var user: Int?
            var sample_type: String?
            var sample_location: String?
            var control: Bool?
            /// The rejection code normalizing the decoded value gives (a meaningless result).
            var normalized: String?
            /// Values beside the reading's own (BMI, height, body composition, pulse amplitude index), and their units.
            var supplementary: [String: Double]?
            var supplementary_units: [String: String]?
            /// The device sent a time it says is not to be trusted (a PLX clock that is not set).
            var time_unknown: Bool?
        }

        var name: String
        var char: String
        var hex: String
        var expect: Expect
        var testDescription: String { name }
    }

    static func captures() throws -> [Capture] {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fixtures/gatt/captures.jsonl")
        return try String(contentsOf: url, encoding: .utf8).split(separator: "\n").map { line in
            try JSONDecoder().decode(Capture.self, from: Data(line.utf8))
        }
    }

    @Test("Each capture decodes to what its fields say")
    func everyCapture() throws {
        // One test over all the captures (each failure names its capture), not thousands of
        // test cases: their events alone kept a parallel run's cooperative pool busy.
        for capture in try Self.captures() { try check(capture) }
    }

    func check(_ capture: Capture) throws {
        let bytes = HealthCharacteristic.bytes(Data(capture.hex.utf8))
        let expect = capture.expect
        if capture.char == "2a34" {
            let context = try HealthCharacteristic.glucoseContext(bytes).get()
            #expect(context.sequence == expect.sequence, "\(capture.name)")
            #expect(context.meal?.rawValue == expect.meal, "\(capture.name)")
            return
        }
        let result = HealthCharacteristic.decode(
            characteristic: capture.char, device: "C0:26:DA:01:02:03", bytes: bytes, clock: GATTDecoderTests.utc)
        if let code = expect.rejected {
            guard case .failure(let rejection) = result else {
                Issue.record(
                    "\(capture.name): decoded a value that must be rejected (\(code) at \(expect.field ?? "-"))")
                return
            }
            #expect(rejection.code.rawValue == code, "\(capture.name)")
            #expect(rejection.field == expect.field, "\(capture.name)")
            return
        }
        let input = try result.get()
        #expect(input.unit.rawValue == expect.unit, "\(capture.name)")
        #expect(input.measuredAt.map(RFC3339.format) == expect.measured_at, "\(capture.name)")
        #expect(input.sequence == expect.sequence, "\(capture.name)")
        // Flags as a set: the decoder gives them in bit order, the normalizer in display order.
        #expect(input.flags.map(\.rawValue).sorted() == (expect.flags ?? []).sorted(), "\(capture.name)")
        #expect(input.deviceTimeUnknown == (expect.time_unknown ?? false), "\(capture.name)")
        let supplementary = Dictionary(uniqueKeysWithValues: input.supplementary.map { ($0.name, $0) })
        #expect(Set(supplementary.keys) == Set((expect.supplementary ?? [:]).keys), "\(capture.name)")
        for (name, value) in expect.supplementary ?? [:] {
            let decoded = try #require(supplementary[name], "\(capture.name): \(name)")
            #expect(abs(decoded.value - value) <= abs(value) * 1e-12, "\(capture.name): \(name)")
            #expect(decoded.unit == expect.supplementary_units?[name], "\(capture.name): \(name)")
        }
        #expect(input.userIndex == expect.user, "\(capture.name)")
        #expect(input.sampleType == expect.sample_type, "\(capture.name)")
        #expect(input.sampleLocation == expect.sample_location, "\(capture.name)")
        #expect(input.controlSolution == (expect.control ?? false), "\(capture.name)")
        if expect.flags != nil {
            // Annunciations that make the number meaningless reject it; the others keep it, flagged.
            switch Normalizer.normalize(input, receivedAt: Date(timeIntervalSince1970: 1_800_000_000)) {
            case .failure(let rejection):
                #expect(rejection.code.rawValue == expect.normalized, "\(capture.name): \(rejection)")
            case .success(let reading):
                #expect(expect.normalized == nil, "\(capture.name)")
                #expect(reading.flags.map(\.rawValue).sorted() == expect.flags?.sorted(), "\(capture.name)")
            }
        }
        let expected = Dictionary(
            uniqueKeysWithValues: (expect.values ?? [:]).map { (Quantity(rawValue: $0.key)!, $0.value) })
        #expect(Set(input.values.keys) == Set(expected.keys), "\(capture.name)")
        for (quantity, value) in expected {
            let decoded = try #require(input.values[quantity], "\(capture.name): \(quantity.rawValue)")
            #expect(abs(decoded - value) <= abs(value) * 1e-12, "\(capture.name): \(quantity.rawValue)")
        }
    }

    @Test("The captures cover every flag combination of each characteristic")
    func coverage() throws {
        let captures = try Self.captures().filter { !$0.name.hasSuffix("short") }
        // Each defined flag bit set and clear in every combination, and the RFU bits set (2a9c's
        // flags are 16 bits: its 13 defined ones in every combination).
        for (char, count) in [
            ("2a35", 64), ("2a18", 64), ("2a34", 256), ("2a9d", 32), ("2a9c", 8192), ("2a5e", 64), ("2a5f", 64),
            ("2a1c", 16),
        ] {
            let flags = Set(
                captures.filter { $0.char == char }.map { capture in
                    let bytes = HealthCharacteristic.bytes(Data(capture.hex.utf8))
                    return char == "2a9c" ? Int(bytes[0]) | Int(bytes[1]) << 8 : Int(bytes[0])
                })
            #expect(flags.count == count, "\(char)")
        }
        // Every Measurement Status, Sensor Status Annunciation and Device and Sensor Status bit, alone.
        for bit in 0..<16 {
            #expect(captures.contains { $0.name == "2a35 measurement status bit \(bit)" })
            #expect(captures.contains { $0.name == "2a18 sensor status bit \(bit)" })
            #expect(captures.contains { $0.name == "2a5e measurement status bit \(bit)" })
        }
        for bit in 0..<24 { #expect(captures.contains { $0.name == "2a5e device and sensor status bit \(bit)" }) }
        let named = Set(captures.flatMap { $0.expect.flags ?? [] })
        #expect(named == Set(ReadingFlag.allCases.map(\.rawValue)), "every flag is named by some capture")
    }
}
