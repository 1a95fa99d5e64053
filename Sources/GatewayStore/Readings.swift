public import Foundation
import GRDB
public import GatewayCore

/// A stored reading, as listings read it and as the meal-context rules evaluate it when its meal
/// arrives after it (a Glucose Measurement Context over MQTT).
public struct StoredReading: Sendable, Hashable {
    public var id: Int64
    public var patientID: String
    public var deviceID: String
    public var kind: ReadingKind
    /// Canonical units (mmHg, mg/dL, kg, Cel, %, /min).
    public var values: [Quantity: Double]
    public var originalValues: [Quantity: Double]
    public var originalUnit: MeasurementUnit
    public var measuredAt: Date?
    public var receivedAt: Date
    public var effectiveAt: Date
    public var clockSuspect: Bool
    /// Counted by rules over a window or the last N readings (false for a suspect clock).
    public var windowed: Bool
    /// The device time as sent, when it could not be stored as a time.
    public var measuredAtText: String?
    public var meal: MealContext?
    public var sequence: Int?
    public var messageID: String?
    public var source: String
    public var inboxID: Int64
    /// What the device said about the measurement.
    public var flags: [ReadingFlag] = []
    /// The user index of a multi-user device, when it sent one.
    public var userIndex: Int?
    public var sampleType: String?
    public var sampleLocation: String?
    /// The meter's record epoch of `sequence` (glucose).
    public var epoch: Int?

    /// Flags that keep the reading out of threshold, n-of-m and average rules.
    public var unreliableBecause: [ReadingFlag] { kind == .bloodPressure ? flags.filter(\.makesUnreliable) : [] }
}

package enum ReadingRow {
    /// Flags as stored: space-separated names, `nil` for none.
    package static func flagText(_ flags: [ReadingFlag]) -> String? {
        flags.isEmpty ? nil : flags.map(\.rawValue).joined(separator: " ")
    }

    /// Stored flags back; a name this version does not know is skipped.
    static func flags(_ text: String?) -> [ReadingFlag] {
        (text ?? "").split(separator: " ").compactMap { ReadingFlag(rawValue: String($0)) }
    }

    package static func insert(
        _ reading: NormalizedReading, patientID: String, source: String, inboxID: Int64, _ db: Database
    ) throws -> Int64 {
        var original: [String: Double] = [:]
        for (quantity, value) in reading.originalValues { original[quantity.rawValue] = value }
        let originalJSON = try JSONColumn.numbers(original)
        var arguments: StatementArguments = [
            patientID, reading.device, reading.kind.rawValue, reading.storedMeasuredAt.map(StoredDate.text),
            StoredDate.text(reading.receivedAt),
            StoredDate.text(reading.effectiveAt),
            reading.clockSuspect, reading.windowed, reading.measuredAtText,
        ]
        for quantity in Quantity.allCases { arguments += [reading.values[quantity]] }
        arguments += [
            reading.originalUnit.rawValue, originalJSON, reading.meal?.rawValue, reading.sequence, reading.messageID,
            source,
            inboxID, reading.dedupKey?.description, flagText(reading.flags), reading.userIndex, reading.sampleType,
            reading.sampleLocation,
            reading.epoch,
        ]
        try db.cachedStatement(sql: insertSQL).execute(arguments: arguments)
        return db.lastInsertedRowID
    }

    /// Built once: building it for every reading (to look the cached statement up) cost a
    /// sixth of the insert's instructions.
    static let insertSQL = """
        INSERT INTO reading (patient_id, device_id, kind, measured_at, received_at, effective_at, clock_suspect,
          windowed, measured_at_text, \(Quantity.allCases.map(\.rawValue).joined(separator: ", ")),
          original_unit, original_values, meal, seq, message_id, source, inbox_id, dedup_key,
          flags, user_index, sample_type, sample_location, epoch)
        VALUES (\(Array(repeating: "?", count: 9 + Quantity.allCases.count + 13).joined(separator: ", ")))
        """

    /// The columns a care-plan rule reads of past readings.
    static let observationColumns =
        "id, effective_at, meal, flags, " + Quantity.allCases.map(\.rawValue).joined(separator: ", ")

    /// The rows of a query on ``observationColumns``, read from the statement as it steps: no
    /// row copied, each column read straight from SQLite (copying rows and reading them back
    /// through `Row.fetchAll` was a tenth of deciding a reading, and so was the `Row` a cursor
    /// builds for each query; callgrind, Benchmarks/decide-profile.md).
    static func observations(_ statement: Statement, _ arguments: StatementArguments) throws -> [Observation] {
        try statement.rows(arguments) { row in
            var values: [Quantity: Double] = [:]
            for (offset, quantity) in Quantity.allCases.enumerated() where !row.isNull(Int32(4 + offset)) {
                values[quantity] = row.double(Int32(4 + offset))
            }
            return Observation(
                readingID: row.int64(0), at: try row.date(1), values: values,
                meal: row.optionalString(2).flatMap(MealContext.init(rawValue:)),
                flags: Set(Self.flags(row.optionalString(3))))
        }
    }

    /// A stored row as a reading. Throws, never traps, on a value it cannot read (a row written
    /// by a newer or a broken version): the caller reports it, and nothing stops.
    package static func decode(_ row: Row) throws -> StoredReading {
        var values: [Quantity: Double] = [:]
        for quantity in Quantity.allCases {
            if let value: Double = try row.decode(forColumn: quantity.rawValue) { values[quantity] = value }
        }
        let id: Int64 = try row.decode(forColumn: "id")
        var original: [Quantity: Double] = [:]
        let originalJSON: String = try row.decode(forColumn: "original_values")
        for (key, value) in try JSONColumn.value([String: Double].self, from: originalJSON) {
            if let quantity = Quantity(rawValue: key) { original[quantity] = value }
        }
        let kindText: String = try row.decode(forColumn: "kind")
        let unitText: String = try row.decode(forColumn: "original_unit")
        guard let kind = ReadingKind(rawValue: kindText), let unit = MeasurementUnit(rawValue: unitText) else {
            throw StoreError(
                .invalid, "reading \(id) has kind \(kindText) or unit \(unitText) this version cannot read",
                fix: "upgrade ccm-gateway")
        }
        let meal: String? = try row.decode(forColumn: "meal")
        var reading = StoredReading(
            id: id, patientID: try row.decode(forColumn: "patient_id"),
            deviceID: try row.decode(forColumn: "device_id"), kind: kind,
            values: values, originalValues: original, originalUnit: unit,
            measuredAt: try row.decode(forColumn: "measured_at"),
            receivedAt: try row.decode(forColumn: "received_at"),
            effectiveAt: try row.decode(forColumn: "effective_at"),
            clockSuspect: try row.decode(forColumn: "clock_suspect"), windowed: try row.decode(forColumn: "windowed"),
            measuredAtText: try row.decode(forColumn: "measured_at_text"),
            meal: meal.flatMap(MealContext.init(rawValue:)),
            sequence: try row.decode(forColumn: "seq"), messageID: try row.decode(forColumn: "message_id"),
            source: try row.decode(forColumn: "source"), inboxID: try row.decode(forColumn: "inbox_id"))
        reading.flags = flags(try row.decode(forColumn: "flags"))
        reading.userIndex = try row.decode(forColumn: "user_index")
        reading.sampleType = try row.decode(forColumn: "sample_type")
        reading.sampleLocation = try row.decode(forColumn: "sample_location")
        reading.epoch = try row.decode(forColumn: "epoch")
        return reading
    }
}

