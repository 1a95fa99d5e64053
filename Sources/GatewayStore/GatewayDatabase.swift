public import Foundation
public import GRDB
import GatewayCore

#if canImport(Glibc)
import Glibc
#endif

/// The gateway's SQLite database: one file in WAL mode, shared by `ccm-gatewayd` (the writer of
/// readings) and `ccmctl` (operators) at the same time.
///
/// Only `ccmctl init` (and the package's postinst, which runs it) creates the database; every
/// other command and the daemon open an existing one and refuse a missing path with that fix,
/// so a deleted database is never silently replaced by an empty one.
public final class GatewayDatabase: Sendable {
    /// How to treat a path with no database behind it.
    public enum OpenMode: Sendable {
        /// Create the file (mode 0660) and a missing directory (0770): `ccmctl init` and tests.
        case create
        /// Refuse a missing file with the fix (`ccmctl init`): the daemon and every other command.
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
    /// The file this connection opened (device and inode), checked before every commit.
    let watch: FileWatch

    /// Opens (and migrates) the database at `path`.
    ///
    /// Fails with a ``StoreError`` that names the fix when the file is missing (`.existing`),
    /// unreadable, not a database, locked by another process beyond the busy timeout, or
    /// written by a newer ccm-gateway.
    ///
    /// A writer that finds the database locked waits: SQLite's busy handler for `busyTimeout`
    /// seconds at a time, again and again, until `waitLimit` (``write(_:)``).
    public init(
        path: String, mode: OpenMode = .existing, busyTimeout: TimeInterval = 5,
        waitLimit: TimeInterval? = defaultWaitLimit,
        onWait: @escaping @Sendable (_ waited: TimeInterval) -> Void = { _ in }
    ) throws {
        self.path = path
        self.waitLimit = waitLimit
        self.onWait = onWait
        switch Self.probe(path) {
        case .missing:
            guard mode == .create else {
                throw StoreError(
                    .missing,
                    "no database at \(path); create it with ccmctl init (or restore it from a backup), or pass --db with the right path"
                )
            }
            try Self.createFile(at: path)
        case .denied(let reason):
            throw StoreError(
                .unreadable,
                "cannot read the database at \(path): \(reason); run ccmctl as a member of the ccm-gateway group (sudo usermod -aG ccm-gateway $USER, then log in again) or pass --db with a file you can read"
            )
        case .present:
            break
        }
        // The file about to be opened; SQLite opens the one the path names between this and
        // the check after migrating, so if both agree, that is the file this connection has.
        let watch = try FileWatch(path: path)
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
            // GRDB's DatabasePool sets `synchronous = NORMAL` on its writer after
            // prepareDatabase has run (its WAL set-up), so commits were not fsync'd: a power cut
            // could lose inputs already acknowledged. Found by counting fsyncs in the drain
            // benchmark (one per 60 messages with one lane). The writer is made FULL again here.
            try pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
            let migrator = Schema.migrator
            let pool = self.pool
            if try pool.read({ try migrator.hasBeenSuperseded($0) }) {
                throw StoreError(
                    .newerSchema,
                    "the database at \(path) was written by a newer ccm-gateway (its schema has migrations this version does not know); upgrade ccm-gateway before using it"
                )
            }
            // Only a database that needs a migration takes the write lock here: an up-to-date
            // one opens without waiting for a busy daemon.
            if try !pool.read({ try migrator.hasCompletedMigrations($0) }) {
                try Self.waitingForLock(path: path, limit: waitLimit, onWait: onWait) { try migrator.migrate(pool) }
            }
            // The writer keeps its temporary files in memory. Each input is decided in a
            // savepoint (Pipeline.decideIsolated), whose journal keeps the pages it changes; past
            // 64 KiB (a reading that raises an alert changes about 16 pages) SQLite spilled it to
            // a file it created, wrote and deleted in /var/tmp inside the transaction: an open and
            // a close per alert on the MQTT lane's thread (strace; Benchmarks/decide-profile.md,
            // "Fourth pass"). Only the writer, after migrating: there it holds a transaction's
            // pages; on readers it would also hold whole sorts (`ccmctl readings` unlimited), and
            // during a migration whole index builds, in RAM instead of spilling. Durability is
            // the WAL's, not this journal's.
            try pool.writeWithoutTransaction { try $0.execute(sql: "PRAGMA temp_store = MEMORY") }
        } catch let error as DatabaseError {
            throw Self.explain(error, path: path)
        }
        // Refuse to commit into the file once the path names another file or none (deleted, or
        // replaced by a restore or a new init).
        try watch.check()
        self.watch = watch
        pool.add(transactionObserver: watch, extent: .databaseLifetime)
    }

    /// Creates the database at `path` for `ccmctl init`, with an audit entry under `actor`;
    /// `created` is false when a database was there already (it is left as it is, only
    /// brought up to this version's schema like at every open).
    public static func initialize(path: String, by actor: String) throws -> (database: GatewayDatabase, created: Bool) {
        if case .present = probe(path) {
            return (try GatewayDatabase(path: path, mode: .existing), false)
        }
        let database = try GatewayDatabase(path: path, mode: .create)
        try database.write { db in
            try Audit.record(db, actor: actor, action: "create", entity: "database", id: path)
        }
        return (database, true)
    }

    /// Throws a ``StoreError`` (`.replaced`) when the path no longer names the file this
    /// database opened: deleted, or replaced by another file. The daemon calls it on a timer;
    /// every commit checks it too (see ``FileWatch``).
    public func checkFile() throws {
        try watch.check()
    }

