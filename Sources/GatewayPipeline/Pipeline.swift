public import Foundation
import GRDB
public import GatewayCore
public import GatewayStore

/// What became of one reading in an input.
public enum ItemStatus: String, Sendable, CaseIterable, Codable {
    case accepted, rejected, quarantined, duplicate
    /// Deciding the input went wrong (an error, an unreadable row): nothing of it is stored but
    /// the input and the reason; `ccmctl inbox retry` decides it again after a fix. A whole
    /// input fails, never one reading of it.
    case failed
}

public struct ItemOutcome: Sendable, Hashable {
    public var inboxID: Int64
    /// Position in the payload (0 for a single object).
    public var item: Int
    public var status: ItemStatus
    /// ``Rejection/Code`` for rejections; `unknown_device`, `unassigned_device`, `unmapped_user`,
    /// `unknown_hub` or `hub_not_for_patient` for quarantine; `failed` for a failed input.
    public var code: String?
    /// The stored reason (for accepted inputs: remarks such as a suspect device clock).
    public var reason: String?
    public var deviceID: String?
    public var kind: ReadingKind?
    public var readingID: Int64?
    /// Alert events the reading caused (stored in the outbox with their ids).
    public var alerts: [AlertEvent] = []
    /// The input's source (`mqtt:…`, `file:…`), for counters by source.
    public var source = ""

    /// `mqtt`, `file`, `stdin`, `ble`: the part of the source before its first colon.
    public var sourceKind: String { String(source.prefix { $0 != ":" }) }
}

/// Counts of outcomes and the reasons for rejections, as `ccmctl ingest` prints them.
public struct IngestSummary: Sendable {
    public private(set) var counts: [ItemStatus: Int] = [:]
    public private(set) var problems: [ItemOutcome] = []
    public private(set) var alerts: [AlertEvent] = []

    public init() {}

    public mutating func add(_ outcomes: [ItemOutcome]) {
        for outcome in outcomes {
            counts[outcome.status, default: 0] += 1
            if outcome.status == .rejected || outcome.status == .quarantined || outcome.status == .failed {
                problems.append(outcome)
            }
            alerts += outcome.alerts
        }
    }

    public subscript(status: ItemStatus) -> Int { counts[status] ?? 0 }
}

/// The one path every input takes: inbox (durable first) → hub gate → decode → normalize →
/// device-to-patient resolution → hub authorization → dedup → reading stored → care plan
/// evaluated (docs/data-flow.md). Every source uses it; alert events are stored in the outbox in the same transaction, and the sink is told
/// once it has committed.
public struct Pipeline: Sendable {
    public let database: GatewayDatabase
    /// Payloads larger than this are rejected whole (and still kept in the inbox).
    public let maxPayloadBytes: Int
    public let templates: CarePlanTemplates
    public let sink: any AlertSink
    /// The gateway clock for alert times (injected by tests).
    public let clock: @Sendable () -> Date
    /// The zone device wall-clock times (GATT Date Time) are read in: the practice's.
    public let timeZone: TimeZone

    public init(
        database: GatewayDatabase, maxPayloadBytes: Int = 64 * 1024, templates: CarePlanTemplates = CarePlanTemplates(),
        sink: any AlertSink = AlertSinks([]), clock: @escaping @Sendable () -> Date = { Date() },
        timeZone: TimeZone = .gmt
    ) {
        self.database = database
        self.maxPayloadBytes = maxPayloadBytes
        self.templates = templates
        self.sink = sink
        self.clock = clock
        self.timeZone = timeZone
    }

    /// Places a device's wall-clock time in the practice's zone.
    var wallClock: HealthCharacteristic.Clock {
        let zone = timeZone
        return { time in
            LocalDay.instant(
                LocalDate(year: time.year, month: time.month, day: time.day), hour: time.hour, minute: time.minute,
                second: time.second,
                in: zone)
        }
    }

    /// How far a device's clock is ahead of the gateway's (seconds), from its Current Time value
    /// read at `readAt`, placed in the practice's zone; `nil` when the value says nothing.
    public func deviceClockOffset(currentTime bytes: [UInt8], readAt: Date) -> Double? {
        HealthCharacteristic.currentTime(bytes, clock: wallClock).map { $0.timeIntervalSince(readAt) }
    }

    /// Stores the input as received and commits it. Nothing has judged it yet; a crash after
    /// this returns loses nothing, because ``processPending()`` picks it up.
    @discardableResult
    public func receive(_ input: RawInput) throws -> Int64 {
        try database.write { db in
            try Self.insertInbox(input, db)
        }
    }

    /// Receives a batch of inputs in one transaction (one fsync). Returns their inbox ids.
    public func receive(batch inputs: [RawInput]) throws -> [Int64] {
        try database.write { db in try inputs.map { try Self.insertInbox($0, db) } }
    }

    /// Stores inputs as received and decides them, in one transaction: one commit (one fsync,
    /// synchronous=FULL) makes the inputs and their decisions durable together, so a source that
    /// acknowledges once this returns pays one fsync per input, not one for the inbox and another
    /// for the decision (docs/data-flow.md).
    ///
    /// What an input holds never stops the commit: such an input is decided `failed`, as in
    /// ``processPendingBatch(liveAfter:)``. When the database itself fails while deciding (not
    /// an input's content), only the decisions roll back: the inputs still commit, pending, and
    /// `decision` carries the error; the daemon's pipeline service decides them later. Alerts
    /// are announced to the sink after the commit.
    public func receiveAndDecide(
        _ inputs: [RawInput]
    ) throws -> (
        inboxIDs: [Int64], decision: Result<[ItemOutcome], any Error>
    ) {
        try receiveAndDecide(inputs) { _, _ in }
    }

