import Foundation
public import GatewayCore

/// Group commit for sources that must not acknowledge an input before it is durable and that
/// receive on several threads at once (the MQTT lanes). Each caller of ``receive(_:)`` hands
/// over one input and blocks; one caller at a time is the writer: it takes every input waiting,
/// commits them to the inbox in one transaction (one fsync, synchronous=FULL), then releases
/// their callers with their inbox ids. Inputs that arrive while a commit runs wait for the next
/// one, which takes them all. So K threads share one fsync, and every caller returns only after
/// its own input is on disk (or with the error that stopped the commit: nothing of that
/// transaction is stored).
///
/// With one thread the writer is that thread and every input is its own transaction, exactly as
/// ``Pipeline/receive(_:)``.
public final class InboxWriter: InboxReceiver, @unchecked Sendable {
    // Safety: every mutable field is read and written with `condition` locked.
    private let pipeline: Pipeline
    private let condition = NSCondition()
    private var waiting: [(ticket: UInt64, input: RawInput)] = []
    private var results: [UInt64: Result<Int64, any Error>] = [:]
    private var nextTicket: UInt64 = 0
    private var committing = false
    private var commitCount = 0
    private var inputCount = 0

    public init(pipeline: Pipeline) {
        self.pipeline = pipeline
    }

    /// The pipeline's payload limit (a source keeps only this much of a larger payload).
    public var maxPayloadBytes: Int { pipeline.maxPayloadBytes }

    /// Commits `input` to the inbox together with whatever other threads handed over meanwhile,
    /// and returns its inbox id once that transaction has committed.
    public func receive(_ input: RawInput) throws -> Int64 {
        condition.lock()
        let ticket = nextTicket
        nextTicket &+= 1
        waiting.append((ticket, input))
        while true {
            if let result = results.removeValue(forKey: ticket) {
                condition.unlock()
                return try result.get()
            }
            if !committing {
                // This thread writes, for everyone waiting now (itself included).
                committing = true
                let batch = waiting
                waiting = []
                condition.unlock()
                let outcome = Result { try pipeline.receive(batch: batch.map(\.input)) }
                condition.lock()
                for (index, entry) in batch.enumerated() {
                    results[entry.ticket] = outcome.map { $0[index] }
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
