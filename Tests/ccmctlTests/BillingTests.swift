import Foundation
import GatewayTestSupport
import Testing

/// The CCM month through ccmctl, as the billing staff run it: the fixture month in
/// `Fixtures/billing/` (ten patients, one per rule worth seeing) must produce exactly the golden
/// month summary and invoice. After an intended change, `UPDATE_GOLDEN=1 swift test --filter
/// BillingTests` rewrites them; read the diff before committing.
@Suite("ccmctl time, month, invoice and eligibility", .ownThreads)
struct BillingTests {
    static let fixtures = CLI.fixtures.appendingPathComponent("billing")

    /// Loads the fixture month: roster, devices, care plans, one complex month, readings, the
    /// time entries, and one voided entry.
    func loadFixtureMonth(_ cli: CLI) throws {
        #expect(
            try cli.ok(["patients", "import", Self.fixtures.appendingPathComponent("roster.csv").path])
                == "imported 10 patients: 10 added, 0 updated\n")
        let devices = try String(contentsOf: Self.fixtures.appendingPathComponent("devices.txt"), encoding: .utf8)
        for line in devices.split(separator: "\n") where !line.hasPrefix("#") {
            let f = line.split(separator: " ").map(String.init)
            try cli.ok(["devices", "add", f[0], "--kind", f[1], "--patient", f[2]])
        }
        for (patient, template) in [
            ("P1", "hypertension"), ("P2", "heart-failure"), ("P3", "hypertension"), ("P4", "diabetes-t2"),
            ("P5", "hypertension"),
            ("P6", "hypertension"), ("P7", "heart-failure"), ("P8", "hypertension"), ("P9", "hypertension"),
        ] {
            try cli.ok(["careplan", "set", patient, "--template", template])
        }
        #expect(
            try cli.ok(["patients", "complexity", "P2", "--month", "2026-03", "complex"]) == "P2 2026-03: complex\n")
        #expect(
            try cli.ok(["ingest", Self.fixtures.appendingPathComponent("readings.jsonl").path]).hasPrefix("43 accepted")
        )
        try cli.ok(["staff", "add", "nurse.kim", "--role", "clinical_staff"])
        try cli.ok(["staff", "add", "dr.lee", "--role", "physician"])
        let rows = try String(contentsOf: Self.fixtures.appendingPathComponent("time.csv"), encoding: .utf8).split(
            separator: "\n"
        )
        .dropFirst()
        for row in rows {
            let f = row.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            try cli.ok([
                "time", "add", f[0], "--minutes", f[1], "--role", f[2], "--program", f[3], "--activity", f[4], "--at",
                f[5],
                f[6] == "yes" ? "--interactive" : "--no-interactive", "--by", f[7], "--note", f[8],
            ])
        }
        let wrong = try #require(
            try cli.json(["time", "list", "--patient", "P8"]).first {
                $0["note"] as? String == "entered on the wrong patient"
            })
        try cli.ok([
            "time", "void", "\(wrong["id"] as! Int)", "--reason", "logged on the wrong patient", "--by", "billing.ann",
        ])
    }

    func golden(_ name: String, _ produced: String) throws {
        let path = Self.fixtures.appendingPathComponent(name).path
        if ProcessInfo.processInfo.environment["UPDATE_GOLDEN"] == "1" {
            try produced.write(toFile: path, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOfFile: path, encoding: .utf8)
        let a = produced.split(separator: "\n", omittingEmptySubsequences: false),
            b = expected.split(separator: "\n", omittingEmptySubsequences: false)
        #expect(a.count == b.count, "\(name): \(a.count) lines, golden \(b.count)")
        for (index, (x, y)) in zip(a, b).enumerated() where x != y {
            Issue.record("\(name) line \(index + 1) differs:\n  produced \(x)\n  golden   \(y)")
        }
    }

    @Test("The fixture month reproduces the golden month summary and invoice")
    func fixtureMonth() throws {
        let cli = try CLI()
        try loadFixtureMonth(cli)
        try golden("month-2026-03.golden.json", try cli.ok(["month", "--month", "2026-03", "--format", "json"]))
        let invoice = try cli.ok(["invoice", "--month", "2026-03", "--format", "csv"])
        try golden("invoice-2026-03.golden.csv", invoice)

        // The spreadsheet: one row per billed code, then the total.
        let lines = invoice.split(separator: "\n")
        #expect(lines.first == "patient,month,code,units,unit_amount,amount,fee_note")
        let month =
            try JSONSerialization.jsonObject(
                with: Data(try cli.ok(["month", "--month", "2026-03", "--format", "json"]).utf8))
            as! [String: Any]
        let codes = (month["patients"] as! [[String: Any]]).map { ($0["codes"] as! [String: Int]).count }.reduce(0, +)
        #expect(lines.count == 1 + codes + 1)
        #expect(lines.last?.hasPrefix("total,2026-03,,") == true)

        // April holds the rest of P8's entry across midnight.
        let april = try cli.ok(["month", "--month", "2026-04", "--patient", "P8", "--format", "csv"])
        #expect(april.contains("\nP8,15,0,0,0,0,0,0,,"))
    }

    @Test("time add, start, stop, list and void; mistakes name the option")
    func ledger() throws {
        let cli = try CLI()
        try cli.seed()
        let added = try cli.ok([
            "time", "add", "P1", "--minutes", "12", "--program", "ccm", "--activity", "call", "--at",
            "2026-03-04 10:05", "--by",
            "nurse.kim",
        ])
        #expect(added == "time entry 1: P1 12 min ccm clinical_staff call interactive at 2026-03-04 10:05 CST\n")
        let listed = try cli.json(["time", "list", "--month", "2026-03"])
        #expect(
            listed.count == 1 && listed[0]["interactive"] as? Bool == true
                && listed[0]["start"] as? String == "2026-03-04T16:05:00Z")
        #expect(try cli.json(["time", "list", "--month", "2026-04"]).isEmpty)
        #expect(
            try cli.ok([
                "time", "add", "P1", "--minutes", "5", "--program", "rpm", "--activity", "review", "--interactive",
                "--at",
                "2026-03-05T09:00:00-06:00", "--by", "nurse.kim",
            ]).contains(" interactive "))

        #expect(
            try cli.ok(["time", "start", "P1", "--program", "rpm", "--activity", "review", "--by", "nurse.kim"])
                .hasPrefix(
                    "timer started for P1"))
        #expect(
            try cli.fails(["time", "start", "P1", "--program", "rpm", "--activity", "review", "--by", "nurse.kim"])
                .hasPrefix(
                    "a timer for P1 by nurse.kim is running since"))
        #expect(try cli.ok(["time", "list"]).contains("timer running: P1 by nurse.kim"))
        #expect(
            try cli.ok(["time", "stop", "P1", "--by", "nurse.kim"])
                == "timer stopped under a minute; nothing recorded\n")
        #expect(
            try cli.fails(["time", "stop", "P1", "--by", "nurse.kim"])
                == "no timer running for P1 by nurse.kim; start one with ccmctl time start P1")

        #expect(
            try cli.ok(["time", "void", "1", "--reason", "duplicate of the app's entry"]) == "time entry 1 voided\n")
        #expect(try cli.fails(["time", "void", "1", "--reason", "again"]) == "time entry 1 is already void")
        #expect(
            try cli.json(["time", "list"]).first?["void"] as? String == "voided by tester: duplicate of the app's entry"
        )
        #expect(
            try cli.fails(["time", "add", "P1", "--minutes", "0", "--program", "ccm", "--activity", "call"])
                == "--minutes: 0 is not between 1 and 600; split longer work into entries")
        #expect(
            try cli.fails([
                "time", "add", "P1", "--minutes", "5", "--program", "ccm", "--activity", "call", "--at", "yesterday",
            ])
                == "--at: \"yesterday\" is not a time; write 2026-03-04 10:05 (practice time) or 2026-03-04T10:05:00-06:00"
        )
        #expect(
            try cli.fails(["time", "add", "P9", "--minutes", "5", "--program", "ccm", "--activity", "call"])
                == "no patient P9; add it with ccmctl patients add P9 --name NAME")
        #expect(
            try cli.fails(["time", "list", "--month", "March"])
                == "--month: \"March\" is not a month; write YYYY-MM, e.g. 2026-03")
    }

    @Test("patients set and complexity change the facts billing reads")
    func patientFacts() throws {
        let cli = try CLI()
        try cli.seed()
        #expect(
            try cli.ok([
                "patients", "set", "P1", "--programs", "ccm,rpm", "--rpm-start", "2026-03-02", "--medicare-part-b",
                "no",
            ])
                == "updated patient P1\n")
        let shown = try cli.ok(["patients", "show", "P1"])
        #expect(shown.contains("programs        ccm, rpm"))
        #expect(shown.contains("RPM start       2026-03-02"))
        #expect(shown.contains("Medicare Part B no"))
        #expect(
            try cli.fails(["patients", "set", "P1"])
                == "nothing to change; give at least one option (ccmctl patients set --help lists them)")
        #expect(
            try cli.fails(["patients", "set", "P1", "--programs", "ccm,chf"])
                == "--programs: \"chf\" is not a program; use ccm, rpm or pcm, comma-separated")
        #expect(
            try cli.fails(["patients", "set", "P7", "--programs", "ccm"])
                == "no patient P7; list patients with ccmctl patients list")
        #expect(
            try cli.fails(["patients", "complexity", "P1", "--month", "2026-3", "complex"])
                == "--month: \"2026-3\" is not a month; write YYYY-MM, e.g. 2026-03")
        #expect(
            try cli.ok(["patients", "complexity", "P1", "--month", "2026-03", "standing"])
                == "P1 2026-03: standing complexity\n")
    }

    @Test("eligibility gives every reason; patients import --eligible-only takes the eligible")
    func eligibility() throws {
        let cli = try CLI()
        let roster = cli.directory + "/roster.csv"
        try """
        id,name,medicare_part_b,conditions,other_practitioner,ccm_consent_date
        R1,Ann,yes,I10;E11.9,no,2026-02-01
        R2,Ben,yes,I10,no,
        R3,Cat,no,I10;I50.9,no,
        R4,Dan,yes,I10;I11.9,yes,declined
        R5,Eve,yes,E11.22;N18.3,no,
        R6,Fay,yes,J06.9;G35,no,
        """.write(toFile: roster, atomically: true, encoding: .utf8)
        let decisions = try cli.json(["eligibility", "--roster", roster])
        let reasons = Dictionary(
            uniqueKeysWithValues: decisions.map { ($0["id"] as! String, $0["reasons"] as! String) })
        #expect(decisions.filter { $0["eligible"] as? Bool == true }.map { $0["id"] as! String } == ["R1", "R5"])
        #expect(reasons["R2"] == "one chronic condition (Hypertension); CCM needs two or more (PCM may apply)")
        #expect(reasons["R3"] == "no Medicare Part B")
        #expect(
            reasons["R4"]
                == "one chronic condition (Hypertension); CCM needs two or more (PCM may apply); enrolled in CCM with another practitioner; only one practitioner is paid per month; declined CCM"
        )
        #expect(reasons["R6"] == "no chronic condition from the CMS list among J06.9, G35")
        #expect(
            decisions.first { $0["id"] as? String == "R5" }?["notes"] as? String
                == "obtain and record consent before the first billed minute")
        #expect(try cli.ok(["eligibility", "--roster", roster]).hasSuffix("2 of 6 eligible\n"))

        let imported = try cli.ok(["patients", "import", roster, "--eligible-only"])
        #expect(imported.hasPrefix("imported 2 patients: 2 added, 0 updated\n  not imported R2: one chronic condition"))
        #expect(try cli.json(["patients", "list"]).map { $0["id"] as! String } == ["R1", "R5"])
    }
}
