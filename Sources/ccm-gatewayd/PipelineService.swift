import GatewayCore
import GatewayPipeline
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

/// Runs the one pipeline inside the daemon: whatever a previous run left undecided in the inbox
/// (a crash between receive and process, a backlog), then, at each wake-up, every input waiting.
///
/// Each input was committed to the inbox on its own before its source acknowledged it; deciding
/// them is batched, since a crash before that commit only leaves them pending for the next look.
/// A batch is bounded (``Pipeline/batchLimit`` inputs, ``Pipeline/batchBudget``), so other
/// writers (sources, `ccmctl`) get the lock between batches. The service is ready at once: a
/// backlog of any size is caught up behind `READY=1`, counted in `STATUS=`.
///
/// Nothing an input holds stops it (the pipeline marks such an input `failed`); a database that
/// cannot be written for a while (busy beyond the wait limit, a full disk) is logged and tried
/// again with a growing pause, up to 30 s.
struct PipelineService: Service {
    let pipeline: Pipeline
    let wakeups: InboxWakeups
    let readiness: Readiness
    let stats: PipelineStats
    let logger: Logger
    /// Called with each processed batch's outcomes (tests observe the daemon through it).
    var onProcessed: (@Sendable ([ItemOutcome]) -> Void)?
    /// Where the pipeline's transactions run, off the cooperative pool.
    let queue = BlockingQueue("pipeline")

    static let name = "pipeline"

    func run() async throws {
        let pipeline = self.pipeline
        // What is pending up to the newest inbox id now is the backlog; what comes after is live
        // (its sources count it in flight) and is decided first.
        let (backlog, lastInboxID) = (try? await queue.run { try pipeline.pending() }) ?? (0, 0)
        stats.backlogFound(backlog)
        readiness.mark(Self.name)
        if backlog > 0 {
            logger.notice(
                "catching up inputs left undecided by the previous run", metadata: ["inbox.pending": "\(backlog)"])
        }
        await drain(backlogThrough: lastInboxID)
        for await _ in wakeups.stream.cancelOnGracefulShutdown() {
            await drain(backlogThrough: lastInboxID)
        }
    }

    /// Decides everything pending, one bounded transaction at a time, live inputs before the
    /// backlog, letting other tasks run between transactions. A transaction that fails for the
    /// database's sake is tried again after a pause.
    private func drain(backlogThrough lastInboxID: Int64) async {
        var failures = 0
        while !Task.isCancelled, !Task.isShuttingDownGracefully {
            do {
                let pipeline = self.pipeline
                guard let outcomes = try await queue.run({ try pipeline.processPendingBatch(liveAfter: lastInboxID) })
                else { return }
                failures = 0
                record(outcomes)
                let hadBacklog = stats.backlog > 0
                for id in Set(outcomes.map(\.inboxID)) {
                    if id <= lastInboxID { stats.backlogDecided(1) } else { stats.decided() }
                }
                if hadBacklog, stats.backlog == 0 {
                    logger.notice("caught up inputs left undecided by the previous run")
                }
            } catch {
                failures += 1
                let pause = min(1 << min(failures - 1, 5), 30)
                logger.error(
                    "inputs cannot be decided now; trying again",
                    metadata: ["error": "\(error)", "retry.seconds": "\(pause)"])
                try? await Task.sleep(for: .seconds(pause))
            }
            await Task.yield()
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
            case .failed: logger.error("input failed; it waits for ccmctl inbox retry", metadata: metadata)
            }
        }
    }
}
