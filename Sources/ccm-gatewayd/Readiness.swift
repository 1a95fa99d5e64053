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

/// Counters for `STATUS=` and the log.
final class PipelineStats: Sendable {
    private let counts = Mutex<[String: Int]>([:])

    func add(_ status: String, _ count: Int = 1) {
        counts.withLock { $0[status, default: 0] += count }
    }

    subscript(status: String) -> Int { counts.withLock { $0[status] ?? 0 } }

    /// `12 accepted, 1 rejected, 0 quarantined, 3 duplicate`
    var summary: String {
        let snapshot = counts.withLock { $0 }
        return ["accepted", "rejected", "quarantined", "duplicate"].map { "\(snapshot[$0] ?? 0) \($0)" }.joined(separator: ", ")
    }
}
