import Foundation
import GatewayTestSupport
import Testing

/// The input edges of docs/native-format.md at the command line: ids refused with the rule, stored text
/// printed escaped, re-ingest of readings without identity.
@Suite("ccmctl input edges", .ownThreads)
struct InputEdgesCLITests {
    static let rule = "use 1 to 64 characters from A-Z a-z 0-9 . _ - : @ (no spaces, control characters, #, + or /)"

    @Test("patients add, devices add/assign --hub and ingest --hub refuse ids outside the rule, with the rule")
    func refusedIDs() throws {
        let cli = try CLI()
        try cli.seed()
        #expect(
            try cli.fails(["patients", "add", "P#", "--name", "X"])
                == ##"patient id: "P#" is not a valid patient id: "#" (an MQTT wildcard) is not allowed; "## + Self.rule
        )
        #expect(
            try cli.fails(["patients", "add", "P+1", "--name", "X"]).contains(#""+" (an MQTT wildcard) is not allowed"#)
        )
        let escaped = try cli.fails(["devices", "add", "cuff\u{1B}[2J", "--kind", "bp_monitor"])
        #expect(!escaped.contains("\u{1B}"))
        #expect(
            escaped.hasPrefix(
                #"device id: "cuff\u{1B}[2J" is not a valid device id: the control character \u{1B} is not allowed"#))
        #expect(
            try cli.fails(["devices", "add", "cuff-9", "--kind", "bp_monitor", "--hub", "hub/7"]).hasPrefix(
                #"--hub: "hub/7" is not a valid hub id"#))
        #expect(
            try cli.fails(["devices", "assign", "A4:C1:38:12:34:56", "--patient", "P1", "--hub", "h#"]).hasPrefix(
                ##"--hub: "h#" is not a valid hub id"##))
        #expect(
            try cli.fails(["ingest", "-", "--hub", "hub 7"]).hasPrefix(
                #"--hub: "hub 7" is not a valid hub id: a space is not allowed"#))
        #expect(try cli.json(["patients", "list"]).count == 2)
        #expect(try cli.json(["devices", "list"]).count == 3)
    }

    @Test("Tables and messages print control characters in stored text as escapes, never raw")
    func escapedOutput() throws {
        let cli = try CLI()
        try cli.seed()
        try cli.ok(["patients", "add", "P3", "--name", "\u{1B}[31mMallory\u{1B}[0m\nline2"])
        try cli.ok(["devices", "add", "cuff-9", "--kind", "bp_monitor", "--model", "\u{1B}]0;owned\u{07}"])
        let patients = try cli.ok(["patients", "list"])
        #expect(!patients.contains("\u{1B}"))
        #expect(patients.contains(#"\u{1B}[31mMallory\u{1B}[0m\nline2"#))
        let show = try cli.ok(["patients", "show", "P3"])
        #expect(!show.contains("\u{1B}"))
        #expect(show.contains(#"\u{1B}[31mMallory\u{1B}[0m\nline2"#))
        let devices = try cli.ok(["devices", "list"])
        #expect(!devices.contains("\u{1B}") && !devices.contains("\u{07}"))
        #expect(devices.contains(#"\u{1B}]0;owned\u{7}"#))
        // JSON output stays JSON: the encoder escapes, the value round-trips.
        let json = try cli.json(["patients", "list"])
        #expect(json.contains { $0["name"] as? String == "\u{1B}[31mMallory\u{1B}[0m\nline2" })
        // A payload key with an escape sequence, quoted by a rejection, is printed escaped.
        let line =
            #"{"v":1,"device":"A4:C1:38:12:34:56","kind":"pulse","unit":"/min","values":{"pulse":60},"id":"m1","\u001b[2J":1}"#
        let ingest = try cli.ok(["ingest", "-"], input: line + "\n")
        #expect(!ingest.contains("\u{1B}"))
        #expect(ingest.contains(#"line 1: rejected: \u{1B}[2J: unknown field"#))
    }

    @Test("A reading without measured_at, seq or id is rejected on every ingest, so a re-ingest stores nothing twice")
    func reingestWithoutIdentity() throws {
        let cli = try CLI()
        try cli.seed()
        let input = """
            {"v":1,"device":"A4:C1:38:12:34:56","kind":"blood_pressure","unit":"mmHg","values":{"systolic":138,"diastolic":88}}
            {"v":1,"device":"A4:C1:38:12:34:56","kind":"blood_pressure","unit":"mmHg","values":{"systolic":139,"diastolic":89},"seq":7}

            """
        for round in 0..<2 {
            let out = try cli.ok(["ingest", "-"], input: input)
            #expect(
                out.hasPrefix(
                    round == 0
                        ? "1 accepted, 1 rejected, 0 quarantined, 0 duplicate\n"
                        : "0 accepted, 1 rejected, 0 quarantined, 1 duplicate\n"))
            #expect(out.contains("line 1: rejected: measured_at: a reading needs measured_at, seq or id"))
        }
        #expect(try cli.json(["readings", "list"]).count == 1)
    }

    @Test("ingest --help says how re-ingest is kept from storing a reading twice, and about overlong lines")
    func ingestHelp() throws {
        let help = try cli().ok(["ingest", "--help"])
        #expect(help.contains("measured_at, seq or id"))
        #expect(help.contains("max_payload_bytes"))
    }

    func cli() throws -> CLI { try CLI() }
}
