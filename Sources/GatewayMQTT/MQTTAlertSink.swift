import Foundation
public import GatewayCore
import Synchronization

/// The MQTT sink of the alert outbox: publishes each event to `{prefix}/alerts/{patient}` at
/// QoS 1, one JSON object each (the alert log's JSON line, with its `event_id`), in id order,
/// and moves the `mqtt` cursor only past events the broker has acknowledged. Events go out at
/// least once: after a restart, those published but not yet acknowledged are published again.
/// While the broker is away they wait in libmosquitto (sent on reconnect) and in the outbox.
public final class MQTTAlertSink: Sendable {
    let client: MQTTClient
    let database: any AlertOutboxReader
    /// At most this many events published and not yet acknowledged.
    let window: Int
    private let state: Mutex<State>
    /// Called from libmosquitto's thread when an acknowledgement arrives (the daemon wakes the
    /// deliverer with it).
    private let wake: @Sendable () -> Void

    struct State {
        /// Published, in id order, with whether each is acknowledged (or refused for good).
        var outstanding: [(id: Int64, done: Bool)] = []
        /// The last event handed to libmosquitto; nil until the cursor has been read.
        var publishedThrough: Int64?
    }

    public init(
        client: MQTTClient, database: any AlertOutboxReader, window: Int = 100,
        wake: @escaping @Sendable () -> Void = {}
    ) {
        self.client = client
        self.database = database
        self.window = window
        self.wake = wake
        state = Mutex(State())
    }

    /// What one pass did.
    public struct Pass: Sendable {
        /// Events newly published.
        public var published = 0
        /// Events refused for good (each logged by the caller), with the reason.
        public var refused: [(eventID: Int64, reason: String)] = []
        /// Why publishing stopped early, if it did (try again later).
        public var failure: String?
        /// Events waiting for their acknowledgement.
        public var outstanding = 0
    }

    /// Moves the cursor past the acknowledged prefix, then publishes the next events (up to the
    /// window). Call it when woken (a commit, an acknowledgement, a timer).
    public func pass() throws -> Pass {
        var pass = Pass()
        let (start, acknowledged) = state.withLock { state -> (Int64?, Int64?) in
            var through: Int64?
            while let first = state.outstanding.first, first.done {
                through = first.id
                state.outstanding.removeFirst()
            }
            return (state.publishedThrough, through)
        }
        if let acknowledged { try database.advanceAlertCursor(.mqtt, to: acknowledged) }
        var after = try start ?? database.alertCursor(.mqtt)
        state.withLock { $0.publishedThrough = after }
        while true {
            let room = window - state.withLock { $0.outstanding.count }
            guard room > 0 else { break }
            let events = try database.alertEvents(after: after, limit: room)
            guard !events.isEmpty else { break }
            for event in events {
                guard let id = event.eventID else { continue }
                let index = state.withLock { state -> Int in
                    state.outstanding.append((id, false))
                    return state.outstanding.count - 1
                }
                let result = client.publish(
                    topic: client.options.topics.alerts(patient: event.patientID),
                    payload: AlertLogFormat.json.line(event)
                ) { [weak self] in self?.acknowledge(id) }
                switch result {
                case .queued:
                    pass.published += 1
                case .refused(let reason):
                    pass.refused.append((id, reason))
                    acknowledge(id)
                case .failed(let reason):
                    state.withLock { state in
                        if index < state.outstanding.count, state.outstanding[index].id == id {
                            state.outstanding.remove(at: index)
                        }
                    }
                    pass.failure = reason
                    pass.outstanding = state.withLock { $0.outstanding.count }
                    return pass
                }
                after = id
                state.withLock { $0.publishedThrough = id }
            }
        }
        pass.outstanding = state.withLock { $0.outstanding.count }
        return pass
    }

    /// The broker has event `id` (or it was refused for good).
    private func acknowledge(_ id: Int64) {
        state.withLock { state in
            if let index = state.outstanding.firstIndex(where: { $0.id == id }) { state.outstanding[index].done = true }
        }
        wake()
    }
}
