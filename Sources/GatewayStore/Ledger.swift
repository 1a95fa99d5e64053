public import Foundation
import GRDB
public import GatewayCore

/// A time entry of the ledger as stored.
public struct StoredTimeEntry: Sendable, Hashable {
    public var id: Int64
    public var patientID: String
    public var start: Date
    public var minutes: Int
    public var staff: String
    public var role: TimeEntryInput.Role
    public var program: TimeEntryInput.Program
    public var activity: String
    public var interactive: Bool
    public var note: String?
    /// `ccmctl`, `alert:12`, `mqtt:TOPIC`, `timer`.
    public var source: String
    public var voidedAt: Date?
    public var voidedBy: String?
    public var voidReason: String?

    /// As the billing rules read it.
    public var ledgerEntry: LedgerEntry {
        LedgerEntry(
            id: id, start: start, minutes: minutes, role: role, program: program, interactive: interactive,
            voided: voidedAt != nil)
    }

    init(_ row: Row) {
        id = row["id"]
        patientID = row["patient_id"]
        start = row["start"]
        minutes = row["minutes"]
        staff = row["staff"]
        role = TimeEntryInput.Role(rawValue: row["role"]) ?? .clinicalStaff
        program = TimeEntryInput.Program(rawValue: row["program"]) ?? .ccm
        activity = row["activity"]
        interactive = row["interactive"]
        note = row["note"]
        source = row["source"]
        voidedAt = row["voided_at"]
        voidedBy = row["voided_by"]
        voidReason = row["void_reason"]
    }
}

/// A timer running for a patient and a staff member (`ccmctl time start` … `time stop`).
public struct RunningTimer: Sendable, Hashable {
    public var patientID: String
    public var staff: String
    public var startedAt: Date
    public var role: TimeEntryInput.Role
    public var program: TimeEntryInput.Program
    public var activity: TimeEntryInput.Activity
    public var interactive: Bool
    public var note: String?

    public init(
        patientID: String, staff: String, startedAt: Date, role: TimeEntryInput.Role, program: TimeEntryInput.Program,
        activity: TimeEntryInput.Activity, interactive: Bool, note: String?
    ) {
        self.patientID = patientID
        self.staff = staff
        self.startedAt = startedAt
        self.role = role
        self.program = program
        self.activity = activity
        self.interactive = interactive
        self.note = note
    }
}

/// Everything the CCM month reads, for one month and every patient (or one).
public struct BillingInputs: Sendable {
    public var patients: [Patient]
    public var entries: [String: [LedgerEntry]]
    /// Practice-local days with an accepted reading, per patient, from 31 days before the month
    /// (for 30-day device periods) to its end.
    public var readingDays: [String: Set<LocalDate>]
    /// Per-month complexity designations.
    public var complexity: [String: Complexity]
    public var carePlans: Set<String>
    /// The zone's days over the span read (for placing the entries' minutes).
    public var days: LocalDays
}

extension GatewayDatabase {
    /// Adds a time entry to the ledger (audited) and returns its id.
    @discardableResult
    public func addTimeEntry(_ entry: TimeEntryInput, source: String, by actor: String) throws -> Int64 {
        try write { db in try Self.insertTimeEntry(entry, source: source, by: actor, db) }
    }

