import Foundation
import GatewayCore
import GatewayPipeline
import GatewayStore
import GatewayTestSupport
import Synchronization
import Testing

@testable import GatewayMQTT

/// `mqtt.lanes`: several sessions in one `$share` group, whose callbacks share one fsync'd inbox
/// commit, against a real mosquitto running the shipped ACL with accounts.
@Suite("MQTT lanes", .ownThreads)
struct LanesTests {
    static let gateway = ("ccm-gateway", "gw-secret")
    static let hub = ("h1", "h1-secret")

    /// Waits until the broker has seen every lane subscribe (its last filter, in the group).
    static func waitForSubscriptions(_ broker: Broker, _ options: MQTTOptions, after text: String = "") -> Bool {
        let group = options.group.map { "$share/\($0)/" } ?? ""
        let markers = (0..<options.lanes).map { "\(options.clientID(lane: $0)) 1 \(group)ccm/v1/hub/+/time" }
        return waitUntil(broker.log, timeout: 20) { log in
            let fresh = log.dropFirst(text.count)
            return markers.allSatisfy { fresh.contains($0) }
        }
    }

    @Test("published while the gateway is down: arrives across four lanes, nothing lost, fewer commits than messages")
    func backlogAcrossLanes() async throws {
        let broker = try Broker(accounts: [Self.gateway.0: Self.gateway.1, Self.hub.0: Self.hub.1])
        let harness = try Harness(broker: broker, clientID: "gw-lanes") {
            $0.lanes = 4
            $0.username = Self.gateway.0
            $0.password = Self.gateway.1
        }
        let options = harness.client.options
        #expect(options.group == "gw-lanes")
        #expect((0..<4).map(options.clientID(lane:)) == ["gw-lanes", "gw-lanes-2", "gw-lanes-3", "gw-lanes-4"])

        // Every lane's persistent session subscribes once (under the ACL: the broker checks a
        // $share filter without its $share/GROUP/ prefix), then the gateway goes away.
        try harness.client.start()
        try #require(Self.waitForSubscriptions(broker, options), "not every lane subscribed")
        let denied = (try? String(contentsOfFile: broker.log, encoding: .utf8))?.contains("Denied") ?? false
        #expect(!denied, "the broker denied something to the gateway's lanes")
        harness.client.stop()

        // 400 readings, each at its own minute, published by the hub while no lane is connected.
        let count = 400
        let start = RFC3339.parse("2026-03-01T00:00:00Z")!
        let lines = (0..<count).map { i in
            #"{"v":1,"device":"A4:C1:38:12:34:56","kind":"blood_pressure","measured_at":"\#(RFC3339.format(start.addingTimeInterval(Double(i) * 60)))","unit":"mmHg","values":{"systolic":\#(100 + i % 40),"diastolic":70}}"#
        }
        try broker.publish(
            "ccm/v1/hub/h1/reading", lines.joined(separator: "\n"), lines: true,
            extra: ["-u", Self.hub.0, "-P", Self.hub.1, "-i", "lanes-hub"])

        // Back: every lane's session delivers what the broker queued for it.
        let before = harness.client.connectionCount
        try harness.client.start()
        #expect(harness.client.waitForConnection(after: before, timeout: 60), "not every lane reconnected")
        let outcomes = try await harness.next(count, seconds: 120)
        #expect(outcomes.count == count)
        #expect(outcomes.allSatisfy { $0.status == .accepted })
        let readings = try harness.database.readings()
        #expect(readings.count == count, "lost \(count - readings.count)")
        #expect(Set(readings.map(\.measuredAt)).count == count)

        let byLane = harness.client.receivedByLane
        #expect(byLane.count == 4)
        #expect(byLane.allSatisfy { $0 > 0 }, "some lane received nothing: \(byLane)")
        #expect(byLane.reduce(0, +) == count)
        let commits = harness.inbox.counts
        #expect(commits.inputs == count)
        #expect(commits.commits < commits.inputs, "no two messages shared a commit: \(commits)")
    }

