import Foundation
import GRDB
import GatewayCore
import GatewayPipeline
import GatewayTestSupport
import Testing

@testable import GatewayStore

/// Every alert is announced (docs/alerts.md § "The outbox"): alert events are stored with the transaction that
/// caused them, and each sink delivers them from that outbox, in order, resuming where it was.
@Suite("Alert outbox", .ownThreads)
struct AlertOutboxTests {
    /// A world whose P1 has an urgent bp-high alert (event 1) and `count - 1` acknowledgements of
    /// it (events 2…count), all committed and none written anywhere: what a process that died
    /// right after its commits leaves behind.
    func committed(_ count: Int) throws -> World {
        let world = try World(templates: [AlertLifecycleTests.hypertension])
        try world.database.setCarePlan(
            patient: "P1", templates: ["hypertension"], overrides: [], by: "dr", now: World.received)
        let outcomes = try world.ingest(
            #"{"v":1,"device":"A4:C1:38:12:34:56","kind":"blood_pressure","measured_at":"2026-03-04T14:00:00Z","unit":"mmHg","values":{"systolic":182,"diastolic":121}}"#
        )
        #expect(outcomes.flatMap(\.alerts).map(\.eventID) == [1])
        for _ in 1..<count { try acknowledge(world) }
        return world
    }

    func acknowledge(_ world: World) throws {
        _ = try world.database.acknowledge(1, by: "nurse.kim", now: World.received)
    }

