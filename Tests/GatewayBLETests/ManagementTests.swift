import Foundation
import GatewayCore
import GatewayStore
import GatewayTestSupport
import Logging
import Testing
import ccm_gatewayd

@testable import GatewayBLE

#if canImport(Glibc)
import Glibc
#endif

/// The management API's packets (BlueZ doc/mgmt-api.txt), byte for byte, without a kernel.
@Suite("Bluetooth management packets", .ownThreads)
struct ManagementPacketTests {
    static let meter = Mgmt.Address("C0:26:DA:01:02:03", random: true)!

    @Test("Commands: header (code, index, length, little-endian) and parameters")
    func commands() {
        #expect(Mgmt.setPowered(0, true).bytes == [0x05, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01])
        #expect(Mgmt.setLowEnergy(1, true).bytes == [0x0D, 0x00, 0x01, 0x00, 0x01, 0x00, 0x01])
        #expect(Mgmt.setBondable(0, false).bytes == [0x09, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00])
        #expect(Mgmt.setSecureConnections(0, true).bytes == [0x2D, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01])
        #expect(Mgmt.setIOCapability(0, .keyboardDisplay).bytes == [0x18, 0x00, 0x00, 0x00, 0x01, 0x00, 0x04])
        #expect(Mgmt.readIndexList().bytes == [0x03, 0x00, 0xFF, 0xFF, 0x00, 0x00])
        // Discovery of LE public and LE random addresses (bits 1 and 2), not BR/EDR.
        #expect(Mgmt.startDiscovery(0).bytes == [0x23, 0x00, 0x00, 0x00, 0x01, 0x00, 0x06])
        #expect(Mgmt.stopDiscovery(1).bytes == [0x24, 0x00, 0x01, 0x00, 0x01, 0x00, 0x06])
        // The address goes least significant byte first, then its type (2: LE random).
        #expect(
            Mgmt.userConfirmationReply(0, Self.meter, accept: true).bytes == [
                0x1C, 0x00, 0x00, 0x00, 0x07, 0x00, 0x03, 0x02, 0x01, 0xDA, 0x26, 0xC0, 0x02,
            ])
        #expect(Mgmt.userConfirmationReply(0, Self.meter, accept: false).code == 0x001D)
        // 123456 = 0x0001E240, little-endian.
        #expect(
            Mgmt.userPasskeyReply(0, Self.meter, passkey: 123456).bytes
                == [
                    0x1E, 0x00, 0x00, 0x00, 0x0B, 0x00, 0x03, 0x02, 0x01, 0xDA, 0x26, 0xC0, 0x02, 0x40, 0xE2, 0x01,
                    0x00,
                ])
        #expect(
            Mgmt.userPasskeyReply(0, Self.meter, passkey: nil).bytes == [
                0x1F, 0x00, 0x00, 0x00, 0x07, 0x00, 0x03, 0x02, 0x01, 0xDA, 0x26, 0xC0, 0x02,
            ])
        #expect(
            Mgmt.disconnect(0, Self.meter).bytes == [
                0x14, 0x00, 0x00, 0x00, 0x07, 0x00, 0x03, 0x02, 0x01, 0xDA, 0x26, 0xC0, 0x02,
            ])
        #expect(
            Mgmt.unpairDevice(0, Self.meter, disconnect: true).parameters == [
                0x03, 0x02, 0x01, 0xDA, 0x26, 0xC0, 0x02, 0x01,
            ])
    }

    static let ltk: [UInt8] =
        [0x03, 0x02, 0x01, 0xDA, 0x26, 0xC0, 0x02, 0x00, 0x01, 0x10, 0x34, 0x12] + Array(1...8) + Array(0x20...0x2F)
    static let irk: [UInt8] = [0x03, 0x02, 0x01, 0xDA, 0x26, 0xC0, 0x02] + Array(0x40...0x4F)

    @Test("Load Long Term Keys and Load Identity Resolving Keys carry the kernel's records whole, after a count")
    func loadKeys() throws {
        let ltk = try #require(Mgmt.LongTermKey(record: Self.ltk))
        #expect(ltk.address == Self.meter && ltk.keyType == 0 && !ltk.authenticated && ltk.central == 1)
        let packet = Mgmt.loadLongTermKeys(0, [ltk, ltk])
        #expect(packet.code == 0x0013 && packet.parameters.count == 2 + 72)
        #expect(Array(packet.parameters.prefix(2)) == [0x02, 0x00] && Array(packet.parameters[2..<38]) == Self.ltk)
        let irk = try #require(Mgmt.IdentityResolvingKey(record: Self.irk))
        #expect(
            Mgmt.loadIdentityResolvingKeys(0, [irk]).bytes == [0x30, 0x00, 0x00, 0x00, 25, 0x00, 0x01, 0x00] + Self.irk)
        #expect(Mgmt.loadLongTermKeys(0, []).parameters == [0x00, 0x00])
        #expect(Mgmt.LongTermKey(record: Self.ltk.dropLast()) == nil)
        #expect(Mgmt.LongTermKey(record: [0] * 6 + [9] + [0] * 29) == nil, "address type 9 does not exist")
    }

    @Test("Events: pairing requests, new keys, settings, command answers; short ones are refused")
    func events() throws {
        func event(_ code: UInt16, _ index: UInt16 = 0, _ parameters: [UInt8]) -> Mgmt.Event? {
            let bytes =
                [
                    UInt8(code & 0xFF), UInt8(code >> 8), UInt8(index & 0xFF), UInt8(index >> 8),
                    UInt8(parameters.count), 0,
                ] + parameters
            return Mgmt.Packet(bytes: bytes).flatMap(Mgmt.Event.decode)
        }
        let address: [UInt8] = [0x03, 0x02, 0x01, 0xDA, 0x26, 0xC0, 0x02]
        #expect(
            event(0x000F, 0, address + [0x01, 0, 0, 0, 0]) == .userConfirmationRequest(Self.meter, justWorks: true))
        #expect(
            event(0x000F, 0, address + [0x00, 0x40, 0xE2, 0x01, 0x00])
                == .userConfirmationRequest(Self.meter, justWorks: false))
        #expect(event(0x0010, 0, address) == .userPasskeyRequest(Self.meter))
        #expect(event(0x0011, 0, address + [0x05]) == .authenticationFailed(Self.meter, status: 0x05))
        #expect(
            event(0x000A, 0, [0x01] + Self.ltk) == .newLongTermKey(Mgmt.LongTermKey(record: Self.ltk)!, store: true))
        let rpa: [UInt8] = [0x11, 0x22, 0x33, 0x44, 0x55, 0x66]
        let newIRK = try #require(event(0x0018, 0, [0x01] + rpa + Self.irk))
        #expect(
            newIRK
                == .newIdentityResolvingKey(
                    Mgmt.IdentityResolvingKey(record: Self.irk)!,
                    privateAddress: Mgmt.Address(bytes: rpa, kind: .leRandom), store: true))
        #expect(
            event(0x0018, 0, [0x00] + [0] * 6 + Self.irk)
                == .newIdentityResolvingKey(
                    Mgmt.IdentityResolvingKey(record: Self.irk)!, privateAddress: nil, store: false))
        #expect(event(0x0006, 0, [0x11, 0x02, 0x00, 0x00]) == .newSettings([.powered, .bondable, .lowEnergy]))
        #expect(
            event(0x0001, 0, [0x05, 0x00, 0x00, 0x11, 0x02, 0x00, 0x00])
                == .commandComplete(command: 0x0005, status: 0, parameters: [0x11, 0x02, 0x00, 0x00]))
        #expect(event(0x0002, 0, [0x13, 0x00, 0x0D]) == .commandStatus(command: 0x0013, status: 0x0D))
        #expect(event(0x0004, 1, []) == .indexAdded)
        #expect(event(0x0005, 1, []) == .indexRemoved)
        #expect(event(0x0010, 0, Array(address.prefix(6))) == nil)
        #expect(event(0x000A, 0, [0x01] + Self.ltk.dropLast()) == nil)
        #expect(event(0x0099, 0, [1, 2]) == .other(0x0099))
        // Device Found: address, type, RSSI, flags, EIR length, EIR (flags; Glucose service; name).
        let eir: [UInt8] = [0x02, 0x01, 0x06, 0x03, 0x03, 0x08, 0x18, 0x06, 0x09] + Array("meter".utf8)
        let found = event(0x0012, 0, address + [0xC4, 0, 0, 0, 0, UInt8(eir.count), 0] + eir)
        #expect(
            found
                == .deviceFound(
                    AdvertisingReport(
                        address: "C0:26:DA:01:02:03", randomAddress: true, name: "meter", services: [0x1808], rssi: -60)
                ))
        #expect(event(0x0012, 0, address + [0xC4, 0, 0, 0, 0, UInt8(eir.count), 0] + eir.dropLast()) == nil)
        #expect(event(0x0012, 0, [0x03, 0x02, 0x01, 0xDA, 0x26, 0xC0, 0x00, 0xC4, 0, 0, 0, 0, 0, 0]) == nil, "BR/EDR")
        #expect(event(0x0013, 0, [0x06, 0x01]) == .discovering(true))
        #expect(event(0x0013, 0, [0x06, 0x00]) == .discovering(false))
        #expect(Mgmt.Packet(bytes: [0x01, 0x00, 0x00, 0x00, 0x05, 0x00, 0x01]) == nil, "length says 5, 1 follows")
    }

    @Test("Read Controller Information: address, settings, name")
    func controllerInfo() throws {
        var parameters: [UInt8] = [0x01, 0x00, 0x00, 0xEE, 0xFF, 0xC0, 0x09, 0x02, 0x00]
        parameters += [0xFF, 0x3F, 0x00, 0x00] + [0x11, 0x02, 0x00, 0x00] + [0, 0, 0]
        parameters +=
            Array("ccm gateway".utf8) + [UInt8](repeating: 0, count: 249 - 11) + [UInt8](repeating: 0, count: 11)
        let info = try #require(Mgmt.ControllerInfo.decode(parameters))
        #expect(info.address.string == "C0:FF:EE:00:00:01")
        #expect(info.current == [.powered, .bondable, .lowEnergy] && info.current.names == "powered, bondable, le")
        #expect(info.name == "ccm gateway")
    }

    @Test("Addresses: text both ways; resolvable private ones recognised")
    func addresses() {
        #expect(Self.meter.string == "C0:26:DA:01:02:03" && Self.meter.isRandom)
        #expect(Mgmt.Address("4A:11:22:33:44:55", random: true)!.isResolvablePrivate)
        #expect(!Mgmt.Address("C0:11:22:33:44:55", random: true)!.isResolvablePrivate)
        #expect(
            Mgmt.Address("C0:11:22:33:44", random: true) == nil
                && Mgmt.Address("C0:11:22:33:44:GG", random: false) == nil)
    }
}

