public import Foundation
import GRDB
public import GatewayCore

/// A BLE device's sync state: where the next glucose download starts and how the last session went.
public struct BLESyncState: Sendable, Hashable, Codable, FetchableRecord {
    public var deviceID: String
    public var lastGlucoseSeq: Int?
    public var lastAttemptAt: Date?
    public var lastSyncAt: Date?
    public var lastError: String?
    public var lastErrorAt: Date?
    public var sessions: Int
    public var records: Int
    /// The meter's record epoch: which numbering of its records the sequence numbers belong to.
    /// It goes up when the meter is found reset or its sequence number wraps.
    public var glucoseEpoch: Int = 0
    /// When and why the epoch last went up.
    public var glucoseResetAt: Date?
    public var glucoseResetReason: String?

    enum CodingKeys: String, CodingKey {
        case deviceID = "device_id", lastGlucoseSeq = "last_glucose_seq", lastAttemptAt = "last_attempt_at"
        case lastSyncAt = "last_sync_at", lastError = "last_error", lastErrorAt = "last_error_at", sessions, records
        case glucoseEpoch = "glucose_epoch", glucoseResetAt = "glucose_reset_at", glucoseResetReason =
            "glucose_reset_reason"
    }
}

/// A health device heard advertising (`ccmctl devices discovered` lists the ones not assigned).
public struct DiscoveredDevice: Sendable, Hashable, Codable, FetchableRecord {
    public var address: String
    /// `public` or `random`: the LE address type a connection must name.
    public var addressType: String
    public var name: String?
    /// Advertised 16-bit service UUIDs, `1810,1808`.
    public var services: String
    public var rssi: Int?
    public var firstSeen: Date
    public var lastSeen: Date
    /// The registered device with this address, if any (and its patient).
    public var deviceID: String?
    public var patientID: String?

    /// What the advertised services make it (`bp_monitor`, `scale`, `pulse_oximeter`, …).
    public var kind: DeviceKind? {
        DeviceKind(
            advertising: services.split(separator: ",").compactMap {
                UInt16($0.trimmingCharacters(in: .whitespaces), radix: 16)
            })
    }

    public init(address: String, addressType: String, name: String?, services: String, rssi: Int?, seenAt: Date) {
        self.address = address
        self.addressType = addressType
        self.name = name
        self.services = services
        self.rssi = rssi
        firstSeen = seenAt
        lastSeen = seenAt
    }

    enum CodingKeys: String, CodingKey {
        case address, addressType = "address_type", name, services, rssi, firstSeen = "first_seen", lastSeen =
            "last_seen"
        case deviceID = "device_id", patientID = "patient_id"
    }
}

extension GatewayDatabase {
    /// The sync state of a device (an empty one before its first session).
    public func bleSyncState(device: String) throws -> BLESyncState {
        try read { db in
            try BLESyncState.fetchOne(
                db.cachedStatement(sql: "SELECT * FROM ble_sync WHERE device_id = ?"), arguments: [device])
        } ?? BLESyncState(deviceID: device, sessions: 0, records: 0)
    }

    /// Records the end of a session: its time, and its error or its success.
    public func recordBLESession(device: String, at time: Date, records: Int, error: String?) throws {
        try write { db in
            try db.cachedStatement(
                sql: """
                    INSERT INTO ble_sync (device_id, last_attempt_at, last_sync_at, last_error, last_error_at, sessions, records)
                    VALUES (?1, ?2, CASE WHEN ?3 IS NULL THEN ?2 END, ?3, CASE WHEN ?3 IS NOT NULL THEN ?2 END, 1, ?4)
                    ON CONFLICT (device_id) DO UPDATE SET
                      last_attempt_at = ?2,
                      last_sync_at = CASE WHEN ?3 IS NULL THEN ?2 ELSE last_sync_at END,
                      last_error = CASE WHEN ?3 IS NULL THEN last_error ELSE ?3 END,
                      last_error_at = CASE WHEN ?3 IS NULL THEN last_error_at ELSE ?2 END,
                      sessions = sessions + 1,
                      records = records + ?4
                    """
            ).execute(arguments: [device, time, error, records])
        }
    }

    /// Forgets where a meter's glucose download stands, so that its next session downloads every
    /// stored record (readings already stored are folded as duplicates). For a meter that was
    /// reset or replaced: its sequence numbers started again below the one remembered.
    public func resetBLESync(device: String, by actor: String) throws {
        try write { db in
            _ = try GatewayDatabase.requireDevice(device, db)
            let previous = try Int.fetchOne(
                db.cachedStatement(sql: "SELECT last_glucose_seq FROM ble_sync WHERE device_id = ?"),
                arguments: [device])
            try db.cachedStatement(sql: "UPDATE ble_sync SET last_glucose_seq = NULL WHERE device_id = ?").execute(
                arguments: [device])
            try Audit.record(
                db, actor: actor, action: "ble.sync_reset", entity: "device", id: device,
                detail: ["last_glucose_seq": previous.map(String.init) ?? ""])
        }
    }

    /// The device's current glucose record epoch (0 before any reset).
    package static func glucoseEpoch(_ device: String, _ db: Database) throws -> Int {
        try Int.fetchOne(
            db.cachedStatement(sql: "SELECT glucose_epoch FROM ble_sync WHERE device_id = ?"), arguments: [device]) ?? 0
    }

