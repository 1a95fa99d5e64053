import Foundation
import GatewayBLE
import GatewayCore
import Logging
import Synchronization

/// Owns the Bluetooth adapter through the management API when bluetoothd does not: powers each
/// controller on with LE and Secure Connections, makes it bondable with KeyboardDisplay IO (so a meter that shows a PIN
/// asks for it), loads the stored bonds (LTKs, IRKs) into the kernel, answers the kernel's
/// pairing requests (Just Works confirmation for registered devices and those an operator asked
/// to pair; a passkey the operator gave), and stores the keys of new bonds. Runs on a thread of
/// its own until `stop()`; a controller that appears later (Index Added) is set up then.
///
/// With bluetoothd running it changes nothing: bluetoothd owns the adapter, pairing and keys
/// (README, "Beside bluetoothd"; docs/ble.md § "The kernel path"), and a second owner would
/// overwrite its keys in the kernel.
final class AdapterAgent: Sendable {
    let database: any BondKeeper
    let logger: Logger
    private let running = Atomic<Bool>(true)
    /// The keys last loaded into the kernel (their identities), to reload when the store changes.
    private let loaded = Mutex<Set<String>?>(nil)

    public init(database: any BondKeeper, logger: Logger) {
        self.database = database
        self.logger = logger
    }

    public func stop() { running.store(false, ordering: .sequentiallyConsistent) }
    var isRunning: Bool { running.load(ordering: .sequentiallyConsistent) }

    /// Opens the management socket and sets up every controller; throws when the kernel has no
    /// Bluetooth or the process may not use the management channel.
    public func open() throws -> ManagementSocket {
        let socket = try ManagementSocket()
        let list = try socket.command(Mgmt.readIndexList(), other: handler(socket))
        let count = list.count >= 2 ? Int(list[0]) | Int(list[1]) << 8 : 0
        for i in 0..<count where list.count >= 2 + 2 * (i + 1) {
            setUp(socket, index: UInt16(list[2 + 2 * i]) | UInt16(list[3 + 2 * i]) << 8)
        }
        if count == 0 { record(nil, index: nil, detail: "no Bluetooth controller") }
        return socket
    }

    /// Answers events until `stop()` or until `condition` turns false (checked every few
    /// seconds, with the bond store's changes: an unpair).
    public func serve(_ socket: ManagementSocket, while condition: () -> Bool = { true }) {
        let handle = handler(socket)
        var checked = ContinuousClock.now
        while isRunning {
            do {
                if let packet = try socket.receive(timeout: .seconds(1)), let event = Mgmt.Event.decode(packet) {
                    handle(event, packet.index)
                }
            } catch {
                logger.warning("BLE management socket failed; adapter agent stops", metadata: ["error": "\(error)"])
                return
            }
            if ContinuousClock.now - checked > .seconds(3) {
                checked = .now
                guard condition() else { return }
                reloadKeysIfChanged(socket)
            }
        }
    }

    /// Sets up one controller: IO capability, LE, Secure Connections, bondable, the stored keys, powered.
    func setUp(_ socket: ManagementSocket, index: UInt16) {
        let handle = handler(socket)
        // Each step on its own: one the controller refuses does not keep it powered off.
        let steps: [(String, () throws -> Void)] = [
            ("IO capability", { _ = try socket.command(Mgmt.setIOCapability(index, .keyboardDisplay), other: handle) }),
            ("LE", { _ = try socket.command(Mgmt.setLowEnergy(index, true), other: handle) }),
            // Secure Connections pairing (P-256 ECDH) with devices that offer it; legacy with the
            // rest. Off, every pairing is legacy, whose Just Works key a listener can recover.
            ("Secure Connections", { _ = try socket.command(Mgmt.setSecureConnections(index, true), other: handle) }),
            ("bondable", { _ = try socket.command(Mgmt.setBondable(index, true), other: handle) }),
            ("bond keys", { try self.loadKeys(socket, index: index) }),
        ]
        for (name, step) in steps {
            do { try step() } catch {
                logger.warning(
                    "Bluetooth adapter setting not applied",
                    metadata: ["ble.adapter": "hci\(index)", "ble.setting": "\(name)", "error": "\(error)"])
            }
        }
        do {
            _ = try socket.command(Mgmt.setPowered(index, true), timeout: .seconds(10), other: handle)
            let info = Mgmt.ControllerInfo.decode(try socket.command(Mgmt.readInfo(index), other: handle))
            record(info, index: index, detail: nil)
            logger.notice(
                "Bluetooth adapter ready",
                metadata: [
                    "ble.adapter": "hci\(index)", "ble.address": "\(info?.address.string ?? "?")",
                    "ble.settings": "\(info?.current.names ?? "?")",
                ])
        } catch {
            logger.warning(
                "Bluetooth adapter not set up; will retry when it reappears",
                metadata: ["ble.adapter": "hci\(index)", "error": "\(error)"])
            record(nil, index: index, detail: "\(error)")
        }
    }

