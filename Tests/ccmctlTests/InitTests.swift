import Foundation
import GatewayStore
import GatewayTestSupport
import Testing

/// The database file (docs/architecture.md § "The database"): only `ccmctl init` creates a database;
/// every other command on a missing database fails with that fix and creates nothing.
@Suite("ccmctl init and a missing database", .ownThreads)
struct InitTests {
    static let reading =
        #"{"v":1,"device":"A4:C1:38:12:34:56","kind":"blood_pressure","measured_at":"2026-03-04T07:42:10-06:00","unit":"mmHg","values":{"systolic":128,"diastolic":82}}"#
        + "\n"

    @Test(
        "Writing commands on a missing database fail with the fix and create nothing",
        arguments: [
            ["ingest", "-"],
            ["patients", "add", "P1", "--name", "Ada Test"],
            ["devices", "add", "A4:C1:38:12:34:56", "--kind", "bp_monitor"],
            ["status"],
        ])
    func missingDatabase(arguments: [String]) throws {
        let cli = try CLI()
        let path = cli.directory + "/gone/gateway.sqlite"
        let result = try cli.run(arguments + ["--db", path], input: Self.reading)
        #expect(result.status == 1)
        #expect(
            result.err
                == "Error: no database at \(path); create it with ccmctl init (or restore it from a backup), or pass --db with the right path\n"
        )
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(!FileManager.default.fileExists(atPath: cli.directory + "/gone"))
    }

    @Test(
        "ccmctl ingest after rm gateway.sqlite* refuses instead of quarantining everything into a new, empty database")
    func ingestAfterRemoval() throws {
        let cli = try CLI()
        try cli.seed()
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: cli.database + suffix) }
        let result = try cli.run(["ingest", "-"], input: Self.reading)
        #expect(result.status == 1)
        #expect(result.err.contains("no database at \(cli.database); create it with ccmctl init"))
        #expect(!FileManager.default.fileExists(atPath: cli.database))
    }

    @Test("init creates the database 0660 with an audit entry; again, it leaves the existing one as it is")
    func initTwice() throws {
        let cli = try CLI()
        let path = cli.directory + "/state/gateway.sqlite"
        #expect(try cli.ok(["init", "--db", path, "--by", "installer"]) == "created the database at \(path)\n")
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o660)
        try cli.ok(["patients", "add", "P1", "--name", "Ada Test", "--db", path])
        #expect(try cli.ok(["init", "--db", path]) == "the database at \(path) already exists; left as it is\n")
        #expect(try cli.json(["patients", "list", "--db", path]).map { $0["id"] as? String } == ["P1"])
        let audit = try GatewayDatabase(path: path).auditLog(entity: "database")
        #expect(audit.map { "\($0.actor) \($0.action)" } == ["installer create"])
    }

    @Test("init refuses a file that is not a ccm-gateway database and leaves it untouched")
    func initForeignFile() throws {
        let cli = try CLI()
        let path = cli.directory + "/notes.sqlite"
        try Data("my notes".utf8).write(to: URL(fileURLWithPath: path))
        let error = try cli.fails(["init", "--db", path])
        #expect(error.hasPrefix("\(path) is not a ccm-gateway database"))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "my notes")
    }
}
