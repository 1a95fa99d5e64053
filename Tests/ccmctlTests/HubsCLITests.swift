import Foundation
import GatewayTestSupport
import Testing

@Suite("ccmctl hubs and staff", .ownThreads)
struct HubsCLITests {
    @Test("hubs add, list, show, disable, enable and remove; an unknown hub's readings wait for hubs add")
    func hubs() throws {
        let cli = try CLI()
        try cli.seed()
        let reading =
            #"{"v":1,"device":"A4:C1:38:12:34:56","kind":"blood_pressure","measured_at":"2026-03-04T07:42:10-06:00","unit":"mmHg","values":{"systolic":142,"diastolic":91}}"#
        #expect(
            try cli.ok(["ingest", "-", "--hub", "h1"], input: reading + "\n").hasPrefix(
                "0 accepted, 0 rejected, 1 quarantined"))
        let added = try cli.ok(["hubs", "add", "h1", "--patient", "P1", "--model", "Acme Hub 2"])
        #expect(
            added
                == "added hub h1 for patient P1\nreplayed 1 quarantined readings: 1 accepted, 0 rejected, 0 quarantined, 0 duplicate\n"
        )
        #expect(try cli.ok(["hubs", "add", "h1", "--patient", "P2"]) == "updated hub h1 for patient P2\n")
        #expect(
            try cli.fails(["hubs", "add", "h1", "--patient", "P9"])
                == "no patient P9; add it with ccmctl patients add P9 --name NAME")
        #expect(try cli.fails(["hubs", "add", "h/1"]).hasPrefix(#"hub id: "h/1" is not a valid hub id"#))
        let listed = try cli.json(["hubs", "list"])
        #expect(listed.map { $0["id"] as? String } == ["h1", "hub7"], "hub7 was registered by devices add --hub")
        #expect(listed.first?["patients"] as? String == "P1 P2" && listed.first?["model"] as? String == "Acme Hub 2")
        let shown = try cli.ok(["hubs", "show", "hub7"])
        #expect(
            shown.contains("  devices bound: hub7-scale-1\n")
                && shown.contains("  broker password: none yet (ccmctl hubs credentials hub7)"))
        #expect(
            try cli.ok(["hubs", "disable", "h1", "--by", "ops"])
                == "disabled hub h1; its inputs are rejected from now on\n")
        #expect(try cli.ok(["hubs", "show", "h1"]).contains("  state: disabled since "))
        #expect(
            try cli.ok(
                ["ingest", "-", "--hub", "h1"], input: reading.replacingOccurrences(of: "142", with: "143") + "\n"
            ).hasPrefix(
                "0 accepted, 1 rejected"))
        #expect(try cli.ok(["hubs", "enable", "h1"]) == "enabled hub h1\n")
        #expect(
            try cli.fails(["hubs", "remove", "hub7"]).hasPrefix(
                "hub hub7 is bound to device hub7-scale-1; disable it with ccmctl hubs disable hub7"))
        #expect(
            try cli.ok(["hubs", "remove", "h1", "--patient", "P2"]) == "hub h1 no longer posts time for patient P2\n")
        #expect(
            try cli.ok(["hubs", "remove", "h1"])
                == "removed hub h1; its later inputs are quarantined as from an unknown hub\n")
        #expect(try cli.fails(["hubs", "show", "h1"]) == "no hub h1; register it with ccmctl hubs add h1")
    }

    @Test(
        "hubs credentials prints a password once and the password-file line mosquitto_passwd writes; the gateway keeps the hash only"
    )
    func credentials() throws {
        let cli = try CLI()
        try cli.seed()
        #expect(try cli.fails(["hubs", "credentials", "h1"]) == "no hub h1; register it first with ccmctl hubs add h1")
        try cli.ok(["hubs", "add", "h1"])
        let out = try cli.ok(["hubs", "credentials", "h1"])
        let lines = out.split(separator: "\n").map(String.init)
        #expect(lines.first == "username: h1")
        let password = try #require(lines.first { $0.hasPrefix("password: ") }).dropFirst(10)
        let line = try #require(lines.first { $0.hasPrefix("password file line: ") }).dropFirst(20)
        #expect(line.hasPrefix("h1:$7$101$"), "PBKDF2-SHA512 as mosquitto_passwd writes it: \(line)")
        let stored = [cli.database, cli.database + "-wal"].compactMap {
            try? String(contentsOfFile: $0, encoding: .isoLatin1)
        }.joined()
        #expect(!stored.contains(String(password)), "the plain password is not in the database")
        #expect(stored.contains(String(line.dropFirst(3))), "its hash is")
        #expect(try cli.ok(["hubs", "show", "h1"]).contains("  broker password: made "))
        let again = try cli.ok(["hubs", "credentials", "h1"])
        #expect(!again.contains(String(password)), "a rotation makes a new password")
    }

    @Test("staff add, list, disable; time add and alerts ack --minutes need registered staff in their role")
    func staff() throws {
        let cli = try CLI()
        try cli.seed()
        #expect(
            try cli.ok(["staff", "add", "nurse.ray", "--role", "clinical_staff"])
                == "added staff nurse.ray (clinical_staff)\n")
        #expect(
            try cli.fails(["staff", "add", "nurse.ray", "--role", "physician"])
                == "staff nurse.ray already exists; list staff with ccmctl staff list")
        #expect(try cli.json(["staff", "list"]).map { $0["name"] as? String } == ["dr.lee", "nurse.kim", "nurse.ray"])
        let add = [
            "time", "add", "P1", "--minutes", "12", "--program", "ccm", "--activity", "call", "--at",
            "2026-03-04 10:05",
        ]
        #expect(
            try cli.fails(add + ["--by", "mallory"])
                == "unknown staff mallory; only registered staff's time bills: register them with ccmctl staff add mallory --role clinical_staff"
        )
        #expect(
            try cli.ok(add + ["--by", "dr.lee"]).contains(" ccm physician call "),
            "the role defaults to the staff member's")
        #expect(
            try cli.fails(add + ["--by", "dr.lee", "--role", "clinical_staff"])
                == "staff dr.lee is registered as physician, not clinical_staff; record the time with role physician")
        #expect(try cli.ok(["staff", "disable", "nurse.ray"]) == "disabled staff nurse.ray\n")
        #expect(
            try cli.fails(add + ["--by", "nurse.ray"])
                == "staff nurse.ray is disabled; their time does not bill (ask the practice administrator if this is wrong)"
        )
        #expect(
            try cli.fails(["time", "start", "P1", "--program", "ccm", "--activity", "review", "--by", "mallory"])
                .hasPrefix(
                    "unknown staff mallory"))

        try cli.ok(["careplan", "set", "P1", "--template", "hypertension"])
        try cli.ok(["ingest", "-"], input: AlertsTests.bp(185, 90, at: "2026-03-04T07:42:10-06:00"))
        #expect(
            try cli.fails(["alerts", "ack", "1", "--minutes", "6", "--by", "mallory"]).hasPrefix(
                "unknown staff mallory"))
        #expect(
            try cli.json(["alerts", "list"]).first?["state"] as? String == "open",
            "nothing of the refused acknowledgement was committed")
        #expect(
            try cli.ok(["alerts", "ack", "1", "--minutes", "6", "--by", "dr.lee"])
                == "acknowledged alert 1; 6 minutes recorded in the time ledger\n")
        #expect(try cli.json(["time", "list"]).last?["role"] as? String == "physician")
    }
}
