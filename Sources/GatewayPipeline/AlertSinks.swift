import Foundation
import GRDB
public import GatewayCore
public import GatewayStore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Told, once a transaction has committed, of the alert events it stored in the outbox
/// (`alert_event`). Delivery itself goes from the outbox, never from this list: the daemon's
/// sink wakes its deliverers (alert log, journal, MQTT); ccmctl's writes the alert log
/// (``AlertLogOutbox``). A sink never throws: the database is the record, and whatever a sink
/// could not deliver waits in the outbox.
public protocol AlertSink: Sendable {
    func deliver(_ events: [AlertEvent])
}

/// Several sinks, told in order.
public struct AlertSinks: AlertSink {
    public var sinks: [any AlertSink]

    public init(_ sinks: [any AlertSink]) { self.sinks = sinks }

    public func deliver(_ events: [AlertEvent]) {
        guard !events.isEmpty else { return }
        for sink in sinks { sink.deliver(events) }
    }
}

/// The sink of one-shot processes (ccmctl, `ccm-gatewayd ble-sync`): after each commit that
/// produced alert events, writes whatever the outbox has for the alert log (these events, and
/// any an earlier run could not write), then runs `also` (the journal, for ble-sync). A log
/// that cannot be written is reported through `onError`; its events wait for the next writer
/// (the daemon retries every few seconds).
public struct AlertLogOutbox: AlertSink {
    public let database: GatewayDatabase
    public let log: AlertLogFile
    let onError: @Sendable (String) -> Void
    let also: @Sendable () -> Void
    /// Most write transactions (of up to 200 lines) one delivery makes; the rest waits for the
    /// next (the daemon's deliverer).
    let batches: Int
    /// Whether a delivery syncs the file and moves the cursor (``AlertLogFile/deliverPending(from:batch:batches:sync:)``).
    let sync: Bool

    public init(
        database: GatewayDatabase, log: AlertLogFile, batches: Int = .max, sync: Bool = true,
        onError: @escaping @Sendable (String) -> Void, also: @escaping @Sendable () -> Void = {}
    ) {
        self.database = database
        self.log = log
        self.batches = batches
        self.sync = sync
        self.onError = onError
        self.also = also
    }

    public func deliver(_ events: [AlertEvent]) {
        guard !events.isEmpty else { return }
        deliverPending()
    }

    /// Writes the alert log's waiting events now.
    public func deliverPending() {
        do { try log.deliverPending(from: database, batches: batches, sync: sync) } catch { onError("\(error)") }
        also()
    }
}

/// The append-only alert log: one line per event, each ending with the event's id. Lines come
/// from the outbox, in id order, exactly once each (``deliverPending(from:batch:)``), written
/// with `O_APPEND` so that the daemon and `ccmctl` can both append to it. logrotate may move it
/// away (every writer follows the path to the new file; SIGHUP's ``reopen(countingIn:)`` at
/// once); no copytruncate, which can lose lines.
public final class AlertLogFile: Sendable {
    public let path: String
    public let format: AlertLogFormat
    private let descriptor = Mutex<Int32>(-1)

    public init(path: String, format: AlertLogFormat = .text) {
        self.path = path
        self.format = format
    }

    deinit {
        let fd = descriptor.withLock { $0 }
        if fd >= 0 { close(fd) }
    }

    /// Opens the file now, creating it (0660) and its directory (0770), so that a wrong path
    /// fails at start-up with a clear message rather than at the first alert.
    public func open() throws {
        try descriptor.withLock { fd in
            if fd >= 0 { return }
            fd = try Self.openFile(path)
        }
    }

