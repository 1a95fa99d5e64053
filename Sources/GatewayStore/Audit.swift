public import Foundation
public import GRDB

/// One entry of the audit log: who changed what, when.
public struct AuditEntry: Sendable, Codable, FetchableRecord {
    public var id: Int64
    public var at: Date
    public var actor: String
    public var action: String
    public var entity: String
    public var entityId: String
    public var detail: String?

    public static let databaseColumnDecodingStrategy = DatabaseColumnDecodingStrategy.convertFromSnakeCase
}

package enum Audit {
    /// Appends an audit entry inside the caller's transaction, so the change and its record
    /// commit together or not at all.
    package static func record(
        _ db: Database, actor: String, action: String, entity: String, id: String, detail: [String: String] = [:],
        at: Date = Date()
    ) throws {
        var text: String?
        if !detail.isEmpty {
            text = try JSONColumn.text(detail)
        }
        try db.cachedStatement(
            sql: "INSERT INTO audit (at, actor, action, entity, entity_id, detail) VALUES (?, ?, ?, ?, ?, ?)"
        ).execute(
            arguments: [StoredDate.text(at), actor, action, entity, id, text])
    }
}

extension GatewayDatabase {
    /// The audit log, newest last, optionally for one entity.
    public func auditLog(entity: String? = nil, id: String? = nil, limit: Int = 1000) throws -> [AuditEntry] {
        try read { db in
            var sql = "SELECT * FROM audit"
            var arguments: StatementArguments = []
            if let entity {
                sql += " WHERE entity = ?"
                arguments += [entity]
                if let id {
                    sql += " AND entity_id = ?"
                    arguments += [id]
                }
            }
            sql += " ORDER BY id DESC LIMIT ?"
            arguments += [limit]
            return try AuditEntry.fetchAll(db, sql: sql, arguments: arguments).reversed()
        }
    }
}
