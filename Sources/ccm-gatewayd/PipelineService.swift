import GatewayCore
import GatewayPipeline
import GatewayStore
import Logging
import ServiceLifecycle

/// How the sources report to the daemon: each source stores and decides its inputs through an
/// ``InboxWriter`` (one transaction per input, or per group of inputs the MQTT lanes handed over
/// together), whose observer counts them in flight for the watchdog, records their outcomes and,
/// for inputs the database could not decide at once, wakes the pipeline service. Wake-ups
/// coalesce: however many inputs wait, the service looks once and decides them all.
struct InboxWakeups: Sendable {
    let stream: AsyncStream<Void>
    let continuation: AsyncStream<Void>.Continuation
    let stats: PipelineStats

    init(stats: PipelineStats) {
        (stream, continuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        self.stats = stats
    }

    /// The observer of the sources' inbox writers.
    func observer(logger: Logger, onProcessed: (@Sendable ([ItemOutcome]) -> Void)?) -> InboxWriter.Observer {
        let stats = self.stats
        let continuation = self.continuation
        return InboxWriter.Observer(
            arriving: { stats.enqueued() },
            decided: { ids, outcomes in
                stats.record(outcomes, logger: logger)
                for _ in ids { stats.decided() }
                if !outcomes.isEmpty { onProcessed?(outcomes) }
            },
            undecided: { ids, error in
                logger.error(
                    "inputs stored but not decided now; the pipeline decides them when the database allows",
                    metadata: ["inbox.id": "\(ids.first ?? 0)", "input.count": "\(ids.count)", "error": "\(error)"])
                continuation.yield()
            })
    }
}

/// Runs the one pipeline inside the daemon for inputs that wait undecided in the inbox: what a
/// previous run or a stopped `ccmctl ingest` left undecided, inputs stored while the database
/// could not take their decisions), then, at each wake-up, every input waiting. Live inputs are decided
/// by their sources' inbox writers, in the transaction that stores them.
///
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
            // The metadata is built only for a line that is logged: accepted inputs are logged
            // at debug, and building their metadata for nothing was about 1 % of the daemon's CPU
            // in a drain (perf).
            let (level, message): (Logger.Level, Logger.Message) =
                switch outcome.status {
                case .accepted, .duplicate: (.debug, "input decided")
                case .rejected, .quarantined: (.info, "input not accepted")
                case .failed: (.error, "input failed; it waits for ccmctl inbox retry")
                }
            guard logger.logLevel <= level else { continue }
            var metadata: Logger.Metadata = [
                "inbox.id": "\(outcome.inboxID)/\(outcome.item)", "input.status": "\(outcome.status.rawValue)",
            ]
            if let device = outcome.deviceID { metadata["device.id"] = "\(device)" }
            if let kind = outcome.kind { metadata["reading.kind"] = "\(kind.rawValue)" }
            if let code = outcome.code { metadata["input.code"] = "\(code)" }
            logger.log(level: level, message, metadata: metadata)
        }
    }
}
