import CBlueZ
import Foundation
import GatewayCore

#if canImport(Glibc)
import Glibc
#endif

/// The kernel's Bluetooth management API (BlueZ `doc/mgmt-api.txt`): the packets that power an
/// adapter, make it bondable, answer pairing requests and hand bond keys back and forth. Pure
/// encoding and decoding here; ``ManagementSocket`` carries them over `HCI_CHANNEL_CONTROL`.
///
/// Every packet is a 6-byte header (command or event code, controller index, parameter length,
/// all little-endian) and the parameters. Addresses are 6 bytes, least significant first, and an
/// address type (0 BR/EDR, 1 LE public, 2 LE random).
public enum Mgmt {
    /// The controller index of commands and events that concern no controller.
    public static let noIndex: UInt16 = 0xFFFF

    public enum Command: UInt16, Sendable {
        case readIndexList = 0x0003, readInfo = 0x0004, setPowered = 0x0005, setBondable = 0x0009
        case setLowEnergy = 0x000D, loadLongTermKeys = 0x0013, disconnect = 0x0014, setIOCapability = 0x0018
        case unpairDevice = 0x001B, userConfirmationReply = 0x001C, userConfirmationNegativeReply = 0x001D
        case userPasskeyReply = 0x001E, userPasskeyNegativeReply = 0x001F, loadIdentityResolvingKeys = 0x0030
        case startDiscovery = 0x0023, stopDiscovery = 0x0024, setSecureConnections = 0x002D
    }

    /// IO capabilities (Set IO Capability). KeyboardDisplay lets a meter that shows a PIN ask
    /// for passkey entry, and still allows Just Works with a device that has no IO.
    public enum IOCapability: UInt8, Sendable {
        case displayOnly = 0, displayYesNo = 1, keyboardOnly = 2, noInputNoOutput = 3, keyboardDisplay = 4
    }

    /// Controller settings bits (Read Controller Information, New Settings).
    public struct Settings: OptionSet, Sendable, Hashable {
        public let rawValue: UInt32
        public init(rawValue: UInt32) { self.rawValue = rawValue }
        public static let powered = Settings(rawValue: 1 << 0)
        public static let connectable = Settings(rawValue: 1 << 1)
        public static let bondable = Settings(rawValue: 1 << 4)
        public static let lowEnergy = Settings(rawValue: 1 << 9)
        public static let secureConnections = Settings(rawValue: 1 << 11)
        public static let privacy = Settings(rawValue: 1 << 13)

        /// `powered, bondable, le`.
        public var names: String {
            let known: [(Settings, String)] = [
                (.powered, "powered"), (.connectable, "connectable"), (.bondable, "bondable"), (.lowEnergy, "le"),
                (.secureConnections, "secure-connections"), (.privacy, "privacy"),
            ]
            let present = known.filter { contains($0.0) }.map(\.1)
            return present.isEmpty ? "none" : present.joined(separator: ", ")
        }
    }

    /// An address with its type, as the management API carries it.
    public struct Address: Hashable, Sendable, CustomStringConvertible {
        public enum Kind: UInt8, Sendable { case bredr = 0, lePublic = 1, leRandom = 2 }
        /// Least significant byte first, as on the wire.
        public var bytes: [UInt8]
        public var kind: Kind

        public init(bytes: [UInt8], kind: Kind) {
            precondition(bytes.count == 6)
            self.bytes = bytes
            self.kind = kind
        }

        /// `A4:C1:38:12:34:56`; nil when it is not six hexadecimal pairs.
        public init?(_ text: String, random: Bool) {
            let parts = text.split(separator: ":")
            guard parts.count == 6 else { return nil }
            var bytes: [UInt8] = []
            for part in parts.reversed() {
                guard part.count == 2, let byte = UInt8(part, radix: 16) else { return nil }
                bytes.append(byte)
            }
            self.init(bytes: bytes, kind: random ? .leRandom : .lePublic)
        }

