public import Foundation
import GRDB
public import GatewayCore

extension StoredAlert {
    init(_ row: Row) {
        self.init(
            id: row["id"], patientID: row["patient_id"], ruleID: row["rule_id"], title: row["title"],
            level: AlertLevel(rawValue: row["level"]) ?? .urgent, state: AlertState(rawValue: row["state"]) ?? .open,
            openedAt: row["opened_at"], updatedAt: row["updated_at"], count: row["count"],
            firstValue: row["first_value"],
            lastValue: row["last_value"], threshold: row["threshold"], lastReadingID: row["last_reading_id"],
            lastSeenAt: row["last_seen_at"], inRangeSince: row["in_range_since"], resolveAfter: row["resolve_after"],
            silencedLevel: (row["silenced_level"] as String?).flatMap(AlertLevel.init(rawValue:)),
            ackedBy: row["acked_by"],
            ackedAt: row["acked_at"], ackNote: row["ack_note"], ackMinutes: row["ack_minutes"],
            snoozedUntil: row["snoozed_until"],
            snoozedBy: row["snoozed_by"], resolvedAt: row["resolved_at"], resolvedBy: row["resolved_by"])
    }
}

extension GatewayDatabase {
    /// Runs the alert timer once (the daemon calls it every `alerts.check_interval`).
    public func alertTick(
        templates: CarePlanTemplates, now: Date = Date()
    ) throws -> (events: [AlertEvent], problems: [String]) {
        try write { db in try StoredAlerts.tick(templates: templates, now: now, db) }
    }

    /// Alerts, newest first.
    public func alerts(openOnly: Bool = false, patient: String? = nil, limit: Int = 200) throws -> [StoredAlert] {
        try read { db in
            var clauses: [String] = []
            var arguments: StatementArguments = []
            if openOnly { clauses.append("state != 'resolved'") }
            if let patient {
                clauses.append("patient_id = ?")
                arguments += [patient]
            }
            var sql = "SELECT * FROM alert"
            if !clauses.isEmpty { sql += " WHERE " + clauses.joined(separator: " AND ") }
            sql += " ORDER BY id DESC LIMIT ?"
            arguments += [limit]
            return try Row.fetchAll(db, sql: sql, arguments: arguments).map(StoredAlert.init)
        }
    }

    public func alert(_ id: Int64) throws -> StoredAlert? {
        try read {
            try Row.fetchOne($0.cachedStatement(sql: "SELECT * FROM alert WHERE id = ?"), arguments: [id]).map(
                StoredAlert.init)
        }
    }

    private static func openAlert(_ id: Int64, verb: String, _ db: Database) throws -> StoredAlert {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM alert WHERE id = ?"), arguments: [id])
        else {
            throw StoreError(.notFound, "no alert \(id)", fix: "list alerts with ccmctl alerts list")
        }
        let alert = StoredAlert(row)
        guard alert.state != .resolved else {
            throw StoreError(
                .conflict, "alert \(id) is resolved (by \(alert.resolvedBy ?? "?"))", fix: "there is nothing to \(verb)"
            )
        }
        return alert
    }