    private func keysFromStore() throws -> (
        ltks: [Mgmt.LongTermKey], irks: [Mgmt.IdentityResolvingKey], identities: Set<String>
    ) {
        let stored = try database.bondKeys()
        let ltks = stored.filter { $0.kind == .ltk }.compactMap { Mgmt.LongTermKey(record: $0.key) }
        let irks = stored.filter { $0.kind == .irk }.compactMap { Mgmt.IdentityResolvingKey(record: $0.key) }
        return (ltks, irks, Set(stored.map { "\($0.address)/\($0.kind.rawValue)/\($0.slot)/\($0.key.hashValue)" }))
    }

    private func loadKeys(_ socket: ManagementSocket, index: UInt16) throws {
        let keys = try keysFromStore()
        _ = try socket.command(Mgmt.loadLongTermKeys(index, keys.ltks), other: handler(socket))
        _ = try socket.command(Mgmt.loadIdentityResolvingKeys(index, keys.irks), other: handler(socket))
        loaded.withLock { $0 = keys.identities }
        logger.info(
            "bond keys loaded into the kernel",
            metadata: [
                "ble.adapter": "hci\(index)", "ble.ltks": "\(keys.ltks.count)", "ble.irks": "\(keys.irks.count)",
            ])
    }

    /// An operator unpaired a device (or a bond came from elsewhere): load the store's keys again.
    private func reloadKeysIfChanged(_ socket: ManagementSocket) {
        guard let current = try? keysFromStore() else { return }
        let previous = loaded.withLock { loaded in
            defer { loaded = current.identities }
            return loaded
        }
        // New bonds arrive through New Long Term Key and are already in the kernel; only a removal matters.
        guard let previous, !previous.isSubset(of: current.identities) else { return }
        guard let list = try? socket.command(Mgmt.readIndexList(), other: handler(socket)), list.count >= 2 else {
            return
        }
        for i in 0..<(Int(list[0]) | Int(list[1]) << 8) where list.count >= 4 + 2 * i {
            try? loadKeys(socket, index: UInt16(list[2 + 2 * i]) | UInt16(list[3 + 2 * i]) << 8)
        }
    }

    private func record(_ info: Mgmt.ControllerInfo?, index: UInt16?, detail: String?) {
        let state = BLEAdapterState(
            adapter: index.map { "hci\($0)" }, address: info?.address.string,
            powered: info?.current.contains(.powered) ?? false,
            settings: info?.current.names ?? "none", owner: "ccm-gatewayd", detail: detail, updatedAt: Date())
        do { try database.recordAdapter(state) } catch {
            logger.warning("adapter state not recorded", metadata: ["error": "\(error)"])
        }
    }

