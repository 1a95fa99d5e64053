import Foundation
import GRDB
import GatewayCore
import GatewayPipeline
import GatewayTestSupport
import Synchronization
import Testing

@testable import GatewayStore

/// Never stops (docs/data-flow.md § "Deciding"): no input stops the pipeline, a busy database makes
/// writers wait, suspect clocks stay out of windowed rules, and write transactions are bounded.
@Suite("Pipeline robustness", .ownThreads)
struct RobustnessTests {
    static let glucose = "C0:26:DA:01:02:03"

    static func glucoseReading(at time: String, seq: Int, value: Int = 110) -> String {
        #"{"v":1,"device":"\#(glucose)","kind":"glucose","measured_at":"\#(time)","unit":"mg/dL","values":{"glucose":\#(value)},"seq":\#(seq)}"#
    }

    /// A Glucose Measurement Context for sequence 77 with meal "fasting", as a hub publishes it.
    static let context77 = RawInput(
        source: "mqtt:ccm/v1/hub/hub7/gatt/C026DA010203/2a34", format: .gatt(characteristic: "2a34", device: glucose),
        payload: Data("024D0003".utf8), receivedAt: World.received)

    @Test("A device time in the year 10000 is kept as text, flagged, and its reading reads back with its context")
    func yearTenThousand() throws {
        let world = try World()
        let outcomes = try world.ingest(Self.glucoseReading(at: "9999-12-31T23:59:59-23:59", seq: 77))
        #expect(outcomes.map(\.status) == [.accepted])
        #expect(outcomes[0].reason?.contains("device clock suspect") == true)
        // The context reads the stored reading back: on 7dd8d19 this stopped the process.
        let context = try world.pipeline.ingest(Self.context77)
        #expect(context.map(\.status) == [.accepted])
        let reading = try #require(try world.database.readings().first)
        #expect(reading.measuredAt == nil)
        #expect(reading.measuredAtText == "10000-01-01T23:58:59Z")
        #expect(reading.clockSuspect)
        #expect(!reading.windowed)
        #expect(reading.meal == .fasting)
    }

    @Test(
        "An input whose deciding throws is marked failed, audited, and the pipeline goes on; retry decides it after the fix"
    )
    func failedInputDoesNotStopThePipeline() throws {
        let world = try World()
        // A row an earlier version wrote and this one cannot read back as a date.
        _ = try world.ingest(Self.glucoseReading(at: "2026-03-04T07:00:00-06:00", seq: 77))
        try world.database.write { db in
            try db.execute(sql: "UPDATE reading SET measured_at = '10000-01-01 23:58:59.000' WHERE seq = 77")
        }
        // An input of a format a newer version wrote.
        let future = try world.database.write { db -> Int64 in
            try db.execute(
                sql:
                    "INSERT INTO inbox (received_at, source, format, payload) VALUES (?, 'test', 'native-v9', x'7b7d')",
                arguments: [World.received])
            return db.lastInsertedRowID
        }
        let context = try world.pipeline.receive(Self.context77)
        let good = try world.pipeline.receive(
            RawInput(
                source: "test", payload: Data(Self.glucoseReading(at: "2026-03-04T08:00:00-06:00", seq: 78).utf8),
                receivedAt: World.received))

        let outcomes = try world.pipeline.processPending()
        #expect(outcomes.map(\.inboxID) == [future, context, good])
        #expect(outcomes.map(\.status) == [.failed, .failed, .accepted])
        #expect(outcomes[0].reason?.contains("native-v9, which this version cannot read; upgrade ccm-gateway") == true)
        #expect(outcomes[1].reason?.hasSuffix("run ccmctl inbox retry \(context)") == true)
        #expect(try world.pipeline.pendingCount() == 0)
        #expect(try world.database.inbox(status: "failed").map(\.inboxID) == [future, context])
        #expect(
            try world.database.inbox(status: "failed").allSatisfy {
                $0.reason?.hasPrefix("deciding this input failed") == true
            })
        #expect(try world.count("SELECT COUNT(*) FROM audit WHERE action = 'inbox.fail'") == 2)
        // Nothing of the failed context was kept: the reading has no meal yet.
        #expect(try world.count("SELECT COUNT(*) FROM reading WHERE meal IS NOT NULL") == 0)

