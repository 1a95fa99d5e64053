import Foundation
import GRDB
import GatewayCore
import GatewayPipeline
import GatewayTestSupport
import Testing

@testable import GatewayStore

#if canImport(Glibc)
import Glibc
#endif

/// The database file (docs/architecture.md § "The database"): only an explicit create makes a database,
/// and a database whose file was deleted or replaced while open commits nothing more.
@Suite("The database file's lifecycle", .ownThreads)
struct DatabaseFileTests {
    @Test("Opening without a mode never creates a database: a missing path is refused with ccmctl init as the fix")
    func defaultOpenRefusesMissing() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("gateway.sqlite")
        let error = try #require(throws: StoreError.self) { try GatewayDatabase(path: path) }
        #expect(error.code == .missing)
        #expect(
            error.message
                == "no database at \(path); create it with ccmctl init (or restore it from a backup), or pass --db with the right path"
        )
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test("A created database is 0660 (group read-write, nothing for others) in a new 0770 folder")
    func createdModes() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("state/gateway.sqlite")
        _ = try GatewayDatabase(path: path, mode: .create)
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o660)
        #expect(
            try FileManager.default.attributesOfItem(atPath: directory.file("state"))[.posixPermissions] as? Int
                == 0o770)
    }

    @Test("initialize creates once, records who did, and never touches an existing database or a foreign file")
    func initialize() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("gateway.sqlite")
        let (first, created) = try GatewayDatabase.initialize(path: path, by: "installer")
        #expect(created)
        #expect(
            try first.auditLog(entity: "database").map { "\($0.actor) \($0.action) \($0.entityId)" } == [
                "installer create \(path)"
            ])
        try first.addPatient(Patient(id: "P1", name: "Ada Test", timeZone: "UTC"), by: "test")
        let (again, createdAgain) = try GatewayDatabase.initialize(path: path, by: "someone")
        #expect(!createdAgain)
        #expect(try again.patients().map(\.id) == ["P1"])
        #expect(try again.auditLog(entity: "database").count == 1)

        let foreign = directory.file("notes.txt")
        try Data("not a database, keep me".utf8).write(to: URL(fileURLWithPath: foreign))
        let error = try #require(throws: StoreError.self) {
            try GatewayDatabase.initialize(path: foreign, by: "someone")
        }
        #expect(error.code == .notADatabase)
        #expect(try String(contentsOfFile: foreign, encoding: .utf8) == "not a database, keep me")
    }

    @Test("After rm gateway.sqlite* a commit into the open database fails, rolled back, naming the file and the fix")
    func deletedWhileOpen() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("gateway.sqlite")
        let database = try GatewayDatabase(path: path, mode: .create)
        let pipeline = Pipeline(database: database)
        try database.addPatient(Patient(id: "P1", name: "Ada Test", timeZone: "UTC"), by: "test")
        try database.checkFile()
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }

        #expect(throws: StoreError.self) { try database.checkFile() }
        let error = try #require(throws: StoreError.self) {
            try pipeline.receive(RawInput(source: "mqtt:ccm/v1/hub/h1/reading", payload: Data(#"{"v":1}"#.utf8)))
        }
        #expect(error.code == .replaced)
        #expect(error.message.hasPrefix("the database at \(path) is gone while open ("))
        #expect(
            error.message.hasSuffix("Restore it from a backup or create a new one with ccmctl init, then start again"))
        // Rolled back: the old file (still open) holds no inbox row.
        #expect(try database.read { try Int.fetchOne($0, sql: "SELECT count(*) FROM inbox") } == 0)
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test("A backup put in the database's place is a replacement: the old connection commits nothing more")
    func replacedWhileOpen() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("gateway.sqlite")
        do {
            let database = try GatewayDatabase(path: path, mode: .create)
            do {
                // Closed at the end of the scope, so the backup is whole in its main file.
                let other = try GatewayDatabase(path: directory.file("backup.sqlite"), mode: .create)
                try other.addPatient(Patient(id: "B1", name: "From Backup", timeZone: "UTC"), by: "test")
            }
            // A restore done with the daemon running: the old files out, the backup in.
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
            #expect(rename(directory.file("backup.sqlite"), path) == 0)

            let error = try #require(throws: StoreError.self) {
                try database.addPatient(Patient(id: "P1", name: "Ada Test", timeZone: "UTC"), by: "test")
            }
            #expect(error.code == .replaced)
            #expect(
                error.message
                    == "the database at \(path) was replaced by another file while open; nothing more is written to the old one. Remove \(path)-wal and \(path)-shm (they belong to the old file; SQLite would apply them to the new one), then start again to use the file now at that path"
            )
        }
        // A new open uses the file now at the path, untouched by the old connection.
        #expect(try GatewayDatabase(path: path).patients().map(\.id) == ["B1"])
    }
}
