import GRDB
import GatewayStore
import GatewayTestSupport
import Testing

/// The daemon's WAL checkpoints run on a connection of their own, not inside writers' commits
/// (WALCheckpointer, docs/architecture.md § "The database").
@Suite("WAL checkpointer", .ownThreads)
struct WALCheckpointerTests {
    @Test("With a checkpointer the writer lets the WAL grow past 1,000 pages, and the checkpointer copies all of it")
    func checkpointsOffTheWriter() throws {
        let world = try World(templates: [])
        let checkpointer = try WALCheckpointer(database: world.database)
        let limit = try world.database.pool.writeWithoutTransaction {
            try Int.fetchOne($0, sql: "PRAGMA wal_autocheckpoint")
        }
        #expect(limit == WALCheckpointer.writerLimit)
        let fileLimit = try world.database.pool.writeWithoutTransaction {
            try Int.fetchOne($0, sql: "PRAGMA journal_size_limit")
        }
        #expect(fileLimit == WALCheckpointer.fileLimit)
        try world.database.write { try $0.execute(sql: "CREATE TABLE scratch (x BLOB)") }
        // 30 commits of about 100 pages each: past SQLite's default of 1,000 pages, the writer
        // would have checkpointed in a commit and started the WAL again.
        for _ in 0..<30 {
            try world.database.write { db in
                for _ in 0..<100 { try db.execute(sql: "INSERT INTO scratch VALUES (zeroblob(4000))") }
            }
        }
        let first = try checkpointer.checkpoint()
        #expect(first.walPages > 2_000)
        #expect(first.checkpointed == first.walPages)
        // The next commit starts the WAL again from its beginning.
        try world.database.write { try $0.execute(sql: "INSERT INTO scratch VALUES (zeroblob(4000))") }
        #expect(try checkpointer.checkpoint().walPages < 10)
        #expect(try world.database.write { try Int.fetchOne($0, sql: "SELECT count(*) FROM scratch") } == 3_001)
    }
}
