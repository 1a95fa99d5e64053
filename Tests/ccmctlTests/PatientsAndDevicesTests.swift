import Foundation
import GatewayCore
import GatewayPipeline
import GatewayStore
import GatewayTestSupport
import Testing

@Suite("ccmctl patients and devices", .ownThreads)
struct PatientsAndDevicesTests {
    @Test("patients add, list and show")
    func addListShow() throws {
        let cli = try CLI()
        #expect(
            try cli.ok([
                "patients", "add", "P1", "--name", "Ada Test", "--conditions", "i10, e119", "--medication",
                "lisinopril 10 mg",
                "--medicare-part-b", "--ccm-consent", "2026-01-15", "--complexity", "complex",
            ]) == "added patient P1\n")
        let patients = try cli.json(["patients", "list"])
        #expect(patients.count == 1)
        #expect(patients[0]["id"] as? String == "P1")
        #expect(patients[0]["conditions"] as? [String] == ["I10", "E11.9"])
        #expect(patients[0]["medications"] as? [String] == ["lisinopril 10 mg"])
        #expect(patients[0]["medicare_part_b"] as? Bool == true)
        #expect(patients[0]["ccm_consent_date"] as? String == "2026-01-15")
        #expect(patients[0]["complexity"] as? String == "complex")
        #expect(patients[0]["time_zone"] as? String == "America/Chicago")
        let table = try cli.ok(["patients", "list"])
        #expect(
            table.hasPrefix(
                "ID  NAME      TIME_ZONE        CONDITIONS  MEDICARE_PART_B  CCM_CONSENT  COMPLEXITY  PROGRAMS\n"))
        #expect(
            table.contains("P1  Ada Test  America/Chicago  I10;E11.9   yes              2026-01-15   complex     \n"))
        try cli.ok(["devices", "add", "A4:C1:38:12:34:56", "--kind", "bp_monitor", "--patient", "P1"])
        let shown = try cli.ok(["patients", "show", "P1"])
        #expect(shown.contains("devices         A4:C1:38:12:34:56 (bp_monitor)"))
        #expect(shown.contains("conditions      I10, E11.9"))
        let csv = try cli.ok(["patients", "list", "--format", "csv"])
        #expect(
            csv
                == "id,name,time_zone,conditions,medicare_part_b,ccm_consent,complexity,programs\nP1,Ada Test,America/Chicago,I10;E11.9,yes,2026-01-15,complex,\n"
        )
    }

    @Test("The global options work before the command words too: ccmctl --config X --by Y patients add …")
    func globalOptionsFirst() throws {
        let cli = try CLI()
        let first = try cli.run(
            ["--config", cli.config, "--by=front.desk", "patients", "add", "P7", "--name", "Early Options"],
            config: false)
        #expect(first.status == 0, "\(first.err)")
        let listed = try cli.run(["--config", cli.config, "patients", "list", "--format", "csv"], config: false)
        #expect(listed.status == 0 && listed.out.contains("P7"), "\(listed.err)")
        let audit = try GatewayDatabase(path: cli.database, mode: .existing).auditLog(entity: "patient", id: "P7")
        #expect(audit.map(\.actor) == ["front.desk"], "the audit names --by given before the command")
        // --db before the command words, with an option's value that looks like a command.
        let byPath = try cli.run(["--db", cli.database, "patients", "list", "--format", "csv"], config: false)
        #expect(byPath.status == 0 && byPath.out.contains("P7"), "\(byPath.err)")
        // An option that is not global stays an error before the command words.
        #expect(try cli.run(["--format", "json", "patients", "list"]).status != 0)
    }

    @Test("Bad patient input names the option and the fix, and changes nothing")
    func badPatientInput() throws {
        let cli = try CLI()
        try cli.ok(["patients", "add", "P1", "--name", "Ada"])
        #expect(
            try cli.fails(["patients", "add", "P1", "--name", "Ada"])
                == "patient P1 already exists; use ccmctl patients show P1 to see it")
        #expect(
            try cli.fails(["patients", "add", "P2", "--name", "B", "--conditions", "diabetes"])
                == "--conditions: \"diabetes\" is not an ICD-10-CM code; write codes like I10 or E11.9")
        #expect(
            try cli.fails(["patients", "add", "P2", "--name", "B", "--ccm-consent", "2026-13-01"])
                == "--ccm-consent: \"2026-13-01\" is not a date; write YYYY-MM-DD, e.g. 2026-03-04")
        #expect(
            try cli.fails(["patients", "add", "P2", "--name", "B", "--time-zone", "Mars/Base"])
                == "--time-zone: unknown time zone \"Mars/Base\"; use an IANA name such as America/Chicago")
        #expect(try cli.fails(["patients", "show", "P9"]) == "no patient P9; list patients with ccmctl patients list")
        #expect(try cli.json(["patients", "list"]).count == 1)
    }

    @Test("patients import adds and updates, all or nothing")
    func importRoster() throws {
        let cli = try CLI()
        let roster = cli.directory + "/roster.csv"
        try """
        id,name,conditions,medications,medicare_part_b,ccm_consent_date,complexity
        P1,"Test, Ada",I10;E11.9,"metformin 500 mg; lisinopril 10 mg",yes,2026-01-15,complex
        P2,Bob Test,I50.22,,no,,
        """.write(toFile: roster, atomically: true, encoding: .utf8)
        #expect(try cli.ok(["patients", "import", roster]) == "imported 2 patients: 2 added, 0 updated\n")
        let p1 = try #require(try cli.json(["patients", "list"]).first)
        #expect(p1["name"] as? String == "Test, Ada")
        #expect(p1["medications"] as? [String] == ["metformin 500 mg", "lisinopril 10 mg"])
        #expect(p1["medicare_part_b"] as? Bool == true)
        try """
        id,name,conditions
        P2,Bob Test,I50.22 I10
        P3,Cy Test,E11.9
        P4,Di Test,not-a-code
        """.write(toFile: roster, atomically: true, encoding: .utf8)
        #expect(
            try cli.fails(["patients", "import", roster])
                == "\(roster) line 4, conditions: \"not-a-code\" is not an ICD-10-CM code; write codes like I10 or E11.9"
        )
        #expect(try cli.json(["patients", "list"]).count == 2)
        try "id,name,conditions\nP2,Bob Test,I50.22 I10\nP3,Cy Test,E11.9\n".write(
            toFile: roster, atomically: true, encoding: .utf8)
        #expect(try cli.ok(["patients", "import", roster]) == "imported 2 patients: 1 added, 1 updated\n")
        #expect(
            try cli.json(["patients", "list"]).first { $0["id"] as? String == "P2" }?["conditions"] as? [String] == [
                "I50.22", "I10",
            ])
        try "id,nom\nP1,x\n".write(toFile: roster, atomically: true, encoding: .utf8)
        #expect(try cli.fails(["patients", "import", roster]).hasPrefix("\(roster): unknown column \"nom\""))
    }

    @Test("devices add, assign, unassign and list")
    func devices() throws {
        let cli = try CLI()
        try cli.seed()
        let devices = try cli.json(["devices", "list"])
        #expect(devices.map { $0["id"] as? String } == ["A4:C1:38:12:34:56", "C0:26:DA:01:02:03", "hub7-scale-1"])
        #expect(devices[1]["ble_address"] as? String == "C0:26:DA:01:02:03")
        #expect(devices[2]["ble_address"] is NSNull)
        #expect(devices[2]["hub"] as? String == "hub7")
        #expect(try cli.ok(["devices", "unassign", "hub7-scale-1"]) == "unassigned device hub7-scale-1\n")
        #expect(try cli.json(["devices", "list", "--patient", "P2"]).isEmpty)
        #expect(
            try cli.ok(["devices", "assign", "hub7-scale-1", "--patient", "P1"])
                == "assigned device hub7-scale-1 to patient P1\n")
        #expect(try cli.json(["devices", "list", "--patient", "P1"]).count == 3)
        #expect(
            try cli.fails(["devices", "assign", "nope", "--patient", "P1"])
                == "no device nope; register it with ccmctl devices add nope --kind KIND")
        #expect(
            try cli.fails(["devices", "assign", "hub7-scale-1", "--patient", "P9"])
                == "no patient P9; add it with ccmctl patients add P9 --name NAME")
        #expect(
            try cli.fails(["devices", "add", "A4:C1:38:12:34:56", "--kind", "scale"])
                == "device A4:C1:38:12:34:56 already exists; use ccmctl devices assign to change its patient")
        #expect(try cli.fails(["devices", "add", "x1", "--kind", "toaster"]).contains("'toaster'"))
    }

    @Test("Listing a database that does not exist fails with the fix, and creates nothing")
    func missingDatabase() throws {
        let cli = try CLI()
        let path = cli.directory + "/nowhere.sqlite"
        let error = try cli.fails(["readings", "list", "--db", path])
        #expect(
            error
                == "no database at \(path); create it with ccmctl init (or restore it from a backup), or pass --db with the right path"
        )
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test("Every command has help")
    func help() throws {
        let cli = try CLI()
        for command in [["patients"], ["devices"], ["ingest"], ["readings", "list"], ["inbox", "list"]] {
            let result = try cli.run(command + ["--help"], config: false)
            #expect(result.status == 0)
            #expect(result.out.contains("USAGE: ccmctl \(command.joined(separator: " "))"))
        }
    }
}

