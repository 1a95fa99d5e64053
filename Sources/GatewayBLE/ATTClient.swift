import GatewayCore

/// A GATT client over one ``ATTBearer``: one request in flight, each with the ATT transaction
/// timeout; notifications and indications demultiplexed by opcode whenever they arrive (between
/// a request and its response too); every indication confirmed after its handler has returned,
/// so a value is stored before the device is told it was received.
///
/// Synchronous by design: a session is a sequence of request/response steps on one bearer, run
/// on a thread of its own.
public final class ATTClient {
    /// A value the device pushed: the handle, its bytes, and whether it was an indication.
    public typealias ValueHandler = (_ handle: UInt16, _ value: [UInt8], _ indication: Bool) throws -> Void

    public let bearer: ATTBearer
    /// The negotiated ATT MTU.
    public private(set) var mtu = ATT.defaultMTU
    /// The ATT transaction timeout (30 s by the Core specification; tests shorten it).
    public let timeout: Duration
    var onValue: ValueHandler?
    /// Whether the security level was raised in this session (it is raised at most once).
    public private(set) var securityRaised = false
    /// PDUs that were ignored: unknown opcodes, responses to nothing, values too short to hold a handle.
    public private(set) var ignoredPDUs = 0

    public init(bearer: ATTBearer, timeout: Duration = .seconds(30)) {
        self.bearer = bearer
        self.timeout = timeout
    }

    // MARK: Requests

    /// Sends a request and returns its response's parameters. An Error Response becomes
    /// ``ATT/Failure/error(request:handle:code:)``; Insufficient Authentication or Encryption is
    /// answered by raising the security level and sending the request again, once per session.
    func request(_ pdu: [UInt8]) throws(ATT.Failure) -> ArraySlice<UInt8> {
        do {
            return try transact(pdu)
        } catch .error(let request, let handle, let code) where code.isSecurity && !securityRaised {
            guard let raise = bearer.raiseSecurity else { throw .error(request: request, handle: handle, code: code) }
            securityRaised = true
            do { try raise() } catch { throw .security("\(error)") }
            do {
                return try transact(pdu)
            } catch .error(_, _, let again) where again.isSecurity {
                throw .security(
                    "the device still answers \(again) on an encrypted link; it wants authenticated pairing "
                        + "(a passkey: ccmctl devices pair DEVICE --passkey PIN), or it lost its bond (ccmctl devices unpair DEVICE, then pair again)"
                )
            }
        }
    }

    private func transact(_ pdu: [UInt8]) throws(ATT.Failure) -> ArraySlice<UInt8> {
        let opcode = pdu[0]
        guard let expected = ATT.Opcode(rawValue: opcode)?.response else {
            preconditionFailure("0x\(hex(opcode)) is not an ATT request")
        }
        try bearer.send(pdu)
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while true {
            guard let bytes = try bearer.receive(until: deadline) else {
                throw .timeout(request: opcode, seconds: timeout.inSeconds)
            }
            guard let received = ATT.PDU(bytes) else { continue }
            switch received.known {
            case expected:
                return received.parameters
            case .errorResponse:
                guard received.parameters.count == 4 else {
                    throw .malformed("Error Response of \(received.parameters.count + 1) bytes; it has 5")
                }
                let parameters = received.parameters, start = parameters.startIndex
                guard parameters[start] == opcode else {
                    ignoredPDUs += 1
                    continue
                }
                throw .error(
                    request: opcode, handle: u16(parameters, at: 1)!,
                    code: ATT.ErrorCode(rawValue: parameters[start + 3]))
            default:
                try dispatch(received)
            }
        }
    }

