import Foundation
import GatewayConfig
import GatewayMQTT
import GatewayStore
import Logging
import ServiceLifecycle
import UnixSignals

/// The daemon, wired: the database opened, the services built in start order. `run()` in
/// `CCMGatewayd` and the tests both go through here.
struct Gateway {
    let group: ServiceGroup
    let database: GatewayDatabase
    let pipeline: Pipeline
    let alertLog: AlertLogFile
    let mqtt: MQTTClient?
    let stats: PipelineStats

    /// Builds the service group. Fails before anything runs when the database cannot be opened
    /// or a source cannot start, with a message naming the setting to fix.
    ///
    /// Services start in array order and stop in reverse: sources stop taking input first, then
    /// the pipeline drains, and the notifier (last) is told first, so `STOPPING=1` goes out as
    /// soon as the shutdown begins.
    init(
        config: GatewayConfig, logger: Logger, notify: SystemdNotify? = SystemdNotify(),
        clock: @escaping @Sendable () -> Date = { Date() }, onProcessed: (@Sendable ([ItemOutcome]) -> Void)? = nil
    ) throws {
        database = try GatewayDatabase(path: config.database.path)
        // A gateway that cannot alert must not look healthy: bad templates or an unwritable
        // alert log stop the start with the setting to fix.
        let templates = try config.loadTemplates()
        alertLog = config.alertLog { message in logger.error("alert log write failed", metadata: ["error": "\(message)"]) }
        try alertLog.open()
        let lateSinks = DeferredAlertSinks()
        pipeline = config.pipeline(
            database: database, templates: templates, sink: AlertSinks([alertLog, JournalAlertSink(logger: logger), lateSinks]),
            clock: clock)
        let wakeups = InboxWakeups()
        stats = PipelineStats()
        var expected: Set<String> = [PipelineService.name, AlertService.name]
        if config.sources.file != nil { expected.insert(FileSource.name) }
        if config.mqtt.enabled {
            expected.insert(MQTTService.name)
            let client = try MQTTService.client(config.mqtt, pipeline: pipeline, logger: logger, wake: wakeups.wake)
            lateSinks.attach(MQTTAlertSink(client: client))
            mqtt = client
        } else {
            mqtt = nil
        }
        let readiness = Readiness(expecting: expected)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(
                service: PipelineService(
                    pipeline: pipeline, wakeups: wakeups, readiness: readiness, stats: stats, logger: logger,
                    onProcessed: onProcessed),
                serviceName: PipelineService.name),
            .init(
                service: AlertService(pipeline: pipeline, alertLog: alertLog, config: config, readiness: readiness, logger: logger),
                serviceName: AlertService.name),
        ]
        if let file = config.sources.file {
            services.append(
                .init(
                    service: try FileSource(path: file.path, pipeline: pipeline, wakeups: wakeups, readiness: readiness, logger: logger),
                    successTerminationBehavior: .ignore, serviceName: FileSource.name))
        }
        if let mqtt {
            services.append(.init(service: MQTTService(client: mqtt, readiness: readiness, logger: logger), serviceName: MQTTService.name))
        }
        services.append(
            .init(
                service: SystemdNotifier(notify: notify, readiness: readiness, stats: stats, logger: logger),
                serviceName: SystemdNotifier.name))
        group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    }
}

/// Sends `READY=1` once the database is open and every source has started, and `STOPPING=1`
/// as soon as a graceful shutdown begins. Does nothing visible outside systemd but log.
struct SystemdNotifier: Service {
    let notify: SystemdNotify?
    let readiness: Readiness
    let stats: PipelineStats
    let logger: Logger

    static let name = "systemd-notify"

    func run() async throws {
        await readiness.wait()
        notify?.send(["READY=1", "STATUS=ready: \(stats.summary)"])
        logger.notice("ccm-gatewayd ready")
        await withGracefulShutdownHandler {
            try? await gracefulShutdown()
        } onGracefulShutdown: {
            notify?.send(["STOPPING=1", "STATUS=stopping: \(stats.summary)"])
            logger.notice("ccm-gatewayd stopping")
        }
    }
}
