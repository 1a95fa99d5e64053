import Foundation
import GatewayCore
import GatewayPipeline
import GatewayStore
import GatewayTestSupport
import Logging
import Synchronization
import Testing

@testable import GatewayMQTT

/// A gateway's MQTT side on a temporary database: the pipeline, the client, and a stream of
/// processed outcomes to await.
final class Harness: Sendable {
    let directory: String
    let database: GatewayDatabase
    let pipeline: Pipeline
    let client: MQTTClient
    /// The inbox the client commits to (its group-commit counts).
    let inbox: InboxWriter
    let alerts: LateSink
    let outcomes: AsyncStream<[ItemOutcome]>
    private let continuation: AsyncStream<[ItemOutcome]>.Continuation

    init(
        broker: Broker, clientID: String = "gw-\(UUID().uuidString.prefix(6))", maxPayloadBytes: Int = 64 * 1024,
        templates: [CarePlanTemplate] = [], options: (inout MQTTOptions) -> Void = { _ in }
    ) throws {
        directory = broker.directory + "/gateway-\(clientID)"
        database = try GatewayDatabase(path: directory + "/gateway.sqlite", mode: .create)
        let alerts = LateSink()
        pipeline = Pipeline(
            database: database, maxPayloadBytes: maxPayloadBytes,
            templates: CarePlanTemplates(Dictionary(uniqueKeysWithValues: templates.map { ($0.name, $0) })),
            sink: alerts,
            timeZone: TimeZone(identifier: "UTC")!)
        (outcomes, continuation) = AsyncStream.makeStream(of: [ItemOutcome].self)
        var settings = MQTTOptions(host: "127.0.0.1", port: broker.port, clientID: clientID, reconnectDelay: (1, 2))
        settings.username = Broker.gateway
        settings.password = broker.gatewayPassword
        options(&settings)
        let pipeline = self.pipeline
        let continuation = self.continuation
        inbox = InboxWriter(
            pipeline: pipeline,
            observer: InboxWriter.Observer(
                decided: { _, outcomes in continuation.yield(outcomes) },
                undecided: { ids, _ in
                    // The daemon wakes its pipeline service; here the test decides at once.
                    if let outcomes = try? pipeline.process(inboxIDs: ids) { continuation.yield(outcomes) }
                }))
        client = try MQTTClient(options: settings, inbox: inbox)
        self.alerts = alerts
        let deliverer = MQTTAlertSink(client: client, database: database, wake: { alerts.wake() })
        alerts.sink.withLock { $0 = deliverer }
        try database.addPatient(Patient(id: "P1", name: "Ada Test", timeZone: "UTC"), by: "test")
        try pipeline.addDevice(
            Device(id: "A4:C1:38:12:34:56", kind: .bloodPressureMonitor, patientID: "P1", hubID: "h1"), by: "test")
    }

    deinit { client.stop() }

    /// Starts the client and waits until the broker has accepted it and seen its subscriptions.
    func start(_ broker: Broker) throws {
        let before = client.connectionCount
        try client.start()
        try #require(client.waitForConnection(after: before, timeout: 60), "the gateway did not connect")
        let id = client.options.clientID
        try #require(
            waitUntil(broker.log) { $0.contains("\(id) 1 ccm/v1/hub/+/time") }, "the subscriptions did not arrive")
    }

    /// The next `count` outcomes, or a failure after `seconds`.
    func next(_ count: Int, seconds: Double = 10) async throws -> [ItemOutcome] {
        let stream = outcomes
        return try await withThrowingTaskGroup(of: [ItemOutcome]?.self) { group in
            group.addTask {
                var collected: [ItemOutcome] = []
                for await batch in stream {
                    collected += batch
                    if collected.count >= count { return collected }
                }
                return collected
            }
            group.addTask {
                try await Task.sleep(for: .seconds(seconds))
                return nil
            }
            defer { group.cancelAll() }
            guard let result = try await group.next(), let outcomes = result else {
                Issue.record("timed out waiting for \(count) outcomes")
                return []
            }
            return outcomes
        }
    }
}