        /// `A4:C1:38:12:34:56`.
        public var string: String { bytes.reversed().map { String(format: "%02X", $0) }.joined(separator: ":") }
        public var isRandom: Bool { kind == .leRandom }
        /// A random address whose two top bits are 01: resolvable private, changes over time.
        public var isResolvablePrivate: Bool { kind == .leRandom && bytes[5] >> 6 == 0b01 }
        public var description: String {
            "\(string) (\(kind == .leRandom ? "random" : kind == .lePublic ? "public" : "BR/EDR"))"
        }

        var wire: [UInt8] { bytes + [kind.rawValue] }

        static func decode(_ data: ArraySlice<UInt8>) -> Address? {
            guard data.count >= 7, let kind = Kind(rawValue: data[data.startIndex + 6]) else { return nil }
            return Address(bytes: Array(data.prefix(6)), kind: kind)
        }
    }

    /// A Long Term Key as the kernel hands it out (New Long Term Key) and takes it back (Load
    /// Long Term Keys): the device's identity address, then key type, central flag, encryption
    /// size, EDIV, Rand and the 16-byte value. 36 bytes, kept whole; a secret.
    public struct LongTermKey: Hashable, Sendable {
        public static let size = 36
        public let record: [UInt8]

        public init?(record: some Collection<UInt8>) {
            guard record.count == Self.size, Address.decode(Array(record)[...]) != nil else { return nil }
            self.record = Array(record)
        }

        public var address: Address { Address.decode(record[...])! }
        /// 0 unauthenticated legacy, 1 authenticated legacy, 2 unauthenticated P-256, 3 authenticated P-256, 4 debug.
        public var keyType: UInt8 { record[7] }
        /// Whether the key was made with MITM protection (passkey or numeric comparison).
        public var authenticated: Bool { keyType == 1 || keyType == 3 }
        /// Which side the key is for (legacy pairing makes one key each way).
        public var central: UInt8 { record[8] }
    }

    /// An Identity Resolving Key: the device's identity address and the 16-byte key with which
    /// the kernel recognises its resolvable private addresses. 23 bytes, kept whole; a secret.
    public struct IdentityResolvingKey: Hashable, Sendable {
        public static let size = 23
        public let record: [UInt8]

        public init?(record: some Collection<UInt8>) {
            guard record.count == Self.size, Address.decode(Array(record)[...]) != nil else { return nil }
            self.record = Array(record)
        }

        public var address: Address { Address.decode(record[...])! }
    }

    /// One management packet.
    public struct Packet: Equatable, Sendable {
        public var code: UInt16
        public var index: UInt16
        public var parameters: [UInt8]

        public init(code: UInt16, index: UInt16, parameters: [UInt8] = []) {
            self.code = code
            self.index = index
            self.parameters = parameters
        }

        public init(_ command: Command, index: UInt16, parameters: [UInt8] = []) {
            self.init(code: command.rawValue, index: index, parameters: parameters)
        }

        public var bytes: [UInt8] { le16(code) + le16(index) + le16(UInt16(parameters.count)) + parameters }

        /// Decodes one packet; nil when the header is short or the length does not match.
        public init?(bytes: some Collection<UInt8>) {
            let data = Array(bytes)
            guard data.count >= 6 else { return nil }
            let length = Int(data[4]) | Int(data[5]) << 8
            guard data.count == 6 + length else { return nil }
            self.init(
                code: UInt16(data[0]) | UInt16(data[1]) << 8, index: UInt16(data[2]) | UInt16(data[3]) << 8,
                parameters: Array(data[6...]))
        }
    }

    // MARK: Commands