    /// Writes every event the outbox holds after the log's cursor, in id order, then moves the
    /// cursor past them, in batches of `batch`, each in one write transaction: the write lock
    /// makes the daemon and ccmctl take turns, so no two processes write the same event. The
    /// lines are on disk (fsync) before the cursor moves. A writer that died after writing but
    /// before its commit left its lines at the end of the file: the next writer finds the last
    /// event id there (checked against the stored event, so a log from another database is not
    /// trusted) and goes on after it, so each event is in the log exactly once. A line cut short
    /// (a full disk) is ended with a newline and its event written again in full. Throws, with
    /// the cursor unmoved, when the file cannot be opened or written (after a rotation, what the
    /// old file held is counted first). Returns the lines written.
    /// At most `batches` transactions: what is left waits for the next delivery.
    ///
    /// Without `sync` the lines are written but neither synced nor counted: the cursor stays,
    /// and the next delivery finds them at the end of the file and goes on after them. The
    /// daemon's committing thread writes so, for an alert line at once without two more syncs
    /// in its path; its log deliverer, a few times a second, syncs the file and moves the
    /// cursor. A power cut in between loses lines the cursor never counted: they are written
    /// again.
    @discardableResult
    public func deliverPending(
        from database: GatewayDatabase, batch: Int = 200, batches: Int = .max, sync: Bool = true
    ) throws -> Int {
        var total = 0
        for _ in 0..<batches {
            let count = try database.write { db in try deliverBatch(limit: batch, sync: sync, db) }
            total += count
            if count < batch { break }
        }
        return total
    }

    /// SIGHUP (logrotate's postrotate): when the path names another file than the one open, the
    /// lines the old file holds past the cursor are synced and counted, under the write lock, and
    /// the new file is opened, so it goes on after them instead of repeating them (the daemon's
    /// committing thread writes without counting). Every delivery does the same when it finds
    /// the path moved (``deliverPending(from:batch:batches:sync:)``); this does it now, and syncs
    /// and counts what the file holds. Throws when the path cannot be opened (the count is kept;
    /// the events wait, and each delivery tries the path again).
    public func reopen(countingIn database: GatewayDatabase) throws {
        try database.write { db in _ = try deliverBatch(limit: 0, sync: true, db) }
        try descriptor.withLock { fd in
            if fd < 0 { fd = try Self.openFile(path) }
        }
    }

    /// Makes this file the one the log's cursor counts in: the daemon's, at its start. A ccmctl
    /// configured with another file then leaves the events to the daemon instead of moving the
    /// cursor past events written elsewhere.
    public func claim(in database: GatewayDatabase) throws {
        try database.write { db in try AlertOutbox.claim(.log, target: absolutePath, db) }
    }

    /// `path` made absolute (a relative one is relative to the working directory).
    var absolutePath: String { URL(fileURLWithPath: path).standardizedFileURL.path }

    private func deliverBatch(limit: Int, sync: Bool, _ db: Database) throws -> Int {
        var cursor = try AlertOutbox.cursor(.log, db)
        let target = try AlertOutbox.target(.log, db)
        guard target == nil || target == absolutePath else {
            throw StoreError(
                .conflict,
                "the alert log is \(target!) (the daemon's), not \(absolutePath); the events wait for the daemon to write them there (pass --config with the daemon's configuration to write them now)"
            )
        }
        if target == nil { try AlertOutbox.claim(.log, target: absolutePath, db) }
        return try descriptor.withLock { fd in
            if fd >= 0, !Self.path(path, names: fd) {
                // Rotated or removed since this writer opened it (a ccmctl run across a
                // logrotate, the daemon before its SIGHUP): what the old file holds past the
                // cursor is synced and counted, then the lines go to the file at the path, after
                // its own last line. So no writer repeats there what another wrote to the new
                // file, nor leaves its uncounted lines to be written again.
                if let old = try? Self.lastDelivered(fd, path: path, db).id, old > cursor, fsync(fd) == 0 {
                    try AlertOutbox.advance(.log, to: old, db)
                    cursor = old
                }
                close(fd)
                fd = -1
                // A path that cannot be opened now is tried again at the next delivery, which
                // reports it; this transaction keeps the count.
                guard let opened = try? Self.openFile(path) else { return 0 }
                fd = opened
            }
            if fd < 0 { fd = try Self.openFile(path) }
            let found: (id: Int64?, partial: Bool)
            do { found = try Self.lastDelivered(fd, path: path, db) } catch {
                close(fd)
                fd = -1
                throw error
            }
            let from = max(cursor, found.id ?? 0)
            let events = try AlertOutbox.events(after: from, limit: limit, db)
            if !events.isEmpty {
                var bytes: [UInt8] = found.partial ? [0x0A] : []
                for event in events { bytes += Array((format.line(event) + "\n").utf8) }
                do { try Self.write(bytes, to: fd, path: path) } catch {
                    // The next attempt opens the path again (a rotated or repaired file).
                    close(fd)
                    fd = -1
                    throw error
                }
            }
            let through = events.last?.eventID ?? from
            // The cursor moves only past lines on disk: those just written, and those a writer
            // left unsynced (the daemon's committing thread, or one that died after its write).
            if sync, through > cursor {
                guard fsync(fd) == 0 else {
                    let error = Self.ioError("write to", path)
                    close(fd)
                    fd = -1
                    throw error
                }
                try AlertOutbox.advance(.log, to: through, db)
            }
            return events.count
        }
    }