    static func insertTimeEntry(
        _ entry: TimeEntryInput, source: String, by actor: String, _ db: Database
    ) throws -> Int64 {
        try GatewayDatabase.requirePatient(entry.patientID, db)
        if let problem = try staffProblem(entry.staff, role: entry.role, db) {
            throw StoreError(.invalid, problem.message)
        }
        try db.cachedStatement(
            sql: """
                INSERT INTO time_entry (patient_id, start, minutes, staff, role, program, activity, interactive, note, source, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            entry.patientID, entry.start, entry.minutes, entry.staff, entry.role.rawValue, entry.program.rawValue,
            entry.activity.rawValue, entry.interactive, entry.note, source, Date(),
        ])
        let id = db.lastInsertedRowID
        try Audit.record(
            db, actor: actor, action: "time.add", entity: "time_entry", id: "\(id)",
            detail: [
                "patient": entry.patientID, "minutes": String(entry.minutes), "program": entry.program.rawValue,
                "role": entry.role.rawValue,
                "source": source,
            ])
        return id
    }

    /// Voids an entry: it stays in the ledger, marked, and never counts again.
    public func voidTimeEntry(_ id: Int64, reason: String, by actor: String) throws {
        try write { db in
            guard
                let row = try Row.fetchOne(
                    db.cachedStatement(sql: "SELECT voided_at FROM time_entry WHERE id = ?"), arguments: [id])
            else {
                throw StoreError(.notFound, "no time entry \(id)", fix: "list entries with ccmctl time list")
            }
            if (row["voided_at"] as Date?) != nil { throw StoreError(.conflict, "time entry \(id) is already void") }
            try db.cachedStatement(
                sql: "UPDATE time_entry SET voided_at = ?, voided_by = ?, void_reason = ? WHERE id = ?"
            ).execute(
                arguments: [Date(), actor, reason, id])
            try Audit.record(
                db, actor: actor, action: "time.void", entity: "time_entry", id: "\(id)", detail: ["reason": reason])
        }
    }

    /// Time entries (voided ones included), oldest first; `from`/`to` bound their start.
    public func timeEntries(patient: String? = nil, from: Date? = nil, to: Date? = nil) throws -> [StoredTimeEntry] {
        try read { db in
            try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT * FROM time_entry WHERE (?1 IS NULL OR patient_id = ?1) AND (?2 IS NULL OR start >= ?2) AND (?3 IS NULL OR start < ?3)
                        ORDER BY start, id
                        """), arguments: [patient, from, to]
            ).map(StoredTimeEntry.init)
        }
    }

    /// Starts a timer for a patient and a staff member; one runs at a time for each pair.
    public func startTimer(_ timer: RunningTimer, by actor: String) throws {
        try write { db in
            try GatewayDatabase.requirePatient(timer.patientID, db)
            if let problem = try Self.staffProblem(timer.staff, role: timer.role, db) {
                throw StoreError(.invalid, problem.message)
            }
            if let running = try Date.fetchOne(
                db.cachedStatement(sql: "SELECT started_at FROM time_timer WHERE patient_id = ? AND staff = ?"),
                arguments: [timer.patientID, timer.staff])
            {
                throw StoreError(
                    .conflict,
                    "a timer for \(timer.patientID) by \(timer.staff) is running since \(RFC3339.format(running)); stop it with ccmctl time stop \(timer.patientID)"
                )
            }
            try db.cachedStatement(
                sql: """
                    INSERT INTO time_timer (patient_id, staff, started_at, role, program, activity, interactive, note)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """
            ).execute(arguments: [
                timer.patientID, timer.staff, timer.startedAt, timer.role.rawValue, timer.program.rawValue,
                timer.activity.rawValue,
                timer.interactive, timer.note,
            ])
            try Audit.record(
                db, actor: actor, action: "time.start", entity: "patient", id: timer.patientID,
                detail: ["staff": timer.staff])
        }
    }

    /// Stops the timer and records its whole minutes as an entry. Returns the entry (nil when it
    /// ran under a minute: nothing is recorded).
    public func stopTimer(
        patient: String, staff: String, at now: Date = Date(), note: String? = nil, by actor: String
    ) throws -> (
        id: Int64, entry: TimeEntryInput
    )? {
        try write { db in
            guard
                let row = try Row.fetchOne(
                    db.cachedStatement(sql: "SELECT * FROM time_timer WHERE patient_id = ? AND staff = ?"),
                    arguments: [patient, staff])
            else {
                throw StoreError(
                    .notFound, "no timer running for \(patient) by \(staff)",
                    fix: "start one with ccmctl time start \(patient)")
            }
            try db.cachedStatement(sql: "DELETE FROM time_timer WHERE patient_id = ? AND staff = ?").execute(
                arguments: [patient, staff])
            let started: Date = row["started_at"]
            let minutes = Int(now.timeIntervalSince(started) / 60)
            guard minutes >= 1 else {
                try Audit.record(
                    db, actor: actor, action: "time.stop", entity: "patient", id: patient, detail: ["minutes": "0"])
                return nil
            }
            let entry = TimeEntryInput(
                patientID: patient, start: started, minutes: min(minutes, TimeEntryV1.maxMinutes), staff: staff,
                role: TimeEntryInput.Role(rawValue: row["role"]) ?? .clinicalStaff,
                program: TimeEntryInput.Program(rawValue: row["program"]) ?? .ccm,
                activity: TimeEntryInput.Activity(rawValue: row["activity"]) ?? .review,
                interactive: row["interactive"],
                note: note ?? row["note"])
            return (try Self.insertTimeEntry(entry, source: "timer", by: actor, db), entry)
        }
    }

    /// The timers running now.
    public func runningTimers() throws -> [RunningTimer] {
        try read { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM time_timer ORDER BY started_at")).map { row in
                RunningTimer(
                    patientID: row["patient_id"], staff: row["staff"], startedAt: row["started_at"],
                    role: TimeEntryInput.Role(rawValue: row["role"]) ?? .clinicalStaff,
                    program: TimeEntryInput.Program(rawValue: row["program"]) ?? .ccm,
                    activity: TimeEntryInput.Activity(rawValue: row["activity"]) ?? .review,
                    interactive: row["interactive"],
                    note: row["note"])
            }
        }
    }

    /// Designates a patient's month complex or not (`nil` removes the designation: the standing
    /// complexity applies).
    public func setMonthComplexity(
        patient: String, month: CalendarMonth, _ complexity: Complexity?, by actor: String
    ) throws {
        try write { db in
            try GatewayDatabase.requirePatient(patient, db)
            if let complexity {
                try db.cachedStatement(
                    sql:
                        "INSERT OR REPLACE INTO patient_month (patient_id, month, complexity, set_by, set_at) VALUES (?, ?, ?, ?, ?)"
                ).execute(arguments: [patient, month.description, complexity.rawValue, actor, Date()])
            } else {
                try db.cachedStatement(sql: "DELETE FROM patient_month WHERE patient_id = ? AND month = ?").execute(
                    arguments: [
                        patient, month.description,
                    ])
            }
            try Audit.record(
                db, actor: actor, action: "patient.month_complexity", entity: "patient", id: patient,
                detail: ["month": month.description, "complexity": complexity?.rawValue ?? "standing"])
        }
    }

    /// What the CCM month of `month` (in `zone`) reads: patients, their entries and device days.
    /// Rows are read by column position and instants placed with ``LocalDays`` (one table of the
    /// zone's midnights): the month summary reads about 300,000 rows for 5,000 patients.
    public func billingInputs(month: CalendarMonth, zone: TimeZone, patient: String? = nil) throws -> BillingInputs {
        // Readings from 31 days before the month (30-day device periods) to its end; entries that
        // start up to a day before the month can cross into it (at most 600 minutes).
        let days = LocalDays(zone, from: month.first.adding(days: -31), through: month.last.adding(days: 1))
        let monthStart = days.start(of: month.first)
        let monthEnd = days.start(of: month.last.adding(days: 1))
        let entriesFrom = monthStart.addingTimeInterval(-86_400)
        let readingsFrom = days.start(of: month.first.adding(days: -31))
        return try read { db in
            let patients = try Patient.fetchAll(
                db.cachedStatement(sql: "SELECT * FROM patient WHERE (?1 IS NULL OR id = ?1) ORDER BY id"),
                arguments: [patient])
            var entries: [String: [LedgerEntry]] = [:]
            let entryRows = try Row.fetchCursor(
                db.cachedStatement(
                    sql: """
                        SELECT patient_id, id, start, minutes, role, program, interactive, voided_at IS NOT NULL
                        FROM time_entry WHERE (?1 IS NULL OR patient_id = ?1) AND start >= ?2 AND start < ?3
                        """),
                arguments: [patient, StoredDate.text(entriesFrom), StoredDate.text(monthEnd)])
            while let row = try entryRows.next() {
                let entry = LedgerEntry(
                    id: row[1], start: row[2], minutes: row[3],
                    role: TimeEntryInput.Role(rawValue: row[4]) ?? .clinicalStaff,
                    program: TimeEntryInput.Program(rawValue: row[5]) ?? .ccm, interactive: row[6], voided: row[7])
                entries[row[0], default: []].append(entry)
            }
            // Each patient's entries oldest first (sorted here: an ORDER BY over the whole month
            // costs SQLite a sort of every entry).
            for patient in entries.keys { entries[patient]!.sort { ($0.start, $0.id) < ($1.start, $1.id) } }
            // Whole seconds are enough to place an instant among midnights, which are whole seconds.
            var readingDays: [String: Set<LocalDate>] = [:]
            let readingRows = try Row.fetchCursor(
                db.cachedStatement(
                    sql: """
                        SELECT patient_id, unixepoch(effective_at) FROM reading
                        WHERE (?1 IS NULL OR patient_id = ?1) AND effective_at >= ?2 AND effective_at < ?3
                        """),
                arguments: [patient, StoredDate.text(readingsFrom), StoredDate.text(monthEnd)])
            while let row = try readingRows.next() {
                // A time SQLite cannot read (none the gateway writes) places no day.
                guard let seconds: Int64 = row[1] else { continue }
                readingDays[row[0], default: []].insert(
                    days.date(of: Date(timeIntervalSince1970: TimeInterval(seconds))))
            }
            var complexity: [String: Complexity] = [:]
            for row in try Row.fetchAll(
                db.cachedStatement(sql: "SELECT patient_id, complexity FROM patient_month WHERE month = ?"),
                arguments: [month.description])
            {
                complexity[row[0]] = Complexity(rawValue: row[1])
            }
            let plans = Set(try String.fetchAll(db.cachedStatement(sql: "SELECT patient_id FROM careplan")))
            return BillingInputs(
                patients: patients, entries: entries, readingDays: readingDays, complexity: complexity,
                carePlans: plans, days: days)
        }
    }
}