    public static func setPowered(_ index: UInt16, _ on: Bool) -> Packet {
        Packet(.setPowered, index: index, parameters: [on ? 1 : 0])
    }
    public static func setLowEnergy(_ index: UInt16, _ on: Bool) -> Packet {
        Packet(.setLowEnergy, index: index, parameters: [on ? 1 : 0])
    }
    public static func setBondable(_ index: UInt16, _ on: Bool) -> Packet {
        Packet(.setBondable, index: index, parameters: [on ? 1 : 0])
    }
    /// LE Secure Connections (1: enabled, legacy pairing still accepted from devices without
    /// them; 2 would refuse legacy devices).
    public static func setSecureConnections(_ index: UInt16, _ on: Bool) -> Packet {
        Packet(.setSecureConnections, index: index, parameters: [on ? 1 : 0])
    }
    public static func setIOCapability(_ index: UInt16, _ capability: IOCapability) -> Packet {
        Packet(.setIOCapability, index: index, parameters: [capability.rawValue])
    }
    public static func readIndexList() -> Packet { Packet(.readIndexList, index: noIndex) }
    public static func readInfo(_ index: UInt16) -> Packet { Packet(.readInfo, index: index) }
    public static func userConfirmationReply(_ index: UInt16, _ address: Address, accept: Bool) -> Packet {
        Packet(accept ? .userConfirmationReply : .userConfirmationNegativeReply, index: index, parameters: address.wire)
    }
    /// The passkey the device shows (0...999999), or a refusal when there is none.
    public static func userPasskeyReply(_ index: UInt16, _ address: Address, passkey: UInt32?) -> Packet {
        guard let passkey else { return Packet(.userPasskeyNegativeReply, index: index, parameters: address.wire) }
        return Packet(.userPasskeyReply, index: index, parameters: address.wire + le32(passkey))
    }
    public static func disconnect(_ index: UInt16, _ address: Address) -> Packet {
        Packet(.disconnect, index: index, parameters: address.wire)
    }
    public static func unpairDevice(_ index: UInt16, _ address: Address, disconnect: Bool) -> Packet {
        Packet(.unpairDevice, index: index, parameters: address.wire + [disconnect ? 1 : 0])
    }
    /// Replaces the kernel's list of Long Term Keys for the controller with `keys`.
    public static func loadLongTermKeys(_ index: UInt16, _ keys: [LongTermKey]) -> Packet {
        Packet(.loadLongTermKeys, index: index, parameters: le16(UInt16(keys.count)) + keys.flatMap(\.record))
    }
    /// Replaces the kernel's list of Identity Resolving Keys for the controller with `keys`.
    public static func loadIdentityResolvingKeys(_ index: UInt16, _ keys: [IdentityResolvingKey]) -> Packet {
        Packet(.loadIdentityResolvingKeys, index: index, parameters: le16(UInt16(keys.count)) + keys.flatMap(\.record))
    }

    /// LE discovery (address types LE public and LE random: bits 1 and 2). The kernel scans
    /// actively for about 10 s, sends Device Found for what it hears (a bonded device behind a
    /// resolvable private address under its identity address) and ends with Discovering 0.
    public static let leDiscovery: UInt8 = 0x06
    public static func startDiscovery(_ index: UInt16) -> Packet {
        Packet(.startDiscovery, index: index, parameters: [leDiscovery])
    }
    public static func stopDiscovery(_ index: UInt16) -> Packet {
        Packet(.stopDiscovery, index: index, parameters: [leDiscovery])
    }

    /// What Read Controller Information returns.
    public struct ControllerInfo: Sendable, Equatable {
        public var address: Address
        public var supported: Settings
        public var current: Settings
        public var name: String

        public static func decode(_ parameters: [UInt8]) -> ControllerInfo? {
            // address 6, version 1, manufacturer 2, supported 4, current 4, class 3, name 249, short name 11.
            guard parameters.count >= 20 else { return nil }
            let p = parameters
            let nameBytes = p.count >= 20 + 249 ? Array(p[20..<(20 + 249)]) : Array(p[20...])
            let name = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
            return ControllerInfo(
                address: Address(bytes: Array(p[0..<6]), kind: .lePublic), supported: Settings(rawValue: le32(p, 9)),
                current: Settings(rawValue: le32(p, 13)), name: name)
        }
    }

    // MARK: Events

    public enum Event: Sendable, Equatable {
        case commandComplete(command: UInt16, status: UInt8, parameters: [UInt8])
        case commandStatus(command: UInt16, status: UInt8)
        case indexAdded
        case indexRemoved
        case newSettings(Settings)
        /// `store` is the kernel's hint: false for a key that must not outlive the connection.
        case newLongTermKey(LongTermKey, store: Bool)
        /// `privateAddress` is the resolvable private address the device used, when it used one.
        case newIdentityResolvingKey(IdentityResolvingKey, privateAddress: Address?, store: Bool)
        case userConfirmationRequest(Address, justWorks: Bool)
        case userPasskeyRequest(Address)
        case authenticationFailed(Address, status: UInt8)
        case deviceConnected(Address)
        case deviceDisconnected(Address, reason: UInt8)
        case deviceFound(AdvertisingReport)
        case discovering(Bool)
        case other(UInt16)

