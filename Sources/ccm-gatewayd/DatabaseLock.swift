import Foundation
import GatewayCore

#if canImport(Glibc)
import Glibc
#endif

/// One daemon per database: an exclusive `flock` on `DATABASE.lock`, beside the database, held
/// for the daemon's life and released by the kernel however it ends (`kill -9` included).
/// A second daemon on the same database is refused, naming the first one's pid, which the
/// holder writes into the file. ccmctl and `ccm-gatewayd ble-sync` do not take it: they are
/// short-lived writers that SQLite serializes, and hold no MQTT client id or BLE schedule.
/// The file is never removed (removing a lock file races with the next taker).
final class DatabaseLock: Sendable {
    let path: String
    private let fd: Int32

    init(database: String) throws {
        path = database + ".lock"
        var writable = true
        var fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o660)
        if fd < 0, errno == EACCES {
            // Made by another user without group write: a read-only descriptor still locks.
            fd = open(path, O_RDONLY | O_CLOEXEC)
            writable = false
        }
        guard fd >= 0 else {
            throw GatewaydError(
                "cannot open the lock file \(path): \(String(cString: strerror(errno))); the database's folder must be writable by the daemon's user (ccm-gateway)"
            )
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let error = errno
            let holder = Self.holder(fd)
            close(fd)
            guard error == EWOULDBLOCK else {
                throw GatewaydError("cannot lock \(path): \(String(cString: strerror(error)))")
            }
            throw GatewaydError(
                "another ccm-gatewayd\(holder.map { " (pid \($0))" } ?? "") is already running on the database \(database) (it holds \(path)); stop it first (systemctl stop ccm-gatewayd), or give this one its own database.path"
            )
        }
        if writable {
            let text = Array("\(getpid())\n".utf8)
            _ = ftruncate(fd, 0)
            _ = pwrite(fd, text, text.count, 0)
        }
        self.fd = fd
    }

    /// The pid the holder wrote, if it is a running process.
    private static func holder(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = pread(fd, &buffer, buffer.count, 0)
        guard count > 0,
            let pid = Int32(
                String(decoding: buffer[0..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)),
            pid > 0, kill(pid, 0) == 0 || errno == EPERM
        else { return nil }
        return pid
    }

    deinit { close(fd) }
}