/// The MQTT alert deliverer, set once the client exists (the client needs the pipeline first).
/// Each commit with alert events and each acknowledgement runs a pass, one at a time on a queue
/// of its own, as the daemon's deliverer task does.
final class LateSink: AlertSink, @unchecked Sendable {
    // Safety: `sink` is behind a Mutex; `passed` is an NSCondition.
    let sink = Mutex<MQTTAlertSink?>(nil)
    private let queue = DispatchQueue(label: "mqtt-alerts")
    private let passed = NSCondition()
    /// Passes run so far (read under `passed`).
    private var passes = 0

    func deliver(_ events: [AlertEvent]) { wake() }

    func wake() {
        queue.async {
            _ = try? self.sink.withLock { $0 }?.pass()
            self.passed.lock()
            self.passes += 1
            self.passed.broadcast()
            self.passed.unlock()
        }
    }

    /// Passes run so far.
    var passCount: Int {
        passed.lock()
        defer { passed.unlock() }
        return passes
    }

    /// Waits until more than `count` passes have run; false after `timeout` seconds.
    func waitForPass(after count: Int, timeout: Double = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        passed.lock()
        defer { passed.unlock() }
        while passes <= count {
            guard passed.wait(until: deadline) else { return passes > count }
        }
        return true
    }

    /// Waits, after each pass, until `done` holds; false after `timeout` seconds.
    func wait(timeout: Double = 20, until done: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        passed.lock()
        defer { passed.unlock() }
        while !done() {
            guard passed.wait(until: deadline) else { return done() }
        }
        return true
    }
}

@Suite("MQTT ingestion against a real mosquitto", .serialized, .ownThreads)
struct MQTTIngestTests {
    static func bp(_ systolic: Int, minute: Int, device: String = "A4:C1:38:12:34:56") -> String {
        let at = RFC3339.format(RFC3339.parse("2026-03-04T07:00:00-06:00")!.addingTimeInterval(Double(minute) * 60))
        return
            #"{"v":1,"device":"\#(device)","kind":"blood_pressure","measured_at":"\#(at)","unit":"mmHg","values":{"systolic":\#(systolic),"diastolic":80}}"#
    }

    @Test("A native reading is stored with its topic as source and the hub checked")
    func nativeReading() async throws {
        let broker = try Broker()
        let gateway = try Harness(broker: broker)
        try gateway.start(broker)
        try broker.publish("ccm/v1/hub/h1/reading", Self.bp(142, minute: 1))
        let outcomes = try await gateway.next(1)
        #expect(outcomes.map(\.status) == [.accepted])
        let reading = try #require(try gateway.database.readings().first)
        #expect(reading.source == "mqtt:ccm/v1/hub/h1/reading")
        #expect(reading.values[.systolic] == 142)
    }