    /// ``receiveAndDecide(_:)`` with `alongside` run in the same transaction after the inputs
    /// are inserted, before they are decided (the BLE download's resume point).
    func receiveAndDecide(
        _ inputs: [RawInput], alongside: (Database, [Int64]) throws -> Void
    ) throws -> (inboxIDs: [Int64], decision: Result<[ItemOutcome], any Error>) {
        let result = try database.write { db in
            let ids = try inputs.map { try Self.insertInbox($0, db) }
            try alongside(db, ids)
            var outcomes: [ItemOutcome] = []
            let decision = Result {
                try db.inSavepoint {
                    for id in ids { outcomes += try decideIsolated(inboxID: id, db) }
                    return .commit
                }
                return outcomes
            }
            return (inboxIDs: ids, decision: decision)
        }
        if case .success(let outcomes) = result.decision { sink.deliver(outcomes.flatMap(\.alerts)) }
        return result
    }

    static func insertInbox(_ input: RawInput, _ db: Database) throws -> Int64 {
        try db.cachedStatement(
            sql:
                "INSERT INTO inbox (received_at, source, format, hub_id, payload, clock_offset, payload_size) VALUES (?, ?, ?, ?, ?, ?, ?)"
        ).execute(arguments: [
            StoredDate.text(input.receivedAt), input.source, input.format.rawValue, input.hubID, input.payload,
            input.deviceClockOffset,
            input.payloadSize,
        ])
        return db.lastInsertedRowID
    }

    /// Receives and processes one input.
    public func ingest(_ input: RawInput) throws -> [ItemOutcome] {
        try process(inboxID: try receive(input))
    }

    /// Decides every reading of one received input, in one transaction.
    public func process(inboxID: Int64) throws -> [ItemOutcome] {
        try process(inboxIDs: [inboxID])
    }

    /// At most this many inputs are decided in one write transaction...
    public static let batchLimit = 256
    /// ...and no more once this much time has gone into it. Deciding an input takes well under a
    /// millisecond on a laptop and a few on a Raspberry Pi, so a transaction holds the write lock
    /// for about this long at most: a source committing a new input (whose acknowledgement waits
    /// for that commit) or an operator's `ccmctl` waits no longer, while a backlog still shares
    /// one fsync among up to ``batchLimit`` inputs.
    public static let batchBudget: Duration = .milliseconds(100)

    /// Decides several received inputs, in as many bounded transactions as they need
    /// (``batchLimit``, ``batchBudget``).
    public func process(inboxIDs: [Int64]) throws -> [ItemOutcome] {
        var outcomes: [ItemOutcome] = []
        var rest = inboxIDs[...]
        while !rest.isEmpty {
            let batch = try decideBatch(rest)
            outcomes += batch.outcomes
            rest = rest.dropFirst(batch.taken)
        }
        return outcomes
    }

    /// Processes every input received but not yet decided (after a crash, or a batch receive),
    /// oldest first, in bounded transactions.
    public func processPending() throws -> [ItemOutcome] {
        var outcomes: [ItemOutcome] = []
        while let batch = try processPendingBatch() { outcomes += batch }
        return outcomes
    }

    /// Decides undecided inputs in one bounded transaction; `nil` when none wait. The daemon
    /// calls it in a loop, so that a backlog is caught up in steps that other writers can come
    /// between. Inputs received after `liveAfter` (the last inbox id when the daemon started) go
    /// first, oldest first; then the backlog, oldest first: a reading that arrives during a
    /// catch-up is decided at once, so its alert is not late by the whole backlog.
    public func processPendingBatch(liveAfter: Int64? = nil) throws -> [ItemOutcome]? {
        let ids = try database.read { db in
            var ids: [Int64] = []
            if let liveAfter {
                ids = try Int64.fetchAll(
                    db.cachedStatement(
                        sql: "SELECT id FROM inbox WHERE processed_at IS NULL AND id > ? ORDER BY id LIMIT ?"),
                    arguments: [liveAfter, Self.batchLimit])
            }
            if ids.isEmpty {
                ids = try Int64.fetchAll(
                    db.cachedStatement(sql: "SELECT id FROM inbox WHERE processed_at IS NULL ORDER BY id LIMIT ?"),
                    arguments: [Self.batchLimit])
            }
            return ids
        }
        guard !ids.isEmpty else { return nil }
        return try decideBatch(ids[...]).outcomes
    }

    /// How many inputs wait to be decided, and the newest inbox id (the daemon's start: what is
    /// pending up to it is the backlog).
    public func pending() throws -> (count: Int, lastInboxID: Int64) {
        try database.read { db in
            (
                try Int.fetchOne(db.cachedStatement(sql: "SELECT COUNT(*) FROM inbox WHERE processed_at IS NULL")) ?? 0,
                try Int64.fetchOne(db.cachedStatement(sql: "SELECT MAX(id) FROM inbox")) ?? 0
            )
        }
    }

    /// How many inputs wait to be decided.
    public func pendingCount() throws -> Int { try pending().count }

    /// Decides inputs from the front of `ids` in one write transaction until ``batchLimit`` or
    /// ``batchBudget``, then announces the alerts of what committed. Returns how many it took.
    private func decideBatch(_ ids: ArraySlice<Int64>) throws -> (taken: Int, outcomes: [ItemOutcome]) {
        let result = try database.write { db -> (taken: Int, outcomes: [ItemOutcome]) in
            let start = ContinuousClock.now
            var taken = 0
            var outcomes: [ItemOutcome] = []
            for id in ids {
                outcomes += try decideIsolated(inboxID: id, db)
                taken += 1
                if taken >= Self.batchLimit || ContinuousClock.now - start >= Self.batchBudget { break }
            }
            return (taken, outcomes)
        }
        sink.deliver(result.outcomes.flatMap(\.alerts))
        return result
    }

