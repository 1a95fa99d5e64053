// libFuzzer target: the ATT client and the health-profile session against a peer whose every
// PDU is fuzz input. The input is a sequence of datagrams, each a length byte and that many
// bytes; they are queued on one end of a socketpair(AF_UNIX, SOCK_SEQPACKET), followed by end of
// stream, and a whole HealthSession runs on the other end: MTU exchange, discovery, feature
// reads, CCCDs, RACP, indications. Also the advertising-report and RACP parsers on the raw
// input. Built with the GatewayBLE protocol sources by scripts/fuzz.
import Foundation

#if canImport(Glibc)
import Glibc
#endif

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzATT(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = AdvertisingReport.parse(hciEvent: bytes)
    _ = RACP.Response(bytes)
    _ = try? ATT.entries(bytes[...], minimum: 6)
    _ = try? ATT.information(bytes[...])

    var fds: [Int32] = [0, 0]
    guard socketpair(AF_UNIX, Int32(SOCK_SEQPACKET.rawValue), 0, &fds) == 0 else { return 0 }
    var offset = 0
    while offset < bytes.count {
        let length = Int(bytes[offset])
        let end = min(bytes.count, offset + 1 + length)
        let datagram = Array(bytes[(offset + 1)..<end])
        offset = end
        // An empty datagram reads as end of stream on a SEQPACKET socket, as a closed link would.
        guard !datagram.isEmpty else { continue }
        _ = datagram.withUnsafeBytes { send(fds[1], $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
    }
    // End of stream after the queued PDUs; the client's own requests still have somewhere to go
    // (and, should that fill, fail instead of blocking).
    shutdown(fds[1], Int32(SHUT_WR))
    _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
    defer { close(fds[1]) }
    let bearer = ATTBearer(fd: fds[0]) {}
    let client = ATTClient(bearer: bearer, timeout: .milliseconds(50))
    let session = HealthSession(
        client: client,
        options: .init(
            lastGlucoseSequence: Int(bytes.first ?? 0) * 3, currentTime: [0xEA, 0x07, 3, 4, 10, 5, 0, 3, 0, 2],
            idle: .milliseconds(20),
            procedureTimeout: .milliseconds(50))
    ) { _ in }
    _ = session.run()
    return 0
}
