public import Foundation
import GRDB
public import GatewayCore

/// What `ccmctl devices bonds` shows of a bond: never the keys.
public struct BLEBondSummary: Sendable, Hashable, Codable, FetchableRecord {
    public var address: String
    public var addressType: String
    public var longTermKeys: Int
    public var identityKeys: Int
    public var authenticated: Bool
    public var bondedAt: Date
    public var deviceID: String?

    enum CodingKeys: String, CodingKey {
        case address, addressType = "address_type", longTermKeys = "ltks", identityKeys = "irks", authenticated
        case bondedAt = "bonded_at", deviceID = "device_id"
    }
}

extension BLEAdapterState: FetchableRecord {}

extension GatewayDatabase: BondKeeper {
    /// Stores (or replaces) a bond key.
    public func storeBondKey(_ key: BLEBondKey, at time: Date = Date()) throws {
        try write { db in
            try db.cachedStatement(
                sql: """
                    INSERT INTO ble_bond (address, address_type, kind, slot, key, authenticated, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (address, kind, slot) DO UPDATE SET address_type = excluded.address_type, key = excluded.key,
                      authenticated = excluded.authenticated, created_at = excluded.created_at
                    """
            ).execute(arguments: [
                key.address, key.addressType, key.kind.rawValue, key.slot, Data(key.key), key.authenticated, time,
            ])
        }
    }

    /// Every stored bond key, to load into the kernel.
    public func bondKeys() throws -> [BLEBondKey] {
        try read { db in
            try Row.fetchAll(db.cachedStatement(sql: "SELECT * FROM ble_bond ORDER BY address, kind, slot")).compactMap
            { row in
                guard let kind = BLEBondKey.Kind(rawValue: row["kind"]) else { return nil }
                let key: Data = row["key"]
                return BLEBondKey(
                    address: row["address"], addressType: row["address_type"], kind: kind, slot: row["slot"],
                    key: [UInt8](key),
                    authenticated: row["authenticated"])
            }
        }
    }

    /// One line per bonded device, with the registered device it belongs to.
    public func bondSummaries() throws -> [BLEBondSummary] {
        try read { db in
            try BLEBondSummary.fetchAll(
                db.cachedStatement(
                    sql: """
                        SELECT b.address, max(b.address_type) AS address_type,
                          sum(b.kind = 'ltk') AS ltks, sum(b.kind = 'irk') AS irks, max(b.authenticated) AS authenticated,
                          max(b.created_at) AS bonded_at,
                          coalesce((SELECT min(d.id) FROM device d WHERE d.ble_address = b.address), (SELECT d.id FROM device d WHERE d.id = b.address)) AS device_id
                        FROM ble_bond b GROUP BY b.address ORDER BY b.address
                        """))
        }
    }

    /// Whether a bond is stored for `address`.
    public func hasBond(address: String) throws -> Bool {
        try read { db in
            try Bool.fetchOne(
                db.cachedStatement(sql: "SELECT EXISTS (SELECT 1 FROM ble_bond WHERE address = ?)"),
                arguments: [address])
                ?? false
        }
    }

    /// The address type of the bond with `address` (nil without one).
    public func bondAddressType(_ address: String) throws -> String? {
        try read { db in
            try String.fetchOne(
                db.cachedStatement(sql: "SELECT address_type FROM ble_bond WHERE address = ? LIMIT 1"),
                arguments: [address])
        }
    }

    /// Forgets the bond with `address` (and any pairing request for it); returns the keys deleted.
    @discardableResult
    public func deleteBond(address: String, by actor: String) throws -> Int {
        try write { db in
            try db.cachedStatement(sql: "DELETE FROM ble_bond WHERE address = ?").execute(arguments: [address])
            let deleted = db.changesCount
            try db.cachedStatement(sql: "DELETE FROM ble_pairing WHERE address = ?").execute(arguments: [address])
            try Audit.record(
                db, actor: actor, action: "ble.unpair", entity: "ble_address", id: address,
                detail: ["keys": String(deleted)])
            return deleted
        }
    }

    /// Asks the daemon to pair with `address` in its next session (at once), answering a passkey
    /// request with `passkey` (the PIN the device shows) until `until`.
    public func requestPairing(address: String, passkey: UInt32?, until: Date, by actor: String) throws {
        try write { db in
            try db.cachedStatement(
                sql: """
                    INSERT INTO ble_pairing (address, passkey, requested_at, expires_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT (address) DO UPDATE SET passkey = excluded.passkey, requested_at = excluded.requested_at, expires_at = excluded.expires_at
                    """
            ).execute(arguments: [address, passkey.map { Int($0) }, Date(), until])
            try Audit.record(
                db, actor: actor, action: "ble.pair_requested", entity: "ble_address", id: address,
                detail: ["passkey_given": passkey == nil ? "no" : "yes"])
        }
    }

    /// The addresses with a pairing request that has not expired.
    public func pendingPairings(now: Date = Date()) throws -> Set<String> {
        try read { db in
            let addresses: [String] = try String.fetchAll(
                db.cachedStatement(sql: "SELECT address FROM ble_pairing WHERE expires_at > ?"), arguments: [now])
            return Set(addresses)
        }
    }

    /// The passkey the operator gave for `address`, if a request for it is pending.
    public func pairingPasskey(address: String, now: Date = Date()) throws -> UInt32? {
        try read { db in
            try Int.fetchOne(
                db.cachedStatement(sql: "SELECT passkey FROM ble_pairing WHERE address = ? AND expires_at > ?"),
                arguments: [address, now])
        }.flatMap { UInt32(exactly: $0) }
    }

    /// Ends the pairing request for `address` (it bonded, or failed for good).
    public func clearPairing(address: String) throws {
        try write { db in
            try db.cachedStatement(sql: "DELETE FROM ble_pairing WHERE address = ?").execute(arguments: [address])
        }
    }

    /// Records the adapter as the daemon sees it now.
    public func recordAdapter(_ state: BLEAdapterState) throws {
        try write { db in
            try db.cachedStatement(
                sql: """
                    INSERT INTO ble_adapter (id, adapter, address, powered, settings, owner, detail, updated_at) VALUES (1, ?, ?, ?, ?, ?, ?, ?)
                    ON CONFLICT (id) DO UPDATE SET adapter = excluded.adapter, address = excluded.address, powered = excluded.powered,
                      settings = excluded.settings, owner = excluded.owner, detail = excluded.detail, updated_at = excluded.updated_at
                    """
            ).execute(arguments: [
                state.adapter, state.address, state.powered, state.settings, state.owner, state.detail, state.updatedAt,
            ])
        }
    }

    /// The adapter as the daemon last recorded it (nil if it never did).
    public func adapterState() throws -> BLEAdapterState? {
        try read { db in try BLEAdapterState.fetchOne(db.cachedStatement(sql: "SELECT * FROM ble_adapter WHERE id = 1"))
        }
    }

    public func isRegisteredDevice(bleAddress address: String) throws -> Bool {
        try device(bleAddress: address)?.bleAddress == address
    }
}