    /// Decides one input inside a savepoint: whatever goes wrong while deciding it (a thrown
    /// error, a row that cannot be read back) rolls back what it did and marks it `failed` with
    /// the reason, and the batch goes on. Only a database that cannot be written at all (busy,
    /// full, gone) stops the batch, leaving the input pending for the next try.
    private func decideIsolated(inboxID: Int64, _ db: Database) throws -> [ItemOutcome] {
        var outcomes: [ItemOutcome] = []
        do {
            try db.inSavepoint {
                outcomes = try process(inboxID: inboxID, db)
                return .commit
            }
            return outcomes
        } catch let error as DatabaseError where !Self.isInputError(error) {
            throw error
        } catch {
            return [try markFailed(inboxID, error: error, db)]
        }
    }

    /// Whether a database error comes from what an input made the pipeline do (a constraint, a
    /// value out of range), rather than from the database itself (busy, full, unwritable, gone).
    static func isInputError(_ error: DatabaseError) -> Bool {
        switch error.resultCode {
        case .SQLITE_CONSTRAINT, .SQLITE_MISMATCH, .SQLITE_TOOBIG, .SQLITE_RANGE, .SQLITE_ERROR: true
        default: false
        }
    }

    private func markFailed(_ inboxID: Int64, error: any Error, _ db: Database) throws -> ItemOutcome {
        let reason =
            "deciding this input failed (\(error)); nothing of it was stored; after fixing the cause (often an upgrade) run ccmctl inbox retry \(inboxID)"
        try db.cachedStatement(sql: "UPDATE inbox SET processed_at = ?, failure = ? WHERE id = ?").execute(arguments: [
            clock(), reason, inboxID,
        ])
        try Audit.record(
            db, actor: "gateway", action: "inbox.fail", entity: "inbox", id: "\(inboxID)", detail: ["reason": reason])
        var outcome = ItemOutcome(inboxID: inboxID, item: 0, status: .failed)
        outcome.code = "failed"
        outcome.reason = reason
        outcome.source =
            try String.fetchOne(db.cachedStatement(sql: "SELECT source FROM inbox WHERE id = ?"), arguments: [inboxID])
            ?? ""
        return outcome
    }

    /// Makes failed inputs pending again and decides them now (`ccmctl inbox retry`). Inputs
    /// that are not failed are left as they are and not returned.
    public func retry(inboxIDs: [Int64], by actor: String) throws -> [ItemOutcome] {
        let reset = try database.write { db in
            var reset: [Int64] = []
            for id in inboxIDs {
                try db.cachedStatement(
                    sql: "UPDATE inbox SET processed_at = NULL, failure = NULL WHERE id = ? AND failure IS NOT NULL"
                )
                .execute(arguments: [id])
                guard db.changesCount > 0 else { continue }
                try Audit.record(db, actor: actor, action: "inbox.retry", entity: "inbox", id: "\(id)", detail: [:])
                reset.append(id)
            }
            return reset
        }
        return try process(inboxIDs: reset)
    }

    /// Registers a device and replays its quarantined readings, in one transaction: accepted when
    /// the device names a patient, still quarantined (now as unassigned) otherwise.
    @discardableResult
    public func addDevice(_ device: Device, by actor: String) throws -> [ItemOutcome] {
        try commit { db in
            try GatewayDatabase.insertDevice(device, by: actor, db)
            try GatewayDatabase.registerHubOfDevice(device.hubID, by: actor, db)
            return try replayHub(device.hubID, by: actor, db) + replayQuarantined(device: device.id, by: actor, db)
        }
    }

    /// Assigns a device to a patient (and a hub, when given), then replays its quarantined
    /// readings through the pipeline, in one transaction. Returns the replayed outcomes.
    public func assignDevice(
        _ id: String, to patientID: String, hub: String?? = .none, by actor: String
    ) throws -> [ItemOutcome] {
        try commit { db in
            try GatewayDatabase.updateAssignment(id, to: patientID, hub: hub, by: actor, db)
            let bound = hub ?? nil
            try GatewayDatabase.registerHubOfDevice(bound, by: actor, db)
            return try replayHub(bound, by: actor, db) + replayQuarantined(device: id, by: actor, db)
        }
    }

    /// Maps user `user` of a multi-user device (its 0x2A35 User ID) to a patient, then replays
    /// the device's quarantined readings (those of that user are accepted for the patient), in
    /// one transaction. Audited (`device.assign_user`).
    public func assignDeviceUser(
        _ id: String, user: Int, to patientID: String, by actor: String
    ) throws -> [ItemOutcome] {
        try commit { db in
            _ = try GatewayDatabase.requireDevice(id, db)
            guard (0...255).contains(user) else {
                throw StoreError(
                    .invalid, "--user: \(user) is not a user index", fix: "a device's user ids are 0 to 255")
            }
            guard try Patient.exists(db, key: patientID) else {
                throw StoreError(
                    .notFound, "no patient \(patientID)", fix: "add it with ccmctl patients add \(patientID)")
            }
            let previous = try String.fetchOne(
                db.cachedStatement(sql: "SELECT patient_id FROM device_user WHERE device_id = ? AND user_index = ?"),
                arguments: [id, user])
            try db.cachedStatement(
                sql: """
                    INSERT INTO device_user (device_id, user_index, patient_id, assigned_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT (device_id, user_index) DO UPDATE SET patient_id = excluded.patient_id, assigned_at = excluded.assigned_at
                    """
            ).execute(arguments: [id, user, patientID, clock()])
            try Audit.record(
                db, actor: actor, action: "device.assign_user", entity: "device", id: id,
                detail: ["user": "\(user)", "patient": patientID, "previous_patient": previous ?? ""])
            return try replayQuarantined(device: id, by: actor, db)
        }
    }

    /// Registers a hub (`ccmctl hubs add`), or adds patients to a registered one, and replays
    /// the inputs quarantined because the hub was unknown or not registered for the patient of
    /// a device bound to no hub, in one transaction.
    @discardableResult
    public func addHub(
        _ id: String, patients: [String] = [], model: String? = nil, by actor: String
    ) throws -> [ItemOutcome] {
        try commit { db in
            try GatewayDatabase.upsertHub(id, patients: patients, model: model, by: actor, db)
            // Those held for a patient first: the replay of an unknown hub's may hold some anew.
            return try replayQuarantined(
                "it.code = 'hub_not_for_patient' AND i.hub_id = ?", [id], detail: ["hub": id], by: actor, db)
                + replayHub(id, by: actor, db)
        }
    }