    /// Starts a new record epoch for a meter that was reset or whose sequence number wrapped:
    /// its records from now on are new readings, never folded into the old ones with the same
    /// sequence numbers. Audited (`glucose.reset`). `lastSequence`: the newest sequence number
    /// known in the new numbering (`nil`: none yet, the next download asks for everything).
    /// Returns the new epoch.
    package static func startGlucoseEpoch(
        device: String, after epoch: Int, lastSequence: Int?, reason: String, by actor: String, at time: Date,
        _ db: Database
    ) throws -> Int {
        let previous = try glucoseEpoch(device, db)
        let next = max(previous, epoch) + 1
        let previousSequence = try Int.fetchOne(
            db.cachedStatement(sql: "SELECT last_glucose_seq FROM ble_sync WHERE device_id = ?"), arguments: [device])
        try db.cachedStatement(
            sql: """
                INSERT INTO ble_sync (device_id, last_glucose_seq, glucose_epoch, glucose_reset_at, glucose_reset_reason) VALUES (?1, ?2, ?3, ?4, ?5)
                ON CONFLICT (device_id) DO UPDATE SET last_glucose_seq = ?2, glucose_epoch = ?3, glucose_reset_at = ?4, glucose_reset_reason = ?5
                """
        ).execute(arguments: [device, lastSequence, next, time, reason])
        try Audit.record(
            db, actor: actor, action: "glucose.reset", entity: "device", id: device,
            detail: [
                "previous_epoch": "\(previous)", "epoch": "\(next)",
                "last_glucose_seq": previousSequence.map(String.init) ?? "",
                "reason": reason,
            ])
        return next
    }

    /// A BLE session found the meter reset (or its numbering wrapped): a new epoch starts, and
    /// the session downloads every record. Returns the new epoch.
    public func startGlucoseEpoch(device: String, reason: String, by actor: String, at time: Date) throws -> Int {
        try write { db in
            try Self.startGlucoseEpoch(
                device: device, after: 0, lastSequence: nil, reason: reason, by: actor, at: time, db)
        }
    }

    /// When the last PLX Continuous Measurement from `device` reached the inbox: a BLE session
    /// stores the next one a storage interval after it, whichever session that falls in.
    public func lastContinuousMeasurement(device: String) throws -> Date? {
        try read { db in
            try Date.fetchOne(
                db.cachedStatement(sql: "SELECT received_at FROM inbox WHERE format = ? ORDER BY id DESC LIMIT 1"),
                arguments: [InputFormat.gatt(characteristic: "2a5f", device: device).rawValue])
        }
    }

    /// The Glucose Measurement value last received from `device` with this sequence number (in
    /// its current epoch), as received: a session compares the meter's record with it.
    public func receivedGlucoseMeasurement(device: String, sequence: Int) throws -> [UInt8]? {
        try read { db in
            let epoch = try Self.glucoseEpoch(device, db)
            let rows = try Row.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT payload FROM inbox WHERE format = ? AND COALESCE(device_epoch, 0) = ? ORDER BY id DESC LIMIT 200
                        """), arguments: [InputFormat.gatt(characteristic: "2a18", device: device).rawValue, epoch])
            for row in rows {
                let bytes = HealthCharacteristic.bytes(row["payload"])
                if bytes.count >= 3, Int(bytes[1]) | Int(bytes[2]) << 8 == sequence { return bytes }
            }
            return nil
        }
    }

    /// Notes (or refreshes) a health device heard advertising.
    public func recordDiscovered(_ device: DiscoveredDevice) throws {
        try write { db in
            try db.cachedStatement(
                sql: """
                    INSERT INTO ble_discovered (address, address_type, name, services, rssi, first_seen, last_seen)
                    VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (address) DO UPDATE SET address_type = excluded.address_type,
                      name = coalesce(excluded.name, name), services = excluded.services, rssi = excluded.rssi,
                      last_seen = excluded.last_seen
                    """
            ).execute(arguments: [
                device.address, device.addressType, device.name, device.services, device.rssi, device.firstSeen,
                device.lastSeen,
            ])
        }
    }

    /// Health devices heard advertising, newest first; `unassignedOnly` drops those already
    /// assigned to a patient.
    public func discoveredDevices(unassignedOnly: Bool = true) throws -> [DiscoveredDevice] {
        try read { db in
            try DiscoveredDevice.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT b.*, d.id AS device_id, d.patient_id FROM ble_discovered b
                        LEFT JOIN device d ON d.ble_address = b.address OR d.id = b.address
                        \(unassignedOnly ? "WHERE d.patient_id IS NULL" : "")
                        ORDER BY b.last_seen DESC, b.address
                        """))
        }
    }

    /// The LE address type last heard for `address` (`nil` if never heard).
    public func discoveredAddressType(_ address: String) throws -> String? {
        try read { db in
            try String.fetchOne(
                db.cachedStatement(sql: "SELECT address_type FROM ble_discovered WHERE address = ?"),
                arguments: [address])
        }
    }

    /// Devices the BLE transport should connect to: assigned to a patient, with a Bluetooth address.
    public func assignedBLEDevices() throws -> [Device] {
        try read { db in
            try Device.fetchAll(
                db.cachedStatement(
                    sql: "SELECT * FROM device WHERE ble_address IS NOT NULL AND patient_id IS NOT NULL ORDER BY id"))
        }
    }

    /// The device with this Bluetooth address (or this id).
    public func device(bleAddress address: String) throws -> Device? {
        try read { db in
            try Device.fetchOne(
                db.cachedStatement(
                    sql: "SELECT * FROM device WHERE ble_address = ? OR id = ? ORDER BY ble_address = ? DESC"),
                arguments: [address, address, address])
        }
    }
}
