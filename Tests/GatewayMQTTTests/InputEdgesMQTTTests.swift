import Foundation
import GatewayCore
import GatewayPipeline
import GatewayStore
import GatewayTestSupport
import Testing

@testable import GatewayMQTT

/// The input edges of docs/native-format.md over MQTT: a reading without identity delivered twice,
/// a bad hub segment.
@Suite("MQTT input edges against a real mosquitto", .serialized, .ownThreads)
struct InputEdgesMQTTTests {
    @Test("A reading without measured_at, seq or id delivered twice is rejected both times and stored never")
    func redeliveredWithoutIdentity() async throws {
        let broker = try Broker()
        let gateway = try Harness(broker: broker)
        try gateway.start(broker)
        let reading =
            #"{"v":1,"device":"A4:C1:38:12:34:56","kind":"blood_pressure","unit":"mmHg","values":{"systolic":150,"diastolic":80}}"#
        try broker.publish("ccm/v1/hub/h1/reading", reading)
        try broker.publish("ccm/v1/hub/h1/reading", reading)
        let outcomes = try await gateway.next(2)
        #expect(outcomes.map(\.status) == [.rejected, .rejected])
        #expect(outcomes.allSatisfy { $0.reason == "measured_at: " + NativeReadingV1.identityMissing })
        #expect(try gateway.database.readings().isEmpty)
    }

    @Test("A payload over the limit is rejected with its size and only its first bytes are kept")
    func oversizedPayloadKeptInPart() async throws {
        let broker = try Broker()
        let gateway = try Harness(broker: broker)
        try gateway.start(broker)
        // Over the gateway's 64 KiB, under the shipped broker's max_packet_size (256 KiB).
        let size = 200_000
        try broker.publish("ccm/v1/hub/h1/gatt/C026DA010203/2a18", bytes: [UInt8](repeating: 0x41, count: size))
        let outcomes = try await gateway.next(1)
        #expect(outcomes.map(\.status) == [.rejected])
        #expect(outcomes.first?.reason?.hasPrefix("payload of \(size) bytes is over the 65536-byte limit") == true)
        #expect(try gateway.database.inbox(status: "rejected").first?.payload.count == 65536)
    }

    @Test("A topic whose hub level breaks the id rule is stored rejected with the rule")
    func badHubSegment() async throws {
        let broker = try Broker()
        let gateway = try Harness(broker: broker)
        try gateway.start(broker)
        try broker.publish("ccm/v1/hub/h 1/reading", MQTTIngestTests.bp(142, minute: 1))
        let outcomes = try await gateway.next(1)
        #expect(outcomes.map(\.status) == [.rejected])
        #expect(outcomes.first?.reason?.hasPrefix(#""h 1" is not a valid hub id: a space is not allowed"#) == true)
        #expect(try gateway.database.readings().isEmpty)
    }
}
