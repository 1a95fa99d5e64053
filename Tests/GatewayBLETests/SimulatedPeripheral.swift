import Foundation
import Synchronization
import ccm_gatewayd

@testable import GatewayBLE

#if canImport(Glibc)
import Glibc
#endif

/// A simulated health device that speaks raw ATT PDUs over one end of a
/// `socketpair(AF_UNIX, SOCK_SEQPACKET)`: a GATT server with the Blood Pressure, Glucose, Weight
/// Scale, Body Composition, Pulse Oximeter, Health Thermometer and Current Time services, a
/// cuff's, scale's or thermometer's stored measurements delivered by indication, an oximeter's
/// continuous measurements by notification, and a meter's or oximeter's Record Access Control
/// Point. Everything the client sends is kept for the test to inspect.
/// The only simulated thing is the radio.
final class SimulatedPeripheral: @unchecked Sendable {
    // Safety: the peripheral's state is touched by its own thread while serving and by the test
    // only after `finish()` has joined that thread; the shared flags are Atomics.

    struct Characteristic {
        var uuid: UInt16
        var properties: UInt8
        var value: [UInt8] = []
        var hasCCCD: Bool { properties & 0x30 != 0 }
    }

    struct Service {
        var uuid: UInt16
        var characteristics: [Characteristic]
    }

    /// One attribute of the database, with its handle.
    struct Attribute {
        var handle: UInt16
        var type: UInt16
        var value: [UInt8]
        /// For a characteristic value or CCCD: the characteristic's UUID.
        var owner: UInt16?
    }

    /// A meter's stored record: the measurement value and, when its flags say so, its context.
    struct GlucoseRecord {
        var sequence: Int
        var measurement: [UInt8]
        var context: [UInt8]?
    }

    // Configuration
    var services: [Service]
    var serverMTU: UInt16 = 247
    /// The cuff's stored measurements, indicated once the measurement CCCD is armed.
    var cuffMeasurements: [[UInt8]] = []
    var glucoseRecords: [GlucoseRecord] = []
    /// Close the connection after this many records (measurements) were sent.
    var disconnectAfterRecords: Int?
    /// Close the connection right after the measurement with this sequence number, before its context.
    var disconnectBeforeContextOf: Int?
    /// Writes fail with this error until the client raises the security level.
    var securityError: UInt8?
    /// Whether raising the security level satisfies the device (false: it keeps refusing).
    var securityCures = true
    /// Error codes to answer the next RACP writes with (then behave).
    var racpWriteErrors: [UInt8] = []
    /// A RACP response code to end every report request with, instead of the real outcome.
    var racpResponseOverride: UInt8?
    /// Answer Report Stored Records with nothing at all (a meter that never finishes).
    var racpSilentOnReport = false
    /// Junk PDUs sent before each response (unknown opcodes, values without a handle).
    var junk: [[UInt8]] = []
    /// Requests (by opcode) the device never answers.
    var silentOn: Set<UInt8> = []
    /// A response to send instead of the real one, by request opcode (once).
    var replaceResponse: [UInt8: [UInt8]] = [:]
    /// Values pushed (indicated or notified, as the characteristic's properties say) once the
    /// CCCD of `pushTrigger.uuid` has been written `pushTrigger.nth` times in a connection; then
    /// the device disconnects, as scales and thermometers do.
    var pushed: [(uuid: UInt16, value: [UInt8])] = []
    var pushTrigger: (uuid: UInt16, nth: Int) = (0, 1)
    /// An oximeter's stored spot-checks, indicated on 0x2A5E by its RACP.
    var storedSpotChecks: [[UInt8]] = []

