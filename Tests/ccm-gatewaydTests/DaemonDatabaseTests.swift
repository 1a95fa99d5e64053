import Foundation
import GatewayCore
import GatewayStore
import GatewayTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The database file and one daemon per database (docs/architecture.md § "The database" and
/// § "The daemon's services"), with the real daemon process: it never creates its database, stops
/// when the file is deleted or replaced, and runs alone on a database.
@Suite("ccm-gatewayd and its database file", .ownThreads)
struct DaemonDatabaseTests {
    static let products = TestPaths.products
    static let daemon = products.appendingPathComponent("ccm-gatewayd").path
    static let ccmctl = products.appendingPathComponent("ccmctl").path

    static func start(_ config: String, log: String, notify: NotifyListener, arguments: [String] = []) throws -> Spawned
    {
        try Spawned(
            daemon, arguments + ["--config", config],
            environment: ["NOTIFY_SOCKET": notify.path, "PATH": "/usr/bin:/bin"], stderr: log)
    }

    /// SIGTERM, then the exit status within 10 s (nil: killed after that).
    static func stop(_ child: Spawned) -> Int32? {
        kill(child.pid, SIGTERM)
        return child.wait(timeout: 60)
    }

    static func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    @Test("On a missing database the daemon exits 1 with the fix (ccmctl init) and creates nothing")
    func missingDatabase() throws {
        let directory = TemporaryDirectory()
        let config = try writeDaemonConfig(in: directory, createDatabase: false)
        let notify = try NotifyListener(directory: directory.path)
        let log = directory.file("gatewayd.log")
        let status = try Self.start(config, log: log, notify: notify).wait(timeout: 60)
        #expect(status == 1, "the daemon should have refused to start: \(Self.text(log))")
        let database = directory.file("gateway.sqlite")
        #expect(
            Self.text(log).contains(
                "Error: no database at \(database); create it with ccmctl init (or restore it from a backup)"))
        #expect(!FileManager.default.fileExists(atPath: database))
    }

    enum Change: String, CaseIterable, Sendable { case deleted, replaced }

    @Test(
        "A database deleted or replaced while the daemon idles stops it (exit 1) naming the file; restarted, it never makes a new one",
        arguments: Change.allCases)
    func fileChangedWhileRunning(change: Change) throws {
        let directory = TemporaryDirectory()
        let config = try writeDaemonConfig(in: directory)
        let database = directory.file("gateway.sqlite")
        let notify = try NotifyListener(directory: directory.path)
        let log = directory.file("gatewayd.log")
        let daemon = try Self.start(config, log: log, notify: notify)
        guard notify.waitFor("READY=1") != nil else {
            daemon.terminate(SIGKILL)
            Issue.record("the daemon did not start: \(Self.text(log))")
            return
        }

        switch change {
        case .deleted:
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: database + suffix) }
        case .replaced:
            do {
                let backup = try GatewayDatabase(path: directory.file("backup.sqlite"), mode: .create)
                try backup.addPatient(Patient(id: "B1", name: "From Backup", timeZone: "UTC"), by: "test")
            }
            // A restore done with the daemon running: the old files out, the backup in.
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: database + suffix) }
            #expect(rename(directory.file("backup.sqlite"), database) == 0)
        }
        let status = daemon.wait(timeout: 60)
        #expect(status == 1, "the daemon did not stop: \(Self.text(log))")
        let expected =
            change == .deleted
            ? "the database at \(database) is gone while open ("
            : "the database at \(database) was replaced by another file while open"
        #expect(Self.text(log).contains("Error: \(expected)"))

        // What systemd's restart finds: the new file opened, or no file and a refusal.
        let restartLog = directory.file("restart.log")
        let restarted = try Self.start(config, log: restartLog, notify: notify)
        switch change {
        case .deleted:
            #expect(restarted.wait(timeout: 60) == 1)
            #expect(Self.text(restartLog).contains("Error: no database at \(database); create it with ccmctl init"))
            #expect(!FileManager.default.fileExists(atPath: database))
        case .replaced:
            #expect(
                notify.waitFor("READY=1") != nil,
                "the daemon did not start on the replacement: \(Self.text(restartLog))")
            #expect(Self.stop(restarted) == 0)
            #expect(try GatewayDatabase(path: database).patients().map(\.id) == ["B1"])
        }
    }

    @Test(
        "A second daemon on the same database exits 1 naming the first one's pid; ccmctl and ble-sync are not refused; kill -9 frees it"
    )
    func oneDaemonPerDatabase() throws {
        let directory = TemporaryDirectory()
        let config = try writeDaemonConfig(in: directory)
        let database = directory.file("gateway.sqlite")
        let notify = try NotifyListener(directory: directory.path)
        let first = try Self.start(config, log: directory.file("first.log"), notify: notify)
        guard notify.waitFor("READY=1") != nil else {
            first.terminate(SIGKILL)
            Issue.record("the first daemon did not start: \(Self.text(directory.file("first.log")))")
            return
        }

        let secondLog = directory.file("second.log")
        let second = try Self.start(config, log: secondLog, notify: notify)
        #expect(second.wait(timeout: 60) == 1, "the second daemon was not refused: \(Self.text(secondLog))")
        #expect(
            Self.text(secondLog).contains(
                "Error: another ccm-gatewayd (pid \(first.pid)) is already running on the database \(database) (it holds \(database).lock); stop it first (systemctl stop ccm-gatewayd), or give this one its own database.path"
            ))

        // ccmctl does not take the lock.
        let out = directory.file("ccmctl.out")
        let ccmctl = try Spawned(
            Self.ccmctl, ["patients", "add", "P1", "--name", "Ada Test", "--config", config], stdout: out, stderr: out)
        #expect(ccmctl.wait(timeout: 60) == 0, "ccmctl failed while the daemon ran: \(Self.text(out))")
        // Nor does the one-shot ble-sync: it gets as far as looking the device up.
        let syncLog = directory.file("ble-sync.log")
        let sync = try Spawned(
            Self.daemon, ["ble-sync", "unix:\(directory.file("none.sock"))", "--device", "NOPE", "--config", config],
            stderr: syncLog)
        #expect(sync.wait(timeout: 60) == 1)
        #expect(Self.text(syncLog).contains("no registered device NOPE"))
        #expect(!Self.text(syncLog).contains("another ccm-gatewayd"))

        // The kernel drops the lock however the holder ends.
        #expect(first.terminate(SIGKILL) == 128 + SIGKILL)
        let third = try Self.start(config, log: directory.file("third.log"), notify: notify)
        #expect(
            notify.waitFor("READY=1") != nil,
            "the daemon did not start after kill -9 of the first: \(Self.text(directory.file("third.log")))")
        #expect(Self.stop(third) == 0)
        #expect(Self.text(database + ".lock") == "\(third.pid)\n")
    }
}
