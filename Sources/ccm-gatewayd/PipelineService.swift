import GatewayCore
import GatewayStore
import Logging
import ServiceLifecycle

/// Wakes the pipeline for inputs the sources have already committed to the inbox, and counts
/// them in flight for the watchdog.
struct InboxWakeups: Sendable {
    let stream: AsyncStream<Int64>
    let continuation: AsyncStream<Int64>.Continuation
    let stats: PipelineStats

    init(stats: PipelineStats) {
        (stream, continuation) = AsyncStream.makeStream(of: Int64.self)
        self.stats = stats
    }

    /// Called by a source when it has an input in hand, before storing it.
    @Sendable func arriving() { stats.enqueued() }

    /// Called by a source after its `receive` committed: the input is durable, this only says
    /// "look now".
    @Sendable func wake(_ inboxID: Int64) { continuation.yield(inboxID) }
}

/// Runs the one pipeline inside the daemon: first whatever a previous run left undecided in
/// the inbox (a crash between receive and process), then each input the sources announce.
struct PipelineService: Service {
    let pipeline: Pipeline
    let wakeups: InboxWakeups
    let readiness: Readiness
    let stats: PipelineStats
    let logger: Logger
    /// Called with each processed input's outcomes (tests observe the daemon through it).
    var onProcessed: (@Sendable ([ItemOutcome]) -> Void)?

    static let name = "pipeline"

    func run() async throws {
        let backlog = try pipeline.processPending()
        record(backlog)
        if !backlog.isEmpty {
            logger.notice("processed inputs left undecided by the previous run", metadata: ["count": "\(backlog.count)"])
        }
        readiness.mark(Self.name)
        for await inboxID in wakeups.stream.cancelOnGracefulShutdown() {
            record(try pipeline.process(inboxID: inboxID))
            stats.decided()
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