@Suite("ccmctl devices discovered and sync", .ownThreads)
struct DiscoveredDevicesTests {
    @Test("devices discovered lists health devices heard and not yet assigned; sync shows where each stands")
    func discovered() throws {
        let cli = try CLI()
        try cli.ok(["patients", "add", "P1", "--name", "Ada"])
        try cli.ok([
            "devices", "add", "CUFF-1", "--kind", "bp_monitor", "--address", "A4:C1:38:12:34:56", "--patient", "P1",
        ])
        #expect(
            try cli.ok(["devices", "discovered"])
                == "no unassigned health devices heard; ccmctl devices discovered --all lists the assigned ones too\n")

        let database = try GatewayDatabase(path: cli.database, mode: .existing)
        let seen = RFC3339.parse("2026-11-29T14:00:00Z")!
        try database.recordDiscovered(
            DiscoveredDevice(
                address: "C0:26:DA:01:02:03", addressType: "random", name: "Meter", services: "1808", rssi: -61,
                seenAt: seen))
        try database.recordDiscovered(
            DiscoveredDevice(
                address: "A4:C1:38:12:34:56", addressType: "public", name: nil, services: "1810", rssi: -70,
                seenAt: seen))
        let unassigned = try cli.json(["devices", "discovered"])
        #expect(unassigned.map { $0["address"] as? String } == ["C0:26:DA:01:02:03"])
        #expect(unassigned.first?["type"] as? String == "random")
        #expect(unassigned.first?["services"] as? String == "1808")
        #expect(unassigned.first?["kind"] as? String == "glucometer")
        let all = try cli.json(["devices", "discovered", "--all"])
        #expect(all.count == 2)
        #expect(all.first { $0["address"] as? String == "A4:C1:38:12:34:56" }?["device"] as? String == "CUFF-1")

