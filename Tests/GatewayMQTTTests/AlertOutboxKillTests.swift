import Foundation
import GatewayCore
import GatewayPipeline
import GatewayStore
import GatewayTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension StressTests {
    /// Every alert is announced (docs/alerts.md § "The outbox"): alert events are committed by another process (as
    /// ccmctl does) while the real daemon is killed with SIGKILL and restarted, some while it is
    /// down (committed, not yet written: the state a kill between commit and write leaves).
    /// Afterwards every event is in the alert log exactly once, by id, and on the MQTT alert topic
    /// at least once.
    @Suite("Alert outbox kill test", .ownThreads)
    struct AlertOutboxKillTests {
        @Test("Alert events across three kill -9s: each in the log exactly once, each on MQTT at least once")
        func killNine() async throws {
            let result = try Self.run()
            #expect(result.kills == 3)
            #expect(result.events == 1 + 3 * 30)
            #expect(result.logged == (1...Int64(result.events)).map { $0 }, "each event once, in order")
            #expect(
                result.published.isSuperset(of: Set(1...Int64(result.events))), "each event published at least once")
            #expect(result.finalStatus == 0)
        }

        struct Result: Sendable {
            var kills = 0, events = 0
            var logged: [Int64] = []
            var published: Set<Int64> = []
            var finalStatus: Int32 = -1
        }

        static func run() throws -> Result {
            var result = Result()
            let broker = try Broker()
            let directory = broker.directory
            let gateway = try DaemonUnderTest(broker: broker, clientID: "gw-outbox")
            let log = gateway.alertLog
            let database = try GatewayDatabase(path: gateway.databasePath, mode: .create)
            try database.addPatient(Patient(id: "P1", name: "Kill Test", timeZone: "UTC"), by: "test")
            try database.setCarePlan(patient: "P1", templates: ["hypertension"], overrides: [], by: "test")
            try Pipeline(database: database).addDevice(
                Device(id: "A4:C1:38:12:34:56", kind: .bloodPressureMonitor, patientID: "P1"), by: "test")
            try Pipeline(database: database).addHub("h1", patients: ["P1"], by: "test")

            // A subscriber that stays for the whole test (a persistent session keeps what arrives
            // while it reconnects).
            let output = directory + "/alerts.out"
            let subscriber = try Spawned(
                "/usr/bin/mosquitto_sub",
                [
                    "-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "1", "-c", "-i", "sub-kill", "-t",
                    "ccm/v1/alerts/#", "-W", "240",
                ]
                    + broker.login(Broker.alertReader),
                stdout: output)
            defer { _ = subscriber.terminate(SIGKILL) }
            guard waitUntil(broker.log, { $0.contains("sub-kill 1 ccm/v1/alerts/#") }) else {
                throw KillTests.Failure(description: "no subscriber")
            }

            func startDaemon() throws -> Spawned { try gateway.start() }
            var daemon = try startDaemon()
            // Event 1: the daemon's own pipeline raises the alert from a hub's reading.
            let reading =
                #"{"v":1,"device":"A4:C1:38:12:34:56","kind":"blood_pressure","measured_at":"\#(RFC3339.format(Date()))","unit":"mmHg","values":{"systolic":185,"diastolic":90}}"#
            try broker.publish("ccm/v1/hub/h1/reading", reading)
            guard waitUntil(log, { _ in (try? database.alertEvents().count) == 1 }) else {
                throw KillTests.Failure(description: "no alert raised")
            }
            var generator = SystemRandomNumberGenerator()
            for _ in 0..<3 {
                // Committed while the daemon runs, as ccmctl alerts ack does.
                for _ in 0..<20 { _ = try database.acknowledge(1, by: "nurse.kim") }
                usleep(UInt32.random(in: 0...2_500_000, using: &generator))
                _ = daemon.terminate(SIGKILL)
                result.kills += 1
                // Committed while it is dead: in the outbox, in no sink.
                for _ in 0..<10 { _ = try database.acknowledge(1, by: "nurse.kim") }
                daemon = try startDaemon()
            }
            result.events = try database.alertEvents(limit: 1000).count

            let all = Set(1...Int64(result.events))
            func published() -> Set<Int64> {
                Set(
                    ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
                        AlertLogFormat.parse(String($0))?.eventID
                    })
            }
            _ = waitUntil(log, timeout: 60) { content in content.components(separatedBy: "\n").count > result.events }
            _ = waitUntil(output, timeout: 60) { _ in published().isSuperset(of: all) }
            result.finalStatus = daemon.terminate(SIGTERM)
            result.logged = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n")
                .compactMap {
                    AlertLogFormat.parse(String($0))?.eventID
                }
            result.published = published()
            return result
        }
    }
}
