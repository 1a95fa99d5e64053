public import Foundation
import GRDB
import GatewayCore

extension GatewayDatabase {
    /// For the daemon's `STATUS=` line and `ccmctl status`: readings received since local
    /// midnight in `timeZone` (the practice's), and alerts not resolved.
    public func statusCounts(today timeZone: TimeZone, now: Date = Date()) throws -> (readings: Int, openAlerts: Int) {
        let since = LocalDay.start(of: LocalDay.date(of: now, in: timeZone), in: timeZone)
        return try read { db in
            (
                try Int.fetchOne(
                    db.cachedStatement(sql: "SELECT COUNT(*) FROM reading WHERE received_at >= ?"), arguments: [since])
                    ?? 0,
                try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM alert WHERE state != 'resolved'")) ?? 0
            )
        }
    }

    /// The state `ccmctl status` and the daemon's metrics show.
    public struct Health: Sendable {
        public var pending: Int
        public var oldestPending: Date?
        public var openAlerts: [String: Int]
        public var lastInput: [String: Date]
    }

    /// What is waiting in the inbox, open alerts by level, and (when asked, a scan of the inbox)
    /// when each kind of source last delivered.
    public func health(lastInputs: Bool = false) throws -> Health {
        try read { db in
            var open: [String: Int] = [:]
            for row in try Row.fetchAll(
                db.cachedStatement(
                    sql: "SELECT level, COUNT(*) AS n FROM alert WHERE state != 'resolved' GROUP BY level"))
            {
                open[row["level"]] = row["n"]
            }
            var last: [String: Date] = [:]
            if lastInputs {
                for row in try Row.fetchAll(
                    db.cachedStatement(
                        sql:
                            "SELECT substr(source, 1, instr(source || ':', ':') - 1) AS kind, MAX(received_at) AS at FROM inbox GROUP BY kind"
                    ))
                {
                    last[row["kind"]] = row["at"]
                }
            }
            return Health(
                pending: try Int.fetchOne(
                    db.cachedStatement(sql: "SELECT COUNT(*) FROM inbox WHERE processed_at IS NULL")) ?? 0,
                oldestPending: try Date.fetchOne(
                    db.cachedStatement(sql: "SELECT MIN(received_at) FROM inbox WHERE processed_at IS NULL")),
                openAlerts: open, lastInput: last)
        }
    }
}
