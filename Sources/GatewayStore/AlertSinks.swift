import Foundation
public import GatewayCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Where alert events go once they are committed: the alert log file, the journal, and the MQTT
/// alert topic when that source exists. A sink never throws: the database is the record, and a
/// sink that fails says so through its own channel.
public protocol AlertSink: Sendable {
    func deliver(_ events: [AlertEvent])
}

/// Several sinks, delivered in order.
public struct AlertSinks: AlertSink {
    public var sinks: [any AlertSink]

    public init(_ sinks: [any AlertSink]) { self.sinks = sinks }

    public func deliver(_ events: [AlertEvent]) {
        guard !events.isEmpty else { return }
        for sink in sinks { sink.deliver(events) }
    }
}

/// The append-only alert log: one line per event, written with `O_APPEND` in one `write` per
/// line so that the daemon and `ccmctl` can append to it at the same time. ``reopen()`` (on
/// SIGHUP) lets logrotate move it away; no copytruncate, which can lose lines.
public final class AlertLogFile: AlertSink {
    public let path: String
    public let format: AlertLogFormat
    private let descriptor = Mutex<Int32>(-1)
    /// Called with a description when a line cannot be written (the daemon logs it).
    private let onError: @Sendable (String) -> Void

    public init(path: String, format: AlertLogFormat = .text, onError: @escaping @Sendable (String) -> Void = { _ in }) {
        self.path = path
        self.format = format
        self.onError = onError
    }

    deinit {
        let fd = descriptor.withLock { $0 }
        if fd >= 0 { close(fd) }
    }

    /// Opens the file now, creating it (0640) and its directory (0750), so that a wrong path
    /// fails at start-up with a clear message rather than at the first alert.
    public func open() throws {
        try descriptor.withLock { fd in
            if fd >= 0 { return }
            fd = try Self.openFile(path)
        }
    }

    /// Closes and opens the path again: the next line goes to a new file after a rotation.
    public func reopen() throws {
        try descriptor.withLock { fd in
            let new = try Self.openFile(path)
            if fd >= 0 { close(fd) }
            fd = new
        }
    }

    public func deliver(_ events: [AlertEvent]) {
        guard !events.isEmpty else { return }
        descriptor.withLock { fd in
            if fd < 0 {
                do { fd = try Self.openFile(path) } catch {
                    onError("\(error)")
                    return
                }
            }
            for event in events {
                let bytes = Array((format.line(event) + "\n").utf8)
                let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if written != bytes.count { onError("cannot write to the alert log \(path): \(String(cString: strerror(errno)))") }
            }
        }
    }

    static func openFile(_ path: String) throws -> Int32 {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o770])
        }
        // Group-writable (under the processes' umask 0007): operators in the ccm-gateway group
        // append their acknowledgements to the daemon's log.
        let fd = Glibc.open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o660)
        guard fd >= 0 else {
            throw StoreError(.io, "cannot open the alert log \(path): \(String(cString: strerror(errno))); set alerts.log in the configuration to a writable file")
        }
        return fd
    }
}
