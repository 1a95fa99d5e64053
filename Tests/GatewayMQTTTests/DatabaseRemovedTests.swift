import Foundation
import GatewayCore
import GatewayStore
import GatewayTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension StressTests {
    /// The database file (docs/architecture.md § "The database") with the real daemon and a real broker:
    /// after `rm gateway.sqlite*` the daemon acknowledges nothing more into the deleted file. It stops; the
    /// message published after the removal stays with the broker, and reaches the database `ccmctl init`
    /// makes.
    @Suite("The database removed under the daemon", .ownThreads)
    struct DatabaseRemovedTests {
        static let products = TestPaths.products

        static func reading(device: String) -> String {
            #"{"v":1,"device":"\#(device)","kind":"blood_pressure","measured_at":"2026-03-04T07:42:10-06:00","unit":"mmHg","values":{"systolic":128,"diastolic":82}}"#
        }

        static func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

        @Test(
            "rm gateway.sqlite* under a running daemon: it stops before acknowledging more; the next message lands in the new database"
        )
        func removedUnderTraffic() async throws {
            let result = try Self.run()
            print(
                "database removed under the daemon: it exited with status \(result.status.map(String.init) ?? "none (killed after 60 s)")"
            )
            #expect(result.tookFirst, "the daemon did not take the first message: \(result.firstLog)")
            // Stopped by whichever notices first: the commit of that message (75, before its
            // PUBACK) or the once-a-second check (1).
            #expect(
                result.status == 75 || result.status == 1,
                "the daemon went on after its database was removed: \(result.firstLog)")
            #expect(result.firstLog.contains("the database at \(result.database) is gone while open"))
            #expect(!result.recreated, "something made a new database")
            #expect(result.initialized)
            #expect(result.delivered, "the broker did not deliver the message again: \(result.secondLog)")
            #expect(result.secondStatus == 0)
            #expect(result.inbox == ["DEV-AFTER"])
        }

        struct Result: Sendable {
            var database = ""
            var tookFirst = false
            var status: Int32?
            var firstLog = ""
            var recreated = true
            var initialized = false
            var delivered = false
            var secondStatus: Int32?
            var secondLog = ""
            var inbox: [String?] = []
        }

        static func run() throws -> Result {
            var result = Result()
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
            \(try broker.gatewaySection(clientID: "gw-rm"))
            """.write(toFile: config, atomically: true, encoding: .utf8)
            let ccmctl = try Spawned(Self.products.appendingPathComponent("ccmctl").path, ["init", "--config", config])
            guard ccmctl.wait(timeout: 60) == 0 else { throw SupportError(description: "ccmctl init failed") }

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
            result.database = database
            let first = try start(firstLog)
            // An unknown device: quarantined, which the daemon logs at info with the inbox id.
            try broker.publish("ccm/v1/hub/h1/reading", Self.reading(device: "DEV-BEFORE"))
            result.tookFirst = waitUntil(firstLog, contains: "input not accepted")
            guard result.tookFirst else {
                first.terminate(SIGKILL)
                result.firstLog = Self.text(firstLog)
                return result
            }

            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: database + suffix) }
            try broker.publish("ccm/v1/hub/h1/reading", Self.reading(device: "DEV-AFTER"))
            result.status = first.wait(timeout: 60)
            result.firstLog = Self.text(firstLog)
            result.recreated = FileManager.default.fileExists(atPath: database)

            let again = try Spawned(Self.products.appendingPathComponent("ccmctl").path, ["init", "--config", config])
            result.initialized = again.wait(timeout: 60) == 0
            guard result.initialized else { return result }
            let secondLog = directory + "/second.log"
            let second = try start(secondLog)
            result.delivered = waitUntil(secondLog, timeout: 60, { $0.contains("input not accepted") })
            kill(second.pid, SIGTERM)
            result.secondStatus = second.wait(timeout: 60)
            result.secondLog = Self.text(secondLog)
            result.inbox = try GatewayDatabase(path: database).inbox().map(\.deviceID)
            return result
        }
    }
}
