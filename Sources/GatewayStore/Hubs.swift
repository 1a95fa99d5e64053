public import Foundation
import GRDB
public import GatewayCore

/// A hub as the gateway knows it: the broker account that publishes under `PREFIX/hub/ID/`.
public struct Hub: Sendable, Hashable {
    public var id: String
    public var model: String?
    public var createdAt: Date
    public var disabledAt: Date?
    public var disabledBy: String?
    /// When `ccmctl hubs credentials` last made its broker password (the hash is kept, never
    /// the password).
    public var credentialsAt: Date?
    /// The patients the hub may post time entries for.
    public var patients: [String]

    public var enabled: Bool { disabledAt == nil }
}

/// A staff member whose time bills.
public struct StaffMember: Sendable, Hashable {
    public var id: String
    public var role: TimeEntryInput.Role
    public var createdAt: Date
    public var disabledAt: Date?

    public var enabled: Bool { disabledAt == nil }
}

/// Hubs and staff: who may publish and whose time counts. Every change is audited.
extension GatewayDatabase {
    /// Whether hub `id` is registered and enabled, and who disabled it: one row (the pipeline's
    /// hub gate asks it for every input; ``fetchHub(_:_:)`` also reads the hub's patients, and a
    /// hub serving a whole clinic has them by the thousand).
    package static func hubStatus(_ id: String, _ db: Database) throws -> (enabled: Bool, disabledBy: String?)? {
        guard
            let row = try Row.fetchOne(
                db.cachedStatement(sql: "SELECT disabled_at IS NULL, disabled_by FROM hub WHERE id = ?"),
                arguments: [id])
        else { return nil }
        return (row[0], row[1])
    }