    /// `path` names the file open at `fd` (not a rotated or removed one).
    static func path(_ path: String, names fd: Int32) -> Bool {
        var atPath = stat()
        var open = stat()
        guard stat(path, &atPath) == 0, fstat(fd, &open) == 0 else { return false }
        return atPath.st_dev == open.st_dev && atPath.st_ino == open.st_ino
    }

    /// The id of the last event line in the file open at `fd`, when the outbox holds that very
    /// event; and whether the file ends inside a line. Reads at most its last 64 KiB.
    static func lastDelivered(_ fd: Int32, path: String, _ db: Database) throws -> (id: Int64?, partial: Bool) {
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ioError("read", path) }
        let size = Int(info.st_size)
        guard size > 0 else { return (nil, false) }
        let length = min(size, 64 * 1024)
        var buffer = [UInt8](repeating: 0, count: length)
        var done = 0
        while done < length {
            let count = buffer.withUnsafeMutableBytes {
                pread(fd, $0.baseAddress! + done, length - done, off_t(size - length + done))
            }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { throw ioError("read", path) }
            done += count
        }
        let partial = buffer.last != 0x0A
        // The complete lines, last first, found from the end (the last one usually answers):
        // a line cut short at the end is skipped, and so is the first one when the read began
        // inside the file, since it may be the tail of a longer line.
        var end = partial ? buffer.lastIndex(of: 0x0A) : buffer.count - 1
        while let lineEnd = end {
            let newline = buffer[..<lineEnd].lastIndex(of: 0x0A)
            guard newline != nil || length == size else { break }
            let start = newline.map { $0 + 1 } ?? 0
            end = newline
            guard start < lineEnd,
                let event = AlertLogFormat.parse(String(decoding: buffer[start..<lineEnd], as: UTF8.self)),
                let id = event.eventID
            else { continue }
            let stored = try AlertOutbox.events(after: id - 1, limit: 1, db).first
            return (stored == event ? id : nil, partial)
        }
        return (nil, partial)
    }

    /// Appends `bytes` (not synced).
    static func write(_ bytes: [UInt8], to fd: Int32, path: String) throws {
        var done = 0
        while done < bytes.count {
            let count = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + done, bytes.count - done) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else { throw ioError("write to", path) }
            done += count
        }
    }

    static func ioError(_ verb: String, _ path: String) -> StoreError {
        StoreError(
            .io,
            "cannot \(verb) the alert log \(path): \(String(cString: strerror(errno))); the alert events wait in the database and are written once it is writable"
        )
    }

    static func openFile(_ path: String) throws -> Int32 {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) {
            try? FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o770])
        }
        // Read as well as append: the writer looks at the file's last line (lastDelivered).
        // Group-writable (under the processes' umask 0007): operators in the ccm-gateway group
        // append their acknowledgements to the daemon's log.
        let fd = Glibc.open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o660)
        guard fd >= 0 else {
            throw StoreError(
                .io, "cannot open the alert log \(path): \(String(cString: strerror(errno)))",
                fix: "set alerts.log in the configuration to a writable file")
        }
        return fd
    }
}
