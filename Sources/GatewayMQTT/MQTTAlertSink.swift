import Foundation
public import GatewayCore
public import GatewayStore

/// Publishes alert events to `{prefix}/alerts/{patient}` at QoS 1, one JSON object each (the
/// alert log's JSON line). libmosquitto queues them while the broker is away.
public struct MQTTAlertSink: AlertSink {
    let client: MQTTClient

    public init(client: MQTTClient) { self.client = client }

    public func deliver(_ events: [AlertEvent]) {
        for event in events {
            client.publish(topic: client.options.topics.alerts(patient: event.patientID), payload: AlertLogFormat.json.line(event))
        }
    }
}
