import Foundation
import GRDB
import GatewayCore
import GatewayPipeline
import GatewayTestSupport
import Testing

@testable import GatewayStore

@Suite("Alert lifecycle", .ownThreads)
struct AlertLifecycleTests {
    /// bp-high over systolic/diastolic (resolve after 24 h) and a glucose stale rule (72 h).
    static let hypertension: CarePlanTemplate = {
        let bp = TemplateRule(
            id: "bp-high", type: .threshold, kind: .bloodPressure, quantities: [.systolic, .diastolic],
            direction: .above, meals: nil,
            unit: .mmHg,
            parameters: [
                ParameterKey(.warning, .systolic): 160, ParameterKey(.urgent, .systolic): 180,
                ParameterKey(.warning, .diastolic): 100,
                ParameterKey(.urgent, .diastolic): 120, ParameterKey(.resolveAfter): 86_400,
            ], limitIsGoal: false, source: "ACC/AHA", title: "Blood pressure high")
        return CarePlanTemplate(name: "hypertension", description: "", goals: [:], rules: [bp])
    }()

    static let diabetes: CarePlanTemplate = {
        let stale = TemplateRule(
            id: "glucose-stale", type: .stale, kind: .glucose, quantities: [], direction: .above, meals: nil, unit: nil,
            parameters: [ParameterKey(.after): 72 * 3600, ParameterKey(.level): 0], limitIsGoal: false,
            source: "product choice",
            title: "No glucose reading")
        return CarePlanTemplate(name: "diabetes-t2", description: "", goals: [:], rules: [stale])
    }()

    func world() throws -> World {
        let world = try World(templates: [Self.hypertension, Self.diabetes])
        try world.database.setCarePlan(
            patient: "P1", templates: ["hypertension", "diabetes-t2"], overrides: [], by: "dr", now: World.received)
        return world
    }

    /// Ingests a BP reading measured `minutes` after World.received, with the clock there too.
    @discardableResult
    func bp(_ world: World, minutes: Double, _ systolic: Int, _ diastolic: Int) throws -> [AlertEvent] {
        let at = World.received.addingTimeInterval(minutes * 60)
        world.clock.set(at)
        let json =
            #"{"v":1,"device":"A4:C1:38:12:34:56","kind":"blood_pressure","measured_at":"\#(RFC3339.format(at))","unit":"mmHg","values":{"systolic":\#(systolic),"diastolic":\#(diastolic)}}"#
        let outcomes = try world.ingest(json, received: at)
        #expect(outcomes.map(\.status) == [.accepted])
        return outcomes.flatMap(\.alerts)
    }

    @Test("182/121 raises one urgent alert; a second such reading updates it")
    func raiseThenRepeat() throws {
        let world = try world()
        let first = try bp(world, minutes: 0, 182, 121)
        #expect(first.map(\.kind) == [.raised])
        #expect(first[0].level == .urgent)
        #expect(first[0].value == "182/121 mmHg")
        #expect(first[0].threshold == "systolic > 180 mmHg, diastolic > 120 mmHg")
        #expect(world.sink.events == first)
        try bp(world, minutes: 5, 185, 119)
        let alerts = try world.database.alerts()
        #expect(alerts.count == 1)
        #expect(alerts[0].count == 2)
        #expect(alerts[0].lastValue == "185/119 mmHg")
        #expect(alerts[0].firstValue == "182/121 mmHg")
        // The repeat updates the alert without a new line: people learn once.
        #expect(world.sink.lines == ["raised urgent bp-high 182/121 mmHg"])
    }

    @Test("Warning escalates to urgent on the same alert; urgent does not fall back to warning")
    func escalate() throws {
        let world = try world()
        try bp(world, minutes: 0, 165, 90)
        try bp(world, minutes: 10, 185, 90)
        try bp(world, minutes: 20, 165, 90)
        #expect(world.sink.lines == ["raised warning bp-high 165/90 mmHg", "escalated urgent bp-high 185/90 mmHg"])
        let alert = try #require(try world.database.alerts().first)
        #expect(alert.level == .urgent)
        #expect(alert.count == 3)
        #expect(try world.database.auditLog(entity: "alert").map(\.action) == ["alert.raise", "alert.escalate"])
    }

