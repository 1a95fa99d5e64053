import GatewayCore
import GatewayStore
import Logging
import ServiceLifecycle

/// Wakes the pipeline for inputs the sources have already committed to the inbox, and counts
/// them in flight for the watchdog. Wake-ups coalesce: however many inputs arrived since the
/// pipeline last looked, it looks once and decides them all.
struct InboxWakeups: Sendable {
    let stream: AsyncStream<Void>
    let continuation: AsyncStream<Void>.Continuation
    let stats: PipelineStats

    init(stats: PipelineStats) {
        (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        self.stats = stats
    }

    /// Called by a source when it has an input in hand, before storing it.
    @Sendable func arriving() { stats.enqueued() }

    /// Called by a source after its `receive` committed: the input is durable, this only says
    /// "look now".
    @Sendable func wake(_ inboxID: Int64) { continuation.yield() }
}

/// Runs the one pipeline inside the daemon: first whatever a previous run left undecided in
/// the inbox (a crash between receive and process), then, at each wake-up, every input waiting.
///
/// Each input was committed to the inbox on its own before its source acknowledged it; deciding
/// them is batched, one transaction for all that are waiting, since a crash before that commit
/// only leaves them pending for the next look. At a steady trickle a batch is one input; under a
/// burst it is everything that queued meanwhile, so the pipeline keeps up with fewer commits.
struct PipelineService: Service {
    let pipeline: Pipeline
    let wakeups: InboxWakeups
    let readiness: Readiness
    let stats: PipelineStats
    let logger: Logger
    /// Called with each processed batch's outcomes (tests observe the daemon through it).
    var onProcessed: (@Sendable ([ItemOutcome]) -> Void)?

    static let name = "pipeline"

    func run() async throws {
        let backlog = try pipeline.processPending()
        record(backlog)
        if !backlog.isEmpty {
            logger.notice("processed inputs left undecided by the previous run", metadata: ["count": "\(backlog.count)"])
        }
        readiness.mark(Self.name)
        for await _ in wakeups.stream.cancelOnGracefulShutdown() {
            let outcomes = try pipeline.processPending()
            record(outcomes)
            for _ in Set(outcomes.map(\.inboxID)) { stats.decided() }
        }
    }

    private func record(_ outcomes: [ItemOutcome]) {
        guard !outcomes.isEmpty else { return }
        stats.record(outcomes, logger: logger)
        onProcessed?(outcomes)
    }
}

extension PipelineStats {
    /// Counts decided inputs by status and source, and logs each: ids, kinds and statuses only
    /// (values and names stay out of the journal).
    func record(_ outcomes: [ItemOutcome], logger: Logger) {
        for outcome in outcomes {
            add(outcome.status.rawValue, source: outcome.sourceKind)
            var metadata: Logger.Metadata = [
                "inbox.id": "\(outcome.inboxID)/\(outcome.item)", "input.status": "\(outcome.status.rawValue)",
            ]
            if let device = outcome.deviceID { metadata["device.id"] = "\(device)" }
            if let kind = outcome.kind { metadata["reading.kind"] = "\(kind.rawValue)" }
            if let code = outcome.code { metadata["input.code"] = "\(code)" }
            switch outcome.status {
            case .accepted, .duplicate: logger.debug("input decided", metadata: metadata)
            case .rejected, .quarantined: logger.info("input not accepted", metadata: metadata)
            }
        }
    }
}