    enum Probe {
        case missing
        case denied(String)
        case present
    }

    /// What is at `path`: nothing, something this user may not reach, or a file.
    static func probe(_ path: String) -> Probe {
        var info = stat()
        guard stat(path, &info) == 0 else {
            switch errno {
            case ENOENT, ENOTDIR: return .missing
            case EACCES: return .denied("permission denied (its folder is closed to this user)")
            default: return .denied(String(cString: strerror(errno)))
            }
        }
        if (info.st_mode & S_IFMT) == S_IFREG, access(path, R_OK) != 0 {
            return .denied("permission denied")
        }
        return .present
    }

    static func explain(_ error: DatabaseError, path: String) -> StoreError {
        switch error.resultCode {
        case .SQLITE_NOTADB, .SQLITE_CORRUPT:
            StoreError(
                .notADatabase,
                "\(path) is not a ccm-gateway database (SQLite says: \(error.message ?? "file is not a database"))",
                fix: "check --db, or restore it from a backup")
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            StoreError(
                .locked, "the database at \(path) is locked by another process",
                fix: "wait for it to finish (a long export or a stuck process holding a write lock) and try again")
        case .SQLITE_CANTOPEN, .SQLITE_PERM, .SQLITE_READONLY, .SQLITE_AUTH:
            StoreError(
                .unreadable,
                "cannot open the database at \(path) for writing (SQLite says: \(error.message ?? "unable to open")); check the file's and its directory's permissions (operators in the ccm-gateway group need the database and its -wal and -shm files 0660 in a 2770 folder; the package sets them: sudo dpkg-reconfigure ccm-gateway) or pass --db"
            )
        default:
            StoreError(.io, "database error at \(path): \(error.message ?? "\(error.resultCode)")")
        }
    }

    private static func createFile(at path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty, !FileManager.default.fileExists(atPath: directory) {
            do {
                try FileManager.default.createDirectory(
                    atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o770])
            } catch {
                throw StoreError(
                    .unreadable,
                    "cannot create the directory \(directory) for the database: \(error.localizedDescription)",
                    fix: "create it or pass --db")
            }
        }
        // Patient data: not world-readable, but writable by the group (ccm-gateway: the daemon's
        // user and the operators), since every reader of a WAL database writes its -shm file.
        // SQLite gives -wal and -shm the same mode.
        guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o660]) else {
            throw StoreError(
                .unreadable, "cannot create the database file \(path)",
                fix: "check that its directory is writable or pass --db")
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
        try Self.waitingForLock(path: path, limit: waitLimit, onWait: onWait, operation)
    }

    static func waitingForLock<T>(
        path: String, limit: TimeInterval?, onWait: (_ waited: TimeInterval) -> Void, _ operation: () throws -> T
    ) throws -> T {
        let start = ContinuousClock.now
        while true {
            do { return try operation() } catch let error as DatabaseError {
                let waited = (ContinuousClock.now - start).inSeconds
                guard isBusy(error), limit.map({ waited < $0 }) ?? true else { throw explain(error, path: path) }
                onWait(waited)
            }
        }
    }

    /// Another connection holds a lock this one needs: wait and try again.
    public static func isBusy(_ error: DatabaseError) -> Bool {
        error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED
    }

    /// Runs `body` on a read snapshot, turning SQLite errors into ``StoreError``s.
    public func read<T>(_ body: (Database) throws -> T) throws -> T {
        do { return try pool.read(body) } catch let error as DatabaseError { throw Self.explain(error, path: path) }
    }
}

/// Refuses to commit into a database file that its path no longer names.
///
/// After `rm gateway.sqlite*` (or a restore that renames another file over it) an open
/// connection goes on writing into the old, unlinked inode: every input acknowledged then is
/// lost. GRDB calls ``databaseWillCommit()`` from SQLite's commit hook, in the writer's
/// transaction just before it commits, for every write (the pipeline's, ccmctl's, migrations);
/// throwing rolls the transaction back, so the commit that would acknowledge an input fails
/// and the source does not acknowledge it. The check is one `stat(2)` of the path compared with
/// the device and inode seen when the database was opened: about a microsecond, against the
/// milliseconds of the commit's fsync.
final class FileWatch: TransactionObserver, Sendable {
    let path: String
    let device: UInt64
    let inode: UInt64

    init(path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw StoreError(
                .replaced, "the database at \(path) disappeared while it was being opened",
                fix: "run ccmctl init or restore it, then start again")
        }
        self.path = path
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
    }

    func check() throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw StoreError(
                .replaced,
                "the database at \(path) is gone while open (\(String(cString: strerror(errno)))): deleted or moved away; nothing more is written to the old file. Restore it from a backup or create a new one with ccmctl init, then start again"
            )
        }
        guard UInt64(info.st_dev) == device, UInt64(info.st_ino) == inode else {
            throw StoreError(
                .replaced,
                "the database at \(path) was replaced by another file while open; nothing more is written to the old one. Remove \(path)-wal and \(path)-shm (they belong to the old file; SQLite would apply them to the new one), then start again to use the file now at that path"
            )
        }
    }

    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { false }
    func databaseDidChange(with event: DatabaseEvent) {}
    func databaseWillCommit() throws { try check() }
    func databaseDidCommit(_ db: Database) {}
    func databaseDidRollback(_ db: Database) {}
}
