/// The sinks of the alert outbox, by their row in `alert_sink`.
public enum AlertSinkName: String, Sendable, CaseIterable {
    /// The alert log file: exactly once by event id (``AlertLogFile/deliverPending(from:batch:)``).
    case log
    /// The daemon's journal (and `ccm-gatewayd ble-sync`'s): at least once.
    case journal
    /// `{prefix}/alerts/{patient}` on the broker: at least once, counted when the broker acknowledged.
    case mqtt
}

/// The alert outbox as a deliverer sees it: the committed events in id order and its own
/// cursor (events up to it are delivered). GatewayStore implements it on its database.
public protocol AlertOutboxReader: Sendable {
    /// The last event id `sink` has delivered.
    func alertCursor(_ sink: AlertSinkName) throws -> Int64
    /// At most `limit` events with an id above `id`, in id order.
    func alertEvents(after id: Int64, limit: Int) throws -> [AlertEvent]
    /// Records that `sink` has delivered every event up to `id`.
    func advanceAlertCursor(_ sink: AlertSinkName, to id: Int64) throws
}
