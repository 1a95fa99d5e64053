public import Foundation
public import GRDB

/// The gateway's SQLite database: one file in WAL mode, shared by `ccm-gatewayd` (the writer of
/// readings) and `ccmctl` (operators) at the same time.
public final class GatewayDatabase: Sendable {
    /// How to treat a path with no database behind it.
    public enum OpenMode: Sendable {
        /// Create the file (mode 0640) and its directory (0750) when missing.
        case create
        /// Refuse with a clear error; for commands that only read.
        case existing
    }

    public let path: String
    public let pool: DatabasePool
    /// How long a writer keeps waiting for the write lock, in all: `nil` waits as long as it
    /// takes (the daemon), else up to this many seconds (``defaultWaitLimit`` for ccmctl).
    public let waitLimit: TimeInterval?
    /// Told, each time the busy timeout runs out and the writer goes on waiting, how long it has
    /// waited so far (seconds); ccmctl says so once, the daemon logs it.
    public let onWait: @Sendable (_ waited: TimeInterval) -> Void

    /// Ten minutes: writers hold the lock for a bounded time (the pipeline decides at most
    /// ``Pipeline/batchLimit`` inputs or ``Pipeline/batchBudget`` per transaction), so a writer
    /// that waits this long is behind a stuck process, not a busy one.
    public static let defaultWaitLimit: TimeInterval = 600

    /// Opens (and migrates) the database at `path`.
    ///
    /// Fails with a ``StoreError`` that names the fix when the file is missing (`.existing`),
    /// unreadable, not a database, locked by another process beyond the busy timeout, or
    /// written by a newer ccm-gateway.
    ///
    /// A writer that finds the database locked waits: SQLite's busy handler for `busyTimeout`
    /// seconds at a time, again and again, until `waitLimit` (``write(_:)``).
    public init(
        path: String, mode: OpenMode = .create, busyTimeout: TimeInterval = 5, waitLimit: TimeInterval? = defaultWaitLimit,
        onWait: @escaping @Sendable (_ waited: TimeInterval) -> Void = { _ in }
    ) throws {
        self.path = path
        self.waitLimit = waitLimit
        self.onWait = onWait
        let fm = FileManager.default
        if !fm.fileExists(atPath: path) {
            guard mode == .create else {
                throw StoreError(
                    .missing,
                    "no database at \(path); add a patient or device first (that creates it), start ccm-gatewayd, or pass --db with the right path")
            }
            try Self.createFile(at: path)
        } else if !fm.isReadableFile(atPath: path) {
            throw StoreError(
                .unreadable,
                "cannot read the database at \(path): permission denied; run as a member of the ccm-gateway group or pass --db with a file you can read")
        }
        var configuration = Configuration()
        configuration.busyMode = .timeout(busyTimeout)
        configuration.label = "ccm-gateway"
        configuration.prepareDatabase { db in
            // Every commit is on disk before it returns: an input acknowledged to a broker or a
            // device must survive a power cut, not only a crash.
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            let migrator = Schema.migrator
            if try pool.read({ try migrator.hasBeenSuperseded($0) }) {
                throw StoreError(
                    .newerSchema,
                    "the database at \(path) was written by a newer ccm-gateway (its schema has migrations this version does not know); upgrade ccm-gateway before using it")
            }
            // Only a database that needs a migration takes the write lock here: an up-to-date
            // one opens without waiting for a busy daemon.
            if try !pool.read({ try migrator.hasCompletedMigrations($0) }) {
                try waitingForLock { try migrator.migrate(pool) }
            }
        } catch let error as DatabaseError {
            throw Self.explain(error, path: path)
        }
    }

    static func explain(_ error: DatabaseError, path: String) -> StoreError {
        switch error.resultCode {
        case .SQLITE_NOTADB, .SQLITE_CORRUPT:
            StoreError(.notADatabase, "\(path) is not a ccm-gateway database (SQLite says: \(error.message ?? "file is not a database")); check --db, or restore it from a backup")
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            StoreError(.locked, "the database at \(path) is locked by another process; wait for it to finish (a long export or a stuck process holding a write lock) and try again")
        case .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_READONLY, .SQLITE_AUTH:
            StoreError(.unreadable, "cannot open the database at \(path) for writing (SQLite says: \(error.message ?? "unable to open")); check the file's and its directory's permissions or pass --db")
        default:
            StoreError(.io, "database error at \(path): \(error.message ?? "\(error.resultCode)")")
        }
    }

    private static func createFile(at path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) {
            do {
                try FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o750])
            } catch {
                throw StoreError(.unreadable, "cannot create the directory \(directory) for the database: \(error.localizedDescription); create it or pass --db")
            }
        }
        // Patient data: not world-readable. SQLite gives -wal and -shm the same mode.
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o640]) else {
            throw StoreError(.unreadable, "cannot create the database file \(path); check that its directory is writable or pass --db")
        }
    }

    /// Runs `body` in a write transaction, turning SQLite errors into ``StoreError``s.
    ///
    /// Writes begin `IMMEDIATE`, so another process's write lock is met at `BEGIN`, before
    /// `body` runs: a writer that finds the lock taken waits and begins again (``waitLimit``),
    /// instead of failing because someone else is busy.
    public func write<T>(_ body: (Database) throws -> T) throws -> T {
        try waitingForLock { try pool.write(body) }
    }

    /// Runs `operation` again while it fails because another connection holds the lock, up to
    /// ``waitLimit``; other SQLite errors become ``StoreError``s at once.
    func waitingForLock<T>(_ operation: () throws -> T) throws -> T {
        let start = ContinuousClock.now
        while true {
            do { return try operation() } catch let error as DatabaseError {
                let waited = Self.seconds(ContinuousClock.now - start)
                guard Self.isBusy(error), waitLimit.map({ waited < $0 }) ?? true else { throw Self.explain(error, path: path) }
                onWait(waited)
            }
        }
    }

    /// Another connection holds a lock this one needs: wait and try again.
    public static func isBusy(_ error: DatabaseError) -> Bool {
        error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED
    }

    static func seconds(_ duration: Duration) -> TimeInterval {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    /// Runs `body` on a read snapshot, turning SQLite errors into ``StoreError``s.
    public func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try pool.read(body) } catch let error as DatabaseError { throw Self.explain(error, path: path) }
    }
}
