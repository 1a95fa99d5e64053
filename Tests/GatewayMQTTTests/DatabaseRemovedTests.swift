import Foundation
import GatewayCore
import GatewayStore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Issue 12 item 6 with the real daemon and a real broker: after `rm gateway.sqlite*` the daemon
/// acknowledges nothing more into the deleted file. It stops; the message published after the
/// removal stays with the broker, and reaches the database `ccmctl init` makes.
@Suite("The database removed under the daemon")
struct DatabaseRemovedTests {
    static let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()

    static func reading(device: String) -> String {
        #"{"v":1,"device":"\#(device)","kind":"blood_pressure","measured_at":"2026-03-04T07:42:10-06:00","unit":"mmHg","values":{"systolic":128,"diastolic":82}}"#
    }

    static func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    @Test("rm gateway.sqlite* under a running daemon: it stops before acknowledging more; the next message lands in the new database")
    func removedUnderTraffic() async throws {
        try await offPool { try Self.run() }
    }

    static func run() throws {
        let broker = try Broker()
        let directory = broker.directory
        let database = directory + "/gateway.sqlite"
        let config = directory + "/gateway.yaml"
        try """
            database:
              path: \(database)
            careplans:
              directory: \(repository.appendingPathComponent("config/careplans").path)
            alerts:
              log: \(directory)/alerts.log
            mqtt:
              host: 127.0.0.1
              port: \(broker.port)
              client_id: gw-rm
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let ccmctl = try Spawned(Self.products.appendingPathComponent("ccmctl").path, ["init", "--config", config])
        try #require(ccmctl.wait(timeout: 10) == 0)

        let daemonPath = Self.products.appendingPathComponent("ccm-gatewayd").path
        func start(_ log: String) throws -> Spawned {
            let connections = Self.text(broker.log).components(separatedBy: "as gw-rm").count
            let daemon = try Spawned(daemonPath, ["--config", config], stderr: log)
            guard waitUntil(broker.log, { $0.components(separatedBy: "as gw-rm").count > connections }) else {
                daemon.terminate(SIGKILL)
                throw SupportError(description: "the daemon did not connect: \(Self.text(log))")
            }
            return daemon
        }
        let firstLog = directory + "/first.log"
        let first = try start(firstLog)
        // An unknown device: quarantined, which the daemon logs at info with the inbox id.
        try broker.publish("ccm/v1/hub/h1/reading", Self.reading(device: "DEV-BEFORE"))
        guard waitUntil(firstLog, contains: "input not accepted") else {
            first.terminate(SIGKILL)
            Issue.record("the daemon did not take the first message: \(Self.text(firstLog))")
            return
        }

        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: database + suffix) }
        try broker.publish("ccm/v1/hub/h1/reading", Self.reading(device: "DEV-AFTER"))
        // Stopped by whichever notices first: the commit of that message (75, before its
        // PUBACK) or the once-a-second check (1).
        let status = first.wait(timeout: 15)
        print("database removed under the daemon: it exited with status \(status.map(String.init) ?? "none (killed after 15 s)")")
        #expect(status == 75 || status == 1, "the daemon went on after its database was removed: \(Self.text(firstLog))")
        #expect(Self.text(firstLog).contains("the database at \(database) is gone while open"))
        #expect(!FileManager.default.fileExists(atPath: database), "something made a new database")

        let again = try Spawned(Self.products.appendingPathComponent("ccmctl").path, ["init", "--config", config])
        try #require(again.wait(timeout: 10) == 0)
        let secondLog = directory + "/second.log"
        let second = try start(secondLog)
        let delivered = waitUntil(secondLog, timeout: 15, { $0.contains("input not accepted") })
        kill(second.pid, SIGTERM)
        #expect(second.wait(timeout: 10) == 0)
        #expect(delivered, "the broker did not deliver the message again: \(Self.text(secondLog))")
        let inbox = try GatewayDatabase(path: database).inbox()
        #expect(inbox.map(\.deviceID) == ["DEV-AFTER"])
    }
}