    /// An inbox whose commits wait at a gate the test opens: every batch it is handed is
    /// recorded, and ``arrived`` is signalled for each.
    final class GatedInbox: InboxReceiver, @unchecked Sendable {
        // Safety: `batches` is behind a Mutex; the semaphores are thread-safe.
        let maxPayloadBytes = 64 * 1024
        let batches = Mutex<[[RawInput]]>([])
        let arrived = DispatchSemaphore(value: 0)
        let gate = DispatchSemaphore(value: 0)
        let open = Mutex(false)

        func receive(_ input: RawInput) throws -> Int64 { try receive([input])[0] }

        func receive(_ inputs: [RawInput]) throws -> [Int64] {
            let first = batches.withLock {
                $0.append(inputs)
                return $0.count == 1
            }
            arrived.signal()
            if first, !open.withLock({ $0 }) { gate.wait() }
            return inputs.indices.map(Int64.init)
        }
    }

    @Test(
        "one lane: what it read is committed at once, and no PUBACK goes out before the commit returns"
    )
    func oneLaneSharesCommits() throws {
        let broker = try Broker(extraConfig: "log_type debug", accounts: [Self.hub.0: Self.hub.1])
        let inbox = GatedInbox()
        var options = MQTTOptions(host: "127.0.0.1", port: broker.port, clientID: "gw-one", reconnectDelay: (1, 2))
        options.username = Broker.gateway
        options.password = broker.gatewayPassword
        let client = try MQTTClient(options: options, inbox: inbox)
        defer { client.stop() }

        // The session subscribes once, goes away, and 200 readings wait for it at the broker.
        try client.start()
        try #require(Self.waitForSubscriptions(broker, options), "the lane did not subscribe")
        client.stop()
        let count = 200
        let lines = (0..<count).map { i in
            #"{"v":1,"device":"A4:C1:38:12:34:56","kind":"blood_pressure","measured_at":"2026-03-01T00:\#(String(format: "%02d", i / 60)):\#(String(format: "%02d", i % 60))Z","unit":"mmHg","values":{"systolic":120,"diastolic":70}}"#
        }
        try broker.publish(
            "ccm/v1/hub/h1/reading", lines.joined(separator: "\n"), lines: true,
            extra: ["-u", Self.hub.0, "-P", Self.hub.1, "-i", "one-lane-hub"])

        // Back: the first commit is held at the gate.
        try client.start()
        try #require(inbox.arrived.wait(timeout: .now() + 30) == .success, "nothing reached the inbox")
        // A QoS 1 round trip through the broker on another connection, begun after the lane
        // handed its messages over: a PUBACK the lane had written before the commit returned
        // would be in the broker's log by its end.
        try broker.publish("ccm/v1/hub/h1/reading", "barrier", extra: ["-u", Self.hub.0, "-P", Self.hub.1])
        let puback = "Received PUBACK from gw-one"
        let early = (try String(contentsOfFile: broker.log, encoding: .utf8)).components(separatedBy: puback).count - 1
        #expect(early == 0, "\(early) PUBACKs went out while their commit was held")

        // Open: every message arrives, in fewer commits than messages, and each is acknowledged.
        inbox.open.withLock { $0 = true }
        inbox.gate.signal()
        let all = waitUntil(broker.log, timeout: 60) { $0.components(separatedBy: puback).count - 1 >= count + 1 }
        #expect(all, "not every message was acknowledged")
        let batches = inbox.batches.withLock { $0 }
        let received = batches.flatMap { $0 }
        #expect(received.count == count + 1)
        #expect(Set(received.map(\.payload)).count == count + 1, "a message came twice")
        #expect(batches.count < received.count, "no two messages shared a commit")
        #expect(batches.contains { $0.count > 1 })
    }

    @Test("one lane: today's session, plain subscriptions")
    func oneLane() throws {
        let options = MQTTOptions(clientID: "gw-one", lanes: 1)
        #expect(options.group == nil)
        #expect(options.clientID(lane: 0) == "gw-one")
        #expect(MQTTOptions(clientID: "gw", sharedGroup: "team", lanes: 1).group == "team")
        #expect(MQTTOptions(clientID: "gw", sharedGroup: "team", lanes: 3).group == "team")
    }
}