/// An inbox entry with its outcome, for `ccmctl inbox list`.
public struct InboxEntry: Sendable, Hashable {
    public var inboxID: Int64
    /// `nil` while the input waits for the pipeline.
    public var item: Int?
    public var receivedAt: Date
    public var source: String
    public var format: String
    public var hubID: String?
    /// `pending` until decided, then an ``ItemStatus`` raw value (`failed` for the whole input).
    public var status: String
    public var code: String?
    public var reason: String?
    public var deviceID: String?
    public var kind: String?
    public var readingID: Int64?
    public var payload: Data
}

/// A glucose control-solution test: kept apart from readings, never evaluated.
public struct ControlTest: Sendable, Hashable {
    public var id: Int64
    public var deviceID: String
    public var patientID: String?
    public var measuredAt: Date?
    public var receivedAt: Date
    /// mg/dL.
    public var glucose: Double
    public var sequence: Int?
    public var sampleType: String?
    public var sampleLocation: String?
    public var flags: [ReadingFlag]
    public var source: String
    public var inboxID: Int64
}

extension GatewayDatabase {
    /// Control-solution tests, oldest first.
    public func controlTests(device: String? = nil) throws -> [ControlTest] {
        try read { db in
            var sql = "SELECT * FROM control_test"
            var arguments: StatementArguments = []
            if let device {
                sql += " WHERE device_id = ?"
                arguments += [device]
            }
            return try Row.fetchAll(db, sql: sql + " ORDER BY received_at, id", arguments: arguments).map { row in
                ControlTest(
                    id: try row.decode(forColumn: "id"), deviceID: try row.decode(forColumn: "device_id"),
                    patientID: try row.decode(forColumn: "patient_id"),
                    measuredAt: try row.decode(forColumn: "measured_at"),
                    receivedAt: try row.decode(forColumn: "received_at"), glucose: try row.decode(forColumn: "glucose"),
                    sequence: try row.decode(forColumn: "seq"), sampleType: try row.decode(forColumn: "sample_type"),
                    sampleLocation: try row.decode(forColumn: "sample_location"),
                    flags: ReadingRow.flags(try row.decode(forColumn: "flags")),
                    source: try row.decode(forColumn: "source"), inboxID: try row.decode(forColumn: "inbox_id"))
            }
        }
    }

