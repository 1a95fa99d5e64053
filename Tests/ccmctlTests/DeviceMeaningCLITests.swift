import Foundation
import GatewayCore
import GatewayPipeline
import GatewayStore
import GatewayTestSupport
import Testing

/// What an operator sees of device users, status flags, control tests and raw GATT payloads.
@Suite("ccmctl: device users, flags, control tests, payloads", .ownThreads)
struct DeviceMeaningCLITests {
    static let cuff = "A4:C1:38:12:34:56"
    static let meter = "C0:26:DA:01:02:03"

    /// A Blood Pressure Measurement in mmHg with a time stamp (2026-11-27 08:MM), optional user
    /// id and Measurement Status, bytes per docs/ble.md § "Blood Pressure Measurement (0x2A35), BLS".
    static func bloodPressure(
        _ systolic: UInt8, _ diastolic: UInt8, minute: UInt8, user: UInt8? = nil, status: UInt16? = nil
    ) -> [UInt8] {
        var flags: UInt8 = 0x02
        if user != nil { flags |= 0x08 }
        if status != nil { flags |= 0x10 }
        var bytes: [UInt8] = [flags, systolic, 0x00, diastolic, 0x00, 0xFF, 0x07]  // MAP NaN
        bytes += [0xEA, 0x07, 11, 27, 8, minute, 0]
        if let user { bytes.append(user) }
        if let status { bytes += [UInt8(status & 0xFF), UInt8(status >> 8)] }
        return bytes
    }

    func gatt(_ cli: CLI, _ characteristic: String, _ device: String, _ bytes: [UInt8]) throws -> [ItemOutcome] {
        let database = try GatewayDatabase(path: cli.database, mode: .existing)
        return try Pipeline(database: database, timeZone: TimeZone(identifier: "America/Chicago")!).ingest(
            RawInput(
                source: "mqtt:ccm/v1/hub/h1/gatt/\(device)/\(characteristic)",
                format: .gatt(characteristic: characteristic, device: device), payload: Data(bytes)))
    }