    /// Acknowledges an alert: it stays open for its rule, silent at its level and below, until it
    /// escalates or resolves. Minutes of monitoring time go to the CCM ledger in the same
    /// transaction, as an `alert` entry ending now: in `program` (by default RPM when the patient
    /// is enrolled in it, else CCM, else PCM), by `actor`, who must be registered staff, in
    /// `role` (default: theirs), interactive when the acknowledgement included a call.
    public func acknowledge(
        _ id: Int64, by actor: String, minutes: Int? = nil, note: String? = nil, now: Date = Date(),
        program: TimeEntryInput.Program? = nil,
        role: TimeEntryInput.Role? = nil, interactive: Bool = false
    ) throws -> [AlertEvent] {
        try write { db in
            let alert = try Self.openAlert(id, verb: "acknowledge", db)
            if let minutes {
                // The minutes are the acting operator's: they must be registered staff (in
                // their registered role unless `role` says otherwise, which must match).
                let role = try role ?? Self.fetchStaff(actor, db)?.role ?? .clinicalStaff
                let enrolled = try Patient.fetchOne(db, key: alert.patientID)?.programs ?? []
                let chosen = program ?? [.rpm, .ccm, .pcm].first(where: enrolled.contains) ?? .ccm
                let entry = TimeEntryInput(
                    patientID: alert.patientID, start: now.addingTimeInterval(-Double(minutes) * 60), minutes: minutes,
                    staff: actor,
                    role: role, program: chosen, activity: .alert, interactive: interactive, note: note)
                _ = try Self.insertTimeEntry(entry, source: "alert:\(id)", by: actor, db)
            }
            let (acknowledged, event) = AlertBook.acknowledged(alert, by: actor, minutes: minutes, note: note, at: now)
            try db.cachedStatement(
                sql: """
                    UPDATE alert SET state = ?, silenced_level = ?, acked_by = ?, acked_at = ?, ack_note = ?,
                      ack_minutes = ?, snoozed_until = NULL, snoozed_by = NULL, updated_at = ? WHERE id = ?
                    """
            ).execute(arguments: [
                acknowledged.state.rawValue, acknowledged.silencedLevel?.rawValue, actor, now, note, minutes, now, id,
            ])
            var detail = ["level": alert.level.rawValue]
            detail["minutes"] = minutes.map(String.init)
            detail["note"] = note
            try Audit.record(
                db, actor: actor, action: "alert.acknowledge", entity: "alert", id: "\(id)", detail: detail, at: now)
            return [try StoredAlerts.record(event, db)]
        }
    }

    /// Snoozes an alert for `duration` seconds: silent at its level and below until then.
    public func snooze(_ id: Int64, for duration: Double, by actor: String, now: Date = Date()) throws -> [AlertEvent] {
        try write { db in
            let alert = try Self.openAlert(id, verb: "snooze", db)
            let until = now.addingTimeInterval(duration)
            let (snoozed, event) = AlertBook.snoozed(alert, until: until, by: actor, at: now)
            try db.cachedStatement(
                sql:
                    "UPDATE alert SET state = ?, silenced_level = ?, snoozed_until = ?, snoozed_by = ?, updated_at = ? WHERE id = ?"
            ).execute(arguments: [
                snoozed.state.rawValue, snoozed.silencedLevel?.rawValue, until, actor, now, id,
            ])
            try Audit.record(
                db, actor: actor, action: "alert.snooze", entity: "alert", id: "\(id)",
                detail: ["until": RFC3339.format(until), "level": alert.level.rawValue], at: now)
            return [try StoredAlerts.record(event, db)]
        }
    }

    /// Resolves an alert by hand.
    public func resolve(_ id: Int64, by actor: String, note: String? = nil, now: Date = Date()) throws -> [AlertEvent] {
        try write { db in
            let alert = try Self.openAlert(id, verb: "resolve", db)
            return [try StoredAlerts.resolve(alert, by: actor, note: note, now: now, db)]
        }
    }
}

