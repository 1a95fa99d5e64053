import Foundation
import GRDB
import GatewayCore
import GatewayTestSupport
import Testing

@testable import GatewayStore

@Suite("Opening the database", .ownThreads)
struct DatabaseTests {
    @Test("Every commit is fsync'd: the writer runs synchronous=FULL, not the NORMAL GRDB's WAL set-up leaves")
    func writerIsFullySynchronous() throws {
        let directory = TemporaryDirectory()
        let database = try GatewayDatabase(path: directory.file("gateway.sqlite"), mode: .create)
        // 2 is FULL (1 NORMAL); asked on the connection that commits.
        #expect(try database.pool.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") } == 2)
        let reopened = try GatewayDatabase(path: directory.file("gateway.sqlite"), mode: .existing)
        #expect(try reopened.pool.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA synchronous") } == 2)
        // The writer's savepoint journals stay in memory (2): no temporary file per reading that
        // raises an alert. Readers keep the default (0), so a large sort spills to disk.
        for opened in [database, reopened] {
            #expect(try opened.pool.writeWithoutTransaction { try Int.fetchOne($0, sql: "PRAGMA temp_store") } == 2)
            #expect(try opened.pool.read { try Int.fetchOne($0, sql: "PRAGMA temp_store") } == 0)
        }
    }

