import Foundation
import GatewayBLE
import GatewayConfig
import GatewayCore
import GatewayPipeline
import GatewayStore
import GatewayTestSupport
import InMemoryLogging
import Logging
import ServiceLifecycle
import Testing

@testable import ccm_gatewayd

@Suite("ccm-gatewayd", .ownThreads)
struct GatewayTests {
    static let demo = repository.appendingPathComponent("Fixtures/native/demo.jsonl").path

    func config(_ directory: TemporaryDirectory, replay: String? = demo) -> GatewayConfig {
        var config = GatewayConfig.defaults
        config.database.path = directory.path + "/gateway.sqlite"
        config.practice.timeZone = "America/Chicago"
        config.sources.file = replay.map { .init(path: $0) }
        config.carePlans.directory = repository.appendingPathComponent("config/careplans").path
        config.alerts.log = directory.path + "/alerts.log"
        config.mqtt.enabled = false
        config.ble.enabled = false
        config.metrics.textfile = directory.path + "/metrics/ccm-gateway.prom"
        return config
    }

    func seed(_ path: String) throws {
        let database = try GatewayDatabase(path: path, mode: .create)
        try database.addPatient(Patient(id: "P1", name: "Ada Secretname", timeZone: "America/Chicago"), by: "test")
        try Pipeline(database: database).addDevice(
            Device(id: "A4:C1:38:12:34:56", kind: .bloodPressureMonitor, patientID: "P1"), by: "test")
        try Pipeline(database: database).addDevice(
            Device(id: "C0:26:DA:01:02:03", kind: .glucometer, patientID: "P1"), by: "test")
    }

    @Test(
        "Without Bluetooth the daemon logs one warning, says BLE unavailable in STATUS=, keeps looking, and runs on",
        .enabled(if: BluetoothAdapter.unavailableReason() != nil, "this machine has a Bluetooth adapter"))
    func noAdapter() async throws {
        let directory = TemporaryDirectory()
        var settings = config(directory, replay: nil)
        settings.ble.enabled = true
        try seed(settings.database.path)
        let notify = try NotifyListener(directory: directory.path)
        let logs = InMemoryLogHandler()
        let gateway = try Gateway(
            config: settings, logger: Logger(label: "test", factory: { _ in logs }),
            notify: SystemdNotify(environment: ["NOTIFY_SOCKET": notify.path]))
        let run = Task(executorPreference: BlockingTestExecutor.shared) { try await gateway.group.run() }
        let ready = await notify.awaitAssignment("READY=1")
        #expect(ready?.contains("MQTT off, BLE unavailable, 0 in flight") == true)
        await gateway.group.triggerGracefulShutdown()
        try await withTimeout(60) { try await run.value }
        let warnings = logs.entries.filter { $0.level == .warning }
        #expect(warnings.map(\.message.description) == ["no Bluetooth LE adapter; BLE waits for one"])
        #expect(warnings.first?.metadata["reason"] != nil)
    }

    @Test("The file source feeds the pipeline; READY=1 then STOPPING=1; ids only in the logs")
    func fileSourceToReadings() async throws {
        let directory = TemporaryDirectory()
        let settings = config(directory)
        try seed(settings.database.path)
        let notify = try NotifyListener(directory: directory.path)
        let logs = InMemoryLogHandler()
        var logger = Logger(label: "test", factory: { _ in logs })
        logger.logLevel = .debug
        let (processed, continuation) = AsyncStream.makeStream(of: [ItemOutcome].self)
        let gateway = try Gateway(
            config: settings, logger: logger, notify: SystemdNotify(environment: ["NOTIFY_SOCKET": notify.path]),
            onProcessed: { continuation.yield($0) })

        let run = Task(executorPreference: BlockingTestExecutor.shared) { try await gateway.group.run() }
        #expect(await notify.awaitAssignment("READY=1") != nil)
        // demo.jsonl holds 10 readings on 9 lines. (The bound is for a machine busy with the
        // rest of the suite; alone this takes a fraction of a second.)
        let decided = try await withTimeout(60) {
            var outcomes: [ItemOutcome] = []
            for await batch in processed {
                outcomes += batch
                if outcomes.count == 10 { break }
            }
            return outcomes
        }
        #expect(decided.filter { $0.status == .accepted }.count == 4)
        #expect(decided.filter { $0.status == .quarantined }.count == 4)
        #expect(decided.filter { $0.status == .rejected }.count == 2)
        await gateway.group.triggerGracefulShutdown()
        let stopping = await notify.awaitAssignment("STOPPING=1")
        #expect(stopping?.contains("STATUS=stopping: 4 accepted, 2 rejected, 4 quarantined, 0 duplicate") == true)
        try await withTimeout(60) { try await run.value }

        #expect(try gateway.database.readings().count == 4)
        #expect(gateway.stats["accepted"] == 4)
        // The metrics file left behind says what was decided, and that the daemon stopped.
        let metrics = try String(contentsOfFile: settings.metrics.textfile, encoding: .utf8)
        #expect(metrics.contains("ccm_gateway_inputs_total{source=\"file\",status=\"accepted\"} 4\n"))
        #expect(metrics.contains("ccm_gateway_inputs_total{source=\"file\",status=\"quarantined\"} 4\n"))
        #expect(metrics.contains("ccm_gateway_up 0\n"))
        let text = logs.entries.map { "\($0.message) \($0.metadata)" }.joined(separator: "\n")
        #expect(text.contains("A4:C1:38:12:34:56"))
        #expect(!text.contains("Secretname"))
        #expect(!text.contains("142"))
        #expect(!text.contains("7.4"))
    }

    @Test("A source that cannot start fails the start with the setting to fix")
    func missingReplayFile() throws {
        let directory = TemporaryDirectory()
        let settings = config(directory, replay: directory.path + "/none.jsonl")
        _ = try GatewayDatabase(path: settings.database.path, mode: .create)
        let error = try #require(throws: GatewaydError.self) {
            try Gateway(config: settings, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
        }
        #expect(
            error.description
                == "sources.file.path: cannot read \(directory.path)/none.jsonl; check the path or remove sources.file from the configuration"
        )
    }

    @Test("The daemon process: READY=1, then SIGTERM gives STOPPING=1 and exit status 0")
    func processLifecycle() throws {
        let directory = TemporaryDirectory()
        let configPath = try writeDaemonConfig(in: directory)
        let notify = try NotifyListener(directory: directory.path)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: TestPaths.product("ccm-gatewayd"))
        process.arguments = ["--config", configPath]
        process.environment = ["NOTIFY_SOCKET": notify.path, "PATH": "/usr/bin:/bin"]
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { process.terminate() } }
        #expect(notify.waitFor("READY=1") != nil)
        kill(process.processIdentifier, SIGTERM)
        #expect(notify.waitFor("STOPPING=1") != nil)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit)
        #expect(process.terminationStatus == 0)
    }
}