/// The alert lifecycle inside a write transaction: findings in, events out. ``AlertBook`` (GatewayCore)
/// decides each step; this reads the alerts and the readings it needs and writes what it decided.
/// Every event is stored in the outbox (``record(_:_:)``) in the same transaction.
package enum StoredAlerts {
    /// Applies rule findings for a patient. `seenAt` is when the data that produced them was
    /// measured (a reading's effective time, or now for stale data); `fromTimer` findings do not
    /// count as repeats.
    static func apply(
        _ findings: [Finding], patient: String, seenAt: Date, now: Date, fromTimer: Bool, _ db: Database
    ) throws -> [AlertEvent] {
        var events: [AlertEvent] = []
        guard !findings.isEmpty else { return events }
        // Dates are bound as text written by StoredDate, not as `Date` (GRDB formats those
        // through ICU's DateFormatter: 2 % of a reading that raises an alert, perf).
        let stamp = StoredDate.text(now)
        // The patient's alerts not resolved, read once for all findings (one per rule): most
        // readings find none, and a look-up per rule was a tenth of deciding a reading.
        // Whether there are any is asked first, without a `Row` (whose set-up for the alert
        // table's 25 columns cost more than the query; ``ColumnRow``).
        var unresolved: [String: StoredAlert] = [:]
        let any = try db.cachedStatement(
            sql: "SELECT 1 FROM alert WHERE patient_id = ? AND state != 'resolved' LIMIT 1"
        ).firstRow([patient]) { _ in true }
        if any == true {
            for row in try Row.fetchAll(
                db.cachedStatement(sql: "SELECT * FROM alert WHERE patient_id = ? AND state != 'resolved'"),
                arguments: [patient])
            {
                let alert = StoredAlert(row)
                unresolved[alert.ruleID] = alert
            }
        }
        for finding in findings {
            switch AlertBook.step(
                finding, existing: unresolved[finding.ruleID], seenAt: seenAt, now: now, fromTimer: fromTimer)
            {
            case .none:
                continue
            case .inRange(let alert, let changed, let resolves):
                if changed {
                    try db.cachedStatement(sql: "UPDATE alert SET in_range_since = ?, updated_at = ? WHERE id = ?")
                        .execute(arguments: [alert.inRangeSince.map(StoredDate.text), stamp, alert.id])
                }
                unresolved[finding.ruleID] = alert
                if resolves {
                    events.append(try resolve(alert, by: "auto", note: AlertBook.autoResolveNote(alert), now: now, db))
                }
            case .raise(let level):
                try db.cachedStatement(
                    sql: """
                        INSERT INTO alert (patient_id, rule_id, title, level, state, opened_at, updated_at, count, first_value,
                          last_value, threshold, last_reading_id, last_seen_at, resolve_after)
                        VALUES (?, ?, ?, ?, 'open', ?, ?, 1, ?, ?, ?, ?, ?, ?)
                        """
                ).execute(arguments: [
                    patient, finding.ruleID, finding.title, level.rawValue, stamp, stamp, finding.value, finding.value,
                    finding.threshold, finding.readingID, StoredDate.text(seenAt), finding.resolveAfter,
                ])
                let id = db.lastInsertedRowID
                unresolved[finding.ruleID] = try Row.fetchOne(
                    db.cachedStatement(sql: "SELECT * FROM alert WHERE id = ?"), arguments: [id]
                )
                .map(StoredAlert.init)
                try Audit.record(
                    db, actor: "gateway", action: "alert.raise", entity: "alert", id: "\(id)",
                    detail: ["patient": patient, "rule": finding.ruleID, "level": level.rawValue], at: now)
                events.append(
                    try record(AlertBook.raised(finding, level: level, id: id, patient: patient, at: now), db))
            case .refresh(let value):
                guard let alert = unresolved[finding.ruleID] else { continue }
                try db.cachedStatement(
                    sql: "UPDATE alert SET last_value = ?, in_range_since = NULL, updated_at = ? WHERE id = ?"
                ).execute(
                    arguments: [value, stamp, alert.id])
            case .repeated(let alert, let announce):
                try db.cachedStatement(
                    sql: """
                        UPDATE alert SET count = ?, last_value = ?, threshold = ?, last_reading_id = ?, last_seen_at = ?,
                          in_range_since = ?, level = ?, state = ?, silenced_level = ?, updated_at = ?
                        WHERE id = ?
                        """
                ).execute(arguments: [
                    alert.count, alert.lastValue, alert.threshold, alert.lastReadingID,
                    StoredDate.text(alert.lastSeenAt),
                    alert.inRangeSince.map(StoredDate.text),
                    alert.level.rawValue, alert.state.rawValue, alert.silencedLevel?.rawValue, stamp, alert.id,
                ])
                unresolved[finding.ruleID] = alert
                if let announce {
                    try Audit.record(
                        db, actor: "gateway",
                        action: announce.kind == .escalated ? "alert.escalate" : "alert.snooze_end", entity: "alert",
                        id: "\(alert.id)", detail: ["level": alert.level.rawValue], at: now)
                    events.append(try record(announce, db))
                }
            }
        }
        return events
    }

    static func resolve(
        _ alert: StoredAlert, by actor: String, note: String?, now: Date, _ db: Database
    ) throws -> AlertEvent {
        let (resolved, event) = AlertBook.resolved(alert, by: actor, note: note, at: now)
        let stamp = StoredDate.text(now)
        try db.cachedStatement(
            sql: "UPDATE alert SET state = ?, resolved_at = ?, resolved_by = ?, updated_at = ? WHERE id = ?"
        ).execute(
            arguments: [
                resolved.state.rawValue, stamp, actor, stamp, alert.id,
            ])
        var detail = ["level": alert.level.rawValue]
        detail["note"] = note
        try Audit.record(
            db, actor: actor, action: "alert.resolve", entity: "alert", id: "\(alert.id)", detail: detail, at: now)
        return try record(event, db)
    }

    /// Evaluates only the meal-context rules for a stored reading whose meal just became known
    /// (the other rules saw it when it was stored).
    package static func evaluateMealRules(
        _ reading: StoredReading, templates: CarePlanTemplates, now: Date, _ db: Database
    ) throws -> [AlertEvent] {
        guard var plan = try templates.plan(for: reading.patientID, db)?.plan else { return [] }
        plan.rules = plan.rules.filter { $0.rule.meals != nil }
        return try evaluate(
            reading.kind, values: reading.values, meal: reading.meal, flags: reading.flags, at: reading.effectiveAt,
            windowed: reading.windowed,
            id: reading.id, patient: reading.patientID, plan: plan, now: now, db)
    }

    /// Evaluates a just-stored reading against the patient's plan.
    package static func evaluate(
        _ reading: NormalizedReading, id: Int64, patient: String, templates: CarePlanTemplates, now: Date,
        _ db: Database
    ) throws -> [AlertEvent] {
        guard let plan = try templates.plan(for: patient, db)?.plan else { return [] }
        return try evaluate(
            reading.kind, values: reading.values, meal: reading.meal, flags: reading.flags, at: reading.effectiveAt,
            windowed: reading.windowed,
            id: id, patient: patient, plan: plan, now: now, db)
    }

    /// Evaluates a reading against `plan`, with the patient's earlier readings that rules over a
    /// window or the last N readings need. A reading that is not `windowed` (its time is not
    /// known) meets only the rules that look at it alone; readings that are not windowed are
    /// never part of another reading's history. A blood-pressure reading the cuff flagged as
    /// unreliable (body movement, loose cuff, improper position) meets no threshold, n-of-m or
    /// average rule; only its irregular-pulse flag and the stale rules look at it.
    ///
    /// Readings are placed by their device time (`effective_at`), never by the order they
    /// arrived in: MQTT lanes, a hub's retry or a backlog can deliver a patient's readings in any
    /// order. A reading's history is what was measured before it; and a reading measured before
    /// readings that are already stored (it arrived after them) is part of their history too, so
    /// those (at most ``overtakenLimit``) are evaluated again with it, raising or escalating what
    /// they would have raised had it come first. Repeats of an open alert are not counted twice.
    package static func evaluate(
        _ kind: ReadingKind, values: [Quantity: Double], meal: MealContext?, flags: [ReadingFlag], at: Date,
        windowed: Bool, id: Int64,
        patient: String, plan: CarePlan, now: Date, _ db: Database
    ) throws -> [AlertEvent] {
        var plan = plan
        if kind == .bloodPressure, flags.contains(where: \.makesUnreliable) {
            plan.rules = plan.rules.filter { $0.rule.type == .irregularPulse || $0.rule.type == .stale }
        }
        if !windowed {
            plan.rules = plan.rules.filter {
                $0.rule.type == .threshold || $0.rule.type == .stale || $0.rule.type == .irregularPulse
            }
        }
        guard !plan.rules(for: kind).isEmpty else { return [] }
        let needs = Evaluator.historyNeeds(plan, kind: kind)
        let reading = Observation(readingID: id, at: at, values: values, meal: meal, flags: Set(flags))
        let history = try self.history(needs, kind: kind, patient: patient, before: reading, db)
        let findings = Evaluator.evaluate(plan, kind: kind, reading: reading, history: history)
        var events = try apply(findings, patient: patient, seenAt: at, now: now, fromTimer: false, db)
        guard windowed, !needs.isEmpty else { return events }
        // A later reading the cuff flagged as unreliable met no windowed rule; it does not now either.
        for later in try overtaken(needs, kind: kind, patient: patient, by: reading, db)
        where !(kind == .bloodPressure && later.flags.contains(where: \.makesUnreliable)) {
            let history = try self.history(needs, kind: kind, patient: patient, before: later, db)
            let findings = Evaluator.evaluate(plan, kind: kind, reading: later, history: history)
            events += try raiseOnly(findings, patient: patient, seenAt: later.at, now: now, db)
        }
        return events
    }

    /// At most this many stored readings are evaluated again when an earlier-measured reading
    /// arrives after them (a reordering bounded by the lanes and a hub's retries, not by history).
    static let overtakenLimit = 64

    /// The windowed readings of a patient and a kind before a time: the start of every history
    /// query. Only windowed readings are looked at, through an index of them alone
    /// (`reading_windowed_history`, named: SQLite finds it and `reading_patient_kind_time` equally
    /// good): readings with unknown times, however many a runaway clock sent, are never walked over.
    static let historyQuery =
        "SELECT \(ReadingRow.observationColumns) FROM reading INDEXED BY reading_windowed_history WHERE patient_id = ? AND kind = ? AND id != ? AND windowed AND effective_at <= ?"
    /// The windowed readings of a patient and a kind after a time (``overtaken(_:kind:patient:by:_:)``).
    static let overtakenQuery =
        "SELECT \(ReadingRow.observationColumns) FROM reading INDEXED BY reading_windowed_history WHERE patient_id = ? AND kind = ? AND windowed AND effective_at > ?"

    /// The patient's windowed readings of `kind` measured before `reading` (or at its time) that
    /// `needs` ask for, oldest first.
    static func history(
        _ needs: [Evaluator.HistoryNeed], kind: ReadingKind, patient: String, before reading: Observation,
        _ db: Database
    ) throws -> [Observation] {
        var observations: [Observation] = []
        let id = reading.readingID ?? 0
        for need in needs {
            var sql = historyQuery
            var arguments: StatementArguments = [patient, kind.rawValue, id, StoredDate.text(reading.at)]
            if let meals = need.meals {
                sql += " AND COALESCE(meal, 'unknown') IN (\(meals.map { _ in "?" }.joined(separator: ", ")))"
                for meal in meals.sorted(by: { $0.rawValue < $1.rawValue }) { arguments += [meal.rawValue] }
            }
            if need.window > 0 {
                observations += try ReadingRow.observations(
                    db.cachedStatement(sql: sql + " AND effective_at >= ?"),
                    arguments + [StoredDate.text(reading.at.addingTimeInterval(-need.window))])
            }
            if need.count > 0 {
                observations += try ReadingRow.observations(
                    db.cachedStatement(sql: sql + " ORDER BY effective_at DESC, id DESC LIMIT ?"),
                    arguments + [need.count])
            }
        }
        var seen: Set<Int64> = []
        return observations.filter { seen.insert($0.readingID ?? 0).inserted }
            .sorted { ($0.at, $0.readingID ?? 0) < ($1.at, $1.readingID ?? 0) }
    }

    /// Stored windowed readings measured after `reading` whose history `needs` would include it:
    /// within the longest window after it, or among the next `count` readings. Oldest first.
    /// Nothing when readings arrive in the order they were measured (the usual case: one
    /// indexed look-up that finds no row).
    static func overtaken(
        _ needs: [Evaluator.HistoryNeed], kind: ReadingKind, patient: String, by reading: Observation, _ db: Database
    ) throws -> [Observation] {
        let window = needs.map(\.window).max() ?? 0
        let count = min(needs.map(\.count).max() ?? 0, overtakenLimit)
        let sql = overtakenQuery
        let arguments: StatementArguments = [patient, kind.rawValue, StoredDate.text(reading.at)]
        var observations: [Observation] = []
        if window > 0 {
            observations += try ReadingRow.observations(
                db.cachedStatement(sql: sql + " AND effective_at <= ? ORDER BY effective_at, id LIMIT ?"),
                arguments + [StoredDate.text(reading.at.addingTimeInterval(window)), overtakenLimit])
        }
        if count > 0 {
            observations += try ReadingRow.observations(
                db.cachedStatement(sql: sql + " ORDER BY effective_at, id LIMIT ?"), arguments + [count])
        }
        var seen: Set<Int64> = []
        return observations.filter { seen.insert($0.readingID ?? 0).inserted }
            .sorted { ($0.at, $0.readingID ?? 0) < ($1.at, $1.readingID ?? 0) }
            .prefix(overtakenLimit).map { $0 }
    }

    /// Applies the findings of a reading evaluated again (an earlier reading arrived after it):
    /// only what raises a new alert or escalates an open one. Its repeats and its in-range
    /// findings were counted when it was first evaluated.
    static func raiseOnly(
        _ findings: [Finding], patient: String, seenAt: Date, now: Date, _ db: Database
    ) throws -> [AlertEvent] {
        var raising: [Finding] = []
        for finding in findings where finding.level != nil {
            let open = try String.fetchOne(
                db.cachedStatement(
                    sql: "SELECT level FROM alert WHERE patient_id = ? AND rule_id = ? AND state != 'resolved'"),
                arguments: [patient, finding.ruleID]
            ).flatMap(AlertLevel.init(rawValue:))
            if AlertBook.raisesOrEscalates(finding, open: open) { raising.append(finding) }
        }
        return raising.isEmpty
            ? [] : try apply(raising, patient: patient, seenAt: seenAt, now: now, fromTimer: false, db)
    }

    /// The timer's work at `now`: stale-data alerts, auto-resolution after enough time in range,
    /// and snoozes that ended while the patient is still out of range.
    static func tick(
        templates: CarePlanTemplates, now: Date, _ db: Database
    ) throws -> (events: [AlertEvent], problems: [String]) {
        var events: [AlertEvent] = []
        var problems: [String] = []
        for patient in try String.fetchAll(
            db.cachedStatement(sql: "SELECT patient_id FROM careplan ORDER BY patient_id"))
        {
            let plan: CarePlan, since: Date
            do {
                guard let found = try templates.plan(for: patient, db) else { continue }
                (plan, since) = found
            } catch let error as CarePlanError {
                problems.append(error.description)
                continue
            }
            guard plan.rules.contains(where: { $0.rule.type == .stale }) else { continue }
            var last: [ReadingKind: Date] = [:]
            for row in try Row.fetchAll(
                db.cachedStatement(
                    sql: "SELECT kind, MAX(effective_at) AS at FROM reading WHERE patient_id = ? GROUP BY kind"),
                arguments: [patient])
            {
                if let kind = ReadingKind(rawValue: row["kind"]) { last[kind] = row["at"] }
            }
            let findings = Evaluator.stale(plan, lastReadingAt: last, planSince: since, now: now)
            events += try apply(findings, patient: patient, seenAt: now, now: now, fromTimer: true, db)
        }
        for row in try Row.fetchAll(
            db.cachedStatement(sql: "SELECT * FROM alert WHERE state != 'resolved' AND in_range_since IS NOT NULL"))
        {
            let alert = StoredAlert(row)
            if AlertBook.resolvesItself(alert, now: now) {
                events.append(try resolve(alert, by: "auto", note: AlertBook.autoResolveNote(alert), now: now, db))
            }
        }
        for row in try Row.fetchAll(
            db.cachedStatement(sql: "SELECT * FROM alert WHERE state = 'snoozed' AND snoozed_until <= ?"),
            arguments: [now])
        {
            let (alert, announce) = AlertBook.snoozeEnded(StoredAlert(row), now: now)
            try db.cachedStatement(
                sql: "UPDATE alert SET state = 'open', silenced_level = NULL, updated_at = ? WHERE id = ?"
            ).execute(
                arguments: [now, alert.id])
            try Audit.record(
                db, actor: "gateway", action: "alert.snooze_end", entity: "alert", id: "\(alert.id)",
                detail: ["level": alert.level.rawValue], at: now)
            if let announce { events.append(try record(announce, db)) }
        }
        return (events, problems)
    }
}