    /// Handles a PDU that is not the response being waited for: values go to the handler,
    /// requests from the device's own GATT client are answered, anything else is counted and dropped.
    private func dispatch(_ pdu: ATT.PDU) throws(ATT.Failure) {
        switch pdu.known {
        case .handleValueNotification, .handleValueIndication:
            let indication = pdu.known == .handleValueIndication
            guard let handle = u16(pdu.parameters, at: 0) else {
                ignoredPDUs += 1
                // An indication still needs its confirmation, or the device sends nothing more.
                if indication { try bearer.send(ATT.confirmation) }
                return
            }
            if let onValue {
                do { try onValue(handle, Array(pdu.parameters.dropFirst(2)), indication) } catch let failure
                    as ATT.Failure
                {
                    throw failure
                } catch {
                    // Not stored, so not confirmed: the device keeps it.
                    throw .malformed("a value could not be stored: \(error)")
                }
            }
            if indication { try bearer.send(ATT.confirmation) }
        case .exchangeMTURequest:
            // The device may start its own exchange; both sides then use the smaller MTU.
            if let theirs = u16(pdu.parameters, at: 0) { mtu = max(ATT.defaultMTU, min(ATT.clientMTU, Int(theirs))) }
            try bearer.send([ATT.Opcode.exchangeMTUResponse.rawValue] + le16(UInt16(ATT.clientMTU)))
        case .some(let opcode) where opcode.response != nil:
            // This gateway has no GATT server of its own.
            try bearer.send(
                ATT.errorResponse(
                    request: pdu.opcode, handle: u16(pdu.parameters, at: 0) ?? 0, code: .requestNotSupported))
        default:
            if pdu.known == nil, pdu.opcode & 0x40 == 0, pdu.opcode & 0x01 == 0 {
                // An unknown request (commands have bit 6 set and get no answer).
                try bearer.send(ATT.errorResponse(request: pdu.opcode, handle: 0, code: .requestNotSupported))
            }
            ignoredPDUs += 1
        }
    }

    /// Receives and dispatches PDUs until `done()` holds (true), `idle` passes without a PDU
    /// (false), or the device disconnects (throws).
    func serve(idle: Duration, until done: () -> Bool) throws(ATT.Failure) -> Bool {
        while !done() {
            guard let bytes = try bearer.receive(until: ContinuousClock.now.advanced(by: idle)) else { return false }
            guard let pdu = ATT.PDU(bytes) else { continue }
            try dispatch(pdu)
        }
        return true
    }

    // MARK: GATT procedures

    /// Exchange MTU; a device that does not support it keeps the default 23.
    public func exchangeMTU() throws(ATT.Failure) {
        do throws(ATT.Failure) {
            let response = try request(ATT.exchangeMTU(ATT.clientMTU))
            guard let server = u16(response, at: 0) else {
                throw ATT.Failure.malformed("Exchange MTU Response without an MTU")
            }
            mtu = max(ATT.defaultMTU, min(ATT.clientMTU, Int(server)))
        } catch .error(_, _, let code) where code == .requestNotSupported {
            mtu = ATT.defaultMTU
        }
    }

    /// Primary services (Read By Group Type 0x2800 from 0x0001 until Attribute Not Found).
    public func discoverPrimaryServices() throws(ATT.Failure) -> [GATTService] {
        var services: [GATTService] = []
        var start: UInt16 = 0x0001
        while true {
            let response: ArraySlice<UInt8>
            do {
                response = try request(ATT.readByGroupType(start: start, end: 0xFFFF, type: .primaryService))
            } catch .error(_, _, let code) where code == .attributeNotFound {
                break
            }
            var last = start
            for entry in try ATT.entries(response, minimum: 6) {
                guard let end = u16(entry.value, at: 0), let uuid = ATT.UUID(bytes: entry.value.dropFirst(2)),
                    end >= entry.handle,
                    entry.handle >= start
                else {
                    throw .malformed("service declaration at 0x\(hex16(entry.handle)) is not a handle range and a UUID")
                }
                services.append(GATTService(uuid: uuid, start: entry.handle, end: end))
                last = end
            }
            guard last < 0xFFFF else { break }
            start = last + 1
        }
        return services
    }