    // What happened
    let securityRaised = Atomic<Int>(0)
    var securityRaises: Int { securityRaised.load(ordering: .sequentiallyConsistent) }
    private(set) var attributes: [Attribute] = []
    private(set) var received: [[UInt8]] = []
    private(set) var confirmations = 0
    private(set) var racpRequests: [[UInt8]] = []
    private(set) var writes: [(handle: UInt16, value: [UInt8])] = []
    private(set) var recordsSent = 0
    private(set) var currentTime: [UInt8]?
    private(set) var dateTime: [UInt8]?
    private(set) var spotChecksDeleted = 0
    private var triggerWrites = 0

    private var fd: Int32 = -1
    private var cccd: [UInt16: UInt16] = [:]
    private var thread: Thread?
    private let done = Atomic<Bool>(false)
    private var sentInConnection = 0

    init(services: [Service]) {
        self.services = services
    }

    // MARK: Devices

    /// A cuff; `clock` is what its Current Time reads (zeros, "unknown", by default).
    static func cuff(
        measurements: [[UInt8]], clockWritable: Bool = true, clock: [UInt8] = [UInt8](repeating: 0, count: 10)
    ) -> SimulatedPeripheral {
        let device = SimulatedPeripheral(services: [
            Service(
                uuid: 0x1800,
                characteristics: [Characteristic(uuid: 0x2A00, properties: 0x02, value: Array("Cuff".utf8))]),
            Service(
                uuid: 0x1810,
                characteristics: [
                    Characteristic(uuid: 0x2A35, properties: 0x20),
                    Characteristic(uuid: 0x2A36, properties: 0x10),
                    Characteristic(uuid: 0x2A49, properties: 0x02, value: [0x27, 0x00]),
                ]),
            Service(
                uuid: 0x1805,
                characteristics: [Characteristic(uuid: 0x2A2B, properties: clockWritable ? 0x1A : 0x12, value: clock)]),
        ])
        device.cuffMeasurements = measurements
        return device
    }

    /// A cuff without Current Time whose Blood Pressure service has Date Time (0x2A08), writable or not.
    static func cuffWithDateTime(measurements: [[UInt8]], writable: Bool = true) -> SimulatedPeripheral {
        let device = SimulatedPeripheral(services: [
            Service(
                uuid: 0x1810,
                characteristics: [
                    Characteristic(uuid: 0x2A35, properties: 0x20),
                    Characteristic(uuid: 0x2A49, properties: 0x02, value: [0x27, 0x00]),
                    Characteristic(
                        uuid: 0x2A08, properties: writable ? 0x0A : 0x02, value: [UInt8](repeating: 0, count: 7)),
                ])
        ])
        device.cuffMeasurements = measurements
        return device
    }

    static func meter(records: [GlucoseRecord]) -> SimulatedPeripheral {
        let device = SimulatedPeripheral(services: [
            Service(
                uuid: 0x1808,
                characteristics: [
                    Characteristic(uuid: 0x2A18, properties: 0x10),
                    Characteristic(uuid: 0x2A34, properties: 0x10),
                    Characteristic(uuid: 0x2A51, properties: 0x02, value: [0x03, 0x04]),
                    Characteristic(uuid: 0x2A52, properties: 0x28),
                ]),
            Service(
                uuid: 0x180A,
                characteristics: [Characteristic(uuid: 0x2A29, properties: 0x02, value: Array("Meter".utf8))]),
        ])
        device.glucoseRecords = records
        return device
    }

    /// A scale (Weight Scale 0x181D; with Body Composition 0x181B when `bodyComposition` is
    /// given) that indicates its stored measurements, then disconnects.
    static func scale(weights: [[UInt8]], bodyComposition: [[UInt8]]? = nil) -> SimulatedPeripheral {
        var services = [
            Service(
                uuid: 0x181D,
                characteristics: [
                    Characteristic(uuid: 0x2A9D, properties: 0x20),
                    Characteristic(uuid: 0x2A9E, properties: 0x02, value: [0x0E, 0x00, 0x00, 0x00]),
                ])
        ]
        if bodyComposition != nil {
            services.append(
                Service(
                    uuid: 0x181B,
                    characteristics: [
                        Characteristic(uuid: 0x2A9C, properties: 0x20),
                        Characteristic(uuid: 0x2A9B, properties: 0x02, value: [0x01, 0x02, 0x00, 0x00]),
                    ]))
        }
        let device = SimulatedPeripheral(services: services)
        device.pushed = weights.map { (0x2A9D, $0) } + (bodyComposition ?? []).map { (0x2A9C, $0) }
        device.pushTrigger = (bodyComposition == nil ? 0x2A9D : 0x2A9C, 1)
        return device
    }

