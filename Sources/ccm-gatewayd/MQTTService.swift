import Foundation
import GatewayConfig
import GatewayCore
import GatewayMQTT
import GatewayStore
import GatewayPipeline
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
    static func client(_ config: GatewayConfig.MQTT, pipeline: Pipeline, logger: Logger, wakeups: InboxWakeups) throws -> MQTTClient {
        var password: String?
        if let file = config.passwordFile {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw GatewaydError("mqtt.password_file: cannot read \(file); create it (mode 0640) or remove the setting")
            }
            password = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        for (key, path) in [("ca_file", config.caFile), ("cert_file", config.certFile), ("key_file", config.keyFile)] {
            if let path, !FileManager.default.isReadableFile(atPath: path) {
                throw GatewaydError("mqtt.tls.\(key): cannot read \(path); check the path and its permissions")
            }
        }
        let options = MQTTOptions(
            host: config.host, port: config.port, clientID: config.clientID, topics: Topics(prefix: config.prefix),
            keepalive: config.keepalive, username: config.username, password: password, caFile: config.caFile,
            certFile: config.certFile, keyFile: config.keyFile, sharedGroup: config.sharedGroup, lanes: config.lanes)
        do {
            return try MQTTClient(options: options, inbox: InboxWriter(pipeline: pipeline), logger: logger, arriving: wakeups.arriving, wake: wakeups.wake)
        } catch let error as MQTTError {
            throw GatewaydError(error.description)
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
