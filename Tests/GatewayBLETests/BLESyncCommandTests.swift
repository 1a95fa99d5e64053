import Foundation
import GatewayCore
import GatewayStore
import GatewayTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `ccm-gatewayd ble-sync unix:PATH` as an operator runs it, against the simulated peripheral
/// listening on a Unix SOCK_SEQPACKET socket.
@Suite("ccm-gatewayd ble-sync", .ownThreads)
struct BLESyncCommandTests {
    static let daemon = TestPaths.product("ccm-gatewayd")

    func run(_ world: BLEWorld, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let config = world.directory.file("gateway.yaml")
        try """
        database:
          path: \(world.directory.file("gateway.sqlite"))
        practice:
          time_zone: America/Chicago
        careplans:
          directory: \(fixtures.deletingLastPathComponent().appendingPathComponent("config/careplans").path)
        alerts:
          log: \(world.directory.file("alerts.log"))
        mqtt:
          enabled: false
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let output = world.directory.file("stdout-\(UUID().uuidString.prefix(6))")
        let child = try Spawned(
            Self.daemon, ["ble-sync"] + arguments + ["--config", config], stdout: output,
            stderr: world.directory.file("stderr.log"))
        let status = child.wait()
        return (status, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }

    @Test("ble-sync unix:PATH prints and stores the same readings as a session in process")
    func unixTarget() throws {
        let world = try BLEWorld()
        let records = (1...25).map { GATTBytes.glucoseRecord($0, mgdL: 95 + $0, meal: $0 == 25 ? 2 : nil) }
        let meter = SimulatedPeripheral.meter(records: records)
        let socket = world.directory.file("meter.sock")
        try meter.listen(path: socket)
        let (status, output) = try run(
            world, ["unix:\(socket)", "--device", BLEWorld.meter, "--timeout", "30", "--idle", "1"])
        #expect(meter.finish())
        #expect(status == 0, "\(output)")
        #expect(
            output == """
                device C0:26:DA:01:02:03 (patient P1) via unix:\(socket)
                services: 1808, 180a
                glucose feature: 0x0403
                records on the meter in all: 25
                records downloaded: 25 (and 1 meal contexts)
                readings stored: 25 (0 duplicate, 0 rejected, 0 quarantined)
                last glucose sequence: 25
                device clock set: no
                result: complete

                """)

        // The same bytes through a session in this process, into another database: the same readings.
        let other = try BLEWorld()
        _ = try other.session(SimulatedPeripheral.meter(records: records), device: BLEWorld.meter)
        let stored = try world.readings(.glucose), expected = try other.readings(.glucose)
        #expect(stored.count == 25)
        #expect(stored.map(\.values) == expected.map(\.values))
        #expect(stored.map(\.measuredAt) == expected.map(\.measuredAt))
        #expect(stored.map(\.meal) == expected.map(\.meal))
        #expect(stored.allSatisfy { $0.source == "ble:unix:\(socket)" })
    }

    @Test("ble-sync explains what to fix: a unix target without --device, an unknown device, an unassigned one")
    func mistakes() throws {
        let world = try BLEWorld()
        var result = try run(world, ["unix:/nonexistent"])
        #expect(result.status != 0)
        #expect(
            try String(contentsOfFile: world.directory.file("stderr.log"), encoding: .utf8).contains(
                "--device: required with a unix: target"))

        result = try run(world, ["unix:/nonexistent", "--device", "NOPE"])
        #expect(result.status != 0)
        #expect(
            try String(contentsOfFile: world.directory.file("stderr.log"), encoding: .utf8).contains(
                "no registered device NOPE"))

        try world.database.unassignDevice(BLEWorld.meter, by: "test")
        result = try run(world, ["unix:/nonexistent", "--device", BLEWorld.meter])
        #expect(
            try String(contentsOfFile: world.directory.file("stderr.log"), encoding: .utf8).contains(
                "is not assigned to a patient"))

        result = try run(world, ["not-an-address"])
        #expect(
            try String(contentsOfFile: world.directory.file("stderr.log"), encoding: .utf8).contains(
                "is neither a Bluetooth address"))
    }

    @Test("A session that ends with an error exits 1, keeps what arrived, and says where the next one resumes")
    func brokenSession() throws {
        let world = try BLEWorld()
        let meter = SimulatedPeripheral.meter(records: (1...10).map { GATTBytes.glucoseRecord($0, mgdL: 120) })
        meter.disconnectAfterRecords = 4
        let socket = world.directory.file("meter.sock")
        try meter.listen(path: socket)
        // The disconnect ends the session long before the procedure time-out; the time-out is
        // generous only so that a machine busy with other tests does not end it first.
        let (status, output) = try run(world, ["unix:\(socket)", "--device", BLEWorld.meter, "--timeout", "30"])
        #expect(meter.finish())
        #expect(status == 1)
        #expect(output.contains("readings stored: 4 (0 duplicate, 0 rejected, 0 quarantined)"))
        #expect(
            output.contains("error: the device disconnected after 4 records; the next session resumes from sequence 5"))
        #expect(
            try world.database.bleSyncState(device: BLEWorld.meter).lastError?.contains("disconnected after 4 records")
                == true)
    }

    @Test(
        "ble-sync says plainly that a meter was reset and downloads all; devices sync shows the epoch and the last reset"
    )
    func resetSaid() throws {
        let world = try BLEWorld()
        let old = (1...20).map { GATTBytes.glucoseRecord($0, mgdL: 100 + $0) }
        _ = try world.session(SimulatedPeripheral.meter(records: old), device: BLEWorld.meter)
        let new = (1...5).map { n in GATTBytes.glucose(n, mgdL: 200 + n, at: GATTBytes.dateTime(2026, 11, n, 9, 30)) }
        let meter = SimulatedPeripheral.meter(records: new)
        let socket = world.directory.file("meter.sock")
        try meter.listen(path: socket)
        let (status, output) = try run(world, ["unix:\(socket)", "--device", BLEWorld.meter, "--timeout", "30"])
        #expect(meter.finish())
        #expect(status == 0, "\(output)")
        #expect(
            output.contains(
                """
                METER RESET DETECTED: the meter's newest record is sequence 5, below the last one stored (20): the meter was reset or its sequence numbers wrapped past 65535
                  its records are numbered anew (epoch 1); every record on the meter is downloaded, none is folded into the old ones
                records on the meter in all: 5
                records downloaded: 5
                readings stored: 5 (0 duplicate, 0 rejected, 0 quarantined)
                """))
        #expect(try world.readings(.glucose).count == 25)

        let ccmctl = URL(fileURLWithPath: Self.daemon).deletingLastPathComponent().appendingPathComponent("ccmctl").path
        let listing = world.directory.file("sync.json")
        let child = try Spawned(
            ccmctl, ["devices", "sync", "--format", "json", "--config", world.directory.file("gateway.yaml")],
            stdout: listing,
            stderr: world.directory.file("ccmctl.err"))
        #expect(child.wait() == 0)
        let rows = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: listing))) as? [[String: Any]])
        let row = try #require(rows.first { $0["device"] as? String == BLEWorld.meter })
        #expect(row["epoch"] as? Int == 1)
        #expect((row["last_reset"] as? String)?.contains("meter reset detected") == true)
        #expect((row["last_reset"] as? String)?.contains("below the last one stored (20)") == true)
        #expect(row["next_glucose_seq"] as? Int == 6)
    }
}