    /// Decides again, in the caller's transaction, the inputs quarantined because `hub` was not
    /// registered (after the caller registered it).
    private func replayHub(_ hub: String?, by actor: String, _ db: Database) throws -> [ItemOutcome] {
        guard let hub else { return [] }
        let ids = try Int64.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT it.inbox_id FROM inbox_item it JOIN inbox i ON i.id = it.inbox_id
                    WHERE it.status = 'quarantined' AND it.code = 'unknown_hub' AND i.hub_id = ? GROUP BY it.inbox_id ORDER BY it.inbox_id
                    """), arguments: [hub])
        var outcomes: [ItemOutcome] = []
        for id in ids {
            guard let inbox = try InboxRow.fetch(id, db) else { continue }
            try db.cachedStatement(sql: "DELETE FROM inbox_item WHERE inbox_id = ?").execute(arguments: [id])
            let decided = try decideStamped(inbox, db)
            try Audit.record(
                db, actor: actor, action: "inbox.replay", entity: "inbox", id: "\(id)",
                detail: ["hub": hub, "status": decided.map(\.status.rawValue).joined(separator: ",")])
            outcomes += decided
        }
        return outcomes
    }

    /// What becomes of an input through `hub` before anything looks inside it: `nil` when the
    /// hub is registered and enabled. An unknown hub's input is quarantined (not lost: a hub
    /// that publishes before the operator registered it is replayed by `ccmctl hubs add`, and
    /// nothing of it counts until then); a disabled hub's is rejected (the operator decided to
    /// stop trusting it; re-enabling does not bring back what it sent meanwhile).
    /// The outcomes name the devices the input's readings claim (for `ccmctl inbox list`).
    private func hubGate(_ hub: String, _ inbox: InboxRow, _ db: Database) throws -> [ItemOutcome]? {
        let outcome = ItemOutcome(inboxID: inbox.id, item: 0, status: .quarantined)
        guard let registered = try GatewayDatabase.hubStatus(hub, db) else {
            var outcomes: [ItemOutcome] = []
            if inbox.format != .timeEntryV1,
                case .success(let payload) = inbox.format.decode(inbox.payload, clock: wallClock)
            {
                for index in payload.items.indices {
                    var item = ItemOutcome(inboxID: inbox.id, item: index, status: .quarantined)
                    if case .success(let input) = payload.items[index] {
                        item.deviceID = DeviceID.canonical(input.device)
                        item.kind = input.kind
                    }
                    outcomes.append(item)
                }
            }
            if outcomes.isEmpty { outcomes = [outcome] }
            return outcomes.map { item in
                var item = item
                item.code = "unknown_hub"
                item.reason =
                    "unknown hub \(hub); nothing from it is stored as a reading or time until it is registered: ccmctl hubs add \(hub), which replays its quarantined inputs"
                return item
            }
        }
        guard registered.enabled else {
            return [
                outcome.rejected(
                    Rejection(
                        .hubDisabled, field: nil,
                        "hub \(hub) is disabled\(registered.disabledBy.map { " (by \($0))" } ?? ""); its inputs are not taken; if that was a mistake, run ccmctl hubs enable \(hub)"
                    ))
            ]
        }
        return nil
    }

    /// The alert timer, once: stale-data alerts, auto-resolution after enough time back in range,
    /// ended snoozes. Returns the events (stored in the outbox) and the plans that could not be
    /// composed.
    @discardableResult
    public func checkAlerts(now: Date? = nil) throws -> (events: [AlertEvent], problems: [String]) {
        let result = try database.alertTick(templates: templates, now: now ?? clock())
        sink.deliver(result.events)
        return result
    }

    /// Runs `body` in a write transaction, then tells the sink of the alert events it stored in
    /// the outbox (the daemon wakes its deliverers): only committed alerts are announced.
    private func commit(_ body: (Database) throws -> [ItemOutcome]) throws -> [ItemOutcome] {
        let outcomes = try database.write(body)
        sink.deliver(outcomes.flatMap(\.alerts))
        return outcomes
    }

    private func process(inboxID: Int64, _ db: Database) throws -> [ItemOutcome] {
        guard let inbox = try InboxRow.fetch(inboxID, db), inbox.processedAt == nil else { return [] }
        return try decideStamped(inbox, db)
    }

    /// ``decide(_:_:)`` with each outcome carrying the input's source (for counters by source).
    private func decideStamped(_ inbox: InboxRow, _ db: Database) throws -> [ItemOutcome] {
        try decide(inbox, db).map { outcome in
            var outcome = outcome
            outcome.source = inbox.source
            return outcome
        }
    }

    private func decide(_ inbox: InboxRow, _ db: Database) throws -> [ItemOutcome] {
        let inboxID = inbox.id
        // A hub id from a topic or `ccmctl ingest --hub` follows the id rule before anything
        // is decided for it (an alert topic or a device's hub cannot hold `#`, `+`, `/`).
        let hubProblem = inbox.hubID.flatMap { EntityID.problem($0, .hub) }
        let fits = inbox.size <= maxPayloadBytes && hubProblem == nil
        if fits, let hub = inbox.hubID, let outcomes = try hubGate(hub, inbox, db) {
            return try finish(outcomes, inbox: inboxID, db)
        }
        if inbox.format == .timeEntryV1, fits {
            return try recordTimeEntries(inbox, db)
        }
        if case .gatt("2a34", let device) = inbox.format, fits {
            return try applyGlucoseContext(inbox, device: device, db)
        }
        var outcomes: [ItemOutcome] = []
        let decoded: Result<DecodedPayload, Rejection> =
            if inbox.size > maxPayloadBytes {
                .failure(
                    Rejection(
                        .tooLarge, field: nil,
                        "payload of \(inbox.size) bytes is over the \(maxPayloadBytes)-byte limit; split it into smaller messages"
                            + (inbox.size > inbox.payload.count
                                ? " (only its first \(inbox.payload.count) bytes are kept)" : "")))
            } else if let hubProblem {
                .failure(
                    Rejection(
                        .invalidValue, field: nil,
                        "\(hubProblem) (the hub id is the topic level after hub/, or ccmctl ingest --hub)")
                )
            } else {
                inbox.format.decode(inbox.payload, clock: wallClock)
            }
        switch decoded {
        case .failure(let rejection):
            outcomes.append(ItemOutcome(inboxID: inboxID, item: 0, status: .rejected).rejected(rejection))
        case .success(let payload):
            for index in payload.items.indices {
                outcomes.append(try decide(payload, item: index, inbox: inbox, db))
            }
        }
        return try finish(outcomes, inbox: inboxID, db)
    }

    /// Stores an input's outcomes and marks it decided.
    private func finish(_ outcomes: [ItemOutcome], inbox id: Int64, _ db: Database) throws -> [ItemOutcome] {
        for outcome in outcomes { try save(outcome, db) }
        try db.cachedStatement(sql: "UPDATE inbox SET processed_at = ? WHERE id = ?").execute(arguments: [
            StoredDate.text(clock()), id,
        ])
        return outcomes
    }

    /// Stores the time entries of an input in the ledger: the patient must exist, the hub (over
    /// MQTT) be registered for the patient, the staff be registered, enabled and in that role;
    /// the same entry (its id for the patient, or patient, start, staff and activity) counts once.
    private func recordTimeEntries(_ inbox: InboxRow, _ db: Database) throws -> [ItemOutcome] {
        var outcomes: [ItemOutcome] = []
        switch TimeEntryV1.parse(inbox.payload) {
        case .failure(let rejection):
            outcomes.append(ItemOutcome(inboxID: inbox.id, item: 0, status: .rejected).rejected(rejection))
        case .success(let items):
            for (index, item) in items.enumerated() {
                var outcome = ItemOutcome(inboxID: inbox.id, item: index, status: .rejected)
                let prefix = items.count > 1 ? "[\(index)]" : nil
                /// A rejection of this entry, located in a batch.
                func reject(_ rejection: Rejection) -> ItemOutcome {
                    outcome.rejected(prefix.map { rejection.within($0) } ?? rejection)
                }
                switch item {
                case .failure(let rejection):
                    outcome = outcome.rejected(rejection)
                case .success(let entry):
                    guard try Patient.exists(db, key: entry.patientID) else {
                        outcome = reject(
                            Rejection(
                                .invalidValue, field: "patient",
                                "no patient \(entry.patientID) at this gateway; check the app's patient id, or add the patient with ccmctl patients add \(entry.patientID)"
                            ))
                        break
                    }
                    // Over MQTT, time comes only from a hub registered for the patient.
                    if let hub = inbox.hubID,
                        try !GatewayDatabase.hub(hub, serves: entry.patientID, db)
                    {
                        outcome = reject(
                            Rejection(
                                .wrongHub, field: "patient",
                                "hub \(hub) is not registered for patient \(entry.patientID); time is taken only from a hub registered for the patient: ccmctl hubs add \(hub) --patient \(entry.patientID)"
                            ))
                        break
                    }
                    if let problem = try GatewayDatabase.staffProblem(entry.staff, role: entry.role, db) {
                        outcome = reject(Rejection(.unknownStaff, field: problem.field, problem.message))
                        break
                    }
                    // An entry id is unique per patient, whatever hub sent it.
                    let key =
                        entry.messageID.map { "\(entry.patientID)|id:\($0)" }
                        ?? "\(entry.patientID)|\(RFC3339.format(entry.start))|\(entry.staff)|\(entry.activity.rawValue)"
                    if let existing = try Int64.fetchOne(
                        db.cachedStatement(sql: "SELECT id FROM time_entry WHERE dedup_key = ?"), arguments: [key])
                    {
                        outcome.status = .duplicate
                        outcome.reason = "same time entry as entry \(existing) (\(key))"
                        break
                    }
                    try db.cachedStatement(
                        sql: """
                            INSERT INTO time_entry (patient_id, start, minutes, staff, role, program, activity, interactive, note,
                              source, inbox_id, dedup_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                            """
                    ).execute(arguments: [
                        entry.patientID, entry.start, entry.minutes, entry.staff, entry.role.rawValue,
                        entry.program.rawValue,
                        entry.activity.rawValue, entry.interactive, entry.note, inbox.source, inbox.id, key, clock(),
                    ])
                    outcome.status = .accepted
                }
                outcomes.append(outcome)
            }
        }
        return try finish(outcomes, inbox: inbox.id, db)
    }

    /// A Glucose Measurement Context over MQTT arrives as its own message: its meal goes to the
    /// stored glucose reading with the same device and sequence number (and the meal-context
    /// rules are evaluated then). A context that comes first waits, quarantined, for its
    /// measurement, which picks it up (``pendingContext(device:sequence:_:)``).
    private func applyGlucoseContext(_ inbox: InboxRow, device: String, _ db: Database) throws -> [ItemOutcome] {
        var outcome = ItemOutcome(inboxID: inbox.id, item: 0, status: .rejected)
        outcome.deviceID = device
        outcome.kind = .glucose
        switch HealthCharacteristic.glucoseContext(HealthCharacteristic.bytes(inbox.payload)) {
        case .failure(let rejection):
            outcome = outcome.rejected(rejection)
        case .success(let context):
            let epoch = try inbox.deviceEpoch ?? GatewayDatabase.glucoseEpoch(device, db)
            if let row = try Row.fetchOne(
                db.cachedStatement(
                    sql:
                        "SELECT * FROM reading WHERE device_id = ? AND kind = 'glucose' AND seq = ? AND COALESCE(epoch, 0) = ? ORDER BY id DESC"
                ), arguments: [device, context.sequence, epoch])
            {
                var reading = try ReadingRow.decode(row)
                outcome.status = .accepted
                outcome.readingID = reading.id
                if let meal = context.meal, reading.meal == nil {
                    try db.cachedStatement(sql: "UPDATE reading SET meal = ? WHERE id = ?").execute(arguments: [
                        meal.rawValue, reading.id,
                    ])
                    reading.meal = meal
                    outcome.reason =
                        "meal \(meal.rawValue) added to reading \(reading.id) (sequence \(context.sequence))"
                    do {
                        outcome.alerts = try StoredAlerts.evaluateMealRules(
                            reading, templates: templates, now: clock(), db)
                    } catch let error as CarePlanError {
                        outcome.reason! += "; care plan not evaluated: \(error.description)"
                    }
                } else {
                    outcome.reason =
                        "reading \(reading.id) (sequence \(context.sequence)) already has its meal context; nothing to add"
                }
            } else {
                outcome.status = .quarantined
                outcome.code = "context_waiting"
                outcome.reason =
                    "no glucose measurement with sequence \(context.sequence) from \(device) yet; the meal is added when it arrives"
            }
        }
        return try finish([outcome], inbox: inbox.id, db)
    }

    /// The meal of a context that arrived before its measurement, consumed (marked accepted).
    private func pendingContext(device: String, sequence: Int, readingID: Int64, _ db: Database) throws -> MealContext?
    {
        let rows = try Row.fetchAll(
            db.cachedStatement(
                sql: """
                    SELECT i.id, i.payload FROM inbox_item it JOIN inbox i ON i.id = it.inbox_id
                    WHERE it.status = 'quarantined' AND it.code = 'context_waiting' AND it.device_id = ? ORDER BY i.id
                    """), arguments: [device])
        for row in rows {
            guard
                case .success(let context) = HealthCharacteristic.glucoseContext(
                    HealthCharacteristic.bytes(row["payload"])),
                context.sequence == sequence
            else { continue }
            try db.cachedStatement(
                sql:
                    "UPDATE inbox_item SET status = 'accepted', code = NULL, reason = ?, reading_id = ?, decided_at = ? WHERE inbox_id = ? AND item = 0"
            ).execute(arguments: [
                "meal \(context.meal?.rawValue ?? "none") added to reading \(readingID) (sequence \(sequence))",
                readingID, clock(),
                row["id"] as Int64,
            ])
            return context.meal
        }
        return nil
    }

    /// Runs the quarantined readings of `device` through the pipeline again (after the caller
    /// registered or assigned it), in the caller's transaction.
    private func replayQuarantined(device: String, by actor: String, _ db: Database) throws -> [ItemOutcome] {
        try replayQuarantined(
            "it.device_id = ? AND it.code IS NOT 'unknown_hub'", [device], detail: ["device": device], by: actor, db)
    }

    /// Runs the quarantined readings that match `condition` (on `inbox_item it` joined with
    /// `inbox i`) through the pipeline again, item by item, in the caller's transaction.
    private func replayQuarantined(
        _ condition: String, _ arguments: StatementArguments, detail: [String: String], by actor: String, _ db: Database
    ) throws -> [ItemOutcome] {
        let pending = try Row.fetchAll(
            db.cachedStatement(
                sql:
                    "SELECT it.inbox_id, it.item FROM inbox_item it JOIN inbox i ON i.id = it.inbox_id WHERE it.status = 'quarantined' AND \(condition) ORDER BY it.inbox_id, it.item"
            ), arguments: arguments)
        var outcomes: [ItemOutcome] = []
        var decoded: [Int64: (InboxRow, Result<DecodedPayload, Rejection>)] = [:]
        for row in pending {
            let inboxID: Int64 = row["inbox_id"]
            let item: Int = row["item"]
            if decoded[inboxID] == nil, let inbox = try InboxRow.fetch(inboxID, db) {
                decoded[inboxID] = (inbox, inbox.format.decode(inbox.payload, clock: wallClock))
            }
            guard let (inbox, result) = decoded[inboxID], case .success(let payload) = result,
                payload.items.indices.contains(item)
            else { continue }
            var outcome = try decide(payload, item: item, inbox: inbox, db)
            outcome.source = inbox.source
            try save(outcome, db)
            try Audit.record(
                db, actor: actor, action: "inbox.replay", entity: "inbox", id: "\(inboxID)/\(item)",
                detail: detail.merging(["status": outcome.status.rawValue]) { $1 })
            outcomes.append(outcome)
        }
        return outcomes
    }

    /// Decides one reading: the shared step of first processing and quarantine replay.
    private func decide(_ payload: DecodedPayload, item: Int, inbox: InboxRow, _ db: Database) throws -> ItemOutcome {
        var outcome = ItemOutcome(inboxID: inbox.id, item: item, status: .rejected)
        var input: ReadingInput
        switch payload.items[item] {
        case .failure(let rejection):
            return outcome.rejected(rejection)
        case .success(let value):
            input = value
        }
        // A glucose sequence number belongs to the meter's current numbering of its records:
        // the epoch it was received in (BLE), else the device's epoch now.
        if input.kind == .glucose, input.sequence != nil, input.recordEpoch == nil {
            input.recordEpoch =
                try inbox.deviceEpoch ?? GatewayDatabase.glucoseEpoch(DeviceID.canonical(input.device), db)
        }
        outcome.kind = input.kind
        outcome.deviceID = DeviceID.canonical(input.device)
        var reading: NormalizedReading
        switch Normalizer.normalize(input, receivedAt: inbox.receivedAt, clockOffset: inbox.clockOffset) {
        case .failure(let rejection):
            return outcome.rejected(payload.locate(rejection, item: item))
        case .success(let value):
            reading = value
        }
        guard let device = try Device.fetch(reading.device, db) else {
            outcome.status = .quarantined
            outcome.code = "unknown_device"
            outcome.reason =
                "unknown device \(reading.device); register it with ccmctl devices add \(reading.device) --kind KIND --patient PATIENT, which replays its quarantined readings"
            return outcome
        }
        var patient = device.patientID
        if let user = reading.userIndex {
            // A multi-user device: the user index names the patient, never the device's owner.
            patient = try String.fetchOne(
                db.cachedStatement(sql: "SELECT patient_id FROM device_user WHERE device_id = ? AND user_index = ?"),
                arguments: [device.id, user])
            guard patient != nil else {
                outcome.status = .quarantined
                outcome.code = "unmapped_user"
                outcome.reason =
                    user == 255
                    ? "device \(reading.device) sent user 255 (\"unknown user\"): the device did not know whose reading this is; if you know, map it with ccmctl devices assign \(reading.device) --user 255 --patient PATIENT, which replays its quarantined readings"
                    : "device \(reading.device) sent user \(user), which is not mapped to a patient; map it with ccmctl devices assign \(reading.device) --user \(user) --patient PATIENT, which replays its quarantined readings"
                return outcome
            }
        }
        guard let patientID = patient else {
            outcome.status = .quarantined
            outcome.code = "unassigned_device"
            outcome.reason =
                "device \(reading.device) is not assigned to a patient; assign it with ccmctl devices assign \(reading.device) --patient PATIENT, which replays its quarantined readings"
            return outcome
        }
        if let hub = inbox.hubID, let assignedHub = device.hubID, hub != assignedHub {
            try Audit.record(
                db, actor: "hub:\(hub)", action: "reading.wrong_hub", entity: "device", id: device.id,
                detail: ["assigned_hub": assignedHub, "sending_hub": hub, "inbox": "\(inbox.id)/\(item)"])
            return outcome.rejected(
                payload.locate(
                    Rejection(
                        .wrongHub, field: "device",
                        "device \(device.id) is assigned to hub \(assignedHub), not hub \(hub); a hub cannot publish for another hub's devices (if the device moved, run ccmctl devices assign \(device.id) --patient \(patientID) --hub \(hub))"
                    ), item: item))
        }
        // A device bound to no hub takes readings from a hub registered for its patient only:
        // any other hub's are held until the operator says which hub the device is at.
        if let hub = inbox.hubID, device.hubID == nil,
            try !GatewayDatabase.hub(hub, serves: patientID, db)
        {
            outcome.status = .quarantined
            outcome.code = "hub_not_for_patient"
            outcome.reason =
                "device \(device.id) is bound to no hub, and hub \(hub) is not registered for its patient \(patientID); if the device is at that hub, run ccmctl devices assign \(device.id) --patient \(patientID) --hub \(hub) or ccmctl hubs add \(hub) --patient \(patientID), which replay it"
            return outcome
        }
        if reading.controlSolution {
            return try storeControlTest(reading, device: device, inbox: inbox, outcome: outcome, db)
        }
        var resetNote: String?
        if reading.kind == .glucose, let sequence = reading.sequence {
            // A meter's record: the same record (sequence number and time) stored in any epoch
            // is a duplicate (a meter whose numbering wrapped still holds records from before);
            // the same sequence number in this epoch with another time is another record: the
            // meter was reset or wrapped, and its records start a new epoch.
            let stored = try Row.fetchAll(
                db.cachedStatement(
                    sql:
                        "SELECT id, measured_at, measured_at_text, glucose, dedup_key FROM reading WHERE device_id = ? AND kind = 'glucose' AND seq = ? ORDER BY id"
                ),
                arguments: [reading.device, sequence])
            if let same = stored.first(where: { Self.sameRecord($0, reading) }) {
                let id: Int64 = same["id"]
                outcome.status = .duplicate
                outcome.readingID = id
                outcome.reason =
                    "same reading as reading \(id) (\((same["dedup_key"] as String?) ?? reading.dedupKey?.description ?? ""))"
                return outcome
            }
            if let key = reading.dedupKey,
                let clash = stored.first(where: { ($0["dedup_key"] as String?) == key.description })
            {
                let clashID: Int64 = clash["id"]
                let epoch = try GatewayDatabase.startGlucoseEpoch(
                    device: reading.device, after: reading.epoch ?? 0, lastSequence: sequence,
                    reason:
                        "record \(sequence) arrived with time \(reading.measuredAt.map(RFC3339.format) ?? "unknown"), another than the stored reading \(clashID) with that number has; the meter was reset or its numbering wrapped",
                    by: "gateway", at: clock(), db)
                reading.epoch = epoch
                reading.dedupKey = DedupKey(
                    device: reading.device, kind: .glucose, measuredAt: reading.measuredAt, sequence: sequence,
                    messageID: reading.messageID, epoch: epoch)
                resetNote =
                    "meter reset detected (sequence \(sequence) already stored with another time): its records are numbered anew as epoch \(epoch)"
            }
        } else if let key = reading.dedupKey,
            let existing = try Int64.fetchOne(
                db.cachedStatement(sql: "SELECT id FROM reading WHERE dedup_key = ?"), arguments: [key.description])
        {
            outcome.status = .duplicate
            outcome.readingID = existing
            outcome.reason = "same reading as reading \(existing) (\(key))"
            return outcome
        }
        let readingID = try ReadingRow.insert(
            reading, patientID: patientID, source: inbox.source, inboxID: inbox.id, db)
        // A meal context that came before its measurement (over MQTT) joins it now.
        if reading.kind == .glucose, reading.meal == nil, let sequence = reading.sequence,
            let meal = try pendingContext(device: reading.device, sequence: sequence, readingID: readingID, db)
        {
            try db.cachedStatement(sql: "UPDATE reading SET meal = ? WHERE id = ?").execute(arguments: [
                meal.rawValue, readingID,
            ])
            reading.meal = meal
        }
        outcome.readingID = readingID
        outcome.status = .accepted
        var notes = reading.notes
        if let resetNote { notes.insert(resetNote, at: 0) }
        do {
            outcome.alerts = try StoredAlerts.evaluate(
                reading, id: readingID, patient: patientID, templates: templates, now: clock(), db)
        } catch let error as CarePlanError {
            // The reading stays accepted; the reason says why no alert could be decided.
            notes.append("care plan not evaluated: \(error.description)")
        }
        outcome.reason = notes.isEmpty ? nil : notes.joined(separator: "; ")
        return outcome
    }

    /// How far apart two times of one meter record may be and still be the same record: the
    /// same record published by another path (a hub's app converting the meter's time and
    /// unit) may be off by seconds; a reset meter's record with the same number is days or
    /// months apart.
    static let sameRecordTolerance: Double = 300

    /// Whether a stored glucose reading (`id, measured_at, measured_at_text, glucose`) is the
    /// same meter record as `reading`, which has its sequence number: the same time (within
    /// ``sameRecordTolerance``); without times on either side, the same value.
    static func sameRecord(_ row: Row, _ reading: NormalizedReading) -> Bool {
        let at: Date? = row["measured_at"], text: String? = row["measured_at_text"]
        if let at, let mine = reading.storedMeasuredAt { return abs(at.timeIntervalSince(mine)) <= sameRecordTolerance }
        if text != nil || reading.measuredAtText != nil || at != nil || reading.storedMeasuredAt != nil {
            return text == reading.measuredAtText && at == reading.storedMeasuredAt
        }
        guard let stored: Double = row["glucose"], let value = reading.values[.glucose] else { return false }
        return abs(stored - value) < 0.5
    }

    /// A control-solution test: the meter checked against a solution of known concentration,
    /// not the patient's blood. Kept as a control test (`ccmctl readings controls`), never a
    /// reading, never evaluated.
    private func storeControlTest(
        _ reading: NormalizedReading, device: Device, inbox: InboxRow, outcome: ItemOutcome, _ db: Database
    ) throws -> ItemOutcome {
        var outcome = outcome
        outcome.status = .accepted
        outcome.code = "control_test"
        let key = reading.dedupKey.map { "control|\($0)" }
        if let key,
            let existing = try Int64.fetchOne(
                db.cachedStatement(sql: "SELECT id FROM control_test WHERE dedup_key = ?"), arguments: [key])
        {
            outcome.status = .duplicate
            outcome.reason = "same control-solution test as control test \(existing) (\(key))"
            return outcome
        }
        try db.cachedStatement(
            sql: """
                INSERT INTO control_test (device_id, patient_id, measured_at, received_at, glucose, original_unit, original_value,
                  sample_type, sample_location, flags, seq, source, inbox_id, dedup_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            device.id, device.patientID, reading.storedMeasuredAt, reading.receivedAt, reading.values[.glucose],
            reading.originalUnit.rawValue, reading.originalValues[.glucose], reading.sampleType, reading.sampleLocation,
            ReadingRow.flagText(reading.flags), reading.sequence, inbox.source, inbox.id, key,
        ])
        outcome.reason =
            "control-solution test stored as control test \(db.lastInsertedRowID) (ccmctl readings controls); not the patient's reading, not evaluated"
        return outcome
    }

