import Foundation
import GatewayConfig
import GatewayCore
import GatewayPipeline
import GatewayStore
import GatewayTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Every alert is announced (docs/alerts.md § "The outbox"): the alert log's folder turns read-only (a rotation
/// whose new file cannot be created), alert events keep being committed, then the folder is
/// writable again: every event is in the log exactly once, by id.
@Suite("ccm-gatewayd alert log outage", .ownThreads)
struct AlertLogOutageTests {
    /// The unprivileged user the daemon runs as when the tests run as root (root ignores a
    /// folder's missing write permission).
    static let nobody: uid_t = 65534

    @Test("Read-only log folder, then writable again: each alert event in the log exactly once")
    func readOnlyThenWritable() async throws {
        try Self.run()
    }

    @Test("A log folder read-only at start: the daemon starts, says so, and writes the waiting events once it can")
    func readOnlyAtStart() async throws {
        try Self.runReadOnlyAtStart()
    }

    static func ids(_ path: String) -> [Int64] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
            AlertLogFormat.parse(String($0))?.eventID
        }
    }

    /// A database with P1 (a BP cuff, the hypertension plan), a daemon configuration, and the
    /// daemon's command line (as nobody when root).
    static func setUp(_ directory: TemporaryDirectory, log: String) throws -> (GatewayDatabase, Pipeline, [String]) {
        let configPath = try writeDaemonConfig(in: directory, alertLog: log)
        let database = try GatewayDatabase(path: directory.file("gateway.sqlite"))
        try database.addPatient(Patient(id: "P1", name: "Outage Test", timeZone: "UTC"), by: "test")
        let pipeline = Pipeline(
            database: database,
            templates: CarePlanTemplates(try GatewayConfig.load(path: configPath).loadTemplates().templates))
        try pipeline.addDevice(
            Device(id: "A4:C1:38:12:34:56", kind: .bloodPressureMonitor, patientID: "P1"), by: "test")
        try database.setCarePlan(patient: "P1", templates: ["hypertension"], overrides: [], by: "test")
        let daemonPath = TestPaths.product("ccm-gatewayd")
        var command = [daemonPath, "--config", configPath]
        if geteuid() == 0 {
            for entry in try FileManager.default.subpathsOfDirectory(atPath: directory.path) + [""] {
                chown(directory.path + "/" + entry, nobody, gid_t(nobody))
            }
            command = ["/usr/bin/setpriv", "--reuid=\(nobody)", "--regid=\(nobody)", "--clear-groups"] + command
        }
        return (database, pipeline, command)
    }

    static let reading =
        #"{"v":1,"device":"A4:C1:38:12:34:56","kind":"blood_pressure","measured_at":"\#(RFC3339.format(Date()))","unit":"mmHg","values":{"systolic":185,"diastolic":90}}"#

    static func runReadOnlyAtStart() throws {
        let directory = TemporaryDirectory()
        let logs = directory.file("logs")
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: false)
        let log = logs + "/alerts.log"
        let (database, pipeline, command) = try setUp(directory, log: log)
        #expect(chmod(logs, 0o555) == 0)
        let stderr = directory.file("stderr.log")
        let daemon = try Spawned(
            command[0], Array(command.dropFirst()), environment: ["PATH": "/usr/bin:/bin"], stderr: stderr)
        defer { _ = daemon.terminate(SIGKILL) }
        #expect(waitUntil(stderr, contains: "alert log cannot be opened"))
        #expect(waitUntil(stderr, contains: "ccm-gatewayd ready"), "a log outage does not stop the gateway")
        #expect(
            try pipeline.ingest(RawInput(source: "test", payload: Data(reading.utf8))).flatMap(\.alerts).map(\.eventID)
                == [1])
        _ = try database.acknowledge(1, by: "nurse.kim")
        #expect(waitUntil(stderr, contains: "alert events cannot be delivered"))
        #expect(chmod(logs, 0o755) == 0)
        #expect(waitUntil(log, timeout: 20) { _ in ids(log) == [1, 2] })
        #expect(daemon.terminate(SIGTERM) == 0)
    }

    static func run() throws {
        let directory = TemporaryDirectory()
        let logs = directory.file("logs")
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: false)
        let log = logs + "/alerts.log"
        let (database, pipeline, command) = try setUp(directory, log: log)
        // Event 1, committed here (another process) before the daemon starts.
        #expect(
            try pipeline.ingest(RawInput(source: "test", payload: Data(reading.utf8))).flatMap(\.alerts).map(\.eventID)
                == [1])
        let stderr = directory.file("stderr.log")
        let daemon = try Spawned(
            command[0], Array(command.dropFirst()), environment: ["PATH": "/usr/bin:/bin"], stderr: stderr)
        defer { _ = daemon.terminate(SIGKILL) }
        #expect(waitUntil(stderr, contains: "ccm-gatewayd ready"))
        #expect(waitUntil(log) { _ in ids(log) == [1] }, "the daemon writes what was committed before it started")

        // logrotate moves the log away but the new one cannot be created: the folder is read-only.
        try FileManager.default.moveItem(atPath: log, toPath: log + ".1")
        #expect(chmod(logs, 0o555) == 0)
        kill(daemon.pid, SIGHUP)
        #expect(waitUntil(stderr, contains: "alert log cannot be reopened"))
        _ = try database.acknowledge(1, by: "nurse.kim")
        #expect(waitUntil(stderr, contains: "alert events cannot be delivered"), "the outage is logged")
        _ = try database.snooze(1, for: 3600, by: "nurse.kim")
        _ = try database.acknowledge(1, by: "nurse.kim")
        #expect(!FileManager.default.fileExists(atPath: log))

        #expect(chmod(logs, 0o755) == 0)
        #expect(waitUntil(log, timeout: 20) { _ in ids(log) == [2, 3, 4] }, "the waiting events, once each, in order")
        #expect(waitUntil(stderr, contains: "alert events delivered again"))
        #expect(ids(log + ".1") == [1])
        #expect(daemon.terminate(SIGTERM) == 0)
        let journal = try String(contentsOfFile: stderr, encoding: .utf8)
        #expect(
            journal.components(separatedBy: "alert events cannot be delivered").count == 2,
            "logged once for the outage, not per event or retry")
        #expect(ids(log) == [2, 3, 4])
    }
}