    @Test("inbox list --format json gives a binary payload as base64 and a text one as text, each labelled")
    func payloadLossless() throws {
        let cli = try CLI()
        try cli.seed()
        let bytes: [UInt8] = [0x02, 0x8A, 0x00, 0x58, 0x00, 0xFF, 0x07, 0xEA, 0x07, 0x0B, 0x1B, 0x08, 0x00, 0x00]
        _ = try gatt(cli, "2a35", Self.cuff, bytes)
        try cli.ok(
            ["ingest", "-"],
            input: #"{"v":1,"device":"hub7-scale-1","kind":"weight","unit":"kg","values":{"weight":91.2}}"# + "\n")
        let entries = try cli.json(["inbox", "list"])
        #expect(entries.map { $0["payload_encoding"] as? String } == ["base64", "utf8"])
        let binary = try #require(entries[0]["payload"] as? String)
        #expect(Data(base64Encoded: binary).map(Array.init) == bytes)
        #expect(
            entries[1]["payload"] as? String
                == #"{"v":1,"device":"hub7-scale-1","kind":"weight","unit":"kg","values":{"weight":91.2}}"#)
        let csv = try cli.ok(["inbox", "list", "--format", "csv"]).split(separator: "\n")
        #expect(csv[0].hasSuffix(",payload_encoding,payload"))
        #expect(csv[1].hasSuffix(",base64,\(binary)"))
    }

    @Test("readings list shows the cuff's flags; body movement is excluded from rules with the reason")
    func flagsShown() throws {
        let cli = try CLI()
        try cli.seed()
        #expect(
            try gatt(cli, "2a35", Self.cuff, Self.bloodPressure(150, 95, minute: 0, status: 0x0001 | 0x0004)).map(
                \.status) == [.accepted])
        #expect(
            try gatt(cli, "2a35", Self.cuff, Self.bloodPressure(140, 90, minute: 5, status: 0x0004)).map(\.status) == [
                .accepted
            ])
        let listed = try cli.json(["readings", "list", "--kind", "blood_pressure"])
        #expect(
            listed.map { $0["flags"] as? [String] } == [["body_movement", "irregular_pulse"], ["irregular_pulse"]])
        #expect(
            listed[0]["excluded_from_rules"] as? String
                == "body movement during the measurement: left out of threshold and average rules")
        #expect(listed[1]["excluded_from_rules"] is NSNull)
        #expect(listed.map { $0["windowed"] as? Bool } == [false, true])
        let table = try cli.ok(["readings", "list", "--kind", "blood_pressure"])
        #expect(table.contains("body_movement irregular_pulse excluded_from_rules"))
        let csv = try cli.ok(["readings", "list", "--kind", "blood_pressure", "--format", "csv"]).split(separator: "\n")
        #expect(
            csv[1].contains(
                ",body_movement; irregular_pulse,body movement during the measurement: left out of threshold and average rules,"
            ))
    }

    @Test("devices assign --user maps a cuff's user to a patient, audited, replaying that user's quarantined readings")
    func assignUser() throws {
        let cli = try CLI()
        try cli.seed()
        let outcome = try gatt(cli, "2a35", Self.cuff, Self.bloodPressure(168, 101, minute: 0, user: 2))
        #expect(outcome.map(\.code) == ["unmapped_user"])
        #expect(try cli.json(["readings", "list", "--kind", "blood_pressure"]).isEmpty)
        #expect(
            try cli.json(["inbox", "list", "--status", "quarantined"]).first?["reason"] as? String
                == "device \(Self.cuff) sent user 2, which is not mapped to a patient; map it with ccmctl devices assign \(Self.cuff) --user 2 --patient PATIENT, which replays its quarantined readings"
        )
        let out = try cli.ok(["devices", "assign", Self.cuff, "--user", "2", "--patient", "P2"])
        #expect(
            out
                == "mapped user 2 of device \(Self.cuff) to patient P2\nreplayed 1 quarantined readings: 1 accepted, 0 rejected, 0 quarantined, 0 duplicate\n"
        )
        let readings = try cli.json(["readings", "list", "--kind", "blood_pressure"])
        #expect(readings.map { $0["patient"] as? String } == ["P2"])
        #expect(readings.first?["user"] as? Int == 2)
        #expect(
            try cli.fails(["devices", "assign", Self.cuff, "--user", "300", "--patient", "P2"]).contains(
                "--user: 300 is not a user index; use 0 to 255"))
        #expect(
            try cli.fails(["devices", "assign", Self.cuff, "--user", "1", "--patient", "NOPE"]).contains(
                "no patient NOPE"))
        let audit = try GatewayDatabase(path: cli.database, mode: .existing).auditLog(entity: "device", id: Self.cuff)
            .filter {
                $0.action == "device.assign_user"
            }
        #expect(audit.count == 1)
    }

    @Test("readings controls lists control-solution tests, which are not readings")
    func controls() throws {
        let cli = try CLI()
        try cli.seed()
        // Type 10 (control solution), location 4; 125 mg/dL as 0.00125 kg/L.
        let value: [UInt8] = [0x02, 0x01, 0x00, 0xEA, 0x07, 11, 27, 8, 0, 0, 0x7D, 0xB0, 0x4A]
        #expect(try gatt(cli, "2a18", Self.meter, value).map(\.code) == ["control_test"])
        #expect(try cli.json(["readings", "list"]).isEmpty)
        let controls = try cli.json(["readings", "controls"])
        #expect(controls.count == 1)
        #expect(controls.first?["glucose"] as? Int == 125)
        #expect(controls.first?["sample_type"] as? String == "control_solution")
        #expect(controls.first?["patient"] as? String == "P1")
        #expect(try cli.ok(["readings", "controls"]).contains("125 mg/dL"))
    }
}