    @Test("Acknowledging silences repeats at its level; an escalation above it speaks again")
    func acknowledge() throws {
        let world = try world()
        let raised = try bp(world, minutes: 0, 165, 90)
        let id = raised[0].alertID
        let ack = try world.database.acknowledge(
            id, by: "nurse.kim", minutes: 4, note: "called", now: World.received.addingTimeInterval(60))
        #expect(ack.map(\.kind) == [.acknowledged])
        #expect(try bp(world, minutes: 10, 170, 95).isEmpty)
        let escalated = try bp(world, minutes: 20, 190, 95)
        #expect(escalated.map(\.kind) == [.escalated])
        let alert = try #require(try world.database.alert(id))
        #expect(alert.state == .open)
        #expect(alert.ackedBy == "nurse.kim")
        #expect(alert.ackMinutes == 4)
        #expect(alert.ackNote == "called")
        // Acknowledging urgent covers warning of the same rule.
        _ = try world.database.acknowledge(id, by: "nurse.kim", now: World.received.addingTimeInterval(1500))
        #expect(try bp(world, minutes: 30, 165, 90).isEmpty)
        #expect(try bp(world, minutes: 40, 195, 90).isEmpty)
        #expect(try world.database.alert(id)?.count == 5)
    }

    @Test("Snoozing silences until the snooze ends; then the timer says it is still out of range")
    func snooze() throws {
        let world = try world()
        let id = try bp(world, minutes: 0, 185, 90)[0].alertID
        _ = try world.database.snooze(id, for: 7200, by: "nurse.kim", now: World.received)
        #expect(try bp(world, minutes: 60, 186, 90).isEmpty)
        let early = try world.pipeline.checkAlerts(now: World.received.addingTimeInterval(7199))
        #expect(early.events.isEmpty)
        let ended = try world.pipeline.checkAlerts(now: World.received.addingTimeInterval(7200))
        #expect(ended.events.map(\.kind) == [.repeated])
        #expect(ended.events.first?.note == "snooze ended")
        #expect(try world.database.alert(id)?.state == .open)
        #expect(
            try world.database.auditLog(entity: "alert", id: "\(id)").map(\.action) == [
                "alert.raise", "alert.snooze", "alert.snooze_end",
            ])
    }

    @Test("Back in range for the rule's time resolves by itself; an out-of-range reading in between restarts the clock")
    func autoResolve() throws {
        let world = try world()
        let id = try bp(world, minutes: 0, 185, 90)[0].alertID
        try bp(world, minutes: 60, 130, 80)
        #expect(try world.pipeline.checkAlerts(now: World.received.addingTimeInterval(60 * 60 + 86_399)).events.isEmpty)
        try bp(world, minutes: 120, 170, 80)
        try bp(world, minutes: 180, 128, 79)
        #expect(try world.pipeline.checkAlerts(now: World.received.addingTimeInterval(60 * 60 + 86_400)).events.isEmpty)
        let resolved = try world.pipeline.checkAlerts(now: World.received.addingTimeInterval(180 * 60 + 86_400)).events
        #expect(resolved.map(\.kind) == [.resolved])
        #expect(resolved[0].by == "auto")
        #expect(resolved[0].note == "in range since \(RFC3339.format(World.received.addingTimeInterval(180 * 60)))")
        #expect(try world.database.alert(id)?.state == .resolved)
        // A new excursion is a new alert.
        let again = try bp(world, minutes: 3000, 182, 90)
        #expect(again.map(\.kind) == [.raised])
        #expect(again[0].alertID != id)
    }

    @Test("Manual resolve; acting on a resolved or unknown alert says why not")
    func manual() throws {
        let world = try world()
        let id = try bp(world, minutes: 0, 185, 90)[0].alertID
        let events = try world.database.resolve(id, by: "dr.lee", note: "cuff error", now: World.received)
        #expect(events.map(\.kind) == [.resolved])
        let ack = try #require(throws: StoreError.self) { try world.database.acknowledge(id, by: "x") }
        #expect(ack.message == "alert \(id) is resolved (by dr.lee); there is nothing to acknowledge")
        let unknown = try #require(throws: StoreError.self) { try world.database.snooze(999, for: 60, by: "x") }
        #expect(unknown.message == "no alert 999; list alerts with ccmctl alerts list")
        #expect(
            try world.database.auditLog(entity: "alert", id: "\(id)").map(\.action) == ["alert.raise", "alert.resolve"])
        #expect(try world.database.auditLog(entity: "alert", id: "\(id)").last?.actor == "dr.lee")
    }

    @Test("No glucose for longer than the stale window: one stale alert; a new reading resolves it")
    func staleGlucose() throws {
        let world = try world()
        let start = World.received
        #expect(try world.pipeline.checkAlerts(now: start.addingTimeInterval(72 * 3600)).events.isEmpty)
        let stale = try world.pipeline.checkAlerts(now: start.addingTimeInterval(72 * 3600 + 60)).events
        #expect(stale.map(\.kind) == [.raised])
        #expect(stale[0].rule == "glucose-stale")
        #expect(stale[0].value == "no glucose reading for 72h")
        // Later ticks keep the one alert, silently.
        #expect(try world.pipeline.checkAlerts(now: start.addingTimeInterval(80 * 3600)).events.isEmpty)
        #expect(try world.database.alerts(openOnly: true).count == 1)
        let at = start.addingTimeInterval(81 * 3600)
        world.clock.set(at)
        let outcomes = try world.ingest(
            #"{"v":1,"device":"C0:26:DA:01:02:03","kind":"glucose","measured_at":"\#(RFC3339.format(at))","unit":"mg/dL","values":{"glucose":110},"seq":1}"#,
            received: at)
        #expect(outcomes.flatMap(\.alerts).map(\.kind) == [.resolved])
        #expect(try world.database.alerts(openOnly: true).isEmpty)
    }

    @Test("A plan naming a missing template keeps the reading and says why no alert was decided")
    func missingTemplate() throws {
        let world = try World(templates: [Self.hypertension])
        try world.database.setCarePlan(patient: "P1", templates: ["hypertension", "copd"], overrides: [], by: "dr")
        let outcome = try #require(try world.ingest(PipelineTests.bp).first)
        #expect(outcome.status == .accepted)
        #expect(
            outcome.reason
                == "care plan not evaluated: unknown template \"copd\" in the care plan of P1; restore it in the careplans directory or set the plan again"
        )
    }

    @Test("The alert log appends one line per event and starts a new file once its path names another (a rotation)")
    func alertLogReopen() throws {
        let world = try world()
        let path = world.directory.file("logs/alerts.log")
        let log = AlertLogFile(path: path, format: .text)
        try log.open()
        try bp(world, minutes: 0, 182, 121)
        try log.deliverPending(from: world.database)
        try FileManager.default.moveItem(atPath: path, toPath: path + ".1")
        _ = try world.database.acknowledge(1, by: "nurse", now: World.received)
        try log.deliverPending(from: world.database)  // the new file, without waiting for SIGHUP's reopen
        try log.reopen(countingIn: world.database)
        _ = try world.database.snooze(1, for: 3600, by: "nurse", now: World.received)
        try log.deliverPending(from: world.database)
        let rotated = try String(contentsOfFile: path + ".1", encoding: .utf8).split(separator: "\n").compactMap {
            AlertLogFormat.parse(String($0))?.eventID
        }
        let current = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").compactMap {
            AlertLogFormat.parse(String($0))?.eventID
        }
        #expect(rotated == [1])
        #expect(current == [2, 3])
        let mode = try #require(FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
        #expect(mode == 0o640)
    }
}
