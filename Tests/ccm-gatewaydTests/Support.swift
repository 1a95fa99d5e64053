import Foundation
import GatewayStore
@_exported import GatewayTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A datagram socket standing in for systemd's `NOTIFY_SOCKET`.
final class NotifyListener: Sendable {
    let path: String
    private let fd: Int32

    init(directory: String) throws {
        path = directory + "/notify.sock"
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        try #require(bound == 0)
    }

    /// The next datagram, or `nil` after `timeout` seconds.
    func next(timeout: Double = 10) -> String? {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&descriptor, 1, Int32(timeout * 1000)) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 4096)
        let count = recv(fd, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        return String(decoding: buffer[0..<count], as: UTF8.self)
    }

    /// Datagrams until one contains `assignment`; `nil` if none does within `timeout` seconds each.
    func waitFor(_ assignment: String, timeout: Double = 10) -> String? {
        while let message = next(timeout: timeout) {
            if message.split(separator: "\n").contains(Substring(assignment)) { return message }
        }
        return nil
    }

    /// ``waitFor(_:timeout:)`` on a thread of its own, so that the blocking `poll` does not
    /// hold one of the few cooperative threads the daemon's services need to get there.
    func awaitAssignment(_ assignment: String, timeout: Double = 60) async -> String? {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: self.waitFor(assignment, timeout: timeout)) }
        }
    }

    deinit { close(fd) }
}

let repository = TestPaths.repository

/// Runs `body` and fails the test if it has not finished within `seconds`.
func withTimeout<T: Sendable>(
    _ seconds: Double, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: .seconds(seconds))
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else {
            throw TimeoutError(seconds: seconds)
        }
        return value
    }
}

struct TimeoutError: Error, CustomStringConvertible {
    let seconds: Double
    var description: String { "timed out after \(seconds) s" }
}

/// Writes a daemon configuration into `directory` (database, alert log, MQTT and BLE off, the
/// repository's templates), creates its database unless told not to, and returns its path.
func writeDaemonConfig(
    in directory: TemporaryDirectory, alertLog: String? = nil, createDatabase: Bool = true
) throws -> String {
    let path = directory.file("gateway.yaml")
    try """
    database:
      path: \(directory.file("gateway.sqlite"))
    careplans:
      directory: \(repository.appendingPathComponent("config/careplans").path)
    alerts:
      log: \(alertLog ?? directory.file("alerts.log"))
    mqtt:
      enabled: false
    ble:
      enabled: false
    """.write(toFile: path, atomically: true, encoding: .utf8)
    // The daemon never creates its database (ccmctl init does).
    if createDatabase { _ = try GatewayDatabase(path: directory.file("gateway.sqlite"), mode: .create) }
    return path
}
