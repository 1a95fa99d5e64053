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
    /// Never stops, nothing lost, every alert announced, all at once (docs/architecture.md
    /// § "Guarantees and the tests that hold them"): MQTT traffic from a
    /// hub, three `ccmctl ingest` runs and operators' acknowledgements at the same time, the daemon
    /// killed with SIGKILL three times and the broker restarted once. Afterwards every published and
    /// ingested reading is stored exactly once, every alert event is in the alert log exactly once,
    /// and the daemon is running.
    @Suite("Chaos test", .ownThreads)
    struct ChaosTests {
        static let chunks = 12
        static let perChunk = 500
        static let ingests = 3
        static let perIngest = 1000

        @Test(
            "MQTT, parallel ccmctl ingests and acks, three kill -9s and a broker restart: every reading once, every alert event once, the daemon up"
        )
        func chaos() async throws {
            let result = try Self.run()
            #expect(result.published == Self.chunks * Self.perChunk)
            #expect(
                result.ingestStatuses == Array(repeating: 0, count: Self.ingests),
                "ccmctl ingest failed: \(result.ingestErrors)")
            #expect(!result.ackStatuses.isEmpty, "no alert was open to acknowledge")
            #expect(result.ackStatuses.allSatisfy { $0 == 0 }, "ccmctl alerts ack failed: \(result.ingestErrors)")
            #expect(result.stored == Self.chunks * Self.perChunk + Self.ingests * Self.perIngest)
            #expect(result.duplicates == 0)
            #expect(result.pending == 0)
            #expect(result.failed == 0)
            #expect(result.kills == 3)
            #expect(result.events > 0)
            #expect(
                result.logged == (1...Int64(result.events)).map { $0 }, "each alert event in the log once, in order")
            #expect(result.runningAtEnd)
            #expect(result.finalStatus == 0)
        }

        struct Result: Sendable {
            var published = 0, stored = 0, duplicates = 0, pending = 0, failed = 0, kills = 0, events = 0
            var ingestStatuses: [Int32] = []
            var ackStatuses: [Int32] = []
            var ingestErrors = ""
            var logged: [Int64] = []
            var runningAtEnd = false
            var finalStatus: Int32 = -1
        }

        /// The `n`th blood-pressure reading of `device`, six hours apart from March 2026 (a home
        /// cuff's pace, so each care-plan window holds what it would); every 40th is high enough to
        /// raise (or repeat) the urgent alert.
        static func line(_ device: String, _ n: Int) -> String {
            let at = RFC3339.format(RFC3339.parse("2026-03-01T00:00:00Z")!.addingTimeInterval(Double(n) * 21_600))
            let systolic = n % 40 == 0 ? 186 : 110 + n % 30
            return
                #"{"v":1,"device":"\#(device)","kind":"blood_pressure","measured_at":"\#(at)","unit":"mmHg","values":{"systolic":\#(systolic),"diastolic":80}}"#
        }

        static func run() throws -> Result {
            var result = Result()
            let broker = try Broker()
            let directory = broker.directory
            let gateway = try DaemonUnderTest(broker: broker, clientID: "gw-chaos")
            let log = gateway.alertLog
            let config = gateway.config
            let database = try GatewayDatabase(path: gateway.databasePath, mode: .create)
            let pipeline = Pipeline(database: database)
            // The nurse who acknowledges alerts with minutes is known staff (time that bills comes only from them).
            try database.addStaff("nurse.kim", role: .clinicalStaff, by: "test")
            // P1 and P2 measure through hub h1; P3…P5 bring their readings to the clinic (ccmctl ingest).
            for (index, patient) in ["P1", "P2", "P3", "P4", "P5"].enumerated() {
                try database.addPatient(Patient(id: patient, name: "Chaos \(index)", timeZone: "UTC"), by: "test")
                try database.setCarePlan(patient: patient, templates: ["hypertension"], overrides: [], by: "test")
                try pipeline.addDevice(
                    Device(
                        id: "CUFF-\(patient)", kind: .bloodPressureMonitor, patientID: patient,
                        hubID: index < 2 ? "h1" : nil),
                    by: "test")
            }
            let ccmctl = DaemonUnderTest.ccmctl
            let environment = ["PATH": "/usr/bin:/bin", "USER": "nurse.kim"]
            func startDaemon() throws -> Spawned { try gateway.start(environment: environment) }
            func kill9(_ daemon: inout Spawned) throws {
                _ = daemon.terminate(SIGKILL)
                result.kills += 1
                daemon = try startDaemon()
            }

            // The hub's readings, in chunks (mosquitto_pub gives up when its broker goes away).
            var chunkFiles: [String] = []
            for chunk in 0..<chunks {
                let path = directory + "/mqtt-\(chunk).jsonl"
                let lines = (0..<perChunk).map { n in
                    let i = chunk * perChunk + n
                    return line(i % 2 == 0 ? "CUFF-P1" : "CUFF-P2", i / 2)
                }
                try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
                chunkFiles.append(path)
            }
            func publish(_ chunk: Int) throws {
                try broker.publish(
                    "ccm/v1/hub/h1/reading", try String(contentsOfFile: chunkFiles[chunk], encoding: .utf8), lines: true
                )
                result.published += perChunk
            }
            // The clinic's files, one per ccmctl run.
            var ingests: [Spawned] = []
            func startIngest(_ run: Int) throws {
                let path = directory + "/ingest-\(run).jsonl"
                let lines = (0..<perIngest).map { n in line("CUFF-P\(3 + run)", n) }
                try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
                ingests.append(
                    try Spawned(
                        ccmctl, ["ingest", path, "--config", config], environment: environment,
                        stdout: directory + "/ingest-\(run).out",
                        stderr: directory + "/ingest-\(run).err"))
            }
            /// Operators acknowledge whatever is open, as a busy clinic does, while everything runs.
            /// (An alert the daemon resolved in between is refused as resolved: that is not a failure.)
            func acknowledgeOpen() throws {
                // Some alert is open by now (each patient's first reading is high); wait, bounded, for it to be decided.
                _ = waitUntil(changesIn: directory, timeout: 30) {
                    ((try? database.alerts(openOnly: true))?.contains { $0.state == .open }) == true
                }
                for alert in try database.alerts(openOnly: true) where alert.state == .open {
                    let errors = directory + "/ack-\(result.ackStatuses.count).err"
                    let ack = try Spawned(
                        ccmctl, ["alerts", "ack", "\(alert.id)", "--minutes", "2", "--config", config],
                        environment: environment,
                        stderr: errors)
                    let status = ack.wait()
                    let said = (try? String(contentsOfFile: errors, encoding: .utf8)) ?? ""
                    result.ackStatuses.append(status != 0 && said.contains("is resolved") ? 0 : status)
                    if status != 0 { result.ingestErrors += said }
                }
            }

            var daemon = try startDaemon()
            var generator = SystemRandomNumberGenerator()
            for chunk in 0..<chunks {
                switch chunk {
                case 1: try startIngest(0)
                case 3: try kill9(&daemon)
                case 4: try startIngest(1)
                case 5: try acknowledgeOpen()
                case 6:
                    // The broker restarts (it saves the gateway's queue first) while the daemon runs.
                    try broker.restart()
                case 7:
                    usleep(UInt32.random(in: 0...500_000, using: &generator))
                    try kill9(&daemon)
                    try startIngest(2)
                case 9: try acknowledgeOpen()
                case 10: try kill9(&daemon)
                default: break
                }
                try publish(chunk)
            }
            result.ingestStatuses = ingests.map { $0.wait() }
            result.ingestErrors += (0..<ingests.count).map {
                (try? String(contentsOfFile: directory + "/ingest-\($0).err", encoding: .utf8)) ?? ""
            }
            .joined(separator: " | ")
            try acknowledgeOpen()

            // Everything decided, then every alert event written.
            let total = chunks * perChunk + ingests.count * perIngest
            result.stored = KillTests.waitForReadings(database, directory: directory, count: total, timeout: 300)
            result.events = try database.alertEvents(limit: 100_000).count
            _ = waitUntil(log, timeout: 30) { content in content.split(separator: "\n").count >= result.events }
            result.runningAtEnd = kill(daemon.pid, 0) == 0
            result.finalStatus = daemon.terminate(SIGTERM)

            let readings = try database.readings()
            result.duplicates =
                readings.count - Set(readings.map { "\($0.deviceID)|\($0.measuredAt.map(RFC3339.format) ?? "")" }).count
            result.pending = try database.inbox(status: "pending", limit: 1).count
            result.failed = try database.inbox(status: "failed", limit: 1).count
            result.logged = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n")
                .compactMap { AlertLogFormat.parse(String($0))?.eventID }
            return result
        }
    }
}
