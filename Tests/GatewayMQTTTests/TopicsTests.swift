import GatewayMQTT
import GatewayTestSupport
import Testing

@Suite("MQTT topics", .ownThreads)
struct TopicsTests {
    let topics = Topics(prefix: "ccm/v1")

    @Test("Inbound topics are classified by hub and kind")
    func classify() {
        #expect(topics.classify("ccm/v1/hub/h7/reading") == .reading(hub: "h7"))
        #expect(topics.classify("ccm/v1/hub/h7/fhir") == .fhir(hub: "h7"))
        #expect(topics.classify("ccm/v1/hub/h7/time") == .time(hub: "h7"))
        #expect(
            topics.classify("ccm/v1/hub/h7/gatt/A4:C1:38:12:34:56/2A35")
                == .gatt(hub: "h7", device: "A4:C1:38:12:34:56", characteristic: "2a35"))
        #expect(topics.classify("ccm/v1/hub/h7/other") == nil)
        #expect(topics.classify("ccm/v1/hub//reading") == nil)
        #expect(topics.classify("ccm/v2/hub/h7/reading") == nil)
        #expect(topics.classify("ccm/v1/hub/h7/gatt/dev") == nil)
    }

    @Test("Subscriptions, shared or not; alert and status topics")
    func outbound() {
        #expect(
            topics.subscriptions() == [
                "ccm/v1/hub/+/reading", "ccm/v1/hub/+/fhir", "ccm/v1/hub/+/gatt/+/+", "ccm/v1/hub/+/time",
            ])
        #expect(topics.subscriptions(sharedGroup: "gw").first == "$share/gw/ccm/v1/hub/+/reading")
        #expect(topics.alerts(patient: "P1") == "ccm/v1/alerts/P1")
        #expect(topics.status(gateway: "g1") == "ccm/v1/gateway/g1/status")
    }
}