    @Test("Malformed, oversized, wrong-hub and unknown-device messages are stored with their reasons")
    func badMessages() async throws {
        let broker = try Broker()
        let gateway = try Harness(broker: broker, maxPayloadBytes: 1024)
        try gateway.pipeline.addHub("h9", by: "test")
        try gateway.start(broker)
        try broker.publish("ccm/v1/hub/h1/reading", "{not json")
        try broker.publish("ccm/v1/hub/h1/reading", String(repeating: " ", count: 2000) + Self.bp(140, minute: 2))
        try broker.publish("ccm/v1/hub/h9/reading", Self.bp(141, minute: 3))
        try broker.publish("ccm/v1/hub/h1/reading", Self.bp(143, minute: 4, device: "C0:FF:EE:00:00:01"))
        let outcomes = try await gateway.next(4)
        #expect(outcomes.map(\.code) == ["malformed_json", "too_large", "wrong_hub", "unknown_device"])
        #expect(outcomes[1].reason?.hasPrefix("payload of ") == true)
        #expect(
            outcomes[2].reason?.hasPrefix("device: device A4:C1:38:12:34:56 is assigned to hub h1, not hub h9") == true)
        #expect(try gateway.database.inbox().count == 4)
        #expect(try gateway.database.auditLog(entity: "device").last?.action == "reading.wrong_hub")
    }

    @Test("The same message delivered twice is stored once")
    func redelivered() async throws {
        let broker = try Broker()
        let gateway = try Harness(broker: broker)
        try gateway.start(broker)
        try broker.publish("ccm/v1/hub/h1/reading", Self.bp(150, minute: 5))
        try broker.publish("ccm/v1/hub/h1/reading", Self.bp(150, minute: 5))
        let outcomes = try await gateway.next(2)
        #expect(outcomes.map(\.status) == [.accepted, .duplicate])
        #expect(try gateway.database.readings().count == 1)
    }

    @Test(
        "A broker restart in the middle of a stream loses nothing; a backlog queued while the gateway was away arrives")
    func brokerRestart() async throws {
        let broker = try Broker()
        let clientID = "gw-restart"
        let gateway = try Harness(broker: broker, clientID: clientID)
        // A message committed just before the restart whose PUBACK the broker had not read yet
        // comes again after it: stored as received once more, decided a duplicate. So each step
        // waits for its readings to be accepted, not for any outcomes.
        var accepted = 0
        func settle(_ total: Int) async throws {
            while accepted < total {
                let batch = try await gateway.next(1, seconds: 30)
                guard !batch.isEmpty else { return }
                accepted += batch.filter { $0.status == .accepted }.count
            }
        }
        try gateway.start(broker)
        try broker.publish(
            "ccm/v1/hub/h1/reading", (0..<50).map { Self.bp(120, minute: $0) }.joined(separator: "\n"), lines: true)
        try await settle(50)
        let connections = gateway.client.connectionCount
        try broker.restart()
        #expect(gateway.client.waitForConnection(after: connections, timeout: 60))
        try broker.publish(
            "ccm/v1/hub/h1/reading", (50..<100).map { Self.bp(121, minute: $0) }.joined(separator: "\n"), lines: true)
        try await settle(100)
        // The gateway away: the broker keeps its persistent session's messages.
        gateway.client.stop()
        try broker.publish(
            "ccm/v1/hub/h1/reading", (100..<150).map { Self.bp(122, minute: $0) }.joined(separator: "\n"), lines: true)
        try gateway.client.start()
        try await settle(150)
        // Nothing else may be in the inbox twice, and no reading is.
        let inbox = try gateway.database.inbox(limit: 1000)
        #expect(inbox.filter { $0.status != "duplicate" }.count == 150)
        let readings = try gateway.database.readings()
        #expect(readings.count == 150)
        #expect(Set(readings.map(\.measuredAt)).count == 150)
    }

    @Test(
        "A FHIR Observation, a native reading and a raw 2a35 value make three readings; from an unassigned device, quarantine"
    )
    func everyPayloadKind() async throws {
        let broker = try Broker()
        let gateway = try Harness(broker: broker)
        try gateway.start(broker)
        let fhir =
            #"{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"85354-9"}]},"device":{"identifier":{"value":"A4:C1:38:12:34:56"}},"effectiveDateTime":"2026-03-04T08:00:00Z","component":[{"code":{"coding":[{"system":"http://loinc.org","code":"8480-6"}]},"valueQuantity":{"value":131,"code":"mm[Hg]"}},{"code":{"coding":[{"system":"http://loinc.org","code":"8462-4"}]},"valueQuantity":{"value":85,"code":"mm[Hg]"}}]}"#
        try broker.publish("ccm/v1/hub/h1/fhir", fhir)
        try broker.publish("ccm/v1/hub/h1/reading", Self.bp(132, minute: 90))
        // 2a35, mmHg with a time stamp: 133/86, 2026-03-04 09:00:00 (device clock, read as UTC here).
        try broker.publish(
            "ccm/v1/hub/h1/gatt/A4C138123456/2a35",
            bytes: [0x02, 0x85, 0x00, 0x56, 0x00, 0xFF, 0x07, 0xEA, 0x07, 0x03, 0x04, 0x09, 0x00, 0x00])
        let accepted = try await gateway.next(3)
        #expect(accepted.map(\.status) == [.accepted, .accepted, .accepted])
        let readings = try gateway.database.readings().sorted { $0.id < $1.id }
        #expect(readings.map { $0.values[.systolic] } == [131, 132, 133])
        #expect(
            readings.map(\.source) == [
                "mqtt:ccm/v1/hub/h1/fhir", "mqtt:ccm/v1/hub/h1/reading", "mqtt:ccm/v1/hub/h1/gatt/A4C138123456/2a35",
            ])
        #expect(readings[2].measuredAt == RFC3339.parse("2026-03-04T09:00:00Z"))

        try broker.publish(
            "ccm/v1/hub/h1/fhir", fhir.replacingOccurrences(of: "A4:C1:38:12:34:56", with: "C0:FF:EE:00:00:09"))
        try broker.publish("ccm/v1/hub/h1/reading", Self.bp(132, minute: 91, device: "C0:FF:EE:00:00:09"))
        try broker.publish("ccm/v1/hub/h1/gatt/C0FFEE000009/2a35", "02 85 00 56 00 FF 07 EA 07 03 04 09 00 00")
        let quarantined = try await gateway.next(3)
        #expect(quarantined.map(\.code) == ["unknown_device", "unknown_device", "unknown_device"])
        #expect(quarantined.map(\.deviceID) == ["C0:FF:EE:00:00:09", "C0:FF:EE:00:00:09", "C0:FF:EE:00:00:09"])
    }

    @Test("Alert events are published to ccm/v1/alerts/{patient} at QoS 1")
    func alertTopic() async throws {
        let broker = try Broker()
        let bp = TemplateRule(
            id: "bp-high", type: .threshold, kind: .bloodPressure, quantities: [.systolic], direction: .above,
            meals: nil, unit: .mmHg,
            parameters: [ParameterKey(.urgent): 180, ParameterKey(.resolveAfter): 0], limitIsGoal: false, source: "s",
            title: "Blood pressure high")
        let gateway = try Harness(
            broker: broker, templates: [CarePlanTemplate(name: "htn", description: "", goals: [:], rules: [bp])])
        try gateway.database.setCarePlan(patient: "P1", templates: ["htn"], overrides: [], by: "test")
        try gateway.start(broker)
        let output = broker.directory + "/alerts.out"
        let subscriber = try Spawned(
            "/usr/bin/mosquitto_sub",
            [
                "-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "1", "-t", "ccm/v1/alerts/#", "-v", "-C", "1", "-W",
                "20", "-i",
                "sub-alerts",
            ] + broker.login(Broker.alertReader),
            stdout: output)
        #expect(waitUntil(broker.log) { $0.contains("sub-alerts 1 ccm/v1/alerts/#") })
        try broker.publish("ccm/v1/hub/h1/reading", Self.bp(185, minute: 120))
        _ = try await gateway.next(1)
        #expect(subscriber.wait() == 0)
        let line = try String(contentsOfFile: output, encoding: .utf8)
        #expect(
            line.hasPrefix(
                #"ccm/v1/alerts/P1 {"alert":1,"event":"raised","level":"urgent","patient":"P1","rule":"bp-high","#))
        #expect(line.hasSuffix(#","event_id":1}"# + "\n"))
        #expect(
            gateway.alerts.wait { (try? gateway.database.alertCursor(.mqtt)) == 1 },
            "the cursor moves once the broker acknowledged")
    }

    @Test("Alert events committed while the broker is down go out once it is back, each at least once, in order")
    func alertsAcrossBrokerRestart() async throws {
        let broker = try Broker()
        let bp = TemplateRule(
            id: "bp-high", type: .threshold, kind: .bloodPressure, quantities: [.systolic], direction: .above,
            meals: nil, unit: .mmHg,
            parameters: [ParameterKey(.urgent): 180, ParameterKey(.resolveAfter): 86_400], limitIsGoal: false,
            source: "s",
            title: "Blood pressure high")
        let gateway = try Harness(
            broker: broker, templates: [CarePlanTemplate(name: "htn", description: "", goals: [:], rules: [bp])])
        try gateway.database.setCarePlan(patient: "P1", templates: ["htn"], overrides: [], by: "test")
        // A subscriber with a persistent session: the broker keeps its messages while it is away,
        // across its own restart (persistence), so every publish is seen.
        func subscribe(count: Int) throws -> (Spawned, String) {
            let output = broker.directory + "/alerts-\(UUID().uuidString.prefix(6)).out"
            let arguments =
                [
                    "-h", "127.0.0.1", "-p", "\(broker.port)", "-q", "1", "-c", "-i", "sub-outbox", "-t",
                    "ccm/v1/alerts/#",
                ]
                + (try broker.login(Broker.alertReader))
            return (
                try Spawned(
                    "/usr/bin/mosquitto_sub", arguments + (count == 0 ? ["-E"] : ["-C", "\(count)", "-W", "30"]),
                    stdout: output),
                output
            )
        }
        let (session, _) = try subscribe(count: 0)
        #expect(session.wait() == 0)
        try gateway.start(broker)
        try broker.publish("ccm/v1/hub/h1/reading", Self.bp(185, minute: 120))
        _ = try await gateway.next(1)
        #expect(gateway.alerts.wait { (try? gateway.database.alertCursor(.mqtt)) == 1 })

        broker.stop()
        for _ in 0..<3 { _ = try gateway.database.acknowledge(1, by: "nurse.kim") }
        let passes = gateway.alerts.passCount
        gateway.alerts.wake()
        #expect(gateway.alerts.waitForPass(after: passes), "events 2-4 handed to libmosquitto while the broker is away")
        #expect(try gateway.database.alertCursor(.mqtt) == 1, "nothing is counted delivered while the broker is away")

        let connections = gateway.client.connectionCount
        try broker.start()
        #expect(gateway.client.waitForConnection(after: connections, timeout: 60), "the gateway reconnects")
        #expect(
            gateway.alerts.wait { (try? gateway.database.alertCursor(.mqtt)) == 4 }, "acknowledged after the reconnect")
        let (subscriber, output) = try subscribe(count: 4)
        #expect(subscriber.wait() == 0, "the subscriber got 4 messages")
        let ids = try String(contentsOfFile: output, encoding: .utf8).split(separator: "\n").compactMap {
            AlertLogFormat.parse(String($0))?.eventID
        }
        #expect(ids == [1, 2, 3, 4])
    }

    @Test("Time entries on the time topic land in the ledger once; an unknown patient is refused with the reason")
    func timeTopic() async throws {
        let broker = try Broker()
        let gateway = try Harness(broker: broker)
        try gateway.pipeline.addHub("careapp", patients: ["P1"], by: "test")
        try gateway.database.addStaff("nurse.kim", role: .clinicalStaff, by: "test")
        try gateway.start(broker)
        let entry =
            #"{"v":1,"patient":"P1","start":"2026-03-04T10:05:00-06:00","minutes":12,"staff":"nurse.kim","role":"clinical_staff","program":"ccm","activity":"call","id":"app-4411"}"#
        try broker.publish("ccm/v1/hub/careapp/time", entry)
        try broker.publish("ccm/v1/hub/careapp/time", entry)
        try broker.publish(
            "ccm/v1/hub/careapp/time",
            entry.replacingOccurrences(of: "P1", with: "P9").replacingOccurrences(of: "app-4411", with: "app-4412"))
        try broker.publish(
            "ccm/v1/hub/careapp/time", entry.replacingOccurrences(of: "\"minutes\":12", with: "\"minutes\":900"))
        let outcomes = try await gateway.next(4)
        #expect(outcomes.map(\.status) == [.accepted, .duplicate, .rejected, .rejected])
        #expect(
            outcomes[2].reason
                == "patient: no patient P9 at this gateway; check the app's patient id, or add the patient with ccmctl patients add P9"
        )
        #expect(outcomes[3].reason == "minutes: 900 is not between 1 and 600; split longer work into entries")
        let entries = try gateway.database.timeEntries()
        #expect(entries.count == 1)
        #expect(entries.first?.minutes == 12)
        #expect(entries.first?.interactive == true)
        #expect(entries.first?.source == "mqtt:ccm/v1/hub/careapp/time")
    }

    @Test("A glucose measurement and its context, published apart in either order, make one reading with its meal")
    func glucoseContextPairing() async throws {
        let broker = try Broker()
        let gateway = try Harness(broker: broker)
        try gateway.pipeline.addDevice(
            Device(id: "C0:26:DA:01:02:03", kind: .glucometer, patientID: "P1", hubID: "h1"), by: "test")
        try gateway.start(broker)
        // E6 (sequence 2, context follows) then E7 (sequence 2, postprandial).
        try broker.publish("ccm/v1/hub/h1/gatt/C026DA010203/2a18", "1F 02 00 E9 07 05 15 0C 28 0A FB FF 4A C0 12 01 00")
        try broker.publish("ccm/v1/hub/h1/gatt/C026DA010203/2a34", "06 02 00 02 51")
        let first = try await gateway.next(2)
        #expect(first.map(\.status) == [.accepted, .accepted])
        #expect(first[1].reason == "meal after_meal added to reading \(first[0].readingID!) (sequence 2)")
        // The context of sequence 3 first (fasting), then its measurement.
        try broker.publish("ccm/v1/hub/h1/gatt/C026DA010203/2a34", "02 03 00 03")
        try broker.publish("ccm/v1/hub/h1/gatt/C026DA010203/2a18", "12 03 00 E9 07 05 16 07 00 00 4A C0 12")
        let second = try await gateway.next(2)
        #expect(second.map(\.status) == [.quarantined, .accepted])
        #expect(second[0].code == "context_waiting")
        let readings = try gateway.database.readings(kind: .glucose)
        #expect(readings.map(\.meal) == [.afterMeal, .fasting])
        #expect(readings.map(\.sequence) == [2, 3])
        #expect(try gateway.database.inbox(status: "quarantined").isEmpty)
    }

    /// A Glucose Measurement (mg/dL as kg/L), 2026-11-DD HH:00, with its Type-Sample Location
    /// and, when given, a Sensor Status Annunciation, as hex text (docs/ble.md § "Glucose Measurement (0x2A18), GLS").
    static func glucoseHex(
        _ sequence: UInt16, mgdL: UInt16, day: UInt8, hour: UInt8, typeLocation: UInt8 = 0x11, status: UInt16? = nil
    ) -> String {
        var bytes: [UInt8] = [
            status == nil ? 0x02 : 0x0A, UInt8(sequence & 0xFF), UInt8(sequence >> 8), 0xEA, 0x07, 11, day, hour, 0, 0,
        ]
        let sfloat = UInt16(0xB000) | mgdL  // exponent -5
        bytes += [UInt8(sfloat & 0xFF), UInt8(sfloat >> 8), typeLocation]
        if let status { bytes += [UInt8(status & 0xFF), UInt8(status >> 8)] }
        return bytes.map { String(format: "%02X", $0) }.joined(separator: " ")
    }

    @Test(
        "Over the gatt topic: a reset meter's new records are stored, a control test is not a reading, HI is flagged, a cuff's user goes to its patient"
    )
    func gattDeviceMeaning() async throws {
        let broker = try Broker()
        let gateway = try Harness(broker: broker)
        try gateway.pipeline.addDevice(
            Device(id: "C0:26:DA:01:02:03", kind: .glucometer, patientID: "P1", hubID: "h1"), by: "test")
        try gateway.database.addPatient(Patient(id: "P2", name: "Bea Test", timeZone: "UTC"), by: "test")
        _ = try gateway.pipeline.assignDeviceUser("A4:C1:38:12:34:56", user: 2, to: "P2", by: "test")
        try gateway.start(broker)
        let meter = "ccm/v1/hub/h1/gatt/C026DA010203/2a18"
        for n in UInt16(1)...3 { try broker.publish(meter, Self.glucoseHex(n, mgdL: 100 + n, day: 1, hour: UInt8(n))) }
        try broker.publish(meter, Self.glucoseHex(4, mgdL: 125, day: 1, hour: 5, typeLocation: 0x4A))
        try broker.publish(meter, Self.glucoseHex(5, mgdL: 600, day: 1, hour: 6, status: 1 << 5))
        // The meter is reset: 1 and 2 again, other days and values.
        try broker.publish(meter, Self.glucoseHex(1, mgdL: 201, day: 20, hour: 8))
        try broker.publish(meter, Self.glucoseHex(2, mgdL: 202, day: 20, hour: 9))
        // User 2 of the cuff, irregular pulse: 168/101.
        try broker.publish(
            "ccm/v1/hub/h1/gatt/A4C138123456/2a35", "1E A8 00 65 00 FF 07 EA 07 0B 1B 08 00 00 48 00 02 04 00")
        let outcomes = try await gateway.next(8)
        #expect(
            outcomes.map(\.status) == [
                .accepted, .accepted, .accepted, .accepted, .accepted, .accepted, .accepted, .accepted,
            ])
        #expect(outcomes[3].code == "control_test")
        #expect(outcomes[5].reason?.hasPrefix("meter reset detected") == true)
        let glucose = try gateway.database.readings(kind: .glucose)
        #expect(glucose.map { $0.values[.glucose] } == [101, 102, 103, 600, 201, 202])
        #expect(glucose.map(\.epoch) == [0, 0, 0, 0, 1, 1])
        #expect(glucose[3].flags == [.resultAboveRange])
        #expect(try gateway.database.controlTests().map(\.glucose) == [125])
        let bp = try gateway.database.readings(kind: .bloodPressure)
        #expect(bp.map(\.patientID) == ["P2"])
        #expect(bp.first?.flags == [.irregularPulse])
        #expect(bp.first?.userIndex == 2)
    }
}