    package static func fetchHub(_ id: String, _ db: Database) throws -> Hub? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM hub WHERE id = ?"), arguments: [id])
        else { return nil }
        let patients = try String.fetchAll(
            db.cachedStatement(sql: "SELECT patient_id FROM hub_patient WHERE hub_id = ? ORDER BY patient_id"),
            arguments: [id])
        return Hub(
            id: row["id"], model: row["model"], createdAt: row["created_at"], disabledAt: row["disabled_at"],
            disabledBy: row["disabled_by"],
            credentialsAt: row["credentials_at"], patients: patients)
    }

    /// Registers a hub inside the caller's transaction, or (when it is registered) adds the
    /// given patients and model to it. Returns whether the hub is new.
    @discardableResult
    package static func upsertHub(
        _ id: String, patients: [String], model: String?, by actor: String, _ db: Database
    ) throws -> Bool {
        if let problem = EntityID.problem(id, .hub) { throw StoreError(.invalid, "hub: \(problem)") }
        for patient in patients { try requirePatient(patient, db) }
        let existing = try fetchHub(id, db)
        if existing == nil {
            try db.cachedStatement(sql: "INSERT INTO hub (id, model, created_at) VALUES (?, ?, ?)").execute(arguments: [
                id, model, Date(),
            ])
        } else if let model {
            try db.cachedStatement(sql: "UPDATE hub SET model = ? WHERE id = ?").execute(arguments: [model, id])
        }
        for patient in patients {
            try db.cachedStatement(
                sql: "INSERT OR IGNORE INTO hub_patient (hub_id, patient_id, added_at) VALUES (?, ?, ?)"
            ).execute(
                arguments: [id, patient, Date()])
        }
        var detail = ["patients": patients.joined(separator: ",")]
        detail["model"] = model
        try Audit.record(
            db, actor: actor, action: existing == nil ? "hub.add" : "hub.update", entity: "hub", id: id, detail: detail)
        return existing == nil
    }

    /// Whether `hub` is registered for `patient`: it may post the patient's time, and publish
    /// readings of the patient's devices that are bound to no hub.
    package static func hub(_ hub: String, serves patient: String, _ db: Database) throws -> Bool {
        try Bool.fetchOne(
            db.cachedStatement(sql: "SELECT 1 FROM hub_patient WHERE hub_id = ? AND patient_id = ?"),
            arguments: [hub, patient]) != nil
    }

    /// Registers the hub a device is bound to (`devices add/assign --hub`) when it is not yet:
    /// binding a device to a hub is the operator naming that hub.
    package static func registerHubOfDevice(_ id: String?, by actor: String, _ db: Database) throws {
        guard let id,
            try Bool.fetchOne(db.cachedStatement(sql: "SELECT 1 FROM hub WHERE id = ?"), arguments: [id]) == nil
        else { return }
        try upsertHub(id, patients: [], model: nil, by: actor, db)
    }

    public func hub(_ id: String) throws -> Hub? {
        try read { try Self.fetchHub(id, $0) }
    }

    public func hubs() throws -> [Hub] {
        try read { db in
            try String.fetchAll(db, sql: "SELECT id FROM hub ORDER BY id").compactMap { try Self.fetchHub($0, db) }
        }
    }

    static func requireHub(_ id: String, _ db: Database) throws -> Hub {
        guard let hub = try fetchHub(id, db) else {
            throw StoreError(.notFound, "no hub \(id)", fix: "register it with ccmctl hubs add \(id)")
        }
        return hub
    }

    /// Disables (or enables again) a hub: its inputs are rejected while it is disabled.
    public func setHubEnabled(_ id: String, _ enabled: Bool, by actor: String) throws {
        try write { db in
            let hub = try Self.requireHub(id, db)
            guard hub.enabled != enabled else {
                throw StoreError(.conflict, "hub \(id) is already \(enabled ? "enabled" : "disabled")")
            }
            try db.cachedStatement(sql: "UPDATE hub SET disabled_at = ?, disabled_by = ? WHERE id = ?").execute(
                arguments: [
                    enabled ? nil : Date(), enabled ? nil : actor, id,
                ])
            try Audit.record(
                db, actor: actor, action: enabled ? "hub.enable" : "hub.disable", entity: "hub", id: id, detail: [:])
        }
    }

    /// Removes a hub, or (`patient` given) only its permission to post time for that patient.
    /// A hub still bound to devices cannot be removed (disable it, or move the devices first).
    public func removeHub(_ id: String, patient: String? = nil, by actor: String) throws {
        try write { db in
            let hub = try Self.requireHub(id, db)
            if let patient {
                guard hub.patients.contains(patient) else {
                    throw StoreError(.notFound, "hub \(id) is not registered for patient \(patient)")
                }
                try db.cachedStatement(sql: "DELETE FROM hub_patient WHERE hub_id = ? AND patient_id = ?").execute(
                    arguments: [id, patient])
                try Audit.record(
                    db, actor: actor, action: "hub.remove_patient", entity: "hub", id: id, detail: ["patient": patient])
                return
            }
            let devices = try String.fetchAll(
                db.cachedStatement(sql: "SELECT id FROM device WHERE hub_id = ? ORDER BY id"), arguments: [id])
            if !devices.isEmpty {
                throw StoreError(
                    .conflict,
                    "hub \(id) is bound to device\(devices.count == 1 ? "" : "s") \(devices.joined(separator: ", ")); disable it with ccmctl hubs disable \(id), or move the devices with ccmctl devices assign DEVICE --patient P --hub OTHER"
                )
            }
            try db.cachedStatement(sql: "DELETE FROM hub_patient WHERE hub_id = ?").execute(arguments: [id])
            try db.cachedStatement(sql: "DELETE FROM hub WHERE id = ?").execute(arguments: [id])
            try Audit.record(db, actor: actor, action: "hub.remove", entity: "hub", id: id, detail: [:])
        }
    }

    /// Keeps the hash of the hub's new broker password (the plain password is never stored).
    public func setHubCredentials(_ id: String, passwordHash: String, by actor: String) throws {
        try write { db in
            _ = try Self.requireHub(id, db)
            let rotated =
                try String.fetchOne(
                    db.cachedStatement(sql: "SELECT password_hash FROM hub WHERE id = ?"), arguments: [id]) != nil
            try db.cachedStatement(sql: "UPDATE hub SET password_hash = ?, credentials_at = ? WHERE id = ?").execute(
                arguments: [
                    passwordHash, Date(), id,
                ])
            try Audit.record(
                db, actor: actor, action: rotated ? "hub.credentials.rotate" : "hub.credentials.create", entity: "hub",
                id: id, detail: [:])
        }
    }

    /// The stored hash of a hub's broker password (`$7$...`), if any.
    public func hubPasswordHash(_ id: String) throws -> String? {
        try read {
            try String.fetchOne($0.cachedStatement(sql: "SELECT password_hash FROM hub WHERE id = ?"), arguments: [id])
        }
    }

    // MARK: Staff

    static func fetchStaff(_ id: String, _ db: Database) throws -> StaffMember? {
        guard let row = try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM staff WHERE id = ?"), arguments: [id])
        else { return nil }
        return StaffMember(
            id: row["id"], role: TimeEntryInput.Role(rawValue: row["role"]) ?? .clinicalStaff,
            createdAt: row["created_at"],
            disabledAt: row["disabled_at"])
    }

    /// Registers a staff member whose time bills.
    public func addStaff(_ id: String, role: TimeEntryInput.Role, by actor: String) throws {
        try write { db in
            guard !id.isEmpty, id.count <= 64, !id.unicodeScalars.contains(where: DisplayText.needsEscape) else {
                throw StoreError(.invalid, "staff: a staff name is 1 to 64 characters without control characters")
            }
            if try Self.fetchStaff(id, db) != nil {
                throw StoreError(.conflict, "staff \(id) already exists", fix: "list staff with ccmctl staff list")
            }
            try db.cachedStatement(sql: "INSERT INTO staff (id, role, created_at) VALUES (?, ?, ?)").execute(
                arguments: [
                    id, role.rawValue, Date(),
                ])
            try Audit.record(
                db, actor: actor, action: "staff.add", entity: "staff", id: id, detail: ["role": role.rawValue])
        }
    }

    /// Disables a staff member: time entries naming them are rejected from now on (entries
    /// already in the ledger stay).
    public func disableStaff(_ id: String, by actor: String) throws {
        try write { db in
            guard let member = try Self.fetchStaff(id, db) else {
                throw StoreError(.notFound, "no staff \(id)", fix: "list staff with ccmctl staff list")
            }
            guard member.enabled else { throw StoreError(.conflict, "staff \(id) is already disabled") }
            try db.cachedStatement(sql: "UPDATE staff SET disabled_at = ?, disabled_by = ? WHERE id = ?").execute(
                arguments: [
                    Date(), actor, id,
                ])
            try Audit.record(db, actor: actor, action: "staff.disable", entity: "staff", id: id, detail: [:])
        }
    }

    public func staff() throws -> [StaffMember] {
        try read { db in
            try String.fetchAll(db, sql: "SELECT id FROM staff ORDER BY id").compactMap { try Self.fetchStaff($0, db) }
        }
    }

    public func staffMember(_ id: String) throws -> StaffMember? {
        try read { try Self.fetchStaff(id, $0) }
    }

    /// Why a time entry by `staff` in `role` cannot bill, with the fix; `nil` when it can.
    package static func staffProblem(
        _ staff: String, role: TimeEntryInput.Role, _ db: Database
    ) throws -> (field: String, message: String)? {
        guard let member = try fetchStaff(staff, db) else {
            return (
                "staff",
                "unknown staff \(staff); only registered staff's time bills: register them with ccmctl staff add \(staff) --role \(role.rawValue)"
            )
        }
        guard member.enabled else {
            return (
                "staff",
                "staff \(staff) is disabled; their time does not bill (ask the practice administrator if this is wrong)"
            )
        }
        guard member.role == role else {
            return (
                "role",
                "staff \(staff) is registered as \(member.role.rawValue), not \(role.rawValue); record the time with role \(member.role.rawValue)"
            )
        }
        return nil
    }
}