    /// A pulse oximeter: stored spot-checks behind its RACP, then live spot-checks (indicated)
    /// and continuous measurements (notified), then it disconnects.
    static func oximeter(
        stored: [[UInt8]] = [], spotChecks: [[UInt8]] = [], continuous: [[UInt8]] = []
    ) -> SimulatedPeripheral {
        let device = SimulatedPeripheral(services: [
            Service(
                uuid: 0x1822,
                characteristics: [
                    Characteristic(uuid: 0x2A5E, properties: 0x20),
                    Characteristic(uuid: 0x2A5F, properties: 0x10),
                    Characteristic(uuid: 0x2A60, properties: 0x02, value: [0x0F, 0x00, 0x00, 0xE0, 0xFF, 0xFF, 0x00]),
                    Characteristic(uuid: 0x2A52, properties: 0x28),
                ])
        ])
        device.storedSpotChecks = stored
        device.pushed = spotChecks.map { (0x2A5E, $0) } + continuous.map { (0x2A5F, $0) }
        // The spot-check CCCD is written before the RACP download and again with the others.
        device.pushTrigger = (0x2A5E, 2)
        return device
    }

    /// A thermometer that indicates its stored measurements, then disconnects.
    static func thermometer(measurements: [[UInt8]]) -> SimulatedPeripheral {
        let device = SimulatedPeripheral(services: [
            Service(
                uuid: 0x1809,
                characteristics: [
                    Characteristic(uuid: 0x2A1C, properties: 0x20),
                    Characteristic(uuid: 0x2A1E, properties: 0x10),
                ])
        ])
        device.pushed = measurements.map { (0x2A1C, $0) }
        device.pushTrigger = (0x2A1C, 1)
        return device
    }

    // MARK: Connections

    /// Starts serving one connection; returns the client's end, as the bearer for an ``ATTClient``.
    func connect() -> ATTBearer {
        var fds: [Int32] = [0, 0]
        precondition(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0)
        serve(fd: fds[1])
        return ATTBearer(fd: fds[0]) { [self] in
            securityRaised.add(1, ordering: .sequentiallyConsistent)
        }
    }

    /// Serves one connection on `fd` (one end of a socketpair, or an accepted Unix socket).
    func serve(fd: Int32) {
        buildDatabase()
        self.fd = fd
        sentInConnection = 0
        cccd = [:]
        triggerWrites = 0
        done.store(false, ordering: .sequentiallyConsistent)
        let thread = Thread { [self] in
            loop()
            close(fd)
            done.store(true, ordering: .sequentiallyConsistent)
        }
        self.thread = thread
        thread.start()
    }

    /// Listens on a Unix `SOCK_SEQPACKET` socket at `path` and serves the first connection, as an
    /// external peripheral for `ccm-gatewayd ble-sync unix:PATH`.
    func listen(path: String) throws {
        let listener = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard bound == 0, Glibc.listen(listener, 1) == 0 else {
            throw SupportError(description: "cannot listen on \(path)")
        }
        done.store(false, ordering: .sequentiallyConsistent)
        Thread.detachNewThread { [self] in
            let accepted = accept(listener, nil, nil)
            close(listener)
            if accepted >= 0 { serve(fd: accepted) } else { done.store(true, ordering: .sequentiallyConsistent) }
        }
    }

