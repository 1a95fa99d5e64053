import AsyncAlgorithms
import Foundation
import GatewayBLE
import GatewayConfig
import GatewayCore
import GatewayMQTT
import GatewayPipeline
import GatewayStore
import Logging
import ServiceLifecycle
import UnixSignals

/// The daemon, wired: the database opened, the services built in start order. `run()` in
/// `CCMGatewayd` and the tests both go through here.
struct Gateway {
    let group: ServiceGroup
    let database: GatewayDatabase
    /// Held while the gateway lives: one daemon per database.
    let lock: DatabaseLock
    let pipeline: Pipeline
    let alertLog: AlertLogFile
    let mqtt: MQTTClient?
    let stats: PipelineStats
    let ble: BLEStatus

    /// Builds the service group. Fails before anything runs when the database cannot be opened
    /// or a source cannot start, with a message naming the setting to fix.
    ///
    /// Services start in array order and stop in reverse: sources stop taking input first, then
    /// the pipeline drains, then the alert deliverers write what it stored; the notifier (last)
    /// is told first, so `STOPPING=1` goes out as soon as the shutdown begins.
    init(
        config: GatewayConfig, configPath: String? = nil, logger: Logger, notify: SystemdNotify? = SystemdNotify(),
        environment: [String: String] = ProcessInfo.processInfo.environment,
        clock: @escaping @Sendable () -> Date = { Date() },
        onProcessed: (@Sendable ([ItemOutcome]) -> Void)? = nil
    ) throws {
        // Never creates the database: a missing file is refused with the fix (ccmctl init), so
        // a restart after the file was deleted does not carry on in a new, empty one. Writers
        // wait for the lock as long as it takes: an operator's long command delays readings, it
        // never stops the daemon (the wait is logged).
        // One daemon per database, decided before this one opens (and perhaps migrates) the file.
        do { lock = try DatabaseLock(database: config.database.path) } catch
            where !FileManager.default.fileExists(atPath: config.database.path)
        {
            // Says there is none, and how to make one.
            _ = try GatewayDatabase(path: config.database.path, mode: .existing)
            throw error
        }
        database = try GatewayDatabase(path: config.database.path, mode: .existing, waitLimit: nil) { waited in
            logger.warning(
                "the database is locked by another process; waiting", metadata: ["waited.seconds": "\(Int(waited))"])
        }
        // Patient data: a database others can write is a database others can alter (the file
        // itself, not a symbolic link to it, whose own mode is always 777).
        let file = (config.database.path as NSString).resolvingSymlinksInPath
        if let mode = (try? FileManager.default.attributesOfItem(atPath: file))?[.posixPermissions] as? Int,
            mode & 0o002 != 0
        {
            throw GatewaydError(
                "the database \(file) is writable by other users (mode \(String(mode, radix: 8))); run chmod o-w \(file) and start again"
            )
        }
        // A gateway that cannot alert must not look healthy: bad templates stop the start with
        // the setting to fix. An alert log that cannot be opened does not: alert events wait in
        // the outbox and are written once it can (a restart during a log outage must not stop
        // the readings); it is logged now, and STATUS= and the metrics count what waits.
        let templates = try config.loadTemplates()
        alertLog = config.alertLog()
        do { try alertLog.open() } catch {
            logger.error(
                "alert log cannot be opened; alert events wait in the database until it can",
                metadata: ["error": "\(error)"])
        }
        // This daemon's log is the one the outbox's log cursor counts in: a ccmctl configured
        // with another file leaves its events for the daemon to write here.
        try alertLog.claim(in: database)
        // Alert events go to the outbox with their transaction. After each commit that stored
        // some, the committing thread writes the alert log's lines at once (AlertLogOutbox: its
        // own write transaction, exactly once; one batch of lines at most, so that a backlog
        // an outage left does not hold the sources up; neither synced nor counted, which the
        // log's deliverer does), then wakes the deliverers (AlertDeliveryService: the journal,
        // MQTT, and the log's own deliverer, which syncs and counts those lines, writes the
        // rest, retries what could not be written and reports the outage).
        let alertWakeups = AlertWakeups()
        let alertSink = AlertSinks([
            AlertLogOutbox(database: database, log: alertLog, batches: 1, sync: false, onError: { _ in }), alertWakeups,
        ])
        pipeline = config.pipeline(database: database, templates: templates, sink: alertSink, clock: clock)
        stats = PipelineStats()
        let wakeups = InboxWakeups(stats: stats)
        let observer = wakeups.observer(logger: logger, onProcessed: onProcessed)
        var expected: Set<String> = [PipelineService.name, AlertService.name]
        var mqttAlerts: MQTTAlertSink?
        if config.ble.enabled { expected.insert(BLEService.name) }
        if config.sources.file != nil { expected.insert(FileSource.name) }
        if config.mqtt.enabled {
            expected.insert(MQTTService.name)
            let client = try MQTTService.client(config.mqtt, pipeline: pipeline, logger: logger, observer: observer)
            mqttAlerts = MQTTAlertSink(client: client, database: database, wake: alertWakeups.mqtt.wake)
            mqtt = client
        } else {
            mqtt = nil
        }
        let readiness = Readiness(expecting: expected)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: DatabaseWatch(database: database, logger: logger), serviceName: DatabaseWatch.name),
            .init(
                service: CheckpointService(checkpointer: try WALCheckpointer(database: database), logger: logger),
                serviceName: CheckpointService.name),
            .init(
                service: AlertDeliveryService(
                    database: database, alertLog: alertLog, journal: JournalAlertSink(logger: logger), mqtt: mqttAlerts,
                    wakeups: alertWakeups, logger: logger),
                serviceName: AlertDeliveryService.name),
            .init(
                service: PipelineService(
                    pipeline: pipeline, wakeups: wakeups, readiness: readiness, stats: stats, logger: logger,
                    onProcessed: onProcessed),
                serviceName: PipelineService.name),
            .init(
                service: AlertService(
                    pipeline: pipeline, alertLog: alertLog, config: config, configPath: configPath, notify: notify,
                    readiness: readiness,
                    logger: logger),
                serviceName: AlertService.name),
        ]
        if let file = config.sources.file {
            services.append(
                .init(
                    service: try FileSource(
                        path: file.path, writer: InboxWriter(pipeline: pipeline, observer: observer),
                        readiness: readiness, logger: logger),
                    serviceName: FileSource.name))
        }
        if let mqtt {
            services.append(
                .init(
                    service: MQTTService(client: mqtt, readiness: readiness, logger: logger),
                    serviceName: MQTTService.name))
        }
        ble = BLEStatus()
        if config.ble.enabled {
            var sync = BLESync(pipeline: pipeline, logger: logger)
            sync.continuousInterval = config.ble.continuousSpO2Interval
            let stats = self.stats
            sync.arriving = { stats.enqueued() }
            sync.decided = { outcomes in
                stats.record(outcomes, logger: logger)
                stats.decided()
                onProcessed?(outcomes)
            }
            services.append(
                .init(
                    service: BLEService(
                        config: config.ble, sync: sync, readiness: readiness, status: ble, logger: logger),
                    serviceName: BLEService.name))
        }
        let database = self.database
        let mqtt = self.mqtt
        let stats = self.stats
        let ble = self.ble
        let zone = config.practice.zone
        let status: @Sendable () -> String = {
            let counts = try? database.statusCounts(today: zone)
            let broker = mqtt.map { $0.isConnected ? "MQTT connected" : "MQTT disconnected" } ?? "MQTT off"
            let backlog = stats.backlog
            let catchingUp = backlog > 0 ? ", catching up: \(backlog) inputs from before the start" : ""
            let undelivered =
                (try? database.alertEventsWaiting())?.filter { mqtt != nil || $0.key != .mqtt }.values.max() ?? 0
            return
                "\(counts?.readings ?? 0) readings today, \(counts?.openAlerts ?? 0) open alerts, \(broker), \(ble.summary), \(stats.queued) in flight"
                + catchingUp + (undelivered > 0 ? ", \(undelivered) alert events undelivered" : "")
        }
        let metricsFile = MetricsFile(path: config.metrics.textfile, started: Date())
        let metricsDirectory = (config.metrics.textfile as NSString).deletingLastPathComponent
        if !metricsDirectory.isEmpty {
            try? FileManager.default.createDirectory(
                atPath: metricsDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
        }
        let tick: @Sendable (Bool) -> Void = { up in
            let (counts, last) = stats.bySource
            let snapshot = MetricsFile.Snapshot(
                bySource: counts, lastBySource: last, inFlight: stats.queued, health: try? database.health(),
                mqttConnected: mqtt.map { $0.isConnected }, bleAvailable: ble.isOn, bleSessions: ble.counts.sessions,
                bleSessionFailures: ble.counts.failures, up: up,
                alertsUndelivered: (try? database.alertEventsWaiting())?.filter { mqtt != nil || $0.key != .mqtt })
            do { try metricsFile.write(snapshot) } catch {
                logger.warning(
                    "metrics file not written",
                    metadata: ["metrics.textfile": "\(metricsFile.path)", "error": "\(error)"])
            }
        }
        services.append(
            .init(
                service: SystemdNotifier(
                    notify: notify, watchdog: SystemdNotifier.watchdogInterval(environment: environment),
                    readiness: readiness,
                    stats: stats, status: status, tick: tick, logger: logger),
                serviceName: SystemdNotifier.name))
        group = ServiceGroup(
            configuration: ServiceGroupConfiguration(
                services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
    }
}

/// Tells systemd the truth: `READY=1` once the database is open and every source has started,
/// `STATUS=` with counters, `WATCHDOG=1` at half of `WATCHDOG_USEC` but only while the pipeline
/// is alive (nothing in flight, or progress within the watchdog interval; never a bare timer),
/// and `STOPPING=1` as soon as a graceful shutdown begins.
struct SystemdNotifier: Service {
    let notify: SystemdNotify?
    /// The watchdog interval systemd asked for, if it asked this process.
    let watchdog: Duration?
    let readiness: Readiness
    let stats: PipelineStats
    let status: @Sendable () -> String
    /// Work done every status period (the metrics file); false once, as the daemon stops.
    let tick: @Sendable (_ up: Bool) -> Void
    let logger: Logger

    static let name = "systemd-notify"

    /// `WATCHDOG_USEC`, when set for this process (`WATCHDOG_PID` absent or ours).
    static func watchdogInterval(environment: [String: String] = ProcessInfo.processInfo.environment) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let usec = Int64(text), usec > 0 else { return nil }
        if let pid = environment["WATCHDOG_PID"], Int32(pid) != getpid() { return nil }
        return .microseconds(usec)
    }

    func run() async throws {
        await readiness.wait()
        // The status line and the metrics file read the database and write a file: off the
        // cooperative pool, like every other blocking call of the daemon.
        let queue = BlockingQueue("status")
        let status = self.status, tick = self.tick
        notify?.send(["READY=1", "STATUS=\((try? await queue.run(status)) ?? "")"])
        logger.notice("ccm-gatewayd ready")
        try? await queue.run { tick(true) }
        await withGracefulShutdownHandler {
            let period = min(watchdog.map { $0 / 2 } ?? .seconds(15), .seconds(15))
            var stalled = false
            for await _ in AsyncTimerSequence(interval: period, clock: .continuous).cancelOnGracefulShutdown() {
                let line =
                    (try? await queue.run {
                        tick(true); return status()
                    }) ?? ""
                guard let watchdog else {
                    notify?.send(["STATUS=\(line)"])
                    continue
                }
                if stats.isAlive(within: watchdog) {
                    notify?.send(["WATCHDOG=1", "STATUS=\(line)"])
                    stalled = false
                } else if !stalled {
                    stalled = true
                    logger.error(
                        "the pipeline made no progress within the watchdog interval; withholding WATCHDOG=1",
                        metadata: ["inbox.queued": "\(stats.queued)"])
                }
            }
        } onGracefulShutdown: {
            notify?.send(["STOPPING=1", "STATUS=stopping: \(stats.summary)"])
            logger.notice("ccm-gatewayd stopping")
            tick(false)
        }
    }
}