        /// Decodes an event packet; nil when its parameters are too short for its code.
        public static func decode(_ packet: Packet) -> Event? {
            let p = packet.parameters
            switch packet.code {
            case 0x0001:
                guard p.count >= 3 else { return nil }
                return .commandComplete(
                    command: UInt16(p[0]) | UInt16(p[1]) << 8, status: p[2], parameters: Array(p[3...]))
            case 0x0002:
                guard p.count >= 3 else { return nil }
                return .commandStatus(command: UInt16(p[0]) | UInt16(p[1]) << 8, status: p[2])
            case 0x0004: return .indexAdded
            case 0x0005: return .indexRemoved
            case 0x0006:
                guard p.count >= 4 else { return nil }
                return .newSettings(Settings(rawValue: le32(p, 0)))
            case 0x000A:
                guard p.count >= 1 + LongTermKey.size, let key = LongTermKey(record: p[1..<(1 + LongTermKey.size)])
                else { return nil }
                return .newLongTermKey(key, store: p[0] != 0)
            case 0x000B:
                guard let address = Address.decode(p[...]) else { return nil }
                return .deviceConnected(address)
            case 0x000C:
                guard p.count >= 8, let address = Address.decode(p[...]) else { return nil }
                return .deviceDisconnected(address, reason: p[7])
            case 0x000F:
                guard p.count >= 12, let address = Address.decode(p[...]) else { return nil }
                return .userConfirmationRequest(address, justWorks: p[7] != 0)
            case 0x0010:
                guard let address = Address.decode(p[...]) else { return nil }
                return .userPasskeyRequest(address)
            case 0x0011:
                guard p.count >= 8, let address = Address.decode(p[...]) else { return nil }
                return .authenticationFailed(address, status: p[7])
            case 0x0012:
                // address (6), type (1), RSSI (1), flags (4), EIR data length (2), EIR data
                guard p.count >= 14, let address = Address.decode(p[...]), address.kind != .bredr else { return nil }
                let length = Int(p[12]) | Int(p[13]) << 8
                guard p.count >= 14 + length else { return nil }
                var report = AdvertisingReport(
                    address: address.string, randomAddress: address.isRandom, name: nil, services: [],
                    rssi: Int(Int8(bitPattern: p[7])))
                report.read(advertisingData: Array(p[14..<(14 + length)]))
                return .deviceFound(report)
            case 0x0013:
                guard p.count >= 2 else { return nil }
                return .discovering(p[1] != 0)
            case 0x0018:
                guard p.count >= 7 + IdentityResolvingKey.size,
                    let key = IdentityResolvingKey(record: p[7..<(7 + IdentityResolvingKey.size)])
                else { return nil }
                let rpa = Array(p[1..<7])
                return .newIdentityResolvingKey(
                    key, privateAddress: rpa.allSatisfy { $0 == 0 } ? nil : Address(bytes: rpa, kind: .leRandom),
                    store: p[0] != 0)
            default: return .other(packet.code)
            }
        }
    }

    /// The management API's status codes that an operator may meet.
    public static func statusText(_ status: UInt8) -> String {
        switch status {
        case 0x00: "success"
        case 0x01: "unknown command"
        case 0x02: "not connected"
        case 0x03: "failed"
        case 0x04: "connect failed"
        case 0x05: "authentication failed"
        case 0x06: "not paired"
        case 0x07: "no resources"
        case 0x08: "timeout"
        case 0x0A: "busy"
        case 0x0B: "rejected"
        case 0x0C: "not supported"
        case 0x0D: "invalid parameters"
        case 0x0E: "disconnected"
        case 0x0F: "not powered"
        case 0x10: "cancelled"
        case 0x11: "invalid index"
        case 0x12: "RF-kill: the radio is blocked (rfkill unblock bluetooth)"
        case 0x14: "permission denied"
        default: "status 0x\(String(format: "%02x", status))"
        }
    }
}

