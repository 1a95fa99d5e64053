import Foundation
public import GRDB
public import GatewayCore

// Patients and devices are GRDB records of their tables: `Patient.fetchOne(db, key: id)`,
// `Device.exists(db, key: id)`.
extension Patient: FetchableRecord, TableRecord {
    public static let databaseTableName = "patient"

    /// Read column by column rather than through `Decodable` with snake-case keys, which cost
    /// about 50 µs a patient (the month summary reads every patient). A value this version cannot
    /// read is an error naming the patient and the column.
    public init(row: Row) throws {
        let id: String = try row.decode(forColumn: "id")
        func list<T: Decodable>(_ column: String, _ make: (String) -> T?) throws -> [T] {
            let text: String = try row.decode(forColumn: column)
            if let plain = JSONColumn.plainStrings(text) {
                let values = plain.compactMap(make)
                if values.count == plain.count { return values }
            }
            do { return try JSONColumn.value([T].self, from: text) } catch {
                throw StoreError(.invalid, "patient \(id): \(column) cannot be read (\(error))")
            }
        }
        func date(_ column: String) throws -> LocalDate? {
            guard let text: String = try row.decode(forColumn: column) else { return nil }
            guard let date = LocalDate(text) else {
                throw StoreError(.invalid, "patient \(id): \(column) \(text) is not a date (YYYY-MM-DD)")
            }
            return date
        }
        let complexityText: String = try row.decode(forColumn: "complexity")
        guard let complexity = Complexity(rawValue: complexityText) else {
            throw StoreError(.invalid, "patient \(id): complexity \(complexityText) is not one this version knows")
        }
        self.init(
            id: id, name: try row.decode(forColumn: "name"), timeZone: try row.decode(forColumn: "time_zone"),
            conditions: try list("conditions") { $0 }, medications: try list("medications") { $0 },
            medicarePartB: try row.decode(forColumn: "medicare_part_b"), ccmConsentDate: try date("ccm_consent_date"),
            complexity: complexity,
            programs: try list("programs", TimeEntryInput.Program.init(rawValue:)), rpmStart: try date("rpm_start"))
    }
}

extension Device: FetchableRecord, TableRecord {
    public static let databaseTableName = "device"

    /// The device `id`, through a cached statement read by column position (``ColumnRow``):
    /// every reading looks its device up; `fetchOne(db, key:)` builds its SQL anew each time,
    /// and a `Row` costs more than the look-up.
    package static func fetch(_ id: String, _ db: Database) throws -> Device? {
        try db.cachedStatement(sql: "SELECT id, kind, ble_address, model, patient_id, hub_id FROM device WHERE id = ?")
            .firstRow([id]) { row in
                let id = row.string(0)
                let kindText = row.string(1)
                guard let kind = DeviceKind(rawValue: kindText) else {
                    throw StoreError(.invalid, "device \(id): kind \(kindText) is not one this version knows")
                }
                return Device(
                    id: id, kind: kind, bleAddress: row.optionalString(2), model: row.optionalString(3),
                    patientID: row.optionalString(4), hubID: row.optionalString(5))
            }
    }

    /// Read column by column, not through `Decodable` (every reading looks its device up).
    public init(row: Row) throws {
        let id: String = try row.decode(forColumn: "id")
        let kindText: String = try row.decode(forColumn: "kind")
        guard let kind = DeviceKind(rawValue: kindText) else {
            throw StoreError(.invalid, "device \(id): kind \(kindText) is not one this version knows")
        }
        self.init(
            id: id, kind: kind, bleAddress: try row.decode(forColumn: "ble_address"),
            model: try row.decode(forColumn: "model"), patientID: try row.decode(forColumn: "patient_id"),
            hubID: try row.decode(forColumn: "hub_id"))
    }
}

/// Patients and devices: who a reading belongs to. Every change is audited.
extension GatewayDatabase {
    /// Adds a patient; fails if the id is taken.
    public func addPatient(_ patient: Patient, by actor: String) throws {
        try write { db in
            if try Patient.exists(db, key: patient.id) {
                throw StoreError(
                    .conflict, "patient \(patient.id) already exists",
                    fix: "use ccmctl patients show \(patient.id) to see it")
            }
            try Self.insert(patient, db)
            try Audit.record(
                db, actor: actor, action: "patient.add", entity: "patient", id: patient.id,
                detail: Self.auditDetail(patient))
        }
    }

    /// Adds or replaces patients in one transaction (a roster import). Returns (added, updated).
    public func importPatients(_ patients: [Patient], by actor: String) throws -> (added: Int, updated: Int) {
        try write { db in
            var added = 0
            var updated = 0
            for patient in patients {
                if try Patient.exists(db, key: patient.id) {
                    try Self.update(patient, db)
                    try Audit.record(
                        db, actor: actor, action: "patient.import.update", entity: "patient", id: patient.id,
                        detail: Self.auditDetail(patient))
                    updated += 1
                } else {
                    try Self.insert(patient, db)
                    try Audit.record(
                        db, actor: actor, action: "patient.import.add", entity: "patient", id: patient.id,
                        detail: Self.auditDetail(patient)
                    )
                    added += 1
                }
            }
            return (added, updated)
        }
    }

