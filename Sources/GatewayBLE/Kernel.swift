import CBlueZ
import Foundation
import GatewayCore

#if canImport(Glibc)
import Glibc
#endif

/// The local adapter through libbluetooth's HCI calls.
public enum BluetoothAdapter {
    /// Why there is no usable adapter, or `nil` when there is one. A kernel without Bluetooth
    /// sockets (a container, a VM) and a machine without a controller are both reported here.
    /// Whether the kernel offers Bluetooth sockets at all.
    public static var kernelHasBluetooth: Bool {
        let probe = socket(AF_BLUETOOTH, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), BTPROTO_HCI)
        guard probe >= 0 else { return false }
        close(probe)
        return true
    }

    public static func unavailableReason() -> String? {
        let probe = socket(AF_BLUETOOTH, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), BTPROTO_HCI)
        guard probe >= 0 else {
            return "this kernel offers no Bluetooth sockets (\(String(cString: strerror(errno))))"
        }
        close(probe)
        guard hci_get_route(nil) >= 0 else {
            return "no Bluetooth adapter is up (hci_get_route found none; check `bluetoothctl show`)"
        }
        return nil
    }
}

/// L2CAP LE sockets on the ATT fixed channel (CID 4).
public enum L2CAP {
    static let attChannel: UInt16 = 4

    /// How long pairing or encryption may take after the security level is raised (a passkey
    /// typed on a meter, or SMP over a slow link).
    public static let securityTimeout: Duration = .seconds(30)

    /// Connects to `address` and returns the bearer. `random` must match the address type the
    /// device advertises with. Gives up after `timeout`. With `secure`, the link is encrypted
    /// (paired, or encrypted with the stored bond) before the bearer is returned.
    public static func connect(
        address: String, random: Bool, timeout: Duration, secure: Bool = false
    ) throws -> ATTBearer {
        var peer = bdaddr_t()
        guard str2ba(address, &peer) == 0 else { throw KernelError(message: "\(address) is not a Bluetooth address") }
        let fd = socket(
            AF_BLUETOOTH, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue),
            BTPROTO_L2CAP)
        guard fd >= 0 else { throw KernelError("socket(AF_BLUETOOTH, SOCK_SEQPACKET, BTPROTO_L2CAP)") }
        do {
            var local = sockaddr_l2()
            local.l2_family = sa_family_t(AF_BLUETOOTH)
            local.l2_cid = attChannel.littleEndian
            local.l2_bdaddr_type = UInt8(BDADDR_LE_PUBLIC)
            try withSockaddr(&local) {
                guard bind(fd, $0, $1) == 0 else { throw KernelError("bind(L2CAP LE, ATT channel)") }
            }

            var remote = sockaddr_l2()
            remote.l2_family = sa_family_t(AF_BLUETOOTH)
            remote.l2_bdaddr = peer
            remote.l2_cid = attChannel.littleEndian
            remote.l2_bdaddr_type = UInt8(random ? BDADDR_LE_RANDOM : BDADDR_LE_PUBLIC)
            try withSockaddr(&remote) { pointer, length in
                if Glibc.connect(fd, pointer, length) == 0 { return }
                guard errno == EINPROGRESS else { throw KernelError("connect(\(address))") }
            }
            var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            guard poll(&descriptor, 1, timeout.pollMilliseconds) == 1 else {
                throw KernelError(
                    message: "no connection to \(address) within \(timeout.components.seconds) s (is it advertising?)")
            }
            var failure: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &failure, &size)
            guard failure == 0 else { throw KernelError("connect(\(address))", errno: failure) }
            // The ATT client works with blocking calls and poll(2).
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
            if secure { try raiseSecurity(fd) }
        } catch {
            close(fd)
            throw error
        }
        return ATTBearer(fd: fd) { try raiseSecurity(fd) }
    }

    /// Asks the kernel for an encrypted link (`BT_SECURITY_MEDIUM`): it pairs or encrypts with
    /// the stored bond. Meanwhile the socket is not writable (a send fails with ENOTCONN), so
    /// this waits until it is: the link is secure. A link that drops instead, or stays
    /// unwritable for ``securityTimeout``, is a security failure, named as one.
    static func raiseSecurity(_ fd: Int32, timeout: Duration = securityTimeout) throws {
        var security = bt_security(level: UInt8(BT_SECURITY_MEDIUM), key_size: 0)
        guard setsockopt(fd, SOL_BLUETOOTH, BT_SECURITY, &security, socklen_t(MemoryLayout<bt_security>.size)) == 0
        else {
            throw KernelError("setsockopt(BT_SECURITY)")
        }
        try waitUntilWritable(fd, timeout: timeout)
    }

    /// Waits until `fd` is writable again after the security level was raised: the kernel holds
    /// an L2CAP socket unwritable while it pairs or encrypts.
    static func waitUntilWritable(_ fd: Int32, timeout: Duration) throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            let remaining = ContinuousClock.now.duration(to: deadline)
            guard remaining > .zero else {
                throw KernelError(
                    message: "pairing or encryption did not finish within \(timeout.components.seconds) s "
                        + "(nobody confirmed the pairing, or the device waits for a passkey: ccmctl devices pair DEVICE --passkey PIN)"
                )
            }
            var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = poll(&descriptor, 1, remaining.pollMilliseconds)
            if ready < 0 {
                if errno == EINTR { continue }
                throw KernelError("poll(L2CAP, waiting for encryption)")
            }
            if ready == 0 { continue }
            if descriptor.revents & Int16(POLLERR | POLLHUP) != 0 {
                var failure: Int32 = 0
                var size = socklen_t(MemoryLayout<Int32>.size)
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &failure, &size)
                throw KernelError(
                    message:
                        "pairing or encryption failed: the link dropped (\(String(cString: strerror(failure == 0 ? ENOTCONN : failure))))"
                )
            }
            if descriptor.revents & Int16(POLLOUT) != 0 { return }
        }
    }

    private static func withSockaddr(
        _ address: inout sockaddr_l2, _ body: (UnsafePointer<sockaddr>, socklen_t) throws -> Void
    ) throws {
        try withUnsafePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                try body($0, socklen_t(MemoryLayout<sockaddr_l2>.size))
            }
        }
    }
}

