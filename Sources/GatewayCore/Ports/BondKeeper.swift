public import Foundation

/// What the BLE adapter agent keeps and asks between restarts: bond keys, the adapter's state,
/// the pairings an operator requested, and which addresses belong to registered devices.
/// GatewayStore implements it on its database; the daemon's adapter agent sees only this.
public protocol BondKeeper: Sendable {
    func bondKeys() throws -> [BLEBondKey]
    func storeBondKey(_ key: BLEBondKey, at time: Date) throws
    func recordAdapter(_ state: BLEAdapterState) throws
    /// The passkey an operator gave for pairing with `address`, while the request is open.
    func pairingPasskey(address: String, now: Date) throws -> UInt32?
    func clearPairing(address: String) throws
    /// Addresses an operator asked to pair with, whose requests are still open.
    func pendingPairings(now: Date) throws -> Set<String>
    /// Whether a registered device has this Bluetooth address.
    func isRegisteredDevice(bleAddress address: String) throws -> Bool
}

/// A bond key the kernel gave for a BLE device (an LTK or an IRK), kept so that bonds survive
/// restarts: the daemon loads them into the kernel at start. `key` is the kernel's whole key
/// record (management API layout) and a secret: it is never logged or printed.
public struct BLEBondKey: Sendable, Hashable {
    public enum Kind: String, Sendable { case ltk, irk }
    /// The device's identity address and its type (`public` or `random`).
    public var address: String
    public var addressType: String
    public var kind: Kind
    /// Distinguishes the keys of one kind for one device (legacy pairing makes two LTKs).
    public var slot: Int
    public var key: [UInt8]
    public var authenticated: Bool

    public init(address: String, addressType: String, kind: Kind, slot: Int, key: [UInt8], authenticated: Bool) {
        self.address = address
        self.addressType = addressType
        self.kind = kind
        self.slot = slot
        self.key = key
        self.authenticated = authenticated
    }
}

/// The adapter as the daemon last saw it (`ccmctl status`).
public struct BLEAdapterState: Sendable, Hashable, Codable {
    /// `hci0`, or nil when there is none.
    public var adapter: String?
    public var address: String?
    public var powered: Bool
    /// `powered, bondable, le`.
    public var settings: String
    /// Who owns pairing and keys: `ccm-gatewayd` or `bluetoothd`.
    public var owner: String
    public var detail: String?
    public var updatedAt: Date

    public init(
        adapter: String?, address: String?, powered: Bool, settings: String, owner: String, detail: String?,
        updatedAt: Date
    ) {
        self.adapter = adapter
        self.address = address
        self.powered = powered
        self.settings = settings
        self.owner = owner
        self.detail = detail
        self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case adapter, address, powered, settings, owner, detail, updatedAt = "updated_at"
    }
}
