import AsyncAlgorithms
import Foundation
import GatewayCore
import GatewayMQTT
import GatewayPipeline
import GatewayStore
import Logging
import ServiceLifecycle

/// One deliverer's wake-up: however many times it is woken while busy, it looks once more.
struct AlertWakeup: Sendable {
    let stream: AsyncStream<Void>
    let continuation: AsyncStream<Void>.Continuation

    init() {
        (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    @Sendable func wake() { continuation.yield() }
}

/// The pipeline's alert sink in the daemon: after each commit that stored alert events, wakes
/// the deliverers. The events themselves are read from the outbox.
final class AlertWakeups: AlertSink {
    let log = AlertWakeup()
    let journal = AlertWakeup()
    let mqtt = AlertWakeup()

    func deliver(_ events: [AlertEvent]) {
        guard !events.isEmpty else { return }
        all()
    }

    func all() {
        log.wake()
        journal.wake()
        mqtt.wake()
    }
}

/// Delivers the alert outbox to each sink, in event-id order, each on its own: the alert log
/// (exactly once by id), the journal and the MQTT alert topic (at least once). Each deliverer
/// looks at start (what a crash or an outage left), when a commit stored events, and every
/// `poll` (events ccmctl committed, a sink that failed). A sink that fails keeps its events and
/// is logged once per outage, and again when it recovers; the others go on. The service is
/// first in the group, so it stops last: on shutdown it writes what the last commits stored.
struct AlertDeliveryService: Service {
    let database: GatewayDatabase
    let alertLog: AlertLogFile
    let journal: JournalAlertSink
    let mqtt: MQTTAlertSink?
    let wakeups: AlertWakeups
    var poll: Duration = .seconds(2)
    /// Each sink's passes start at most this often. Each pass is a write transaction (one
    /// fsync) moving the sink's cursor; under a burst of alerts, one pass per commit would hold
    /// the write lock the MQTT lanes wait for. The journal and MQTT promise at least once, not
    /// at once; the alert log's lines are written at once by the committing thread, and its
    /// passes sync them and move its cursor (and write what that thread could not).
    var spacing: Duration = .milliseconds(50)
    let logger: Logger
    /// Where each sink's deliveries (write transactions, file writes) run, off the cooperative pool.
    private let queues = (
        log: BlockingQueue("alert-log"), journal: BlockingQueue("alert-journal"), mqtt: BlockingQueue("alert-mqtt")
    )

    static let name = "alert-delivery"

    func run() async throws {
        await withDiscardingTaskGroup { group in
            group.addTask { await deliver("log", wakeups.log, on: queues.log, spacing: spacing, deliverLog) }
            group.addTask {
                await deliver("journal", wakeups.journal, on: queues.journal, spacing: spacing, deliverJournal)
            }
            if let mqtt {
                group.addTask {
                    await deliver("mqtt", wakeups.mqtt, on: queues.mqtt, spacing: spacing) { try publish(mqtt) }
                }
            }
            group.addTask {
                for await _ in AsyncTimerSequence(interval: poll, clock: .continuous).cancelOnGracefulShutdown() {
                    wakeups.all()
                }
            }
        }
        // Shutting down: the pipeline has stopped; what its last commits stored goes out now.
        try? deliverLog()
        try? deliverJournal()
    }

    /// Runs `body` now and at each wake-up until shutdown, at most once per `spacing`; logs an
    /// outage once, and its end.
    private func deliver(
        _ sink: String, _ wakeup: AlertWakeup, on queue: BlockingQueue, spacing: Duration = .zero,
        _ body: @escaping @Sendable () throws -> Void
    ) async {
        var failing = false
        var last = ContinuousClock.now - spacing
        wakeup.wake()
        for await _ in wakeup.stream.cancelOnGracefulShutdown() {
            // Wake-ups during the wait fold into this pass (the stream keeps one).
            try? await Task.sleep(until: last + spacing)
            last = ContinuousClock.now
            do {
                try await queue.run(body)
                if failing {
                    failing = false
                    logger.notice("alert events delivered again", metadata: ["alert.sink": "\(sink)"])
                }
            } catch {
                if !failing {
                    failing = true
                    logger.error(
                        "alert events cannot be delivered; they wait in the database and go out when the sink works again",
                        metadata: ["alert.sink": "\(sink)", "error": "\(error)"])
                }
            }
        }
    }

    private func deliverLog() throws {
        guard try database.alertEventsPending(for: .log) else { return }
        try alertLog.deliverPending(from: database)
    }

    private func deliverJournal() throws {
        guard try database.alertEventsPending(for: .journal) else { return }
        try database.deliverAlerts(to: .journal) { journal.log($0) }
    }

    private func publish(_ mqtt: MQTTAlertSink) throws {
        let pass = try mqtt.pass()
        for (id, reason) in pass.refused {
            logger.error(
                "alert event cannot be published; skipped on MQTT (it is in the alert log and the journal)",
                metadata: ["alert.event_id": "\(id)", "error": "\(reason)"])
        }
        if let failure = pass.failure { throw GatewaydError("MQTT publish failed: \(failure)") }
    }
}