    @Test("Dates written without a DateFormatter are GRDB's text to the millisecond")
    func storedDates() {
        var generator = SystemRandomNumberGenerator()
        var dates = [
            Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: -1.0005),
            Date(timeIntervalSince1970: 1_772_631_730.9999),
            Date(timeIntervalSince1970: 951_782_400), Date(timeIntervalSince1970: 4_102_444_799.999),
            Date(timeIntervalSinceReferenceDate: 0.0004),
            Date(timeIntervalSince1970: -2_208_988_800.25),
        ]
        for _ in 0..<20_000 {
            dates.append(Date(timeIntervalSince1970: Double.random(in: -3e9...7e9, using: &generator)))
        }
        for date in dates {
            #expect(
                StoredDate.text(date) == String.fromDatabaseValue(date.databaseValue), "\(date.timeIntervalSince1970)")
        }
    }

    @Test("Stored dates are read without a Calendar exactly as GRDB reads them, and other texts are left to GRDB")
    func storedDatesRead() throws {
        var generator = SystemRandomNumberGenerator()
        var texts = [
            "1970-01-01 00:00:00.000", "2000-12-31 23:59:59.999", "2001-01-01 00:00:00.000", "2000-02-29 12:00:00.500",
            "2024-02-29 23:59:59.001", "9999-12-31 23:59:59.999", "2026-03-08 07:00:00.318",
        ]
        // Half over all the years written, half close to 2001, where Foundation's sum rounds
        // differently from seconds plus a fraction.
        for index in 0..<40_000 {
            let seconds =
                index % 2 == 0
                ? Double(Int64.random(in: 0..<253_402_300_800, using: &generator))
                : Double(Int64.random(in: 946_000_000..<1_010_000_000, using: &generator))
            texts.append(StoredDate.text(Date(timeIntervalSince1970: seconds + Double(index % 1000) / 1000)))
        }
        let database = try DatabaseQueue()
        func read(_ text: String) throws -> (fast: Date?, grdb: Date?) {
            try database.read { db in
                let statement = try db.makeStatement(sql: "SELECT ?")
                return (
                    try statement.firstRow([text]) { try $0.date(0) }, try Date.fetchOne(statement, arguments: [text])
                )
            }
        }
        func fast(_ text: String) -> Date? {
            text.utf8CString.withUnsafeBufferPointer { chars in
                chars.withMemoryRebound(to: UInt8.self) {
                    StoredDate.date(UnsafeBufferPointer(rebasing: $0.dropLast()))
                }
            }
        }
        for text in texts {
            let grdb = try #require(try read(text).grdb)
            #expect(
                fast(text)?.timeIntervalSinceReferenceDate.bitPattern == grdb.timeIntervalSinceReferenceDate.bitPattern,
                "\(text)")
        }
        // Other texts GRDB reads are left to it, and read as it reads them.
        for text in [
            "2026-03-08T07:00:00.318", "2026-03-08 07:00", "1969-12-31 23:59:59.999", "2026-03-08 07:00:00.31",
            "2026-03-08 07:00:00.3185",
        ] {
            #expect(fast(text) == nil, "\(text)")
            let (viaColumn, grdb) = try read(text)
            #expect(viaColumn != nil && viaColumn == grdb, "\(text)")
        }
        // No valid day or time: not read here.
        for text in [
            "2026-02-30 10:00:00.000", "2026-04-31 10:00:00.000", "2025-02-29 10:00:00.000", "2100-02-29 10:00:00.000",
            "2026-13-01 00:00:00.000", "2026-03-08 24:00:00.000", "2026-03-08 07:0x:00.000",
        ] {
            #expect(fast(text) == nil, "\(text)")
        }
    }

    @Test("Objects of numbers are written without a JSONEncoder exactly as with one")
    func numberObjects() throws {
        var generator = SystemRandomNumberGenerator()
        var objects: [[String: Double]] = [
            [:], ["systolic": 128, "diastolic": 82.5, "pulse": 71], ["glucose": 5.6], ["weight": 80.25, "spo2": 97],
            ["temperature": 36.65], ["a": -0.0], ["a": 1e15], ["a": 1e-7], ["a": 123_456_789_012_345.6], ["a": -12.5],
            ["a": 0.1 + 0.2], ["a": Double.greatestFiniteMagnitude], ["a b": 1], ["é": 2], ["": 3], ["a\"": 4],
        ]
        let keys = ["systolic", "diastolic", "map", "pulse", "glucose", "weight", "spo2", "temperature", "x_1"]
        for _ in 0..<20_000 {
            var object: [String: Double] = [:]
            for key in keys.shuffled(using: &generator).prefix(Int.random(in: 1...4, using: &generator)) {
                object[key] =
                    switch Int.random(in: 0..<4, using: &generator) {
                    case 0: Double(Int.random(in: -1000...1000, using: &generator))
                    case 1: Double(Int.random(in: -100_000...100_000, using: &generator)) / 100
                    case 2: Double.random(in: -1e6...1e6, using: &generator)
                    default:
                        Double(sign: .plus, exponent: Int.random(in: -40...60), significand: Double.random(in: 1..<2))
                    }
            }
            objects.append(object)
        }
        for object in objects {
            #expect(try JSONColumn.numbers(object) == JSONColumn.text(object), "\(object)")
        }
    }

    @Test("Lists of plain strings are read without a JSONDecoder exactly as with one; anything else is left to it")
    func plainStringLists() throws {
        for list in [[], ["I10"], ["I10", "E11.9"], ["ccm", "rpm", "pcm"], ["Zoë", "李", ""], ["a,b", "[x]"]] {
            let text = try JSONColumn.text(list)
            #expect(JSONColumn.plainStrings(text) == list, "\(text)")
            #expect(try JSONColumn.value([String].self, from: text) == list)
        }
        for text in [
            #"["a\"b"]"#, #"["a\nb"]"#, #"["a", "b"]"#, #"["a",]"#, #"["a""#, "[1]", "{}", "", "[", #"["a"]x"#,
        ] {
            #expect(JSONColumn.plainStrings(text) == nil, "\(text)")
        }
    }

    @Test(
        "History queries go through the index of windowed readings, so readings with unknown times are never walked over",
        arguments: [
            StoredAlerts.historyQuery + " ORDER BY effective_at DESC, id DESC LIMIT 5",
            StoredAlerts.historyQuery + " AND effective_at >= '2026-01-01'",
            StoredAlerts.historyQuery
                + " AND COALESCE(meal, 'unknown') IN ('fasting') ORDER BY effective_at DESC, id DESC LIMIT 5",
            StoredAlerts.overtakenQuery + " ORDER BY effective_at, id LIMIT 5",
            StoredAlerts.overtakenQuery + " AND effective_at <= '2027-01-01' ORDER BY effective_at, id LIMIT 5",
        ])
    func historyIndex(query: String) throws {
        let directory = TemporaryDirectory()
        let database = try GatewayDatabase(path: directory.file("gateway.sqlite"), mode: .create)
        let plan = try database.read { db in
            try Row.fetchAll(
                db, sql: "EXPLAIN QUERY PLAN " + query,
                arguments: StatementArguments(Array(repeating: "P1", count: query.filter { $0 == "?" }.count))
            )
            .map { $0["detail"] as String }.joined(separator: "\n")
        }
        #expect(plan.contains("USING INDEX reading_windowed_history"), "\(plan)")
    }

    @Test("Migrations run on an empty file and create every table, in WAL mode, not world-readable")
    func migratesFromEmpty() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("sub/dir/gateway.sqlite")
        let database = try GatewayDatabase(path: path, mode: .create)
        let tables = try database.read { db in
            try String.fetchAll(
                db,
                sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        }
        #expect(
            tables == [
                "alert", "alert_event", "alert_sink", "audit", "ble_adapter", "ble_bond", "ble_discovered",
                "ble_pairing", "ble_sync",
                "careplan", "control_test", "device", "device_user", "grdb_migrations", "hub", "hub_patient", "inbox",
                "inbox_item",
                "patient", "patient_month", "reading", "staff", "time_entry", "time_timer",
            ])
        #expect(try database.read { try String.fetchOne($0, sql: "PRAGMA journal_mode") } == "wal")
        #expect(try database.read { try Int.fetchOne($0, sql: "PRAGMA synchronous") } == 2)
        let mode = try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        #expect(mode & 0o007 == 0)
        // Opening again is a no-op.
        _ = try GatewayDatabase(path: path)
    }

    @Test("A missing file is refused when only reading")
    func missing() throws {
        let directory = TemporaryDirectory()
        let error = try #require(throws: StoreError.self) {
            try GatewayDatabase(path: directory.file("none.sqlite"), mode: .existing)
        }
        #expect(error.code == .missing)
        #expect(error.message.hasPrefix("no database at \(directory.file("none.sqlite")); "))
        #expect(!FileManager.default.fileExists(atPath: directory.file("none.sqlite")))
    }

    @Test("A file that is not a database says so")
    func notADatabase() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("garbage.sqlite")
        try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: path))
        let error = try #require(throws: StoreError.self) { try GatewayDatabase(path: path) }
        #expect(error.code == .notADatabase)
        #expect(error.message.contains("is not a ccm-gateway database"))
    }

    @Test("A database from a newer ccm-gateway is refused, untouched")
    func newerSchema() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("gateway.sqlite")
        _ = try GatewayDatabase(path: path, mode: .create)
        let queue = try DatabaseQueue(path: path)
        try queue.write {
            try $0.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES ('2099-01-01-from-the-future')")
        }
        try queue.close()
        let error = try #require(throws: StoreError.self) { try GatewayDatabase(path: path) }
        #expect(error.code == .newerSchema)
        #expect(error.message.contains("was written by a newer ccm-gateway"))
        #expect(error.message.hasSuffix("upgrade ccm-gateway before using it"))
    }

    @Test("A database locked by another process beyond the wait limit says so")
    func locked() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("gateway.sqlite")
        _ = try GatewayDatabase(path: path, mode: .create)
        let holder = try DatabaseQueue(path: path)
        let error = try holder.inDatabase { db -> StoreError? in
            try db.execute(sql: "BEGIN EXCLUSIVE")
            defer { try? db.execute(sql: "ROLLBACK") }
            do {
                let database = try GatewayDatabase(path: path, busyTimeout: 0.2, waitLimit: 0)
                try database.addPatient(.init(id: "P9", name: "", timeZone: "UTC"), by: "test")
                return nil
            } catch let error as StoreError {
                return error
            }
        }
        #expect(error?.code == .locked)
        #expect(error?.message.hasPrefix("the database at \(path) is locked by another process") == true)
    }

    @Test("A path SQLite cannot open (here a directory) names the path and the fix")
    func cannotOpen() throws {
        let directory = TemporaryDirectory()
        let error = try #require(throws: StoreError.self) { try GatewayDatabase(path: directory.path) }
        #expect(error.code == .unreadable)
        #expect(error.message.hasPrefix("cannot open the database at \(directory.path) for writing"))
    }

    @Test("An unreadable file names the permission problem", .enabled(if: getuid() != 0, "root reads every file"))
    func unreadable() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("gateway.sqlite")
        _ = try GatewayDatabase(path: path, mode: .create)
        try FileManager.default.setAttributes([.posixPermissions: 0], ofItemAtPath: path)
        let error = try #require(throws: StoreError.self) { try GatewayDatabase(path: path) }
        #expect(error.code == .unreadable)
    }
}