    /// How many readings are stored.
    public func readingCount() throws -> Int {
        try read { try Int.fetchOne($0, sql: "SELECT COUNT(*) FROM reading") ?? 0 }
    }

    /// Readings, oldest first by effective time, filtered.
    public func readings(
        patient: String? = nil, kind: ReadingKind? = nil, since: Date? = nil, limit: Int? = nil
    ) throws -> [StoredReading] {
        try read { db in
            var clauses: [String] = []
            var arguments: StatementArguments = []
            if let patient {
                clauses.append("patient_id = ?")
                arguments += [patient]
            }
            if let kind {
                clauses.append("kind = ?")
                arguments += [kind.rawValue]
            }
            if let since {
                clauses.append("effective_at >= ?")
                arguments += [since]
            }
            var sql = "SELECT * FROM reading"
            if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
            if let limit {
                // The newest `limit`, still listed oldest first.
                sql = "SELECT * FROM (\(sql) ORDER BY effective_at DESC, id DESC LIMIT ?)"
                arguments += [limit]
            }
            sql += " ORDER BY effective_at, id"
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map(ReadingRow.decode)
        }
    }

    /// Inbox entries with their outcomes, newest last; `status` is `pending` or an ``ItemStatus``.
    public func inbox(status: String? = nil, device: String? = nil, limit: Int = 100) throws -> [InboxEntry] {
        try read { db in
            var clauses: [String] = []
            var arguments: StatementArguments = []
            switch status {
            case nil: break
            case "pending"?: clauses.append("i.processed_at IS NULL")
            case "failed"?: clauses.append("i.failure IS NOT NULL")
            case let status?:
                clauses.append("it.status = ?")
                arguments += [status]
            }
            if let device {
                clauses.append("it.device_id = ?")
                arguments += [device]
            }
            var sql = """
                SELECT i.id, it.item, i.received_at, i.source, i.format, i.hub_id,
                  CASE WHEN i.failure IS NOT NULL THEN 'failed' ELSE COALESCE(it.status, 'pending') END AS status,
                  it.code, COALESCE(it.reason, i.failure) AS reason, it.device_id, it.kind, it.reading_id, i.payload
                FROM inbox i LEFT JOIN inbox_item it ON it.inbox_id = i.id
                """
            if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
            sql = "SELECT * FROM (\(sql) ORDER BY i.id DESC, it.item DESC LIMIT ?) ORDER BY id, item"
            arguments += [limit]
            // Read with the throwing accessors: a row this version cannot read (a failed input
            // is often one) is an error to report, never a trap.
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
                InboxEntry(
                    inboxID: try row.decode(forColumn: "id"), item: try row.decode(forColumn: "item"),
                    receivedAt: try row.decode(forColumn: "received_at"), source: try row.decode(forColumn: "source"),
                    format: try row.decode(forColumn: "format"), hubID: try row.decode(forColumn: "hub_id"),
                    status: try row.decode(forColumn: "status"), code: try row.decode(forColumn: "code"),
                    reason: try row.decode(forColumn: "reason"), deviceID: try row.decode(forColumn: "device_id"),
                    kind: try row.decode(forColumn: "kind"), readingID: try row.decode(forColumn: "reading_id"),
                    payload: try row.decode(forColumn: "payload"))
            }
        }
    }

    /// Whether the inbox holds an input with this id.
    public func inboxEntryExists(_ id: Int64) throws -> Bool {
        try read { db in
            try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM inbox WHERE id = ?"), arguments: [id]) != nil
        }
    }

    /// Clears a device's patient; its later readings are quarantined until it is assigned again.
    public func unassignDevice(_ id: String, by actor: String) throws {
        try write { db in
            let device = try Self.requireDevice(id, db)
            try db.cachedStatement(sql: "UPDATE device SET patient_id = NULL, assigned_at = NULL WHERE id = ?").execute(
                arguments: [id])
            try Audit.record(
                db, actor: actor, action: "device.unassign", entity: "device", id: id,
                detail: ["previous_patient": device.patientID ?? ""])
        }
    }
}