        try database.recordBLESession(device: "CUFF-1", at: seen, records: 3, error: nil)
        try database.recordBLESession(
            device: "CUFF-1", at: seen.addingTimeInterval(60), records: 0, error: "the device disconnected")
        let sync = try cli.json(["devices", "sync"])
        #expect(sync.count == 1)
        #expect(sync[0]["sessions"] as? Int == 2 && sync[0]["records"] as? Int == 3)
        #expect(sync[0]["last_sync"] as? String == "2026-11-29T14:00:00Z")
        #expect(sync[0]["last_error"] as? String == "the device disconnected")

        // Scales, oximeters and thermometers are listed with their kind.
        for (address, services) in [
            ("D0:00:00:00:00:01", "181d,181b"), ("D0:00:00:00:00:02", "180f,1822"), ("D0:00:00:00:00:03", "1809"),
            ("D0:00:00:00:00:04", "181b"),
        ] {
            try database.recordDiscovered(
                DiscoveredDevice(
                    address: address, addressType: "random", name: nil, services: services, rssi: -60, seenAt: seen))
        }
        let kinds = try cli.json(["devices", "discovered"]).map {
            "\($0["address"] as? String ?? ""): \($0["kind"] as? String ?? "-")"
        }
        #expect(
            kinds.sorted() == [
                "C0:26:DA:01:02:03: glucometer", "D0:00:00:00:00:01: scale", "D0:00:00:00:00:02: pulse_oximeter",
                "D0:00:00:00:00:03: thermometer",
                "D0:00:00:00:00:04: scale",
            ])

        // A replaced meter: its next download starts from the first record again.
        let record = RawInput(
            source: "ble:test", format: .gatt(characteristic: "2a18", device: "CUFF-1"), payload: Data([0x00, 41, 0]))
        _ = try Pipeline(database: database).receiveBLE(record, device: "CUFF-1", glucoseSequence: 41)
        #expect(try cli.json(["devices", "sync"])[0]["next_glucose_seq"] as? Int == 42)
        #expect(
            try cli.ok(["devices", "sync", "--reset", "CUFF-1"])
                == "CUFF-1: the next session downloads every stored record\n")
        #expect(try cli.json(["devices", "sync"])[0]["next_glucose_seq"] is NSNull)
        #expect(try cli.fails(["devices", "sync", "--reset", "NOPE"]).hasPrefix("no device NOPE"))
    }
}