/// LE scanning through the kernel's management API (Start Discovery), not raw HCI commands: the
/// kernel schedules it around its own scans for pending connections, which a scan enabled behind
/// its back made fail (Set Scan Parameters: busy) on Linux 6.1. The kernel ends each discovery
/// after about 10 s, and when it connects; `next` starts it again when `restart` allows. With
/// another owner discovering (bluetoothd), Start Discovery is refused as busy and the Device
/// Found events of that discovery are read instead: every management socket receives them.
public final class LEScanner {
    private let socket: ManagementSocket
    private let index: UInt16
    private var discovering = false
    private var retryAt = ContinuousClock.now
    private var pending: [AdvertisingReport] = []

    /// Opens a management socket for the first adapter that is up and starts discovery.
    public init() throws {
        let id = hci_get_route(nil)
        guard id >= 0 else { throw KernelError(message: "no Bluetooth adapter is up") }
        index = UInt16(id)
        socket = try ManagementSocket()
        start()
    }

    deinit {
        if discovering { try? socket.send(Mgmt.stopDiscovery(index)) }
    }

    /// Ends the discovery this scanner started and waits for the kernel to confirm, so that a
    /// connection made next does not race it.
    public func stop() {
        guard discovering else { return }
        discovering = false
        _ = try? socket.command(Mgmt.stopDiscovery(index), timeout: .seconds(2)) { [self] event, eventIndex in
            note(event, eventIndex)
        }
        pending.removeAll()
    }

    private func start() {
        do {
            _ = try socket.command(Mgmt.startDiscovery(index)) { [self] event, eventIndex in note(event, eventIndex) }
            discovering = true
        } catch {
            // Busy (another discovery, a connection being made) or not powered: try again soon.
            retryAt = .now + .seconds(2)
        }
    }

    private func note(_ event: Mgmt.Event, _ eventIndex: UInt16) {
        guard eventIndex == index else { return }
        switch event {
        case .deviceFound(let report): pending.append(report)
        case .discovering(false):
            discovering = false
            retryAt = .now + .milliseconds(500)
        default: break
        }
    }

    /// The advertising reports heard within `wait` (none if nothing was heard). Discovery that
    /// ended starts again first, unless `restart` is false (a connection is being made).
    public func next(wait: Duration, restart: Bool = true) throws -> [AdvertisingReport] {
        if restart, !discovering, ContinuousClock.now >= retryAt { start() }
        let deadline = ContinuousClock.now + wait
        while pending.isEmpty, let packet = try socket.receive(timeout: ContinuousClock.now.duration(to: deadline)) {
            if let event = Mgmt.Event.decode(packet) { note(event, packet.index) }
        }
        defer { pending.removeAll() }
        return pending
    }
}