    /// The event ids of the lines of the log at `path`, in file order.
    func loggedIDs(_ path: String) -> [Int64] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").compactMap {
            AlertLogFormat.parse(String($0))?.eventID
        }
    }

    @Test("Every alert event is stored with its transaction, with its id, in order; a rolled-back one is not")
    func storedWithIDs() throws {
        let world = try committed(1)
        let ack = try world.database.acknowledge(1, by: "nurse.kim", now: World.received)
        let snooze = try world.database.snooze(1, for: 3600, by: "nurse.kim", now: World.received)
        let resolve = try world.database.resolve(1, by: "dr.lee", now: World.received)
        #expect((ack + snooze + resolve).map(\.eventID) == [2, 3, 4])
        let stored = try world.database.alertEvents()
        #expect(stored.map(\.eventID) == [1, 2, 3, 4])
        #expect(stored.map(\.kind) == [.raised, .acknowledged, .snoozed, .resolved])
        #expect(Array(stored.dropFirst()) == ack + snooze + resolve)
        #expect(world.sink.events.map(\.eventID) == [1], "the pipeline's sink hears of the events its commits stored")
        // A transaction that fails after its alert work stores no event.
        struct Abort: Error {}
        #expect(throws: Abort.self) {
            try world.database.write { db in
                _ = try StoredAlerts.record(stored[0], db)
                throw Abort()
            }
        }
        #expect(try world.database.alertEvents().count == 4)
        #expect(throws: StoreError.self) { try world.database.acknowledge(1, by: "nurse.kim") }
        #expect(try world.database.alertEvents().count == 4)
    }

    @Test("Events committed with no writer running reach the log when one runs: each id once, in order")
    func committedThenWritten() throws {
        let world = try committed(3)
        let path = world.directory.file("alerts.log")
        #expect(!FileManager.default.fileExists(atPath: path))
        let log = AlertLogFile(path: path)
        #expect(try log.deliverPending(from: world.database) == 3)
        #expect(loggedIDs(path) == [1, 2, 3])
        #expect(try log.deliverPending(from: world.database) == 0)
        try acknowledge(world)
        // Another writer (ccmctl) of the same log takes its turn through the same cursor.
        #expect(try AlertLogFile(path: path).deliverPending(from: world.database) == 1)
        #expect(try log.deliverPending(from: world.database) == 0)
        #expect(loggedIDs(path) == [1, 2, 3, 4])
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines[0].hasSuffix(#"title="Blood pressure high" event_id=1"#))
        #expect(try world.database.alertCursor(.log) == 4)
        #expect(try world.database.alertEventsWaiting()[.log] == 0)
        #expect(try world.database.alertEventsWaiting()[.journal] == 4)
    }

    @Test("A writer that died after writing and before its commit: the next one goes on after its last line")
    func diedAfterWriting() throws {
        let world = try committed(4)
        let path = world.directory.file("alerts.log")
        let events = try world.database.alertEvents()
        // Events 1 and 2 written in full, event 3 cut short (a full disk); the cursor still at 0.
        let written =
            AlertLogFormat.text.line(events[0]) + "\n" + AlertLogFormat.text.line(events[1]) + "\n"
            + AlertLogFormat.text.line(events[2]).prefix(50)
        try written.write(toFile: path, atomically: false, encoding: .utf8)
        #expect(try world.database.alertCursor(.log) == 0)
        #expect(try AlertLogFile(path: path).deliverPending(from: world.database) == 2)
        #expect(loggedIDs(path) == [1, 2, 3, 4])
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(
            separator: "\n", omittingEmptySubsequences: false)
        #expect(lines.count == 6, "the cut line is ended; event 3 follows in full")
        #expect(lines[2] == AlertLogFormat.text.line(events[2]).prefix(50))
        #expect(try world.database.alertCursor(.log) == 4)
    }

    @Test(
        "Written without counting (the daemon's committing thread): the lines are there at once, the cursor moves only at the next counted delivery, and nothing is written twice"
    )
    func writtenThenCounted() throws {
        let world = try committed(3)
        let path = world.directory.file("alerts.log")
        let log = AlertLogFile(path: path)
        #expect(try log.deliverPending(from: world.database, sync: false) == 3)
        #expect(loggedIDs(path) == [1, 2, 3])
        #expect(try world.database.alertCursor(.log) == 0, "not counted: the lines were not synced")
        // The next uncounted writer and another process (ccmctl) go on after the file's last line.
        try acknowledge(world)
        #expect(try log.deliverPending(from: world.database, sync: false) == 1)
        try acknowledge(world)
        #expect(try AlertLogFile(path: path).deliverPending(from: world.database) == 1)
        #expect(loggedIDs(path) == [1, 2, 3, 4, 5])
        #expect(try world.database.alertCursor(.log) == 5, "a counted delivery counts what it found as well")
        // A counted delivery with nothing new syncs and counts what the uncounted writer left.
        try acknowledge(world)
        #expect(try log.deliverPending(from: world.database, sync: false) == 1)
        #expect(try log.deliverPending(from: world.database) == 0)
        #expect(try world.database.alertCursor(.log) == 6)
        #expect(loggedIDs(path) == [1, 2, 3, 4, 5, 6])
    }

    @Test(
        "Rotated while lines are uncounted: SIGHUP's reopen counts them first, so the new file does not repeat them"
    )
    func rotatedWhileUncounted() throws {
        let world = try committed(3)
        let path = world.directory.file("alerts.log")
        let log = AlertLogFile(path: path)
        #expect(try log.deliverPending(from: world.database, sync: false) == 3)
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        try log.reopen(countingIn: world.database)
        #expect(try world.database.alertCursor(.log) == 3)
        try acknowledge(world)
        #expect(try log.deliverPending(from: world.database, sync: false) == 1)
        #expect(try log.deliverPending(from: world.database) == 0)
        #expect(loggedIDs(path + ".1") == [1, 2, 3])
        #expect(loggedIDs(path) == [4])
        #expect(try world.database.alertCursor(.log) == 4)
    }

    @Test(
        "Rotated under two writers, before any SIGHUP: each finds the new file, counts what the old one holds, and nothing is written twice"
    )
    func rotatedUnderTwoWriters() throws {
        let world = try committed(2)
        let path = world.directory.file("alerts.log")
        let daemon = AlertLogFile(path: path)
        // A long ccmctl run that opened the log before the rotation.
        let ccmctl = AlertLogFile(path: path)
        #expect(try ccmctl.deliverPending(from: world.database) == 2)
        try acknowledge(world)
        #expect(try daemon.deliverPending(from: world.database, sync: false) == 1)
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        try acknowledge(world)
        // The daemon's committing thread: event 3 in the old file is counted, event 4 goes to
        // the new one, uncounted.
        #expect(try daemon.deliverPending(from: world.database, sync: false) == 1)
        #expect(try world.database.alertCursor(.log) == 3)
        try acknowledge(world)
        // ccmctl, still holding the old file, goes on in the new one after event 4.
        #expect(try ccmctl.deliverPending(from: world.database) == 1)
        #expect(loggedIDs(path + ".1") == [1, 2, 3])
        #expect(loggedIDs(path) == [4, 5])
        #expect(try world.database.alertCursor(.log) == 5)
    }

    @Test("In a log longer than the 64 KiB read, the last event line is found behind lines that are no events")
    func longLogWithOtherLines() throws {
        let world = try committed(4)
        let path = world.directory.file("alerts.log")
        let events = try world.database.alertEvents()
        // 70 KiB of lines that are no events (the read starts inside one), events 1 and 2, then
        // an operator's note and an empty line; the cursor still at 0.
        var text = String(repeating: String(repeating: "x", count: 99) + "\n", count: 700)
        text += AlertLogFormat.text.line(events[0]) + "\n" + AlertLogFormat.text.line(events[1]) + "\n"
        text += "rotated by hand\n\n"
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        #expect(try AlertLogFile(path: path).deliverPending(from: world.database) == 2)
        #expect(loggedIDs(path) == [1, 2, 3, 4])
        #expect(try world.database.alertCursor(.log) == 4)
    }

    @Test("A log left by another database is not trusted: its last id does not skip this database's events")
    func foreignLog() throws {
        let world = try committed(2)
        let path = world.directory.file("alerts.log")
        var stranger = try world.database.alertEvents()[1]
        stranger.patientID = "P9"
        try (AlertLogFormat.json.line(stranger) + "\n").write(toFile: path, atomically: false, encoding: .utf8)
        #expect(try AlertLogFile(path: path, format: .json).deliverPending(from: world.database) == 2)
        #expect(loggedIDs(path) == [2, 1, 2])
    }

    @Test("A log that cannot be written keeps its events; once it can, each goes in exactly once")
    func unwritableThenWritable() throws {
        let world = try committed(2)
        // The log's folder is a plain file: nobody, root included, can create the log under it.
        let folder = world.directory.file("logs")
        let path = folder + "/alerts.log"
        #expect(FileManager.default.createFile(atPath: folder, contents: Data("not a folder".utf8)))
        let log = AlertLogFile(path: path)
        #expect(throws: StoreError.self) { try log.deliverPending(from: world.database) }
        try acknowledge(world)
        #expect(throws: StoreError.self) { try log.deliverPending(from: world.database) }
        #expect(try world.database.alertCursor(.log) == 0)
        try FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        #expect(try log.deliverPending(from: world.database) == 3)
        #expect(try log.deliverPending(from: world.database) == 0)
        #expect(loggedIDs(path) == [1, 2, 3])
    }

    @Test("deliverAlerts moves a sink's cursor only past what its body took; a new sink starts at the newest event")
    func cursorMovesOnlyOnSuccess() throws {
        let world = try committed(3)
        struct Down: Error {}
        #expect(throws: Down.self) { try world.database.deliverAlerts(to: .journal) { _ in throw Down() } }
        #expect(try world.database.alertCursor(.journal) == 0)
        var seen: [Int64] = []
        #expect(try world.database.deliverAlerts(to: .journal, batch: 2) { seen += $0.compactMap(\.eventID) } == 3)
        #expect(seen == [1, 2, 3])
        #expect(try world.database.deliverAlerts(to: .journal) { _ in Issue.record("nothing is waiting") } == 0)
        #expect(try world.database.alertCursor(.mqtt) == 3)
        try acknowledge(world)
        #expect(try world.database.alertEventsPending(for: .mqtt))
        try world.database.advanceAlertCursor(.mqtt, to: 4)
        try world.database.advanceAlertCursor(.mqtt, to: 2)
        #expect(try world.database.alertCursor(.mqtt) == 4, "a cursor never moves back")
        #expect(try !world.database.alertEventsPending(for: .mqtt))
    }
}
