import Foundation
import GatewayCore
import GatewayTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("ccmctl careplan and alerts", .ownThreads)
struct AlertsTests {
    static func bp(_ systolic: Int, _ diastolic: Int, at: String) -> String {
        #"{"v":1,"device":"A4:C1:38:12:34:56","kind":"blood_pressure","measured_at":"\#(at)","unit":"mmHg","values":{"systolic":\#(systolic),"diastolic":\#(diastolic)}}"#
            + "\n"
    }

    func logLines(_ cli: CLI) -> [String] {
        ((try? String(contentsOfFile: cli.alertLog, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    @Test("182/121 for a hypertension patient writes one urgent line in the same ingest; a second updates that alert")
    func crisis() throws {
        let cli = try CLI()
        try cli.seed()
        #expect(
            try cli.ok(["careplan", "set", "P1", "--template", "hypertension"])
                == "care plan of P1: hypertension, 6 rules, 0 overrides\n")
        let out = try cli.ok(["ingest", "-"], input: Self.bp(182, 121, at: "2026-03-04T07:42:10-06:00"))
        #expect(
            out.contains("alert 1 raised: urgent P1 bp-high 182/121 mmHg (systolic > 180 mmHg, diastolic > 120 mmHg)"))
        let lines = logLines(cli)
        #expect(lines.count == 1)
        #expect(
            lines.first?.contains(
                " URGENT raised alert=1 patient=P1 rule=bp-high value=\"182/121 mmHg\" threshold=\"systolic > 180 mmHg, diastolic > 120 mmHg\""
            ) == true)
        try cli.ok(["ingest", "-"], input: Self.bp(184, 122, at: "2026-03-04T07:52:10-06:00"))
        #expect(logLines(cli).count == 1)
        let alerts = try cli.json(["alerts", "list"])
        #expect(alerts.count == 1)
        #expect(alerts[0]["count"] as? Int == 2)
        #expect(alerts[0]["last_value"] as? String == "184/122 mmHg")
        #expect(alerts[0]["state"] as? String == "open")
    }

    @Test("careplan templates, set with overrides, show with where each value comes from")
    func careplan() throws {
        let cli = try CLI()
        try cli.seed()
        let templates = try cli.json(["careplan", "templates"])
        #expect(
            templates.map { $0["template"] as? String } == [
                "copd", "diabetes-insulin", "diabetes-t2", "heart-failure", "hypertension",
            ])
        try cli.ok([
            "careplan", "set", "P2", "--template", "heart-failure", "--template", "hypertension", "--set",
            "weight-gain-day.warning=1.5lb",
            "--set", "goal.systolic=125", "--by", "dr.lee",
        ])
        let shown = Dictionary(
            uniqueKeysWithValues: try cli.json(["careplan", "show", "P2"]).map { ($0["key"] as! String, $0) })
        #expect(shown["weight-gain-day.warning"]?["value"] as? String == "+1.5 lb")
        #expect(shown["weight-gain-day.warning"]?["from"] as? String == "override by dr.lee")
        #expect(shown["goal.systolic"]?["value"] as? String == "< 125 mmHg")
        #expect(shown["systolic-above-goal.limit"]?["value"] as? String == "125 mmHg")
        #expect(
            (shown["bp-high.systolic.urgent"]?["from"] as? String)?.hasPrefix("hypertension: urgent > 180 systolic")
                == true)
        let table = try cli.ok(["careplan", "show", "P2"])
        #expect(table.hasPrefix("care plan of P2: heart-failure + hypertension, set by dr.lee\n"))
    }

    @Test(
        "careplan mistakes name the problem and the fix",
        arguments: [
            (["careplan", "set", "P1", "--template", "asthma"], "unknown template \"asthma\"; the templates in "),
            (
                ["careplan", "set", "P1", "--template", "hypertension", "--set", "bp-high.diastolic.warning=130"],
                "rule bp-high diastolic: warning 130 mmHg is beyond urgent 120 mmHg; a warning must come before urgent (lower than it)"
            ),
            (
                ["careplan", "set", "P1", "--template", "hypertension", "--set", "bp-high.colour=red"],
                "bp-high.colour: rule bp-high has no parameter colour; use systolic.warning, diastolic.warning, systolic.urgent, diastolic.urgent, resolve_after"
            ),
            (
                ["careplan", "set", "P1", "--template", "diabetes-t2", "--set", "glucose-high.urgent=20 mmHg"],
                "glucose-high.urgent: \"mmHg\" is not a unit for glucose; use mg/dL, mmol/L, mol/L, kg/L"
            ),
            (
                ["careplan", "set", "P1", "--template", "copd", "--set", "spo2-low"],
                "--set: \"spo2-low\" is not KEY=VALUE; write it like systolic-high.urgent=175"
            ),
            (["careplan", "set", "P1"], "--template: give at least one; list them with ccmctl careplan templates"),
            (
                ["careplan", "show", "P2"],
                "patient P2 has no care plan; set one with ccmctl careplan set P2 --template NAME"
            ),
        ])
    func careplanMistakes(arguments: [String], message: String) throws {
        let cli = try CLI()
        try cli.seed()
        #expect(try cli.fails(arguments).hasPrefix(message))
    }

    @Test("ack, snooze and resolve write their lines; acting on an unknown or resolved alert fails with the reason")
    func lifecycle() throws {
        let cli = try CLI()
        try cli.seed()
        try cli.ok(["careplan", "set", "P1", "--template", "hypertension"])
        try cli.ok(["ingest", "-"], input: Self.bp(185, 90, at: "2026-03-04T07:42:10-06:00"))
        #expect(
            try cli.ok([
                "alerts", "ack", "1", "--minutes", "6", "--note", "called; rechecked 150/88", "--by", "nurse.kim",
            ])
                == "acknowledged alert 1; 6 minutes recorded in the time ledger\n")
        let ledger = try cli.json(["time", "list"])
        #expect(ledger.count == 1)
        #expect(ledger.first?["minutes"] as? Int == 6 && ledger.first?["activity"] as? String == "alert")
        #expect(ledger.first?["source"] as? String == "alert:1" && ledger.first?["staff"] as? String == "nurse.kim")
        #expect(ledger.first?["program"] as? String == "ccm", "P1 is in no program: CCM by default")
        #expect(
            try cli.ok(["alerts", "snooze", "1", "--for", "2h", "--by", "nurse.kim"]) == "snoozed alert 1 for 2h\n")
        #expect(try cli.ok(["alerts", "list", "--open"]).contains("snoozed"))
        #expect(try cli.ok(["alerts", "resolve", "1", "--by", "dr.lee"]) == "resolved alert 1\n")
        #expect(try cli.ok(["alerts", "list", "--open"]) == "no open alerts\n")
        let events = logLines(cli).map { $0.split(separator: " ")[2] }
        #expect(events == ["raised", "acknowledged", "snoozed", "resolved"])
        #expect(logLines(cli)[1].hasSuffix(#"by=nurse.kim note="called; rechecked 150/88" event_id=2"#))
        #expect(logLines(cli).map { AlertLogFormat.parse($0)?.eventID } == [1, 2, 3, 4])
        #expect(
            try cli.fails(["alerts", "ack", "1"]) == "alert 1 is resolved (by dr.lee); there is nothing to acknowledge")
        #expect(try cli.fails(["alerts", "resolve", "42"]) == "no alert 42; list alerts with ccmctl alerts list")
        #expect(
            try cli.fails(["alerts", "snooze", "1", "--for", "forever"])
                == "--for: \"forever\" is not a duration up to 30d; write it like 30m, 2h or 1d")
        #expect(
            try cli.fails(["alerts", "ack", "1", "--minutes", "0"])
                == "--minutes: 0 is not between 1 and 600; give the whole minutes spent"
        )
    }

    @Test(
        "An alert log that cannot be written is a warning; the next ccmctl that can write it writes what waited, once")
    func unwritableLog() throws {
        let cli = try CLI()
        try cli.seed()
        try cli.ok(["careplan", "set", "P1", "--template", "hypertension"])
        // A folder where the log should be: nobody, root included, can open it as the log.
        try FileManager.default.createDirectory(atPath: cli.alertLog, withIntermediateDirectories: false)
        let ingest = try cli.run(["ingest", "-"], input: Self.bp(185, 90, at: "2026-03-04T07:42:10-06:00"))
        #expect(ingest.status == 0)
        #expect(ingest.out.contains("alert 1 raised"))
        #expect(ingest.err.contains("warning: cannot open the alert log \(cli.alertLog)"))
        let ack = try cli.run(["alerts", "ack", "1", "--by", "nurse.kim"])
        #expect(ack.status == 0, "the acknowledgement is committed")
        #expect(ack.err.contains("warning: cannot open the alert log"))
        let status =
            try JSONSerialization.jsonObject(with: Data(try cli.ok(["status", "--format", "json"]).utf8))
            as? [String: Any]
        #expect(
            status?["alerts_undelivered"] as? [String: Int] == ["log": 2, "journal": 2, "mqtt": 0], "waiting, and shown"
        )
        try FileManager.default.removeItem(atPath: cli.alertLog)
        try cli.ok(["alerts", "snooze", "1", "--for", "1h", "--by", "nurse.kim"])
        #expect(logLines(cli).map { AlertLogFormat.parse($0)?.eventID } == [1, 2, 3])
        #expect(logLines(cli).map { $0.split(separator: " ")[2] } == ["raised", "acknowledged", "snoozed"])
    }

    @Test("alerts tail shows the last lines in either format")
    func tail() throws {
        let cli = try CLI()
        try cli.seed()
        try cli.ok(["careplan", "set", "P1", "--template", "hypertension"])
        try cli.ok(["ingest", "-"], input: Self.bp(185, 90, at: "2026-03-04T07:42:10-06:00"))
        try cli.ok(["alerts", "ack", "1", "--by", "nurse.kim"])
        let text = try cli.ok(["alerts", "tail", "--lines", "1"])
        #expect(
            text.hasSuffix(
                " URGENT acknowledged alert=1 patient=P1 rule=bp-high value=\"185/90 mmHg\" threshold=\"systolic > 180 mmHg\" title=\"Blood pressure high\" by=nurse.kim event_id=2\n"
            ))
        let json = try cli.ok(["alerts", "tail", "--format", "json"]).split(separator: "\n")
        #expect(json.count == 2)
        #expect(json[0].hasPrefix(#"{"alert":1,"event":"raised","level":"urgent","patient":"P1","rule":"bp-high","#))
        #expect(json[0].hasSuffix(#","event_id":1}"#))
    }

    @Test("alerts tail -f keeps following across a log rotation")
    func tailFollowsRotation() throws {
        let cli = try CLI()
        try cli.seed()
        try cli.ok(["careplan", "set", "P1", "--template", "hypertension"])
        try cli.ok(["ingest", "-"], input: Self.bp(185, 90, at: "2026-03-04T07:42:10-06:00"))
        let follower = try Follower(cli: cli, arguments: ["alerts", "tail", "-f", "--lines", "5"])
        defer { follower.stop() }
        #expect(follower.nextLine()?.contains(" raised alert=1 ") == true)
        try cli.ok(["alerts", "ack", "1", "--by", "nurse.kim"])
        #expect(follower.nextLine()?.contains(" acknowledged alert=1 ") == true)
        // logrotate: rename, then the writers open a new file at the path.
        try FileManager.default.moveItem(atPath: cli.alertLog, toPath: cli.alertLog + ".1")
        try cli.ok(["alerts", "resolve", "1", "--by", "dr.lee"])
        #expect(follower.nextLine()?.contains(" resolved alert=1 ") == true)
        try cli.ok(["ingest", "-"], input: Self.bp(70, 50, at: "2026-03-05T07:42:10-06:00"))
        #expect(follower.nextLine()?.contains(" raised alert=2 ") == true)
    }
}

/// A running `ccmctl` whose standard output is read line by line, each wait bounded.
final class Follower: @unchecked Sendable {
    // Safety: `buffer` is touched only by the test's thread, through nextLine.
    private let process = Process()
    private let output: ClosingPipe
    private var buffer = Data()

    init(cli: CLI, arguments: [String]) throws {
        output = try ClosingPipe()
        process.executableURL = CLI.binary
        process.arguments = arguments + ["--config", cli.config]
        process.standardOutput = output.write
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try output.write.close()
    }

    /// The next line of output, or `nil` if none comes within `timeout` seconds.
    func nextLine(timeout: Double = 10) -> String? {
        let fd = output.read.fileDescriptor
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...newline)
                return line
            }
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else { return nil }
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, Int32(remaining * 1000)) == 1 else { return nil }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let count = read(fd, &chunk, chunk.count)
            guard count > 0 else { return nil }
            buffer.append(contentsOf: chunk[0..<count])
        }
    }

    /// SIGKILL: a child started from the test runner's threads may inherit a mask that
    /// blocks SIGTERM, and `tail -f` has nothing to flush.
    func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}
