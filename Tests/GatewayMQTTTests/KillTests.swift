import Foundation
import GatewayCore
import GatewayPipeline
import GatewayStore
import GatewayTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The tests that drive tens of thousands of readings through killed and restarted daemons.
/// Each takes a minute or more of both cores: they run one after another (the suite is
/// serialized, and the trait reaches its nested suites), beside the rest of the parallel run.
@Suite("Stress", .serialized)
enum StressTests {}

extension StressTests {
    /// Nothing lost (docs/data-flow.md § "The durability rule"): 20,000 QoS 1 readings published to a real
    /// broker while the real daemon is killed with SIGKILL three times at random moments and restarted;
    /// afterwards every reading is stored exactly once. With one lane, and with four lanes sharing each
    /// fsync (a kill then lands while several callbacks wait for one group commit).
    @Suite("Kill test", .ownThreads)
    struct KillTests {
        static let count = 20_000

        @Test("20,000 readings, three kill -9s: lost 0, duplicates 0", arguments: [1, 4])
        func killNineThreeTimes(lanes: Int) async throws {
            let result = try Self.run(lanes: lanes)
            print(
                "kill test, \(lanes) lane(s): published \(Self.count), stored \(result.stored), duplicates \(result.duplicates), lost \(result.lost) (kill -9 \(result.kills) times; \(result.redelivered) redeliveries folded)"
            )
            #expect(result.lost == 0)
            #expect(result.duplicates == 0)
            #expect(result.kills == 3)
            #expect(result.killedBySignal)
            #expect(result.publisherStatus == 0, "mosquitto_pub failed")
            #expect(result.finalStatus == 0, "the daemon did not stop cleanly on SIGTERM")
        }

        struct Result: Sendable {
            var stored = 0, duplicates = 0, lost = 0, kills = 0, redelivered = 0
            var killedBySignal = true
            var publisherStatus: Int32 = -1, finalStatus: Int32 = -1
        }

        struct Failure: Error, CustomStringConvertible { let description: String }

        static func run(lanes: Int) throws -> Result {
            var result = Result()
            let broker = try Broker()
            let directory = broker.directory
            let gateway = try DaemonUnderTest(broker: broker, clientID: "gw-kill", lanes: lanes)
            let database = try GatewayDatabase(path: gateway.databasePath, mode: .create)
            try database.addPatient(Patient(id: "P1", name: "Kill Test", timeZone: "UTC"), by: "test")
            try Pipeline(database: database).addDevice(
                Device(id: "A4:C1:38:12:34:56", kind: .bloodPressureMonitor, patientID: "P1", hubID: "h1"), by: "test")
            func startDaemon() throws -> Spawned { try gateway.start() }

            // The readings, one per line: the same device, a distinct time each.
            let start = RFC3339.parse("2026-03-01T00:00:00Z")!
            let lines = (0..<Self.count).map { i in
                #"{"v":1,"device":"A4:C1:38:12:34:56","kind":"blood_pressure","measured_at":"\#(RFC3339.format(start.addingTimeInterval(Double(i) * 60)))","unit":"mmHg","values":{"systolic":\#(100 + i % 80),"diastolic":70}}"#
            }
            let input = directory + "/readings.jsonl"
            try (lines.joined(separator: "\n") + "\n").write(toFile: input, atomically: true, encoding: .utf8)

            var daemon = try startDaemon()
            let inputFD = open(input, O_RDONLY)
            defer { close(inputFD) }
            let publisher = try Spawned(
                "/usr/bin/mosquitto_pub",
                [
                    "-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "1", "-t", "ccm/v1/hub/h1/reading", "-l", "-i",
                    "kill-test-hub",
                ]
                    + (try broker.login("h1")),
                stdin: inputFD)
            var generator = SystemRandomNumberGenerator()
            for _ in 0..<3 {
                // A random moment while the backlog is being drained.
                usleep(UInt32.random(in: 300_000...1_500_000, using: &generator))
                result.killedBySignal = result.killedBySignal && daemon.terminate(SIGKILL) == 128 + SIGKILL
                result.kills += 1
                daemon = try startDaemon()
            }
            result.publisherStatus = publisher.wait()

            // Wait (on inotify of the database's folder, bounded) until every reading is in.
            result.stored = waitForReadings(database, directory: directory, count: Self.count, timeout: 480)
            result.finalStatus = daemon.terminate(SIGTERM)
            let readings = try database.readings()
            let distinct = Set(readings.map(\.measuredAt)).count
            result.duplicates = readings.count - distinct
            result.redelivered = try database.inbox(status: "duplicate", limit: 1_000_000).count
            result.lost = Self.count - distinct
            return result
        }

        /// The number of readings once it reaches `count`, or what there is after `timeout` seconds.
        static func waitForReadings(_ database: GatewayDatabase, directory: String, count: Int, timeout: Double) -> Int
        {
            _ = waitUntil(changesIn: directory, timeout: timeout) {
                ((try? database.readingCount()) ?? 0) >= count
                    && ((try? database.inbox(status: "pending", limit: 1).count) ?? 1) == 0
            }
            return (try? database.readingCount()) ?? 0
        }
    }
}

let repository = TestPaths.repository
