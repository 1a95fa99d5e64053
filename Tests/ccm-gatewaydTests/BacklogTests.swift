import Foundation
import GatewayCore
import GatewayPipeline
import GatewayStore
import GatewayTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("ccm-gatewayd with a backlog", .ownThreads)
struct BacklogTests {
    static let inputs = 20_000

    @Test(
        "With 20,000 undecided inputs the daemon is READY at once, says it is catching up, decides a new reading ahead of them, and all behind it"
    )
    func readyBeforeTheBacklog() async throws {
        try Self.run()
    }

    static func run() throws {
        let directory = TemporaryDirectory("ccmd")
        let configPath = try writeDaemonConfig(in: directory)
        let database = try GatewayDatabase(path: directory.file("gateway.sqlite"))
        try database.addPatient(Patient(id: "P1", name: "Ada Test", timeZone: "UTC"), by: "test")
        let pipeline = Pipeline(database: database)
        try pipeline.addDevice(
            Device(id: "A4:C1:38:12:34:56", kind: .bloodPressureMonitor, patientID: "P1"), by: "test")
        // What a crashed run left behind: committed to the inbox, never decided.
        let start = Date(timeIntervalSince1970: 1_772_600_000)
        for chunk in stride(from: 0, to: inputs, by: 1000) {
            _ = try pipeline.receive(
                batch: (chunk..<chunk + 1000).map { n in
                    let at = RFC3339.format(start.addingTimeInterval(Double(n) * 60))
                    let line =
                        #"{"v":1,"device":"A4:C1:38:12:34:56","kind":"blood_pressure","measured_at":"\#(at)","unit":"mmHg","values":{"systolic":120,"diastolic":80}}"#
                    return RawInput(
                        source: "mqtt:before-crash", payload: Data(line.utf8),
                        receivedAt: start.addingTimeInterval(Double(n) * 60 + 5))
                })
        }
        #expect(try pipeline.pendingCount() == inputs)

        let notify = try NotifyListener(directory: directory.path)
        let daemonPath = TestPaths.product("ccm-gatewayd")
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw SupportError(description: "pipe failed") }
        defer { close(fds[1]) }
        let daemon = try Spawned(
            daemonPath, ["--config", configPath, "--replay", "-"],
            environment: ["NOTIFY_SOCKET": notify.path, "PATH": "/usr/bin:/bin"],
            stdin: fds[0], stderr: directory.file("stderr.log"))
        close(fds[0])
        defer { _ = daemon.terminate(SIGKILL) }

        // READY=1 before the backlog is decided is what counts (pendingAtReady), not how many
        // seconds it took on a machine busy with the parallel run; the bound only ends a hang.
        let ready = try #require(notify.waitFor("READY=1", timeout: 60), "no READY=1 within 60 s")
        let pendingAtReady = try pipeline.pendingCount()
        #expect(ready.contains("catching up: "))
        #expect(pendingAtReady > 0, "the backlog was decided before READY=1")
        // A reading that arrives now is decided ahead of the backlog, not after all of it.
        let live =
            #"{"v":1,"device":"A4:C1:38:12:34:56","kind":"blood_pressure","measured_at":"2026-11-30T05:00:00Z","unit":"mmHg","values":{"systolic":120,"diastolic":80}}"#
            + "\n"
        _ = live.withCString { write(fds[1], $0, strlen($0)) }
        let liveAt = try #require(RFC3339.parse("2026-11-30T05:00:00Z"))
        var pendingWhenLiveDecided = -1
        #expect(
            waitUntil(changesIn: directory.path, timeout: 60) {
                guard (try? database.readings(since: liveAt).isEmpty) == false else { return false }
                pendingWhenLiveDecided = (try? pipeline.pendingCount()) ?? -1
                return true
            })
        #expect(pendingWhenLiveDecided > 0, "the new reading waited for the whole backlog")
        // Caught up behind READY=1, in bounded batches, with nothing lost or repeated.
        #expect(
            waitUntil(
                directory.file("stderr.log"), contains: "caught up inputs left undecided by the previous run",
                timeout: 240))
        #expect(try pipeline.pendingCount() == 0)
        #expect(try database.readingCount() == inputs + 1)
        #expect(kill(daemon.pid, SIGTERM) == 0)
        #expect(daemon.wait() == 0)
    }
}
