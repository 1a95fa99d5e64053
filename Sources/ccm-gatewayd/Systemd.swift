import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The systemd notification protocol, spoken directly (no libsystemd): one datagram of
/// newline-separated assignments to `$NOTIFY_SOCKET`. The protocol is a stable interface
/// (systemd's PORTABILITY_AND_STABILITY document).
struct SystemdNotify: Sendable {
    let socketPath: String

    /// `nil` when not started by systemd with `Type=notify` (no `NOTIFY_SOCKET`), or when the
    /// variable holds something other than a path or an abstract socket name.
    init?(environment: [String: String] = ProcessInfo.processInfo.environment) {
        guard let path = environment["NOTIFY_SOCKET"], path.hasPrefix("/") || path.hasPrefix("@"), path.utf8.count < 108
        else {
            return nil
        }
        socketPath = path
    }

    /// Sends `assignments` (for example `["READY=1", "STATUS=…"]`) in one datagram. Best effort:
    /// a failure is returned, never thrown, since a daemon must not stop over it.
    @discardableResult
    func send(_ assignments: [String]) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var pathBytes = Array(socketPath.utf8)
        if pathBytes.first == UInt8(ascii: "@") { pathBytes[0] = 0 }  // abstract namespace
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: pathBytes)
        }
        // The length counts the path bytes only: padding NULs would change an abstract name.
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + pathBytes.count)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, length) }
        }
        guard connected == 0 else { return false }
        let message = Array(assignments.joined(separator: "\n").utf8)
        return message.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } == message.count
    }
}

/// A log handler for journald's stdout/stderr stream: one line per record, no timestamp (the
/// journal adds its own), metadata as `key=value`, and a `<N>` syslog priority prefix so that
/// `journalctl -p warning` works.
struct JournalLogHandler: LogHandler {
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    let label: String

    init(label: String) { self.label = label }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    static func priority(_ level: Logger.Level) -> Int {
        switch level {
        case .critical: 2
        case .error: 3
        case .warning: 4
        case .notice: 5
        case .info: 6
        case .debug, .trace: 7
        }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        var line = "<\(Self.priority(event.level))>\(event.message)"
        for key in merged.keys.sorted() { line += " \(key)=\(merged[key]!)" }
        line += "\n"
        FileHandle.standardError.write(Data(line.utf8))
    }

    /// Whether standard error is connected to the journal: `$JOURNAL_STREAM` is `<dev>:<ino>`
    /// of the very file descriptor 2 (not inherited by a child whose stderr was redirected).
    static func stderrIsJournal(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        guard let value = environment["JOURNAL_STREAM"] else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(2, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }
}