    /// Waits (bounded) until the connection's thread has ended.
    @discardableResult
    func finish(timeout: Duration = .seconds(10)) -> Bool {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        var descriptor = pollfd(fd: -1, events: 0, revents: 0)
        while !done.load(ordering: .sequentiallyConsistent) {
            guard ContinuousClock.now < deadline else { return false }
            _ = poll(&descriptor, 0, 5)
        }
        return true
    }

    private func buildDatabase() {
        attributes = []
        var handle: UInt16 = 1
        for service in services {
            attributes.append(Attribute(handle: handle, type: 0x2800, value: le(service.uuid)))
            handle += 1
            for characteristic in service.characteristics {
                let valueHandle = handle + 1
                attributes.append(
                    Attribute(
                        handle: handle, type: 0x2803,
                        value: [characteristic.properties] + le(valueHandle) + le(characteristic.uuid)))
                attributes.append(
                    Attribute(
                        handle: valueHandle, type: characteristic.uuid, value: characteristic.value,
                        owner: characteristic.uuid))
                handle += 2
                if characteristic.hasCCCD {
                    attributes.append(
                        Attribute(handle: handle, type: 0x2902, value: [0, 0], owner: characteristic.uuid))
                    handle += 1
                }
            }
        }
    }

    func valueHandle(_ uuid: UInt16) -> UInt16 { attributes.first { $0.type == uuid }!.handle }
    func cccdHandle(_ uuid: UInt16) -> UInt16 { attributes.first { $0.type == 0x2902 && $0.owner == uuid }!.handle }
    func cccdValue(_ uuid: UInt16) -> UInt16 { cccd[cccdHandle(uuid)] ?? 0 }

    private func serviceEnd(_ index: Int) -> UInt16 {
        let start = attributes[index].handle
        return attributes.first { $0.handle > start && $0.type == 0x2800 }.map { $0.handle - 1 } ?? 0xFFFF
    }

    // MARK: The server loop

    private func loop() {
        while let pdu = receive() {
            guard let opcode = pdu.first else { continue }
            if opcode == 0x1E {
                confirmations += 1
                continue
            }
            if silentOn.contains(opcode) { continue }
            for bytes in junk { send(bytes) }
            if let replacement = replaceResponse.removeValue(forKey: opcode) {
                send(replacement)
                continue
            }
            guard handle(opcode, Array(pdu.dropFirst())) else { return }
        }
    }

    /// Answers one request; false when the connection is to be closed.
    private func handle(_ opcode: UInt8, _ p: [UInt8]) -> Bool {
        switch opcode {
        case 0x02:
            send([0x03] + le(serverMTU))
        case 0x10:
            let start = u16(p, 0), end = u16(p, 2)
            var entries: [UInt8] = []
            for (index, attribute) in attributes.enumerated()
            where attribute.type == 0x2800 && attribute.handle >= start && attribute.handle <= end {
                entries += le(attribute.handle) + le(serviceEnd(index)) + attribute.value
                if entries.count + 6 > 22 { break }  // as a server keeps a response within the default MTU
            }
            send(entries.isEmpty ? error(0x10, start, 0x0A) : [0x11, 6] + entries)
        case 0x08:
            let start = u16(p, 0), end = u16(p, 2)
            var entries: [UInt8] = []
            for attribute in attributes
            where attribute.type == 0x2803 && attribute.handle >= start && attribute.handle <= end {
                entries += le(attribute.handle) + attribute.value
                if entries.count + 7 > 22 { break }
            }
            send(entries.isEmpty ? error(0x08, start, 0x0A) : [0x09, 7] + entries)
        case 0x04:
            let start = u16(p, 0), end = u16(p, 2)
            var entries: [UInt8] = []
            for attribute in attributes where attribute.handle >= start && attribute.handle <= end {
                entries += le(attribute.handle) + le(attribute.type)
                if entries.count + 4 > 22 { break }
            }
            send(entries.isEmpty ? error(0x04, start, 0x0A) : [0x05, 1] + entries)
        case 0x0A:
            let handle = u16(p, 0)
            guard let attribute = attributes.first(where: { $0.handle == handle }) else {
                return send(error(0x0A, handle, 0x01))
            }
            send([0x0B] + attribute.value)
        case 0x12:
            return write(u16(p, 0), Array(p.dropFirst(2)))
        default:
            send(error(opcode, 0, 0x06))
        }
        return true
    }