    private static func insert(_ patient: Patient, _ db: Database) throws {
        let now = Date()
        try db.cachedStatement(
            sql: """
                INSERT INTO patient (id, name, time_zone, conditions, medications, medicare_part_b, ccm_consent_date,
                  complexity, programs, rpm_start, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            patient.id, patient.name, patient.timeZone, try JSONColumn.text(patient.conditions),
            try JSONColumn.text(patient.medications),
            patient.medicarePartB, patient.ccmConsentDate?.description, patient.complexity.rawValue,
            try JSONColumn.text(patient.programs.map(\.rawValue)), patient.rpmStart?.description, now, now,
        ])
    }

    private static func update(_ patient: Patient, _ db: Database) throws {
        try db.cachedStatement(
            sql: """
                UPDATE patient SET name = ?, time_zone = ?, conditions = ?, medications = ?, medicare_part_b = ?,
                  ccm_consent_date = ?, complexity = ?, programs = ?, rpm_start = ?, updated_at = ? WHERE id = ?
                """
        ).execute(arguments: [
            patient.name, patient.timeZone, try JSONColumn.text(patient.conditions),
            try JSONColumn.text(patient.medications),
            patient.medicarePartB,
            patient.ccmConsentDate?.description, patient.complexity.rawValue,
            try JSONColumn.text(patient.programs.map(\.rawValue)),
            patient.rpmStart?.description, Date(), patient.id,
        ])
    }

    /// Changes a patient's facts (`ccmctl patients set`): `change` edits the stored patient.
    @discardableResult
    public func updatePatient(
        _ id: String, by actor: String, _ change: (inout Patient) throws -> Void
    ) throws -> Patient {
        try write { db in
            guard var patient = try Patient.fetchOne(db, key: id) else {
                throw StoreError(.notFound, "no patient \(id)", fix: "list patients with ccmctl patients list")
            }
            try change(&patient)
            try Self.update(patient, db)
            try Audit.record(
                db, actor: actor, action: "patient.update", entity: "patient", id: id, detail: Self.auditDetail(patient)
            )
            return patient
        }
    }

    /// The audit detail of a patient: ids and billing facts, never the name.
    private static func auditDetail(_ patient: Patient) -> [String: String] {
        [
            "time_zone": patient.timeZone, "conditions": patient.conditions.joined(separator: ","),
            "medicare_part_b": String(patient.medicarePartB),
            "ccm_consent_date": patient.ccmConsentDate?.description ?? "",
            "complexity": patient.complexity.rawValue, "medications": String(patient.medications.count),
            "programs": patient.programs.map(\.rawValue).joined(separator: ","),
            "rpm_start": patient.rpmStart?.description ?? "",
        ]
    }

    public func patient(_ id: String) throws -> Patient? {
        try read { try Patient.fetchOne($0, key: id) }
    }

    public func patients() throws -> [Patient] {
        try read { try Patient.fetchAll($0, sql: "SELECT * FROM patient ORDER BY id") }
    }

    // MARK: Devices

    /// Registers a device inside the caller's transaction (``Pipeline/addDevice(_:by:)`` replays
    /// its quarantined readings in the same one).
    package static func insertDevice(_ device: Device, by actor: String, _ db: Database) throws {
        if try Device.exists(db, key: device.id) {
            throw StoreError(
                .conflict, "device \(device.id) already exists", fix: "use ccmctl devices assign to change its patient")
        }
        if let address = device.bleAddress,
            let other = try String.fetchOne(
                db.cachedStatement(sql: "SELECT id FROM device WHERE ble_address = ?"), arguments: [address])
        {
            throw StoreError(
                .conflict, "Bluetooth address \(address) already belongs to device \(other)",
                fix: "one physical device is one entry")
        }
        if let patientID = device.patientID { try requirePatient(patientID, db) }
        try db.cachedStatement(
            sql: """
                INSERT INTO device (id, kind, ble_address, model, patient_id, hub_id, assigned_at, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """
        ).execute(arguments: [
            device.id, device.kind.rawValue, device.bleAddress, device.model, device.patientID, device.hubID,
            device.patientID == nil ? nil : Date(), Date(),
        ])
        var detail = ["kind": device.kind.rawValue]
        detail["patient"] = device.patientID
        detail["hub"] = device.hubID
        detail["ble_address"] = device.bleAddress
        try Audit.record(db, actor: actor, action: "device.add", entity: "device", id: device.id, detail: detail)
    }

    /// Assigns a device to a patient (and a hub, when given) inside the caller's transaction.
    package static func updateAssignment(
        _ id: String, to patientID: String, hub: String??, by actor: String, _ db: Database
    ) throws {
        let device = try requireDevice(id, db)
        try requirePatient(patientID, db)
        let newHub: String? = hub ?? device.hubID
        try db.cachedStatement(sql: "UPDATE device SET patient_id = ?, hub_id = ?, assigned_at = ? WHERE id = ?")
            .execute(arguments: [
                patientID, newHub, Date(), id,
            ])
        var detail = ["patient": patientID, "previous_patient": device.patientID ?? ""]
        detail["hub"] = newHub
        try Audit.record(db, actor: actor, action: "device.assign", entity: "device", id: id, detail: detail)
    }

    static func requirePatient(_ id: String, _ db: Database) throws {
        guard try Patient.exists(db, key: id) else {
            throw StoreError(.notFound, "no patient \(id)", fix: "add it with ccmctl patients add \(id) --name NAME")
        }
    }

    package static func requireDevice(_ id: String, _ db: Database) throws -> Device {
        guard let device = try Device.fetch(id, db) else {
            throw StoreError(.notFound, "no device \(id)", fix: "register it with ccmctl devices add \(id) --kind KIND")
        }
        return device
    }

    public func device(_ id: String) throws -> Device? {
        try read { try Device.fetchOne($0, key: id) }
    }

    public func devices(patient: String? = nil) throws -> [Device] {
        try read { db in
            if let patient {
                return try Device.fetchAll(
                    db.cachedStatement(sql: "SELECT * FROM device WHERE patient_id = ? ORDER BY id"),
                    arguments: [patient])
            }
            return try Device.fetchAll(db.cachedStatement(sql: "SELECT * FROM device ORDER BY id"))
        }
    }
}