extension MQTTIngestTests {
    @Test(
        "Over the gatt topic: a scale's weight with its user, BMI and height, an oximeter's spot-check and continuous value, a thermometer's temperature"
    )
    func gattBodyProfiles() async throws {
        let broker = try Broker()
        let gateway = try Harness(broker: broker)
        for (id, kind) in [
            ("D0:5C:A1:E0:00:01", DeviceKind.scale), ("E0:0C:51:00:00:02", .pulseOximeter),
            ("F0:7E:00:00:00:03", .thermometer),
        ] {
            try gateway.pipeline.addDevice(Device(id: id, kind: kind, patientID: "P1", hubID: "h1"), by: "test")
        }
        _ = try gateway.pipeline.assignDeviceUser("D0:5C:A1:E0:00:01", user: 1, to: "P1", by: "test")
        try gateway.start(broker)
        // 182.50 lb (18250 × 0.01), 2026-11-27 08:00, user 1, BMI 26.2, height 70.3 in.
        try broker.publish("ccm/v1/hub/h1/gatt/D05CA1E00001/2a9d", "0F 4A 47 EA 07 0B 1B 08 00 00 01 06 01 BF 02")
        // Spot-check 86 %, pulse 92, 2026-11-27 09:00.
        try broker.publish("ccm/v1/hub/h1/gatt/E00C51000002/2a5e", "01 56 00 5C 00 EA 07 0B 1B 09 00 00")
        // Continuous 93 %, pulse 75.
        try broker.publish("ccm/v1/hub/h1/gatt/E00C51000002/2a5f", "00 5D 00 4B 00")
        // 100.4 °F (FLOAT 1004e-1), 2026-11-27 10:00, ear.
        try broker.publish("ccm/v1/hub/h1/gatt/F07E00000003/2a1c", "07 EC 03 00 FF EA 07 0B 1B 0A 00 00 03")
        let outcomes = try await gateway.next(4)
        #expect(outcomes.map(\.status) == [.accepted, .accepted, .accepted, .accepted])
        #expect(outcomes[0].reason == "the device also reported bmi 26.2 kg/m2, height 70.3 in")
        let weight = try #require(try gateway.database.readings(kind: .weight).first)
        #expect(weight.originalValues[.weight] == 182.5 && weight.originalUnit == .pound && weight.userIndex == 1)
        #expect(try gateway.database.readings(kind: .spo2).map { $0.values[.spo2] } == [86, 93])
        let temperature = try #require(try gateway.database.readings(kind: .temperature).first)
        #expect(temperature.values[.temperature] == 38 && temperature.sampleLocation == "ear")
    }
}