    /// What to do with each event (also those that arrive while a command waits for its answer).
    func handler(_ socket: ManagementSocket) -> (Mgmt.Event, UInt16) -> Void {
        { [self] event, index in
            switch event {
            case .indexAdded:
                logger.notice("Bluetooth adapter appeared", metadata: ["ble.adapter": "hci\(index)"])
                setUp(socket, index: index)
            case .indexRemoved:
                logger.warning("Bluetooth adapter removed", metadata: ["ble.adapter": "hci\(index)"])
                record(nil, index: nil, detail: "hci\(index) removed")
            case .newSettings(let settings):
                logger.info(
                    "Bluetooth adapter settings",
                    metadata: ["ble.adapter": "hci\(index)", "ble.settings": "\(settings.names)"])
            case .userConfirmationRequest(let address, let justWorks):
                let known = isExpected(address)
                // A number to compare needs an operator who sees both screens: refused, like an unknown device.
                let accept = known && justWorks
                try? socket.send(Mgmt.userConfirmationReply(index, address, accept: accept))
                logger.notice(
                    accept ? "pairing confirmed (Just Works)" : "pairing refused",
                    metadata: [
                        "ble.address": "\(address)",
                        "reason":
                            "\(accept ? "registered device" : known ? "numeric comparison needs an operator" : "not a registered device and no pairing requested")",
                    ])
            case .userPasskeyRequest(let address):
                let passkey = (try? database.pairingPasskey(address: address.string, now: Date())) ?? nil
                try? socket.send(Mgmt.userPasskeyReply(index, address, passkey: passkey))
                if passkey == nil {
                    logger.warning(
                        "the device asks for a passkey and none was given; pairing refused",
                        metadata: [
                            "ble.address": "\(address)",
                            "fix": "ccmctl devices pair DEVICE --passkey PIN-ON-ITS-SCREEN",
                        ])
                } else {
                    logger.notice("passkey given for pairing", metadata: ["ble.address": "\(address)"])
                }
            case .newLongTermKey(let key, let store):
                guard store else { return }
                let address = key.address
                do {
                    try storeBond(
                        .ltk, of: address, slot: Int(key.central), record: key.record, authenticated: key.authenticated)
                    try? database.clearPairing(address: address.string)
                    logger.notice(
                        "bonded: long term key stored",
                        metadata: ["ble.address": "\(address)", "ble.authenticated": "\(key.authenticated)"])
                } catch {
                    logger.error(
                        "bond key not stored; the device must pair again after a restart",
                        metadata: ["ble.address": "\(address)", "error": "\(error)"])
                }
            case .newIdentityResolvingKey(let key, let privateAddress, let store):
                guard store else { return }
                let address = key.address
                do {
                    try storeBond(.irk, of: address, slot: 0, record: key.record, authenticated: false)
                    logger.notice(
                        "bonded: identity resolving key stored",
                        metadata: [
                            "ble.address": "\(address)", "ble.private_address": "\(privateAddress?.string ?? "none")",
                        ])
                } catch {
                    logger.error(
                        "identity key not stored", metadata: ["ble.address": "\(address)", "error": "\(error)"])
                }
            case .authenticationFailed(let address, let status):
                // The kernel keeps the link up after a failed pairing, and the session would
                // wait out the 30 s SMP timeout for a link that cannot be secured: close it, so
                // the session ends now with a security failure and the device is free again.
                try? socket.send(Mgmt.disconnect(index, address))
                logger.warning(
                    "pairing failed; link closed",
                    metadata: ["ble.address": "\(address)", "reason": "\(Mgmt.statusText(status))"])
            default:
                break
            }
        }
    }

    /// Stores a key the kernel gave for a new bond; the next reload check compares against the store again.
    private func storeBond(
        _ kind: BLEBondKey.Kind, of address: Mgmt.Address, slot: Int, record: [UInt8], authenticated: Bool
    ) throws {
        try database.storeBondKey(
            BLEBondKey(
                address: address.string, addressType: address.isRandom ? "random" : "public", kind: kind, slot: slot,
                key: record,
                authenticated: authenticated),
            at: Date())
        loaded.withLock { $0 = nil }
    }

    /// A device the gateway may pair with: registered with this address, or one an operator asked to pair.
    func isExpected(_ address: Mgmt.Address) -> Bool {
        if let pending = try? database.pendingPairings(now: Date()), pending.contains(address.string) { return true }
        return (try? database.isRegisteredDevice(bleAddress: address.string)) ?? false
    }
}
