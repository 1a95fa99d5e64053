public import Foundation
import GRDB
public import GatewayCore
import Synchronization

/// A patient's care plan as stored: which templates, which overrides.
public struct StoredCarePlan: Sendable, Hashable {
    public var patientID: String
    public var templates: [String]
    public var overrides: [CarePlanOverride]
    /// When monitoring under a plan began: the stale-data clock starts here.
    public var since: Date
    public var updatedAt: Date
    public var updatedBy: String
}

/// The care-plan templates plans are composed from; replaced on reload (SIGHUP).
public final class CarePlanTemplates: Sendable {
    private struct State {
        var templates: [String: CarePlanTemplate]
        /// Composed plans by their stored form (the templates and overrides JSON as stored), so
        /// that evaluating a reading neither decodes nor composes a plan already seen. Emptied
        /// when the templates change; bounded.
        var composed: [String: CarePlan] = [:]
    }

    private let state: Mutex<State>
    static let cacheLimit = 10_000

    public init(_ templates: [String: CarePlanTemplate] = [:]) {
        state = Mutex(State(templates: templates))
    }

    public func replace(with new: [String: CarePlanTemplate]) { state.withLock { $0 = State(templates: new) } }

    public var all: [String: CarePlanTemplate] { state.withLock { $0.templates } }

    /// Composes a stored plan.
    public func compose(_ plan: StoredCarePlan) throws(CarePlanError) -> CarePlan {
        let known = all
        var selected: [CarePlanTemplate] = []
        for name in plan.templates {
            guard let template = known[name] else {
                throw CarePlanError(
                    "unknown template \"\(name)\" in the care plan of \(plan.patientID)",
                    fix: "restore it in the careplans directory or set the plan again")
            }
            selected.append(template)
        }
        return try CarePlan.compose(templates: selected, overrides: plan.overrides)
    }

    /// A patient's composed plan and when it began, or `nil` without one.
    func plan(for patient: String, _ db: Database) throws -> (plan: CarePlan, since: Date)? {
        guard
            let row = try db.cachedStatement(
                sql: "SELECT templates, overrides, since FROM careplan WHERE patient_id = ?"
            )
            .firstRow([patient], { row in (key: row.string(0) + "\u{0}" + row.string(1), since: try row.date(2)) })
        else { return nil }
        let key = row.key
        if let plan = state.withLock({ $0.composed[key] }) { return (plan, row.since) }
        guard let stored = try GatewayDatabase.carePlan(patient, db) else { return nil }
        let plan = try compose(stored)
        state.withLock { state in
            if state.composed.count >= Self.cacheLimit { state.composed.removeAll() }
            state.composed[key] = plan
        }
        return (plan, stored.since)
    }
}

extension GatewayDatabase {
    /// Sets a patient's plan (templates and overrides), replacing the previous one. The caller
    /// has composed it once to check it.
    public func setCarePlan(
        patient: String, templates: [String], overrides: [CarePlanOverride], by actor: String, now: Date = Date()
    ) throws {
        try write { db in
            try Self.requirePatient(patient, db)
            let previous = try Self.carePlan(patient, db)
            try db.cachedStatement(
                sql: """
                    INSERT OR REPLACE INTO careplan (patient_id, templates, overrides, since, updated_at, updated_by)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """
            ).execute(arguments: [
                patient, try JSONColumn.text(templates), try JSONColumn.text(overrides), previous?.since ?? now, now,
                actor,
            ])
            try Audit.record(
                db, actor: actor, action: "careplan.set", entity: "patient", id: patient,
                detail: [
                    "templates": templates.joined(separator: ","),
                    "overrides": overrides.map { "\($0.key)=\($0.value)" }.joined(separator: ","),
                ], at: now)
        }
    }

    public func carePlan(_ patient: String) throws -> StoredCarePlan? {
        try read { try Self.carePlan(patient, $0) }
    }

    static func carePlan(_ patient: String, _ db: Database) throws -> StoredCarePlan? {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM careplan WHERE patient_id = ?"), arguments: [patient])
        else { return nil }
        return StoredCarePlan(
            patientID: row["patient_id"], templates: try JSONColumn.value([String].self, from: row["templates"]),
            overrides: try JSONColumn.value([CarePlanOverride].self, from: row["overrides"]),
            since: row["since"], updatedAt: row["updated_at"], updatedBy: row["updated_by"])
    }
}