        // After the fix (here: the row repaired), retry decides it; a second retry has nothing to do.
        try world.database.write { db in
            try db.execute(sql: "UPDATE reading SET measured_at = '2026-03-04 13:00:00.000' WHERE seq = 77")
        }
        #expect(try world.pipeline.retry(inboxIDs: [context, good], by: "ops").map(\.status) == [.accepted])
        #expect(try world.count("SELECT COUNT(*) FROM reading WHERE meal = 'fasting'") == 1)
        #expect(try world.database.inbox(status: "failed").map(\.inboxID) == [future])
        #expect(try world.count("SELECT COUNT(*) FROM audit WHERE action = 'inbox.retry'") == 1)
    }

    @Test("The migration keeps an unreadable stored device time as text")
    func migrationRepairsUnreadableTimes() throws {
        let world = try World()
        _ = try world.ingest(Self.glucoseReading(at: "2026-03-04T07:00:00-06:00", seq: 77))
        try world.database.write { db in
            try db.execute(
                sql:
                    "UPDATE reading SET measured_at = '10000-01-01 23:58:59.000', windowed = 1, measured_at_text = NULL"
            )
            try db.execute(
                sql:
                    "DELETE FROM grdb_migrations WHERE identifier IN ('2026-11-30-robust-pipeline', '2026-11-30-reading-windowed-history')"
            )
            try db.execute(sql: "DROP INDEX inbox_failed")
            try db.execute(sql: "DROP INDEX reading_windowed_history")
            try db.execute(sql: "ALTER TABLE inbox DROP COLUMN failure")
            try db.execute(sql: "ALTER TABLE inbox DROP COLUMN clock_offset")
            try db.execute(sql: "ALTER TABLE reading DROP COLUMN windowed")
            try db.execute(sql: "ALTER TABLE reading DROP COLUMN measured_at_text")
        }
        let reopened = try GatewayDatabase(path: world.database.path)
        let reading = try #require(try reopened.readings().first)
        #expect(reading.measuredAt == nil)
        #expect(reading.measuredAtText == "10000-01-01 23:58:59.000")
    }

    /// Three of the last five systolic readings above 130 (warning), and a 7-day systolic
    /// average above 135 (warning), beside the threshold rule of the lifecycle tests.
    static let windowedPlan: CarePlanTemplate = {
        let nOfM = TemplateRule(
            id: "bp-3-of-5", type: .nOfM, kind: .bloodPressure, quantities: [.systolic], direction: .above, meals: nil,
            unit: .mmHg,
            parameters: [
                ParameterKey(.limit): 130, ParameterKey(.n): 3, ParameterKey(.m): 5, ParameterKey(.level): 0,
                ParameterKey(.resolveAfter): 86_400,
            ], limitIsGoal: false, source: "test", title: "3 of 5 above goal")
        let average = TemplateRule(
            id: "bp-7d-average", type: .average, kind: .bloodPressure, quantities: [.systolic], direction: .above,
            meals: nil,
            unit: .mmHg,
            parameters: [
                ParameterKey(.limit): 135, ParameterKey(.window): 7 * 86_400, ParameterKey(.minReadings): 3,
                ParameterKey(.level): 0,
                ParameterKey(.resolveAfter): 86_400,
            ], limitIsGoal: false, source: "test", title: "7-day average above goal")
        return CarePlanTemplate(
            name: "windowed", description: "", goals: [:],
            rules: AlertLifecycleTests.hypertension.rules + [nOfM, average])
    }()

    func bp(_ world: World, at time: String, _ systolic: Int, received: Date = World.received) throws -> [ItemOutcome] {
        try world.ingest(
            #"{"v":1,"device":"A4:C1:38:12:34:56","kind":"blood_pressure","measured_at":"\#(time)","unit":"mmHg","values":{"systolic":\#(systolic),"diastolic":85}}"#,
            received: received)
    }

    @Test("Readings with a suspect clock meet single-reading rules only and never count in another reading's window")
    func suspectClocksStayOutOfWindows() throws {
        let world = try World(templates: [Self.windowedPlan])
        try world.database.setCarePlan(
            patient: "P1", templates: ["windowed"], overrides: [], by: "dr", now: World.received)
        // A meter whose clock runs a year ahead hands over five high readings at once.
        for minute in 0..<5 {
            let outcomes = try bp(world, at: "2027-03-04T14:0\(minute):00Z", 150)
            #expect(outcomes.map(\.status) == [.accepted])
            #expect(outcomes[0].alerts.isEmpty)
        }
        #expect(try world.database.alerts().isEmpty)
        #expect(try world.database.readings().allSatisfy { !$0.windowed && $0.clockSuspect })
        // A single reading beyond a threshold still speaks, suspect clock or not.
        let urgent = try bp(world, at: "2027-03-04T14:10:00Z", 185)
        #expect(urgent.flatMap(\.alerts).map(\.rule) == ["bp-high"])
        // Sane readings count among themselves only: two high ones are not "3 of the last 5".
        _ = try bp(world, at: "2026-03-04T07:00:00-06:00", 150)
        let second = try bp(world, at: "2026-03-04T07:05:00-06:00", 150)
        #expect(second.flatMap(\.alerts).isEmpty)
        let third = try bp(world, at: "2026-03-04T07:10:00-06:00", 150)
        #expect(third.flatMap(\.alerts).map(\.rule).sorted() == ["bp-3-of-5", "bp-7d-average"])
    }

    @Test("Windowed rules follow device time, not arrival order: five readings in any order raise the same alerts")
    func arrivalOrderDoesNotMatter() throws {
        // Three of five above 130, and a 7-day average above 135 from the third reading on.
        let readings = [("07:00", 150), ("07:05", 120), ("07:10", 150), ("07:15", 150), ("07:20", 118)]
        var results: [[String]] = []
        for order in [[0, 1, 2, 3, 4], [4, 3, 2, 1, 0], [2, 0, 4, 3, 1], [3, 4, 0, 2, 1]] {
            let world = try World(templates: [Self.windowedPlan])
            try world.database.setCarePlan(
                patient: "P1", templates: ["windowed"], overrides: [], by: "dr", now: World.received)
            for index in order {
                let outcomes = try bp(world, at: "2026-03-04T\(readings[index].0):00-06:00", readings[index].1)
                #expect(outcomes.map(\.status) == [.accepted])
            }
            let alerts = try world.database.alerts()
            results.append(alerts.map { "\($0.ruleID) \($0.level.rawValue) \($0.state.rawValue)" }.sorted())
        }
        #expect(results[0] == ["bp-3-of-5 warning open", "bp-7d-average warning open"])
        for (index, result) in results.enumerated().dropFirst() {
            #expect(result == results[0], "arrival order \(index) decided differently")
        }
    }

    @Test("Deciding a backlog commits in bounded transactions, so other writers get in between")
    func boundedTransactions() throws {
        let world = try World()
        let commits = CommitCounter()
        world.database.pool.add(transactionObserver: commits)
        let inputs = (0..<600).map { n in
            RawInput(
                source: "test", payload: Data(Self.glucoseReading(at: "2026-03-04T07:00:00-06:00", seq: n).utf8),
                receivedAt: World.received)
        }
        _ = try world.pipeline.receive(batch: inputs)
        let before = commits.count
        let outcomes = try world.pipeline.processPending()
        #expect(outcomes.count == 600)
        #expect(commits.count - before >= (600 + Pipeline.batchLimit - 1) / Pipeline.batchLimit)
    }

    @Test("A writer that finds the database locked waits for it, says so, and then writes")
    func writersWait() throws {
        let world = try World()
        let waiting = DispatchSemaphore(value: 0)
        let database = try GatewayDatabase(path: world.database.path, busyTimeout: 0.05, waitLimit: nil) { _ in
            waiting.signal()
        }
        let holder = try DatabaseQueue(path: world.database.path)
        let done = DispatchSemaphore(value: 0)
        let failure = Mutex<String?>(nil)
        try holder.inDatabase { db in
            try db.execute(sql: "BEGIN EXCLUSIVE")
            Thread.detachNewThread {
                do { try database.addPatient(Patient(id: "P9", name: "", timeZone: "UTC"), by: "test") } catch {
                    failure.withLock { $0 = "\(error)" }
                }
                done.signal()
            }
            // Let go only once the writer has met the lock and is waiting for it.
            let met = waiting.wait(timeout: .now() + 10) == .success
            try db.execute(sql: "ROLLBACK")
            #expect(met)
        }
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(failure.withLock { $0 } == nil)
        #expect(try world.count("SELECT COUNT(*) FROM patient WHERE id = 'P9'") == 1)
    }
}

