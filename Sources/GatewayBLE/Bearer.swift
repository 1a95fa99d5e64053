import Foundation
public import GatewayCore

#if canImport(Glibc)
import Glibc
#endif

/// One ATT bearer: a message-oriented file descriptor carrying one PDU per datagram. In
/// production it is the kernel's L2CAP LE socket on the ATT channel; in tests and for external
/// peripherals, a `SOCK_SEQPACKET` Unix socket. The bearer owns the descriptor.
public final class ATTBearer {
    public let fd: Int32
    /// Raises the link's security level so that the kernel encrypts (and pairs) it; `nil` when the
    /// transport has no such notion. Called at most once per session (docs/ble.md § "A session", step 6).
    let raiseSecurity: (() throws -> Void)?
    private var buffer: [UInt8]
    private var closed = false

    /// - Parameter raiseSecurity: what "raise the security level" means on this transport.
    public init(fd: Int32, raiseSecurity: (() throws -> Void)? = nil) {
        self.fd = fd
        self.raiseSecurity = raiseSecurity
        buffer = [UInt8](repeating: 0, count: 1024)
    }

    deinit { close() }

    public func close() {
        guard !closed else { return }
        closed = true
        _ = Glibc.close(fd)
    }

    /// Sends one PDU. A peer that has gone away is reported as ``ATT/Failure/disconnected``.
    func send(_ pdu: [UInt8]) throws(ATT.Failure) {
        let sent = pdu.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if sent == pdu.count { return }
        if sent < 0, [EPIPE, ECONNRESET, ENOTCONN, EBADF, ESHUTDOWN].contains(errno) { throw .disconnected }
        throw .malformed("send of \(pdu.count) bytes failed: \(String(cString: strerror(errno)))")
    }

    /// The next PDU, or `nil` when `deadline` passes first. A closed bearer throws
    /// ``ATT/Failure/disconnected``.
    func receive(until deadline: ContinuousClock.Instant) throws(ATT.Failure) -> [UInt8]? {
        switch receiveDatagram(fd, into: &buffer, until: deadline) {
        case .datagram(let count) where count > 0: Array(buffer[0..<count])
        case .timedOut: nil
        // 0 is an orderly close (or an empty datagram, which no ATT PDU is); errors mean the link went.
        case .datagram, .failed: throw .disconnected
        }
    }
}

/// What waiting for one datagram gave.
enum DatagramWait {
    /// Its length (0: the peer closed the socket).
    case datagram(Int)
    case timedOut
    /// `call` (poll or recv) failed with `errno`.
    case failed(call: String, errno: Int32)
}

/// Waits until `deadline` for one datagram on `fd` and reads it into `buffer`; interrupted and
/// spurious wake-ups are retried. The one poll/recv loop of the ATT bearer and the management
/// socket.
func receiveDatagram(_ fd: Int32, into buffer: inout [UInt8], until deadline: ContinuousClock.Instant) -> DatagramWait {
    while true {
        let remaining = ContinuousClock.now.duration(to: deadline)
        guard remaining > .zero else { return .timedOut }
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&descriptor, 1, remaining.pollMilliseconds)
        if ready < 0 {
            if errno == EINTR { continue }
            return .failed(call: "poll", errno: errno)
        }
        if ready == 0 { continue }
        let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if count >= 0 { return .datagram(count) }
        if errno == EINTR || errno == EAGAIN { continue }
        return .failed(call: "recv", errno: errno)
    }
}

/// A peripheral reached over a Unix `SOCK_SEQPACKET` socket (`ble-sync unix:/path`): one ATT PDU
/// per datagram in each direction. For test peripherals and bridges outside this process.
public enum UnixSeqpacket {
    public static func connect(path: String) throws -> ATTBearer {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else {
            throw KernelError(message: "unix:\(path): the path is longer than \(capacity - 1) bytes")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: Array(path.utf8) + [0])
        }
        let fd = socket(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw KernelError("socket(AF_UNIX, SOCK_SEQPACKET)") }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            let error = KernelError("connect(unix:\(path))")
            close(fd)
            throw error
        }
        // A Unix socket has no link security: "raising" it lets the peripheral see the retry.
        return ATTBearer(fd: fd) {}
    }
}

/// What failed in a socket call, with the call and errno's text.
public struct KernelError: ExplainedError {
    public let what: String
    public let fix: String?

    init(_ call: String, errno code: Int32 = errno) {
        what = "\(call): \(String(cString: strerror(code)))"
        fix = nil
    }

    init(message: String, fix: String? = nil) {
        what = message
        self.fix = fix
    }
}
