import Foundation
import GatewayConfig
import GatewayCore
import GatewayMQTT
import GatewayPipeline
import GatewayStore
import Logging
import ServiceLifecycle
import Synchronization

/// The MQTT source: starts the client (which keeps reconnecting with backoff on its own
/// thread), and on shutdown says offline and disconnects before the pipeline stops.
struct MQTTService: Service {
    let client: MQTTClient
    let readiness: Readiness
    let logger: Logger

    static let name = "mqtt"

    /// Builds the client from the configuration; the password is read from its file now, so a
    /// missing file stops the start.
    static func client(
        _ config: GatewayConfig.MQTT, pipeline: Pipeline, logger: Logger, observer: InboxWriter.Observer
    ) throws -> MQTTClient {
        var password: String?
        if let file = config.passwordFile {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw GatewaydError(
                    "mqtt.password_file: cannot read \(file)", fix: "create it (mode 0640) or remove the setting")
            }
            password = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        for (key, path) in [("ca_file", config.caFile), ("cert_file", config.certFile), ("key_file", config.keyFile)] {
            if let path, !FileManager.default.isReadableFile(atPath: path) {
                throw GatewaydError("mqtt.tls.\(key): cannot read \(path)", fix: "check the path and its permissions")
            }
        }
        let options = MQTTOptions(
            host: config.host, port: config.port, clientID: config.clientID, topics: Topics(prefix: config.prefix),
            keepalive: config.keepalive, username: config.username, password: password, caFile: config.caFile,
            certFile: config.certFile, keyFile: config.keyFile, sharedGroup: config.sharedGroup, lanes: config.lanes)
        do {
            return try MQTTClient(
                options: options, inbox: InboxWriter(pipeline: pipeline, observer: observer),
                events: { log($0, options: options, logger: logger) })
        } catch let error as MQTTError {
            throw GatewaydError(error.what, fix: error.fix)
        }
    }

    /// Says what the client reports, at the level an operator needs (docs/logging.md).
    static func log(_ event: MQTTEvent, options: MQTTOptions, logger: Logger) {
        let broker: Logger.Metadata = ["mqtt.host": "\(options.host)", "mqtt.port": "\(options.port)"]
        switch event {
        case .unreachable(let reason):
            logger.warning(
                "MQTT broker not reachable yet; retrying", metadata: broker.merging(["error": "\(reason)"]) { $1 })
        case .refused(let clientID, let reason):
            logger.error(
                "MQTT broker refused the connection",
                metadata: broker.merging(["mqtt.client_id": "\(clientID)", "reason": "\(reason)"]) { $1 })
        case .connected(let clientID):
            logger.notice("MQTT connected", metadata: broker.merging(["mqtt.client_id": "\(clientID)"]) { $1 })
        case .lost(let clientID, let reason):
            logger.warning(
                "MQTT connection lost; reconnecting", metadata: ["mqtt.client_id": "\(clientID)", "error": "\(reason)"])
        case .subscribeFailed(let filter, let reason):
            logger.error("MQTT subscribe failed", metadata: ["mqtt.topic": "\(filter)", "error": "\(reason)"])
        case .publishRefused(let topic, let reason):
            logger.warning("MQTT publish refused", metadata: ["mqtt.topic": "\(topic)", "error": "\(reason)"])
        case .storeFailed(let topic, let error):
            logger.critical(
                "cannot store an MQTT message; exiting before it is acknowledged so the broker delivers it again",
                metadata: ["mqtt.topic": "\(topic)", "error": "\(error)"])
        }
    }

    func run() async throws {
        try client.start()
        readiness.mark(Self.name)
        try? await gracefulShutdown()
        client.stop()
        logger.notice("MQTT stopped")
    }
}