extension RobustnessTests {
    @Test("A writer configured with another alert log leaves the events to the log the daemon claimed")
    func alertLogClaimed() throws {
        let world = try World(templates: [AlertLifecycleTests.hypertension])
        try world.database.setCarePlan(
            patient: "P1", templates: ["hypertension"], overrides: [], by: "dr", now: World.received)
        let daemons = AlertLogFile(path: world.directory.file("alerts.log"))
        try daemons.claim(in: world.database)
        #expect(try bp(world, at: "2026-03-04T07:00:00-06:00", 186).flatMap(\.alerts).count == 1)
        // An operator's ccmctl run from another folder, with the default relative path.
        let elsewhere = AlertLogFile(path: world.directory.file("elsewhere/alerts.log"))
        let error = try #require(throws: StoreError.self) { try elsewhere.deliverPending(from: world.database) }
        #expect(error.message.contains("the events wait for the daemon"))
        #expect(try daemons.deliverPending(from: world.database) == 1)
        #expect(try String(contentsOfFile: daemons.path, encoding: .utf8).contains("event_id=1"))
        let strayLines = (try? String(contentsOfFile: elsewhere.path, encoding: .utf8)) ?? ""
        #expect(strayLines.isEmpty)
    }
}

/// Counts committed transactions.
final class CommitCounter: TransactionObserver, Sendable {
    private let commits = Mutex(0)
    var count: Int { commits.withLock { $0 } }
    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { true }
    func databaseDidChange(with event: DatabaseEvent) {}
    func databaseDidCommit(_ db: Database) { commits.withLock { $0 += 1 } }
    func databaseDidRollback(_ db: Database) {}
}
