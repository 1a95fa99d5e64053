import AsyncAlgorithms
import Foundation
import GatewayConfig
import GatewayCore
import GatewayPipeline
import GatewayStore
import Logging
import ServiceLifecycle
import UnixSignals

/// Alert events in the journal, with a priority by level: urgent as `error`, warning as
/// `warning`, acknowledgements and resolutions as `notice`. Ids, rule and level only: values
/// and thresholds go to the alert log, not the journal (they appear here at debug only). Fed
/// from the outbox (`journal` cursor), at least once.
struct JournalAlertSink: Sendable {
    let logger: Logger

    func log(_ events: [AlertEvent]) {
        for event in events {
            let level: Logger.Level =
                switch event.kind {
                case .raised, .repeated, .escalated: event.level == .urgent ? .error : .warning
                case .acknowledged, .snoozed, .resolved: .notice
                }
            var metadata: Logger.Metadata = [
                "alert.id": "\(event.alertID)", "patient.id": "\(event.patientID)", "alert.rule": "\(event.rule)",
                "alert.level": "\(event.level.rawValue)", "alert.event": "\(event.kind.rawValue)",
            ]
            if let id = event.eventID { metadata["alert.event_id"] = "\(id)" }
            if let by = event.by { metadata["alert.by"] = "\(by)" }
            logger.log(level: level, "alert \(event.kind.rawValue)", metadata: metadata)
            logger.debug(
                "alert detail",
                metadata: [
                    "alert.id": "\(event.alertID)", "alert.value": "\(event.value)",
                    "alert.threshold": "\(event.threshold)",
                ])
        }
    }
}

/// The alert timer (stale data, auto-resolution, ended snoozes) every `alerts.check_interval`,
/// and SIGHUP: reopen the alert log (logrotate's postrotate) and reload the care-plan templates.
struct AlertService: Service {
    let pipeline: Pipeline
    let alertLog: AlertLogFile
    /// The configuration read at start; it stays in force. SIGHUP reads the file again only for
    /// the care-plan folder (and logs that changed database, mqtt, alerts, ingest or metrics
    /// settings take effect on restart).
    let config: GatewayConfig
    let configPath: String?
    let notify: SystemdNotify?
    let readiness: Readiness
    let logger: Logger

    static let name = "alerts"
    /// Where the timer's write transaction runs, off the cooperative pool.
    let queue = BlockingQueue("alert-timer")

    func run() async throws {
        readiness.mark(Self.name)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
                    await reload()
                }
            }
            group.addTask {
                let timer = AsyncTimerSequence(interval: .seconds(config.alerts.checkInterval), clock: .continuous)
                await check()
                for await _ in timer.cancelOnGracefulShutdown() { await check() }
            }
            try await group.waitForAll()
        }
    }

    func check() async {
        do {
            let pipeline = self.pipeline
            let result = try await queue.run { try pipeline.checkAlerts() }
            for problem in result.problems {
                logger.error("care plan cannot be composed", metadata: ["careplan.problem": "\(problem)"])
            }
        } catch {
            logger.error("alert check failed", metadata: ["error": "\(error)"])
        }
    }

    /// SIGHUP: systemd is told RELOADING=1 then READY=1. The configuration file is read again:
    /// a bad one is logged with the reason and the one in force stays; a good one gives the
    /// care-plan templates their folder (settings read only at start say so). Then the alert
    /// log is reopened (on the timer's queue: counting the old file's lines is a write
    /// transaction, which may wait for ccmctl's) and the templates reloaded.
    func reload() async {
        var monotonic = timespec()
        clock_gettime(CLOCK_MONOTONIC, &monotonic)
        notify?.send([
            "RELOADING=1", "MONOTONIC_USEC=\(Int64(monotonic.tv_sec) * 1_000_000 + Int64(monotonic.tv_nsec) / 1000)",
        ])
        defer { notify?.send(["READY=1"]) }
        var directory = config.carePlans.directory
        if let configPath {
            do {
                let fresh = try GatewayConfig.load(path: configPath)
                directory = fresh.carePlans.directory
                // (sources are compared out: --replay overrides them in the configuration in force)
                if fresh.database != config.database || fresh.mqtt != config.mqtt || fresh.alerts != config.alerts
                    || fresh.ingest != config.ingest || fresh.metrics != config.metrics
                {
                    logger.notice(
                        "configuration read; changed database, mqtt, alerts, ingest or metrics settings take effect on restart"
                    )
                }
            } catch {
                logger.error("configuration not reloaded; the one in force stays", metadata: ["error": "\(error)"])
            }
        }
        do {
            let (alertLog, database) = (self.alertLog, pipeline.database)
            try await queue.run { try alertLog.reopen(countingIn: database) }
            logger.notice("alert log reopened", metadata: ["alerts.log": "\(alertLog.path)"])
        } catch {
            logger.error("alert log cannot be reopened", metadata: ["error": "\(error)"])
        }
        do {
            let library = try CarePlanLibrary.load(directory: directory)
            pipeline.templates.replace(with: library.templates)
            logger.notice(
                "care-plan templates reloaded", metadata: ["careplan.templates": "\(library.templates.count)"])
        } catch {
            logger.error("care-plan templates not reloaded; keeping the previous ones", metadata: ["error": "\(error)"])
        }
    }
}
