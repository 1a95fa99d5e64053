import Foundation
import Synchronization

/// Tells the notifier when every service that must start before `READY=1` has started.
final class Readiness: Sendable {
    private struct State {
        var waiting: Set<String>
        var continuations: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>

    init(expecting names: Set<String>) {
        state = Mutex(State(waiting: names))
    }

    /// Marks `name` as started.
    func mark(_ name: String) {
        let resume = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.waiting.remove(name)
            guard state.waiting.isEmpty else { return [] }
            defer { state.continuations.removeAll() }
            return state.continuations
        }
        for continuation in resume { continuation.resume() }
    }

    /// Returns once every expected service has started.
    func wait() async {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state in
                if state.waiting.isEmpty { return true }
                state.continuations.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }
}

/// Counters for `STATUS=` and the log, and the pipeline's heartbeat for the watchdog.
final class PipelineStats: Sendable {
    private struct State {
        /// Decided inputs by outcome status.
        var counts: [String: Int] = [:]
        /// Decided inputs by (source kind, status), for the metrics.
        var bySource: [String: [String: Int]] = [:]
        /// When each source kind last had an input decided.
        var lastBySource: [String: Date] = [:]
        /// Inputs a source has in hand or has committed, not yet decided.
        var queued = 0
        /// The last time an input was decided (or work began after a quiet spell).
        var lastProgress = ContinuousClock.now
        /// Inputs a previous run left undecided, still to be caught up.
        var backlog = 0
    }

    private let state = Mutex(State())

    func add(_ status: String, source: String) {
        state.withLock {
            $0.counts[status, default: 0] += 1
            $0.bySource[source, default: [:]][status, default: 0] += 1
            $0.lastBySource[source] = Date()
        }
    }

    /// Decided inputs by source kind and status, and when each source was last heard.
    var bySource: (counts: [String: [String: Int]], last: [String: Date]) {
        state.withLock { ($0.bySource, $0.lastBySource) }
    }

    subscript(status: String) -> Int { state.withLock { $0.counts[status] ?? 0 } }

    /// A source has an input in hand (called before it stores it).
    func enqueued() {
        state.withLock {
            if $0.queued == 0 { $0.lastProgress = .now }
            $0.queued += 1
        }
    }

    /// The pipeline decided an input.
    func decided() {
        state.withLock {
            $0.queued = max(0, $0.queued - 1)
            $0.lastProgress = .now
        }
    }

    var queued: Int { state.withLock { $0.queued } }

    /// Inputs left undecided by a previous run, found at start: caught up behind `READY=1`.
    func backlogFound(_ count: Int) {
        state.withLock {
            $0.backlog = count
            $0.lastProgress = .now
        }
    }

    /// The pipeline decided `count` inputs of the backlog.
    func backlogDecided(_ count: Int) {
        state.withLock {
            $0.backlog = max(0, $0.backlog - count)
            $0.lastProgress = .now
        }
    }

    var backlog: Int { state.withLock { $0.backlog } }

    /// Alive: nothing waiting, or progress within `window`. A bare timer proves nothing; this
    /// is what the watchdog reports.
    func isAlive(within window: Duration) -> Bool {
        state.withLock { ($0.queued == 0 && $0.backlog == 0) || ContinuousClock.now - $0.lastProgress < window }
    }

    /// `12 accepted, 1 rejected, 0 quarantined, 3 duplicate`
    var summary: String {
        let snapshot = state.withLock { $0.counts }
        return ["accepted", "rejected", "quarantined", "duplicate", "failed"].map { "\(snapshot[$0] ?? 0) \($0)" }
            .joined(separator: ", ")
    }
}