    /// The characteristics of a service, each with its CCCD when it notifies or indicates.
    public func discoverCharacteristics(of service: GATTService) throws(ATT.Failure) -> [GATTCharacteristic] {
        var found: [GATTCharacteristic] = []
        var start = service.start
        while start <= service.end {
            let response: ArraySlice<UInt8>
            do {
                response = try request(ATT.readByType(start: start, end: service.end, type: .characteristic))
            } catch .error(_, _, let code) where code == .attributeNotFound {
                break
            }
            var last = start
            for entry in try ATT.entries(response, minimum: 7) {
                guard entry.handle >= start, entry.value.count == 5 || entry.value.count == 19,
                    let valueHandle = u16(entry.value, at: 1), let uuid = ATT.UUID(bytes: entry.value.dropFirst(3))
                else {
                    throw .malformed(
                        "characteristic declaration at 0x\(hex16(entry.handle)) is not properties, a handle and a UUID")
                }
                guard valueHandle > entry.handle, valueHandle <= service.end else {
                    throw .malformed(
                        "characteristic declaration at 0x\(hex16(entry.handle)) puts its value at 0x\(hex16(valueHandle)), outside its service (to 0x\(hex16(service.end)))"
                    )
                }
                found.append(
                    GATTCharacteristic(
                        uuid: uuid, declaration: entry.handle, valueHandle: valueHandle,
                        properties: GATTCharacteristic.Properties(rawValue: entry.value[entry.value.startIndex])))
                last = entry.handle
            }
            guard last < service.end else { break }
            start = last + 1
        }
        // Descriptors lie between a value handle and the next declaration (or the service end).
        for index in found.indices where !found[index].properties.isDisjoint(with: [.notify, .indicate]) {
            // The value handle lies inside the service (checked above), so neither bound wraps.
            let first = found[index].valueHandle &+ 1
            let last = index + 1 < found.count ? found[index + 1].declaration &- 1 : service.end
            guard first > found[index].valueHandle, first <= last, last <= service.end else { continue }
            found[index].cccd = try findDescriptor(.clientCharacteristicConfiguration, from: first, to: last)
        }
        return found
    }

    private func findDescriptor(_ type: ATT.UUID, from first: UInt16, to last: UInt16) throws(ATT.Failure) -> UInt16? {
        var start = first
        while start <= last {
            let response: ArraySlice<UInt8>
            do {
                response = try request(ATT.findInformation(start: start, end: last))
            } catch .error(_, _, let code) where code == .attributeNotFound {
                return nil
            }
            let entries = try ATT.information(response)
            if let match = entries.first(where: { $0.type == type }) { return match.handle }
            guard let highest = entries.map(\.handle).max(), highest >= start, highest < last else { return nil }
            start = highest + 1
        }
        return nil
    }

    /// Reads a value (continuing with Read Blob while a part fills the MTU).
    public func read(_ handle: UInt16) throws(ATT.Failure) -> [UInt8] {
        var value = Array(try request(ATT.read(handle)))
        while value.count >= mtu - 1, value.count < 512 {
            let part: ArraySlice<UInt8>
            do {
                part = try request(ATT.readBlob(handle, offset: UInt16(value.count)))
            } catch .error(_, _, let code) where code.rawValue == 0x0B || code.rawValue == 0x07 {
                break  // Attribute Not Long / Invalid Offset: the value was exactly one part.
            }
            value += part
            if part.count < mtu - 1 { break }
        }
        return value
    }

    /// Write Request (with response).
    public func write(_ handle: UInt16, _ value: [UInt8]) throws(ATT.Failure) {
        _ = try request(ATT.write(handle, value))
    }
}

/// A primary service and its handle range.
public struct GATTService: Sendable, Hashable {
    public var uuid: ATT.UUID
    public var start: UInt16
    public var end: UInt16
}

/// A characteristic declaration, with its CCCD handle when it has one.
public struct GATTCharacteristic: Sendable, Hashable {
    public struct Properties: OptionSet, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let read = Properties(rawValue: 0x02)
        public static let writeWithoutResponse = Properties(rawValue: 0x04)
        public static let write = Properties(rawValue: 0x08)
        public static let notify = Properties(rawValue: 0x10)
        public static let indicate = Properties(rawValue: 0x20)
    }

    public var uuid: ATT.UUID
    public var declaration: UInt16
    public var valueHandle: UInt16
    public var properties: Properties
    public var cccd: UInt16?
}
