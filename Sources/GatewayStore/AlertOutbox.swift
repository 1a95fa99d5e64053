import Foundation
import GRDB
public import GatewayCore

extension StoredAlerts {
    /// Stores `event` in the outbox, in the caller's transaction, and returns it with its id:
    /// the event is announced if and only if its transaction commits.
    package static func record(_ event: AlertEvent, _ db: Database) throws -> AlertEvent {
        var event = event
        event.eventID = nil
        try db.cachedStatement(
            sql: "INSERT INTO alert_event (at, alert_id, kind, patient_id, event) VALUES (?, ?, ?, ?, ?)"
        ).execute(
            arguments: [
                StoredDate.text(event.at), event.alertID, event.kind.rawValue, event.patientID,
                AlertLogFormat.json.line(event),
            ])
        event.eventID = db.lastInsertedRowID
        return event
    }
}

/// The outbox's rows: the events in id order and each sink's cursor.
package enum AlertOutbox {
    /// At most `limit` events with an id above `id`, in id order.
    package static func events(after id: Int64, limit: Int, _ db: Database) throws -> [AlertEvent] {
        try Row.fetchAll(
            db.cachedStatement(sql: "SELECT id, event FROM alert_event WHERE id > ? ORDER BY id LIMIT ?"),
            arguments: [id, limit]
        ).map { row in
            let eventID: Int64 = row["id"]
            guard var event = AlertLogFormat.parse(row["event"]) else {
                throw StoreError(
                    .invalid, "alert event \(eventID) cannot be read back (\(row["event"] as String))",
                    fix: "restore the database from a backup or report it")
            }
            event.eventID = eventID
            return event
        }
    }

    /// Every event up to this id has reached `sink`. A sink without a row gets one at the newest
    /// event: it starts with what is committed after it first ran.
    package static func cursor(_ sink: AlertSinkName, _ db: Database) throws -> Int64 {
        if let through = try Int64.fetchOne(
            db.cachedStatement(sql: "SELECT delivered_through FROM alert_sink WHERE name = ?"),
            arguments: [sink.rawValue])
        {
            return through
        }
        let head = try Int64.fetchOne(db.cachedStatement(sql: "SELECT COALESCE(MAX(id), 0) FROM alert_event")) ?? 0
        try db.cachedStatement(sql: "INSERT INTO alert_sink (name, delivered_through) VALUES (?, ?)").execute(
            arguments: [
                sink.rawValue, head,
            ])
        return head
    }

    /// The file the log's cursor counts in, or `nil` before any writer claimed it.
    package static func target(_ sink: AlertSinkName, _ db: Database) throws -> String? {
        try String.fetchOne(
            db.cachedStatement(sql: "SELECT target FROM alert_sink WHERE name = ?"), arguments: [sink.rawValue])
    }

    /// Makes `path` the file the log's cursor counts in (the daemon does, at start).
    package static func claim(_ sink: AlertSinkName, target path: String, _ db: Database) throws {
        _ = try cursor(sink, db)
        try db.cachedStatement(sql: "UPDATE alert_sink SET target = ? WHERE name = ?").execute(arguments: [
            path, sink.rawValue,
        ])
    }

    /// Moves `sink`'s cursor forward (never back) to `id`.
    package static func advance(_ sink: AlertSinkName, to id: Int64, _ db: Database) throws {
        try db.cachedStatement(
            sql: "UPDATE alert_sink SET delivered_through = MAX(delivered_through, ?), delivered_at = ? WHERE name = ?"
        )
        .execute(arguments: [id, Date(), sink.rawValue])
    }
}

extension GatewayDatabase: AlertOutboxReader {
    /// How far `sink` has delivered: every event with an id up to the one returned. A sink seen
    /// for the first time starts at the newest event.
    public func alertCursor(_ sink: AlertSinkName) throws -> Int64 {
        try write { try AlertOutbox.cursor(sink, $0) }
    }

    /// At most `limit` stored alert events after `id`, oldest first, each with its id.
    public func alertEvents(after id: Int64 = 0, limit: Int = 200) throws -> [AlertEvent] {
        try read { try AlertOutbox.events(after: id, limit: limit, $0) }
    }

    /// Records that `sink` has every event up to `id` (the cursor never moves back).
    public func advanceAlertCursor(_ sink: AlertSinkName, to id: Int64) throws {
        try write { db in
            _ = try AlertOutbox.cursor(sink, db)
            try AlertOutbox.advance(sink, to: id, db)
        }
    }

    /// How many events each sink with a row has still to deliver (a read: takes no lock).
    public func alertEventsWaiting() throws -> [AlertSinkName: Int] {
        try read { db in
            var waiting: [AlertSinkName: Int] = [:]
            for row in try Row.fetchAll(
                db.cachedStatement(
                    sql:
                        "SELECT s.name, (SELECT COUNT(*) FROM alert_event e WHERE e.id > s.delivered_through) AS n FROM alert_sink s"
                ))
            {
                if let sink = AlertSinkName(rawValue: row["name"]) { waiting[sink] = row["n"] }
            }
            return waiting
        }
    }

    /// Whether `sink` has events to deliver (a read: takes no lock). A sink without a row has none.
    public func alertEventsPending(for sink: AlertSinkName) throws -> Bool {
        try read { db in
            try Bool.fetchOne(
                db.cachedStatement(
                    sql:
                        "SELECT EXISTS (SELECT 1 FROM alert_event WHERE id > (SELECT delivered_through FROM alert_sink WHERE name = ?))"
                ),
                arguments: [sink.rawValue]) ?? false
        }
    }

    /// Hands `sink`'s waiting events to `body` in id order, each batch of at most `batch` in a
    /// write transaction that also moves the sink's cursor past it. Processes doing this for
    /// the same sink take turns (the write lock), so an event goes out again only when `body`
    /// delivered it and the process died before its commit. A `body` that throws leaves the
    /// cursor where it was. Returns how many events were delivered.
    @discardableResult
    public func deliverAlerts(
        to sink: AlertSinkName, batch: Int = 200, _ body: ([AlertEvent]) throws -> Void
    ) throws -> Int {
        var total = 0
        while true {
            let count = try write { db in
                let cursor = try AlertOutbox.cursor(sink, db)
                let events = try AlertOutbox.events(after: cursor, limit: batch, db)
                guard let last = events.last?.eventID else { return 0 }
                try body(events)
                try AlertOutbox.advance(sink, to: last, db)
                return events.count
            }
            total += count
            if count < batch { return total }
        }
    }
}
