package import Foundation
package import GRDB
import GRDBSQLite

/// The current row of a stepping statement, read by column position straight from SQLite.
///
/// GRDB's `Row` cursors (`Row.fetchCursor`, `fetchOne`, `fetchAll`, records) build a dictionary of
/// the statement's lowercased column names for every query before the first step: about 14,000
/// instructions for a query of 13 columns, whatever it finds. Deciding a reading ran about ten
/// such queries (its inbox row, care plan, device, history, alerts), a tenth of all its
/// instructions (callgrind, Benchmarks/decide-profile.md). The hot path reads through this
/// instead; the values are those GRDB's own column conversions give.
package struct ColumnRow {
    let statement: SQLiteStatement
    /// For errors only (GRDB's `Statement.sql` trims the SQL text anew at each call).
    let owner: Statement

    package func isNull(_ index: Int32) -> Bool { sqlite3_column_type(statement, index) == SQLITE_NULL }

    package func int64(_ index: Int32) -> Int64 { sqlite3_column_int64(statement, index) }
    package func int(_ index: Int32) -> Int { Int(sqlite3_column_int64(statement, index)) }
    package func bool(_ index: Int32) -> Bool { sqlite3_column_int64(statement, index) != 0 }
    package func double(_ index: Int32) -> Double { sqlite3_column_double(statement, index) }
    package func string(_ index: Int32) -> String { String(sqliteStatement: statement, index: index) }

    package func optionalInt64(_ index: Int32) -> Int64? { isNull(index) ? nil : int64(index) }
    package func optionalInt(_ index: Int32) -> Int? { isNull(index) ? nil : int(index) }
    package func optionalDouble(_ index: Int32) -> Double? { isNull(index) ? nil : double(index) }
    package func optionalString(_ index: Int32) -> String? { isNull(index) ? nil : string(index) }

    /// A blob (or text) column as bytes; an empty blob is empty data, not NULL.
    package func data(_ index: Int32) -> Data { Data(sqliteStatement: statement, index: index) }

    /// A stored date (GRDB's text format, or a number of seconds since 1970), as GRDB reads it:
    /// the text ``StoredDate/text(_:)`` writes is read by ``StoredDate/date(_:)``. Throws on a
    /// value that is no date, where reading it through `Row` would trap.
    package func date(_ index: Int32) throws -> Date {
        if sqlite3_column_type(statement, index) == SQLITE_TEXT, let text = sqlite3_column_text(statement, index) {
            let count = Int(sqlite3_column_bytes(statement, index))
            if let date = StoredDate.date(UnsafeBufferPointer(start: text, count: count)) { return date }
        }
        guard let date = Date(sqliteStatement: statement, index: index) else {
            throw DatabaseError(
                resultCode: .SQLITE_MISMATCH, message: "column \(index) holds no date that can be read", sql: owner.sql)
        }
        return date
    }

    package func optionalDate(_ index: Int32) throws -> Date? { isNull(index) ? nil : try date(index) }
}

/// A cursor that hands each step of a statement to `read`, with no `Row` in between.
final class ColumnCursor<Element>: DatabaseCursor {
    var _isDone = false
    let _statement: Statement
    private let read: (ColumnRow) throws -> Element

    init(_ statement: Statement, arguments: StatementArguments, read: @escaping (ColumnRow) throws -> Element) throws {
        _statement = statement
        self.read = read
        try statement.setArguments(arguments)
    }

    deinit {
        // As GRDB's cursors do: a statement left mid-way would keep its read open.
        sqlite3_reset(_statement.sqliteStatement)
    }

    func _element(sqliteStatement: SQLiteStatement) throws -> Element {
        try read(ColumnRow(statement: sqliteStatement, owner: _statement))
    }
}

extension Statement {
    /// Every row of the statement with `arguments`, each read by `read`.
    package func rows<T>(_ arguments: StatementArguments, _ read: (ColumnRow) throws -> T) throws -> [T] {
        try withoutActuallyEscaping(read) { read in
            let cursor = try ColumnCursor(self, arguments: arguments, read: read)
            var rows: [T] = []
            while let row = try cursor.next() { rows.append(row) }
            return rows
        }
    }

    /// The first row of the statement with `arguments`, read by `read`; `nil` when there is none.
    package func firstRow<T>(_ arguments: StatementArguments, _ read: (ColumnRow) throws -> T) throws -> T? {
        try withoutActuallyEscaping(read) { read in
            let cursor = try ColumnCursor(self, arguments: arguments, read: read)
            return try cursor.next()
        }
    }
}