    private func write(_ handle: UInt16, _ value: [UInt8]) -> Bool {
        if let code = securityError, securityRaised.load(ordering: .sequentiallyConsistent) == 0 || !securityCures {
            send(error(0x12, handle, code))
            return true
        }
        writes.append((handle, value))
        guard let attribute = attributes.first(where: { $0.handle == handle }) else {
            send(error(0x12, handle, 0x01))
            return true
        }
        if attribute.type == 0x2902 {
            cccd[handle] = u16(value, 0)
            send([0x13])
            if attribute.owner == 0x2A35, value == [0x02, 0x00] { return indicateCuffMeasurements() }
            if attribute.owner == pushTrigger.uuid, value != [0x00, 0x00] {
                triggerWrites += 1
                if triggerWrites == pushTrigger.nth { return push() }
            }
            return true
        }
        switch attribute.type {
        case 0x2A2B:
            currentTime = value
            send([0x13])
        case 0x2A08:
            dateTime = value
            send([0x13])
        case 0x2A52:
            racpRequests.append(value)
            if !racpWriteErrors.isEmpty {
                send(error(0x12, handle, racpWriteErrors.removeFirst()))
                return true
            }
            let oximeter = attributes.contains { $0.type == 0x2A5E }
            guard oximeter ? cccdValue(0x2A5E) == 2 : cccdValue(0x2A18) == 1, cccdValue(0x2A52) == 2 else {
                send(error(0x12, handle, 0x81))
                return true
            }
            send([0x13])
            return oximeter ? plxRACP(value, handle: handle) : racp(value, handle: handle)
        default:
            send(error(0x12, handle, 0x03))
        }
        return true
    }

    private func racp(_ request: [UInt8], handle: UInt16) -> Bool {
        // Operators: 0x01 all, 0x03 ≥ N, 0x04 within N…M (sequence filter 0x01), 0x05 first, 0x06 last.
        let op: UInt8 = request.count >= 2 ? request[1] : 0
        var selected = glucoseRecords
        switch op {
        case 0x03 where request.count == 5 && request[2] == 0x01:
            selected = glucoseRecords.filter { $0.sequence >= Int(u16(request, 3)) }
        case 0x04 where request.count == 7 && request[2] == 0x01:
            selected = glucoseRecords.filter { (Int(u16(request, 3))...Int(u16(request, 5))).contains($0.sequence) }
        case 0x05: selected = Array(glucoseRecords.prefix(1))
        case 0x06: selected = Array(glucoseRecords.suffix(1))
        default: break
        }
        if racpSilentOnReport, request.first == 0x01 { return true }
        switch (request.first, op) {
        case (0x04, 0x01), (0x04, 0x03):
            return indicate(handle, [0x05, 0x00] + le(UInt16(selected.count)))
        case (0x01, 0x01), (0x01, 0x03), (0x01, 0x04), (0x01, 0x05), (0x01, 0x06):
            let measurement = valueHandle(0x2A18), context = valueHandle(0x2A34)
            for record in selected {
                if let limit = disconnectAfterRecords, sentInConnection >= limit { return false }
                send([0x1B] + le(measurement) + record.measurement)
                if record.sequence == disconnectBeforeContextOf { return false }
                if let extra = record.context { send([0x1B] + le(context) + extra) }
                sentInConnection += 1
                recordsSent += 1
            }
            let code = racpResponseOverride ?? (selected.isEmpty ? 0x06 : 0x01)
            return indicate(handle, [0x06, 0x00, 0x01, code])
        case (0x03, _):
            return indicate(handle, [0x06, 0x00, 0x03, 0x01])
        default:
            return indicate(handle, [0x06, 0x00, request.first ?? 0, 0x02])
        }
    }

