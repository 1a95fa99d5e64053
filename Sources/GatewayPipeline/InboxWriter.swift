import Foundation
public import GatewayCore

/// Group commit for sources that must not acknowledge an input before it is durable and that
/// receive on several threads at once (the MQTT lanes). Each caller of ``receive(_:)`` hands
/// over one input and blocks; one caller at a time is the writer: it takes every input waiting,
/// stores and decides them in one transaction (``Pipeline/receiveAndDecide(_:)``: one fsync,
/// synchronous=FULL), then releases their callers with their inbox ids. Inputs that arrive
/// while a commit runs wait for the next one, which takes them all. So K threads share one
/// fsync, and every caller returns only after its own input is on disk (or with the error that
/// stopped the commit: nothing of that transaction is stored).
///
/// A caller may hand over several inputs at once (an MQTT lane hands over every message it read
/// before acknowledging any): they go into one transaction, in their order. With one thread the
/// writer is that thread, and each call is its own transaction.
public final class InboxWriter: InboxReceiver, @unchecked Sendable {
    /// What the writer tells its owner (the daemon counts, logs and wakes through these). They
    /// run on the writing thread, after the commit and before its callers are released.
    public struct Observer: Sendable {
        /// An input is in hand, before it is stored (the daemon counts it in flight).
        public var arriving: @Sendable () -> Void
        /// Inputs were committed and decided: their inbox ids and what became of their readings.
        public var decided: @Sendable (_ inboxIDs: [Int64], _ outcomes: [ItemOutcome]) -> Void
        /// Inputs were committed, but the database failed while deciding them: they wait in the
        /// inbox, pending, for whoever decides pending inputs.
        public var undecided: @Sendable (_ inboxIDs: [Int64], _ error: any Error) -> Void

        public init(
            arriving: @escaping @Sendable () -> Void = {},
            decided: @escaping @Sendable (_ inboxIDs: [Int64], _ outcomes: [ItemOutcome]) -> Void = { _, _ in },
            undecided: @escaping @Sendable (_ inboxIDs: [Int64], _ error: any Error) -> Void = { _, _ in }
        ) {
            self.arriving = arriving
            self.decided = decided
            self.undecided = undecided
        }
    }

    // Safety: every mutable field is read and written with `condition` locked.
    private let pipeline: Pipeline
    private let observer: Observer
    private let condition = NSCondition()
    private var waiting: [(ticket: UInt64, input: RawInput)] = []
    private var results: [UInt64: Result<Int64, any Error>] = [:]
    private var nextTicket: UInt64 = 0
    private var committing = false
    private var commitCount = 0
    private var inputCount = 0

    public init(pipeline: Pipeline, observer: Observer = Observer()) {
        self.pipeline = pipeline
        self.observer = observer
    }

    /// The pipeline's payload limit (a source keeps only this much of a larger payload).
    public var maxPayloadBytes: Int { pipeline.maxPayloadBytes }

    /// Stores and decides `input` together with whatever other threads handed over meanwhile,
    /// and returns its inbox id once that transaction has committed.
    public func receive(_ input: RawInput) throws -> Int64 {
        try receive([input])[0]
    }

    /// Stores and decides `inputs` (in their order, in one transaction) together with whatever
    /// other threads handed over meanwhile, and returns their inbox ids once that transaction
    /// has committed.
    public func receive(_ inputs: [RawInput]) throws -> [Int64] {
        guard !inputs.isEmpty else { return [] }
        for _ in inputs { observer.arriving() }
        condition.lock()
        let first = nextTicket
        nextTicket &+= UInt64(inputs.count)
        for (offset, input) in inputs.enumerated() { waiting.append((first &+ UInt64(offset), input)) }
        while true {
            // Every input of one caller goes into the same transaction, so its results are all
            // there or none is.
            if results[first] != nil {
                var ids: [Int64] = []
                ids.reserveCapacity(inputs.count)
                var failure: (any Error)?
                for offset in 0..<inputs.count {
                    switch results.removeValue(forKey: first &+ UInt64(offset)) {
                    case .success(let id)?: ids.append(id)
                    case .failure(let error)?: failure = error
                    case nil: preconditionFailure("an input of one caller missing from its commit")
                    }
                }
                condition.unlock()
                if let failure { throw failure }
                return ids
            }
            if !committing {
                // This thread writes, for everyone waiting now (itself included).
                committing = true
                let batch = waiting
                waiting = []
                condition.unlock()
                let outcome = Result { try pipeline.receiveAndDecide(batch.map(\.input)) }
                switch outcome {
                case .success((let ids, .success(let outcomes))): observer.decided(ids, outcomes)
                case .success((let ids, .failure(let error))): observer.undecided(ids, error)
                case .failure: break
                }
                condition.lock()
                for (index, entry) in batch.enumerated() {
                    results[entry.ticket] = outcome.map { $0.inboxIDs[index] }
                }
                commitCount += 1
                inputCount += batch.count
                committing = false
                condition.broadcast()
                continue
            }
            condition.wait()
        }
    }

    /// Transactions committed so far, and the inputs they held (their ratio is the inputs per
    /// fsync of the inbox).
    public var counts: (commits: Int, inputs: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (commitCount, inputCount)
    }
}
