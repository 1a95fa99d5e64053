import Foundation
import GRDB
import GatewayConfig
import GatewayCore
import GatewayPipeline
import GatewayStore
import GatewayTestSupport
import Logging
import Testing

@testable import ccm_gatewayd

#if canImport(Glibc)
import Glibc
#endif

@Suite("ccm-gatewayd and systemd", .ownThreads)
struct WatchdogTests {
    /// Datagrams until one holds `assignment`, with the ones seen on the way.
    static func collect(_ notify: NotifyListener, until assignment: String, timeout: Double = 10) -> [String]? {
        var seen: [String] = []
        while let message = notify.next(timeout: timeout) {
            seen.append(message)
            if message.split(separator: "\n").contains(Substring(assignment)) { return seen }
        }
        return nil
    }

    @Test("READY with STATUS, WATCHDOG while alive and not while wedged, RELOADING/READY on SIGHUP, STOPPING")
    func notifyProtocol() async throws {
        try Self.run()
    }

    static func run() throws {
        let directory = TemporaryDirectory("ccmd")
        let configPath = try writeDaemonConfig(in: directory)
        let database = try GatewayDatabase(path: directory.file("gateway.sqlite"), mode: .create)
        try database.addPatient(Patient(id: "P1", name: "Ada Test", timeZone: "UTC"), by: "test")
        try Pipeline(database: database).addDevice(
            Device(id: "A4:C1:38:12:34:56", kind: .bloodPressureMonitor, patientID: "P1"), by: "test")

        let notify = try NotifyListener(directory: directory.path)
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw SupportError(description: "pipe failed") }
        defer { close(fds[1]) }
        let daemonPath = TestPaths.product("ccm-gatewayd")
        let daemon = try Spawned(
            daemonPath, ["--config", configPath, "--replay", "-"],
            environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "1000000", "PATH": "/usr/bin:/bin"],
            stdin: fds[0],
            stderr: directory.file("stderr.log"))
        close(fds[0])
        defer { daemon.terminate(SIGKILL) }

        let ready = try #require(collect(notify, until: "READY=1")).last!
        #expect(ready.contains("STATUS=0 readings today, 0 open alerts, MQTT off, BLE off, 0 in flight"))
        // Idle: alive; pings at half the interval.
        #expect(collect(notify, until: "WATCHDOG=1", timeout: 2) != nil)

        // SIGHUP: RELOADING=1, then READY=1; a broken file is logged and the old one stays.
        kill(daemon.pid, SIGHUP)
        #expect(collect(notify, until: "RELOADING=1")?.last?.contains("MONOTONIC_USEC=") == true)
        #expect(collect(notify, until: "READY=1") != nil)
        try "database: [oops".write(toFile: configPath, atomically: true, encoding: .utf8)
        kill(daemon.pid, SIGHUP)
        #expect(collect(notify, until: "READY=1") != nil)
        #expect(waitUntil(directory.file("stderr.log"), contains: "configuration not reloaded; the one in force stays"))

        // Wedged: the database held by another writer, a reading in hand. No WATCHDOG=1 after
        // the interval, until the writer lets go; then the reading is stored and pings resume.
        let holder = try DatabaseQueue(path: directory.file("gateway.sqlite"))
        let line =
            #"{"v":1,"device":"A4:C1:38:12:34:56","kind":"blood_pressure","unit":"mmHg","values":{"systolic":120,"diastolic":80},"measured_at":"2026-03-04T07:00:00Z"}"#
            + "\n"
        let pingsWhileWedged = try holder.inDatabase { db -> Int in
            try db.execute(sql: "BEGIN EXCLUSIVE")
            defer { try? db.execute(sql: "ROLLBACK") }
            _ = line.withCString { write(fds[1], $0, strlen($0)) }
            let wedgedAt = Date()
            var pings = 0
            while Date().timeIntervalSince(wedgedAt) < 3 {
                guard let message = notify.next(timeout: 3 - Date().timeIntervalSince(wedgedAt)) else { break }
                if message.contains("WATCHDOG=1"), Date().timeIntervalSince(wedgedAt) > 1.2 { pings += 1 }
            }
            return pings
        }
        try holder.close()
        #expect(pingsWhileWedged == 0)
        let resumed = collect(notify, until: "WATCHDOG=1", timeout: 5)
        #expect(resumed != nil)
        #expect(resumed?.last?.contains("STATUS=1 readings today") == true)
        #expect(try database.readingCount() == 1)
        #expect(waitUntil(directory.file("stderr.log"), contains: "withholding WATCHDOG=1"))

        kill(daemon.pid, SIGTERM)
        #expect(collect(notify, until: "STOPPING=1") != nil)
        #expect(daemon.wait() == 0)
    }

    @Test("The daemon refuses a database that other users can write")
    func worldWritable() throws {
        let directory = TemporaryDirectory("ccmd")
        let path = directory.file("gateway.sqlite")
        _ = try GatewayDatabase(path: path, mode: .create)
        try FileManager.default.setAttributes([.posixPermissions: 0o666], ofItemAtPath: path)
        var config = GatewayConfig.defaults
        config.database.path = path
        config.carePlans.directory = repository.appendingPathComponent("config/careplans").path
        config.alerts.log = directory.file("alerts.log")
        config.mqtt.enabled = false
        let error = try #require(throws: GatewaydError.self) {
            try Gateway(config: config, logger: .init(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        }
        #expect(
            error.description
                == "the database \(path) is writable by other users (mode 666); run chmod o-w \(path) and start again")
    }
}