    func save(_ outcome: ItemOutcome, _ db: Database) throws {
        try db.cachedStatement(
            sql: """
                INSERT OR REPLACE INTO inbox_item (inbox_id, item, status, code, reason, device_id, kind, reading_id, decided_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            outcome.inboxID, outcome.item, outcome.status.rawValue, outcome.code, outcome.reason, outcome.deviceID,
            outcome.kind?.rawValue, outcome.readingID, StoredDate.text(clock()),
        ])
    }
}

extension ItemOutcome {
    init(inboxID: Int64, item: Int, status: ItemStatus) {
        self.init(
            inboxID: inboxID, item: item, status: status, code: nil, reason: nil, deviceID: nil, kind: nil,
            readingID: nil)
    }

    func rejected(_ rejection: Rejection) -> ItemOutcome {
        var copy = self
        copy.status = .rejected
        copy.code = rejection.code.rawValue
        copy.reason = rejection.description
        return copy
    }

}

/// An inbox row as the pipeline reads it.
struct InboxRow {
    var id: Int64
    var receivedAt: Date
    var source: String
    var format: InputFormat
    var hubID: String?
    var payload: Data
    var processedAt: Date?
    var clockOffset: Double?
    /// The input's whole size when `payload` holds only its first bytes.
    var payloadSize: Int?
    /// The meter's record epoch when the value was received (BLE glucose).
    var deviceEpoch: Int?

    /// The input's whole size (larger than `payload` for an overlong line kept in part).
    var size: Int { payloadSize ?? payload.count }

    /// Read by column position (``ColumnRow``): every input is read back once to be decided.
    static func fetch(_ id: Int64, _ db: Database) throws -> InboxRow? {
        let statement = try db.cachedStatement(
            sql:
                "SELECT received_at, source, format, hub_id, payload, processed_at, clock_offset, payload_size, device_epoch FROM inbox WHERE id = ?"
        )
        return try statement.firstRow([id]) { row in
            let formatText = row.string(2)
            guard let format = InputFormat(rawValue: formatText) else {
                throw StoreError(
                    .invalid, "inbox \(id) has format \(formatText), which this version cannot read",
                    fix: "upgrade ccm-gateway")
            }
            return InboxRow(
                id: id, receivedAt: try row.date(0), source: row.string(1), format: format,
                hubID: row.optionalString(3), payload: row.data(4), processedAt: try row.optionalDate(5),
                clockOffset: row.optionalDouble(6), payloadSize: row.optionalInt(7), deviceEpoch: row.optionalInt(8))
        }
    }
}