private func * (_ value: [UInt8], _ count: Int) -> [UInt8] { Array([[UInt8]](repeating: value, count: count).joined()) }

/// Raising the link's security level: the wait for the link to be secure, and how a failure is named.
@Suite("BLE link security", .ownThreads)
struct LinkSecurityTests {
    @Test(
        "After the security level is raised the client waits for the socket to become writable, and a link that drops is a security failure"
    )
    func waitsForWritable() throws {
        var fds: [Int32] = [0, 0]
        try #require(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0)
        defer { close(fds[0]) }
        // Fill the send buffer: the socket is then not writable, as an L2CAP socket is while the kernel encrypts.
        _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
        let chunk = [UInt8](repeating: 0, count: 512)
        while chunk.withUnsafeBytes({ send(fds[0], $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) > 0 {}
        let started = ContinuousClock.now
        let timedOut = try #require(throws: KernelError.self) {
            try L2CAP.waitUntilWritable(fds[0], timeout: .milliseconds(300))
        }
        #expect(ContinuousClock.now - started >= .milliseconds(300))
        #expect(timedOut.description.contains("pairing or encryption did not finish"))
        // Draining makes it writable: the wait returns.
        let reader = fds[1]
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while recv(reader, &buffer, buffer.count, Int32(MSG_DONTWAIT)) > 0 {}
        }
        try L2CAP.waitUntilWritable(fds[0], timeout: .seconds(5))
        // The peer going away while it waits (pairing failed, the kernel dropped the link).
        var pair: [Int32] = [0, 0]
        try #require(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0)
        defer { close(pair[0]) }
        close(pair[1])
        let dropped = try #require(throws: KernelError.self) {
            try L2CAP.waitUntilWritable(pair[0], timeout: .seconds(5))
        }
        #expect(dropped.description.contains("pairing or encryption failed: the link dropped"))
    }

    @Test("A device whose pairing fails ends the session with a security failure, not a malformed PDU")
    func pairingFailureNamed() throws {
        let world = try BLEWorld()
        let meter = SimulatedPeripheral.meter(records: [GATTBytes.glucoseRecord(1, mgdL: 100)])
        meter.securityError = 0x0F
        var fds: [Int32] = [0, 0]
        try #require(socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0)
        meter.serve(fd: fds[1])
        let bearer = ATTBearer(fd: fds[0]) {
            throw KernelError(message: "pairing or encryption failed: the link dropped (Connection refused)")
        }
        let summary = try world.sync.run(
            device: try world.database.device(BLEWorld.meter)!, address: BLEWorld.meter, bearer: bearer)
        _ = meter.finish()
        let failure = try #require(summary.report.failure)
        #expect(failure.hasPrefix("security failure: pairing or encryption failed"))
        #expect(!failure.contains("malformed"))
    }
}
