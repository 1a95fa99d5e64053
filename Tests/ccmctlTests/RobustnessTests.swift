import Foundation
import GatewayTestSupport
import Synchronization
import Testing

@Suite("ccmctl beside a busy database and failed inputs", .ownThreads)
struct CLIRobustnessTests {
    static func bpLines(_ count: Int, offset: Int) -> String {
        let start = Date(timeIntervalSince1970: 1_772_600_000)
        return (0..<count).map { n in
            let at = ISO8601DateFormatter().string(from: start.addingTimeInterval(Double(offset + n) * 4 * 3600))
            return
                #"{"v":1,"device":"A4:C1:38:12:34:56","kind":"blood_pressure","measured_at":"\#(at)","unit":"mmHg","values":{"systolic":\#(120 + n % 50),"diastolic":80}}"#
        }.joined(separator: "\n") + "\n"
    }

    @Test("Four ccmctl ingest runs at once all finish: writers wait for each other instead of failing")
    func parallelIngests() throws {
        let cli = try CLI()
        try cli.seed()
        try cli.ok(["careplan", "set", "P1", "--template", "hypertension"])
        let files = try (0..<4).map { run in
            let path = cli.directory + "/batch-\(run).jsonl"
            try Self.bpLines(1000, offset: run * 1000).write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let statuses = Mutex<[Int32]>([])
        let errors = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: files.count) { index in
            do {
                let result = try cli.run(["ingest", files[index]])
                statuses.withLock { $0.append(result.status) }
                if result.status != 0 { errors.withLock { $0.append(result.err) } }
            } catch {
                errors.withLock { $0.append("\(error)") }
            }
        }
        #expect(statuses.withLock { $0 } == [0, 0, 0, 0], "\(errors.withLock { $0 })")
        #expect(try cli.json(["readings", "list", "--limit", "10000"]).count == 4000)
    }

    @Test("A reading dated in the year 10000 lists without crashing, its device time kept as text")
    func unreadableTimesList() throws {
        let cli = try CLI()
        try cli.seed()
        let line =
            #"{"v":1,"device":"c0-26-da-01-02-03","kind":"glucose","measured_at":"9999-12-31T23:59:59-23:59","unit":"mg/dL","values":{"glucose":110},"seq":77}"#
        #expect(try cli.ok(["ingest", "-"], input: line + "\n").hasPrefix("1 accepted"))
        let readings = try cli.json(["readings", "list"])
        #expect(readings.count == 1)
        #expect(try cli.ok(["readings", "list"]).contains("P1"))
    }

    @Test("inbox retry: names what is not failed, and refuses to guess what to retry")
    func retryUsage() throws {
        let cli = try CLI()
        try cli.seed()
        try cli.ok(["ingest", "-"], input: Self.bpLines(1, offset: 0))
        #expect(try cli.ok(["inbox", "retry", "1"]) == "inbox 1: not failed; nothing to retry\n")
        #expect(try cli.fails(["inbox", "retry"]).contains("name the inbox ids to retry, or pass --all"))
        #expect(try cli.ok(["inbox", "list", "--status", "failed"]).contains("no failed inputs"))
        #expect(try cli.fails(["inbox", "retry", "999999"]).hasPrefix("no inbox entry 999999"))
    }

    @Test("An inbox row this version cannot read makes inbox list fail with a message, never trap")
    func unreadableInboxRow() throws {
        let cli = try CLI()
        try cli.seed()
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/sqlite3")
        holder.arguments = [
            cli.database,
            "INSERT INTO inbox (received_at, source, format, payload) VALUES ('garbage', 't', 'native-v1', x'7b7d')",
        ]
        try holder.run()
        holder.waitUntilExit()
        #expect(holder.terminationStatus == 0)
        let result = try cli.run(["inbox", "list"])
        #expect(result.status == 1)
        #expect(result.err.contains("garbage"))
    }
}
