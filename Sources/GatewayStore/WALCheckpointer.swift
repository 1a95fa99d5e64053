import GRDB

/// Copies the write-ahead log into the database file on a connection of its own (SQLite's
/// passive checkpoint), so that the writers do not.
///
/// By default SQLite checkpoints in the commit that takes the WAL past 1,000 pages: that commit
/// copies them and syncs the database file, several milliseconds in the path of whoever
/// committed (an MQTT lane with readings waiting, a BLE session). With a checkpointer the writer
/// checkpoints itself only past ``writerLimit`` pages, a backstop for a checkpointer that falls
/// behind. A passive checkpoint waits for no reader or writer: it copies what no reader still
/// needs and leaves the rest for the next one. Durability is the WAL's either way
/// (`synchronous=FULL` syncs each commit there), so when checkpoints run changes nothing a power
/// cut could lose. The daemon runs one (`CheckpointService`); ccmctl does not.
public final class WALCheckpointer: Sendable {
    private let connection: DatabaseQueue

    /// Pages the writer lets the WAL grow to before it checkpoints in a commit itself (16 MiB
    /// of 4 KiB pages). The WAL starts again from its beginning only at a write transaction
    /// that finds it all copied, which a checkpoint running beside a writer busy without pause
    /// rarely leaves it: then this is how large the WAL grows, and what a restart after a crash
    /// reads.
    public static let writerLimit = 4_000

    /// The size the WAL file is cut back to when it starts again, in bytes.
    public static let fileLimit = writerLimit * 4096

    /// Opens the checkpointer's connection to `database`'s file and raises the writer's
    /// automatic checkpoint to ``writerLimit``. The path is checked to name the database's file
    /// just before and after opening (SQLite creates a file that is not there).
    public init(database: GatewayDatabase) throws {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.label = "ccm-gateway-checkpoint"
        try database.checkFile()
        connection = try DatabaseQueue(path: database.path, configuration: configuration)
        try database.checkFile()
        try connection.writeWithoutTransaction { try $0.execute(sql: "PRAGMA synchronous = FULL") }
        try database.pool.writeWithoutTransaction {
            try $0.execute(sql: "PRAGMA wal_autocheckpoint = \(Self.writerLimit)")
            try $0.execute(sql: "PRAGMA journal_size_limit = \(Self.fileLimit)")
        }
    }

    /// One passive checkpoint. Returns the pages in the WAL and how many of them are now in the
    /// database file.
    @discardableResult
    public func checkpoint() throws -> (walPages: Int, checkpointed: Int) {
        try connection.inDatabase { db in
            guard let row = try Row.fetchOne(db, sql: "PRAGMA wal_checkpoint(PASSIVE)") else { return (0, 0) }
            return (row[1], row[2])
        }
    }
}