private func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8((value >> (8 * $0)) & 0xFF) } }
private func le32(_ bytes: [UInt8], _ at: Int) -> UInt32 {
    (0..<4).reduce(0) { $0 | UInt32(bytes[at + $1]) << (8 * $1) }
}

/// A socket on the kernel's management channel (`HCI_CHANNEL_CONTROL`). Needs CAP_NET_ADMIN
/// (root, or the daemon's unit granting it). Events for every controller arrive on it, and
/// every such socket sees them: with bluetoothd running, both it and this socket hear them.
public final class ManagementSocket: Sendable {
    public let fd: Int32

    public init() throws {
        // AF_BLUETOOTH 31, BTPROTO_HCI 1; struct sockaddr_hci { family, dev, channel }.
        let fd = socket(31, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 1)
        guard fd >= 0 else { throw KernelError("socket(AF_BLUETOOTH, SOCK_RAW, BTPROTO_HCI)") }
        var address: (UInt16, UInt16, UInt16) = (31, Mgmt.noIndex, 3)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, 6) }
        }
        guard bound == 0 else {
            let error = KernelError("bind(HCI_CHANNEL_CONTROL)")
            close(fd)
            throw error
        }
        self.fd = fd
    }

    deinit { close(fd) }

    public func send(_ packet: Mgmt.Packet) throws {
        let bytes = packet.bytes
        let sent = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        guard sent == bytes.count else {
            throw KernelError("send(management command 0x\(String(format: "%04x", packet.code)))")
        }
    }

    /// The next packet, or nil when `timeout` passes first.
    public func receive(timeout: Duration) throws -> Mgmt.Packet? {
        let deadline = ContinuousClock.now + timeout
        var buffer = [UInt8](repeating: 0, count: 1024)
        while true {
            switch receiveDatagram(fd, into: &buffer, until: deadline) {
            case .datagram(let count): if let packet = Mgmt.Packet(bytes: buffer[0..<count]) { return packet }
            case .timedOut: return nil
            case .failed(let call, let code): throw KernelError("\(call)(management socket)", errno: code)
            }
        }
    }

    /// Sends a command and returns its Command Complete parameters; events that arrive while it
    /// waits go to `other`. A non-zero status or no answer within `timeout` throws.
    public func command(
        _ packet: Mgmt.Packet, timeout: Duration = .seconds(5), other: (Mgmt.Event, UInt16) -> Void = { _, _ in }
    ) throws -> [UInt8] {
        try send(packet)
        let deadline = ContinuousClock.now + timeout
        let name = String(
            describing: Mgmt.Command(rawValue: packet.code).map { "\($0)" } ?? String(format: "0x%04x", packet.code))
        while let received = try receive(timeout: ContinuousClock.now.duration(to: deadline)) {
            guard let event = Mgmt.Event.decode(received) else { continue }
            switch event {
            case .commandComplete(let command, let status, let parameters)
            where command == packet.code && received.index == packet.index:
                guard status == 0 else {
                    throw KernelError(message: "management command \(name) failed: \(Mgmt.statusText(status))")
                }
                return parameters
            case .commandStatus(let command, let status)
            where command == packet.code && received.index == packet.index && status != 0:
                throw KernelError(message: "management command \(name) failed: \(Mgmt.statusText(status))")
            default:
                other(event, received.index)
            }
        }
        throw KernelError(message: "management command \(name): no answer within \(timeout.components.seconds) s")
    }
}

/// Whether bluetoothd runs on this machine (a process of that name in /proc).
public func bluetoothdRunning() -> Bool {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return false }
    for entry in entries where entry.allSatisfy(\.isNumber) {
        if let comm = try? String(contentsOfFile: "/proc/\(entry)/comm", encoding: .utf8),
            comm.trimmingCharacters(in: .whitespacesAndNewlines) == "bluetoothd"
        {
            return true
        }
    }
    return false
}
