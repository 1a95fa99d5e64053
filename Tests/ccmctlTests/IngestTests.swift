import Foundation
import GatewayTestSupport
import Testing

@Suite("ccmctl ingest, readings and inbox", .ownThreads)
struct IngestTests {
    static let demo = CLI.fixtures.appendingPathComponent("native/demo.jsonl").path

    @Test("Ingest prints the counts and reasons; readings carry both times; a second ingest adds nothing")
    func ingestTwice() throws {
        let cli = try CLI()
        try cli.seed()
        let first = try cli.ok(["ingest", Self.demo])
        let lines = first.split(separator: "\n").map(String.init)
        #expect(lines[0] == "5 accepted, 2 rejected, 3 quarantined, 0 duplicate")
        #expect(
            lines.contains(
                "line 5 [1]: quarantined: unknown device hub7-oxi-1; register it with ccmctl devices add hub7-oxi-1 --kind KIND --patient PATIENT, which replays its quarantined readings"
            ))
        #expect(
            lines.contains(
                "line 8: rejected: values.systolic: 350 mmHg is outside the plausible range 40–300 mmHg; check the device and the unit, then measure again"
            ))
        #expect(
            lines.contains(
                "line 9: rejected: note: unknown field; the native format v1 allows v, device, kind, measured_at, unit, values, meal, seq, id (remove it or fix its spelling)"
            ))

        let readings = try cli.json(["readings", "list"])
        #expect(readings.count == 5)
        let bp = try #require(readings.first { $0["measured_at"] as? String == "2026-03-04T13:42:10Z" })
        #expect(bp["patient"] as? String == "P1")
        #expect(bp["kind"] as? String == "blood_pressure")
        #expect(bp["loinc"] as? String == "85354-9")
        #expect(bp["unit"] as? String == "mmHg")
        #expect(bp["values"] as? [String: Double] == ["systolic": 142, "diastolic": 91, "map": 108, "pulse": 72])
        #expect((bp["received_at"] as? String)?.hasSuffix("Z") == true)
        #expect(bp["clock_suspect"] as? Bool == false)
        #expect(bp["source"] as? String == "file:\(Self.demo):1")
        let weight = try #require(readings.first { $0["kind"] as? String == "weight" })
        #expect(weight["values"] as? [String: Double] == ["weight": 91.353503318])
        #expect(weight["original_unit"] as? String == "lb")
        #expect(weight["original_values"] as? [String: Double] == ["weight": 201.4])

        let second = try cli.ok(["ingest", Self.demo])
        #expect(second.hasPrefix("0 accepted, 2 rejected, 3 quarantined, 5 duplicate\n"))
        #expect(try cli.json(["readings", "list"]).count == 5)
    }

    @Test("Readings from an unknown device appear after devices assign")
    func quarantineThenAssign() throws {
        let cli = try CLI()
        try cli.seed()
        try cli.ok(["ingest", Self.demo])
        #expect(try cli.json(["inbox", "list", "--status", "quarantined"]).count == 3)
        #expect(
            try cli.ok(["devices", "add", "hub7-oxi-1", "--kind", "pulse_oximeter"]).contains(
                "replayed 1 quarantined readings: 0 accepted, 0 rejected, 1 quarantined, 0 duplicate"))
        let assigned = try cli.ok(["devices", "assign", "hub7-oxi-1", "--patient", "P2"])
        #expect(
            assigned
                == "assigned device hub7-oxi-1 to patient P2\nreplayed 1 quarantined readings: 1 accepted, 0 rejected, 0 quarantined, 0 duplicate\n"
        )
        let spo2 = try cli.json(["readings", "list", "--kind", "spo2"])
        #expect(spo2.count == 1)
        #expect(spo2.first?["patient"] as? String == "P2")
        #expect(spo2.first?["values"] as? [String: Double] == ["spo2": 95, "pulse": 77])
        #expect(try cli.json(["inbox", "list", "--status", "quarantined"]).count == 2)
    }

    @Test("Ingest from standard input, with a hub")
    func stdin() throws {
        let cli = try CLI()
        try cli.seed()
        let line =
            #"{"v":1,"device":"hub7-scale-1","kind":"weight","measured_at":"2026-03-04T06:30:00-06:00","unit":"kg","values":{"weight":91.2}}"#
        try cli.ok(["hubs", "add", "hub9"])
        #expect(try cli.ok(["ingest", "-", "--hub", "hub9"], input: line + "\n").hasPrefix("0 accepted, 1 rejected"))
        #expect(
            try cli.ok(["ingest", "-", "--hub", "hub7"], input: "\n" + line + "\n").hasPrefix("1 accepted, 0 rejected"))
        let sources = try cli.json(["inbox", "list"]).map { $0["source"] as? String }
        #expect(sources == ["stdin:1", "stdin:2"])
    }

    @Test("readings list filters by patient, kind and time; table, json and csv agree")
    func filters() throws {
        let cli = try CLI()
        try cli.seed()
        try cli.ok(["ingest", Self.demo])
        #expect(try cli.json(["readings", "list", "--patient", "P2"]).count == 1)
        #expect(try cli.json(["readings", "list", "--kind", "glucose"]).count == 2)
        #expect(try cli.json(["readings", "list", "--since", "2026-03-05"]).count == 1)
        #expect(try cli.json(["readings", "list", "--since", "2026-03-04T12:00:00-06:00"]).count == 2)
        #expect(
            try cli.json(["readings", "list", "--limit", "1"]).first?["measured_at"] as? String
                == "2026-03-05T13:40:02Z")
        let table = try cli.ok(["readings", "list", "--patient", "P1", "--kind", "blood_pressure"])
        #expect(table.contains("142/91 mmHg map 108, pulse 72  2026-03-04 07:42 CST"))
        let csv = try cli.ok(["readings", "list", "--kind", "glucose", "--format", "csv"]).split(separator: "\n")
        #expect(csv.count == 3)
        #expect(
            csv[0]
                == "id,patient,device,kind,loinc,unit,values,original_unit,original_values,measured_at,measured_at_text,received_at,effective_at,clock_suspect,windowed,meal,seq,source,flags,excluded_from_rules,user,sample_type,sample_location,epoch"
        )
        #expect(csv[1].contains(",glucose=133.3184,mmol/L,glucose=7.4,2026-03-04T12:55:00Z,"))
        #expect(
            try cli.fails(["readings", "list", "--since", "last week"])
                == "--since: \"last week\" is not a date; write 2026-03-04 or 2026-03-04T07:00:00-06:00")
    }

    @Test("inbox list shows each rejection with its reason and the payload as received")
    func inboxList() throws {
        let cli = try CLI()
        try cli.seed()
        try cli.ok(["ingest", Self.demo])
        let rejected = try cli.json(["inbox", "list", "--status", "rejected"])
        #expect(rejected.map { $0["source"] as? String } == ["file:\(Self.demo):8", "file:\(Self.demo):9"])
        #expect((rejected[1]["payload"] as? String)?.contains(#""note": "left arm""#) == true)
        #expect(
            rejected[0]["reason"] as? String
                == "values.systolic: 350 mmHg is outside the plausible range 40–300 mmHg; check the device and the unit, then measure again"
        )
        #expect(try cli.json(["inbox", "list", "--device", "c0:26:da:01:02:03"]).count == 2)
        #expect(
            try cli.fails(["inbox", "list", "--status", "lost"])
                == "--status: unknown status \"lost\"; use one of pending, accepted, rejected, quarantined, duplicate, failed"
        )
        #expect(try cli.ok(["inbox", "list", "--status", "pending"]) == "no pending inputs\n")
    }

    @Test("status: the daemon from its metrics file, the rest from the database")
    func status() throws {
        let cli = try CLI()
        try cli.seed()
        try cli.ok(["ingest", Self.demo])
        let table = try cli.ok(["status"])
        #expect(
            table.contains(
                "daemon                not reporting (no metrics file at \(cli.directory)/ccm-gateway.prom)\n"))
        #expect(table.contains("inbox_pending         0\n"))
        let json =
            try JSONSerialization.jsonObject(with: Data(try cli.ok(["status", "--format", "json"]).utf8))
            as? [String: Any]
        #expect(json?["readings_today"] as? Int == 5)
        #expect((json?["last_input"] as? [String: Any])?.keys.sorted() == ["file"])
        try """
        ccm_gateway_mqtt_enabled 1
        ccm_gateway_mqtt_connected 1
        ccm_gateway_ble_available 1
        ccm_gateway_ble_sessions_total 7
        ccm_gateway_ble_session_failures_total 2
        ccm_gateway_start_time_seconds 1772631730
        ccm_gateway_up 1
        """.write(toFile: cli.directory + "/ccm-gateway.prom", atomically: true, encoding: .utf8)
        let running = try cli.ok(["status"])
        #expect(running.contains("daemon                running since 2026-03-04 07:42 CST\n"))
        #expect(running.contains("mqtt                  connected\n"))
        #expect(running.contains("ble                   on, 7 sessions, 2 failed (ccmctl devices sync)\n"))
    }
}