    /// A pulse oximeter's RACP: the operator "all records" only; stored spot-checks are indicated
    /// on 0x2A5E, each after the previous one was confirmed.
    private func plxRACP(_ request: [UInt8], handle: UInt16) -> Bool {
        guard request.count == 2, request[1] == 0x01 || request[0] == 0x03 else {
            return indicate(handle, [0x06, 0x00, request.first ?? 0, 0x04])  // operator not supported
        }
        switch request[0] {
        case 0x04:
            return indicate(handle, [0x05, 0x00] + le(UInt16(storedSpotChecks.count)))
        case 0x01:
            for record in storedSpotChecks {
                if let limit = disconnectAfterRecords, sentInConnection >= limit { return false }
                guard indicate(valueHandle(0x2A5E), record) else { return false }
                sentInConnection += 1
                recordsSent += 1
            }
            return indicate(handle, [0x06, 0x00, 0x01, storedSpotChecks.isEmpty ? 0x06 : 0x01])
        case 0x02:
            storedSpotChecks = []
            spotChecksDeleted += 1
            return indicate(handle, [0x06, 0x00, 0x02, 0x01])
        case 0x03:
            return indicate(handle, [0x06, 0x00, 0x03, 0x01])
        default:
            return indicate(handle, [0x06, 0x00, request[0], 0x02])
        }
    }

    /// Sends ``pushed``: indicated (each after the previous confirmation) or notified, as the
    /// characteristic's properties say; then disconnects.
    private func push() -> Bool {
        let properties = Dictionary(
            services.flatMap(\.characteristics).map { ($0.uuid, $0.properties) }, uniquingKeysWith: { a, _ in a })
        for (uuid, value) in pushed {
            if let limit = disconnectAfterRecords, sentInConnection >= limit { return false }
            if (properties[uuid] ?? 0) & 0x20 != 0 {
                guard indicate(valueHandle(uuid), value) else { return false }
            } else {
                send([0x1B] + le(valueHandle(uuid)) + value)
            }
            sentInConnection += 1
            recordsSent += 1
        }
        return false
    }

    /// Indicates each stored measurement, one at a time (the next after the confirmation), then
    /// disconnects, as cuffs do.
    private func indicateCuffMeasurements() -> Bool {
        let handle = valueHandle(0x2A35)
        for measurement in cuffMeasurements {
            if let limit = disconnectAfterRecords, sentInConnection >= limit { return false }
            guard indicate(handle, measurement) else { return false }
            sentInConnection += 1
            recordsSent += 1
        }
        return false
    }

    /// Sends an indication and waits for its confirmation (answering nothing else meanwhile).
    private func indicate(_ handle: UInt16, _ value: [UInt8]) -> Bool {
        send([0x1D] + le(handle) + value)
        while let pdu = receive() {
            if pdu.first == 0x1E {
                confirmations += 1
                return true
            }
        }
        return false
    }

    // MARK: Bytes

    private func receive() -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 1024)
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return nil }
        let pdu = Array(buffer[0..<count])
        received.append(pdu)
        return pdu
    }

    @discardableResult
    private func send(_ pdu: [UInt8]) -> Bool {
        pdu.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == pdu.count
    }

    private func error(_ request: UInt8, _ handle: UInt16, _ code: UInt8) -> [UInt8] {
        [0x01, request] + le(handle) + [code]
    }
}

func le(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xFF), UInt8(value >> 8)] }
func u16(_ bytes: [UInt8], _ at: Int) -> UInt16 {
    at + 1 < bytes.count ? UInt16(bytes[at]) | UInt16(bytes[at + 1]) << 8 : 0
}
