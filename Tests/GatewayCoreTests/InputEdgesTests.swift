import Foundation
import GatewayCore
import Testing

/// The input edges of docs/native-format.md: duplicate JSON keys, readings without identity, the id
/// rule, RFC 3339 edges.
@Suite("Input edges")
struct InputEdgesTests {
    static let received = RFC3339.parse("2026-03-04T14:00:00Z")!

    func native(_ json: String) -> Result<DecodedPayload, Rejection> { NativeReadingV1.parse(Data(json.utf8)) }

    func nativeFailure(_ json: String) -> String? {
        switch native(json) {
        case .failure(let rejection): return rejection.description
        case .success(let payload): return payload.items.compactMap(\.failure).first?.description
        }
    }

    // MARK: Duplicate keys

    @Test(
        "A key repeated in one object rejects the payload, naming the key's path",
        arguments: [
            (
                #"{"v":1,"device":"A4:C1:38:12:34:56","kind":"blood_pressure","measured_at":"2026-03-04T07:42:10-06:00","unit":"mmHg","values":{"systolic":130,"diastolic":80,"systolic":250}}"#,
                "values.systolic"
            ),
            (
                #"{"v":1,"device":"C0:26:DA:01:02:03","kind":"blood_pressure","measured_at":"2026-03-04T07:42:10-06:00","unit":"mmHg","values":{"systolic":130,"diastolic":80},"device":"A4:C1:38:12:34:56"}"#,
                "device"
            ),
            (
                #"[{"v":1,"device":"x","kind":"pulse","unit":"/min","values":{"pulse":60},"id":"a"},{"v":1,"device":"x","kind":"pulse","unit":"/min","values":{"pulse":60},"id":"b","id":"c"}]"#,
                "[1].id"
            ),
            // The same key spelled with an escape is the same key.
            (#"{"v":1,"v":1}"#, "v"),
            (#"{"device":"x","dev\u0069ce":"y"}"#, "device"),
        ])
    func duplicateNative(json: String, path: String) throws {
        let rejection = try #require(native(json).failure)
        #expect(rejection.code == .duplicateKey)
        #expect(rejection.field == path)
        #expect(
            rejection.message.hasSuffix(
                ": a JSON object names each field once; remove one of them (the gateway does not guess which one is meant)"
            ))
    }

    @Test("The duplicate-key rejection says which key, exactly")
    func duplicateMessage() {
        #expect(
            nativeFailure(#"{"v":1,"values":{"systolic":130,"systolic":250}}"#)
                == #"values.systolic: duplicate key "systolic": a JSON object names each field once; remove one of them (the gateway does not guess which one is meant)"#
        )
    }

    @Test("The same key in sibling and nested objects, and keys that only look alike, are not duplicates")
    func notDuplicates() throws {
        let json = #"""
            [{"v":1,"device":"x","kind":"pulse","unit":"/min","values":{"pulse":60},"id":"a"},
             {"v":1,"device":"x","kind":"pulse","unit":"/min","values":{"pulse":61},"id":"b"}]
            """#
        #expect(try native(json).get().items.allSatisfy { (try? $0.get()) != nil })
        #expect(
            JSONDuplicateKeys.first(
                in: Data(#"{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}],"A":1,"a\"":2,"x":"a","y":"a"}"#.utf8)) == nil)
        #expect(JSONDuplicateKeys.first(in: Data(#"{"k":"\"", "k\\":1, "\u00e9":1, "é\n":2}"#.utf8)) == nil)
        #expect(JSONDuplicateKeys.first(in: Data(#"{"\u00e9":1, "é":2}"#.utf8))?.key == "é")
        #expect(JSONDuplicateKeys.first(in: Data(#"{"\ud83d\ude00":1, "😀":2}"#.utf8))?.path == "😀")
        #expect(JSONDuplicateKeys.first(in: Data(#"[1,[2,{"a":[{"b":1,"b":2}]}]]"#.utf8))?.path == "[1][1].a[0].b")
    }

    @Test("FHIR and time entries reject repeated keys too, at any depth")
    func duplicateFHIRAndTime() throws {
        let fhir = #"""
            {"resourceType":"Observation","id":"o1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"29463-7"}]},
             "device":{"identifier":{"value":"hub7-scale-1","value":"A4:C1:38:12:34:56"}},"effectiveDateTime":"2026-03-04T06:30:00-06:00",
             "valueQuantity":{"value":90,"code":"kg"}}
            """#
        let rejection = try #require(FHIRObservation.parse(Data(fhir.utf8)).failure)
        #expect(rejection.code == .duplicateKey)
        #expect(rejection.field == "device.identifier.value")
        let bundle =
            #"{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation","id":"a","id":"b"}}]}"#
        #expect(FHIRObservation.parse(Data(bundle.utf8)).failure?.field == "entry[0].resource.id")
        let time =
            #"{"v":1,"patient":"P1","patient":"P2","start":"2026-03-04T10:05:00-06:00","minutes":12,"staff":"nurse.kim","role":"clinical_staff","program":"ccm","activity":"call"}"#
        let timeRejection = try #require(TimeEntryV1.parse(Data(time.utf8)).failure)
        #expect(timeRejection.code == .duplicateKey)
        #expect(timeRejection.field == "patient")
    }

    @Test("The duplicate-key check finds a repeat among 200,000 keys and walks a 20,000-deep nesting")
    func duplicateWideAndDeep() {
        // Sizes a hub could send within the payload limit and more. (How fast is a benchmark's
        // question, not a unit test's: a parallel test run makes any timing here noise. A
        // quadratic check would still be caught, by this test taking minutes.)
        let wide = Data(("{" + (0..<200_000).map { "\"k\($0)\":\($0)" }.joined(separator: ",") + ",\"k0\":1}").utf8)
        let deep = Data(
            (String(repeating: "[{\"a\":", count: 20_000) + "1" + String(repeating: "}]", count: 20_000)).utf8)
        let found = JSONDuplicateKeys.first(in: wide)
        #expect(found?.key == "k0")
        #expect(found?.path == "k0")
        #expect(JSONDuplicateKeys.first(in: deep) == nil)
    }

    // MARK: Identity

    @Test("A native reading with none of measured_at, seq and id is rejected with the reason")
    func noIdentity() throws {
        #expect(
            nativeFailure(
                #"{"v":1,"device":"A4:C1:38:12:34:56","kind":"blood_pressure","unit":"mmHg","values":{"systolic":138,"diastolic":88}}"#
            )
                == "measured_at: " + NativeReadingV1.identityMissing)
        #expect(
            nativeFailure(
                #"[{"v":1,"device":"x","kind":"pulse","unit":"/min","values":{"pulse":60},"measured_at":null,"id":null,"seq":null}]"#
            )
                == "[0].measured_at: " + NativeReadingV1.identityMissing)
        // Any one of them is an identity.
        for extra in [#""seq":7"#, #""id":"m-1""#, #""measured_at":"2026-03-04T07:42:10-06:00""#] {
            let json = #"{"v":1,"device":"x","kind":"pulse","unit":"/min","values":{"pulse":60},"# + extra + "}"
            let input = try native(json).get().items[0].get()
            let reading = try Normalizer.normalize(input, receivedAt: Self.received).get()
            #expect(reading.dedupKey != nil, "\(extra)")
        }
    }

    @Test("A record number identifies readings of every kind, not only glucose")
    func sequenceKey() {
        #expect(
            DedupKey(device: "d", kind: .bloodPressure, measuredAt: nil, sequence: 311, messageID: nil)?.description
                == "d|blood_pressure|seq:311")
        #expect(
            DedupKey(device: "d", kind: .glucose, measuredAt: nil, sequence: 3, messageID: nil)?.description
                == "d|glucose|seq:3")
        // measured_at and id still come first for kinds other than glucose.
        #expect(
            DedupKey(device: "d", kind: .pulse, measuredAt: nil, sequence: 3, messageID: "m")?.description
                == "d|pulse|id:m")
    }

    @Test("A FHIR Observation with neither effectiveDateTime nor id is rejected")
    func fhirNoIdentity() throws {
        let json =
            #"{"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"29463-7"}]},"device":{"reference":"Device/hub7-scale-1"},"valueQuantity":{"value":90,"code":"kg"}}"#
        let item = try FHIRObservation.parse(Data(json.utf8)).get().items[0]
        #expect(item.failure?.field == "effectiveDateTime")
        #expect(item.failure?.code == .missingField)
        let withID = json.replacingOccurrences(of: #""status""#, with: #""id":"obs-9","status""#)
        #expect((try FHIRObservation.parse(Data(withID.utf8)).get().items[0].get()).messageID == "obs-9")
    }

    // MARK: Ids

    @Test(
        "Ids outside the rule are refused with the rule",
        arguments: [
            (
                "P#", EntityID.Kind.patient,
                ##""P#" is not a valid patient id: "#" (an MQTT wildcard) is not allowed; use 1 to 64 characters from A-Z a-z 0-9 . _ - : @ (no spaces, control characters, #, + or /)"##
            ),
            (
                "a+b", .hub,
                #""a+b" is not a valid hub id: "+" (an MQTT wildcard) is not allowed; use 1 to 64 characters from A-Z a-z 0-9 . _ - : @ (no spaces, control characters, #, + or /)"#
            ),
            (
                "hub/7", .hub,
                #""hub/7" is not a valid hub id: "/" (the MQTT topic separator) is not allowed; use 1 to 64 characters from A-Z a-z 0-9 . _ - : @ (no spaces, control characters, #, + or /)"#
            ),
            (
                "\u{1B}[31mX", .device,
                #""\u{1B}[31mX" is not a valid device id: the control character \u{1B} is not allowed; use 1 to 128 characters from A-Z a-z 0-9 . _ - : @ (no spaces, control characters, #, + or /)"#
            ),
            (
                "P 1", .patient,
                #""P 1" is not a valid patient id: a space is not allowed; use 1 to 64 characters from A-Z a-z 0-9 . _ - : @ (no spaces, control characters, #, + or /)"#
            ),
            (
                "", .patient,
                "a patient id cannot be empty; use 1 to 64 characters from A-Z a-z 0-9 . _ - : @ (no spaces, control characters, #, + or /)"
            ),
            (
                String(repeating: "p", count: 65), .patient,
                "patient id of 65 characters is too long; use 1 to 64 characters from A-Z a-z 0-9 . _ - : @ (no spaces, control characters, #, + or /)"
            ),
        ])
    func badIDs(id: String, kind: EntityID.Kind, message: String) {
        #expect(EntityID.problem(id, kind) == message)
    }

    @Test("Ids the gateway has always used pass")
    func goodIDs() {
        for id in ["P1", "MRN-000123", "A4:C1:38:12:34:56", "hub7-scale-1", "hub7", "nurse.kim@clinic", "3f2a_9"] {
            #expect(EntityID.problem(id, .patient) == nil, "\(id)")
        }
        #expect(EntityID.problem(String(repeating: "d", count: 128), .device) == nil)
        #expect(EntityID.problem(String(repeating: "d", count: 129), .device) != nil)
    }

    @Test("A reading's device and a time entry's patient follow the id rule")
    func idsInPayloads() throws {
        let json = #"{"v":1,"device":"\u001b[2Jcuff","kind":"pulse","unit":"/min","values":{"pulse":60},"id":"a"}"#
        let rejection = try #require(try native(json).get().items[0].failure)
        #expect(rejection.field == "device")
        #expect(rejection.code == .invalidValue)
        #expect(!rejection.description.contains("\u{1B}"))
        let fhir =
            #"{"resourceType":"Observation","id":"o","code":{"coding":[{"code":"29463-7"}]},"device":{"reference":"Device/sc#1"},"valueQuantity":{"value":90,"code":"kg"}}"#
        let input = try FHIRObservation.parse(Data(fhir.utf8)).get().items[0].get()
        #expect(Normalizer.normalize(input, receivedAt: Self.received).failure?.field == "device")
        let time =
            #"{"v":1,"patient":"P#","start":"2026-03-04T10:05:00-06:00","minutes":12,"staff":"nurse.kim","role":"clinical_staff","program":"ccm","activity":"call"}"#
        let entry = try #require(try TimeEntryV1.parse(Data(time.utf8)).get().first)
        #expect(entry.failure?.field == "patient")
        // A Bluetooth address written with dashes is still an address, and fine.
        let dashed =
            #"{"v":1,"device":"a4-c1-38-12-34-56","kind":"pulse","unit":"/min","values":{"pulse":60},"id":"a"}"#
        #expect((try native(dashed).get().items[0].get()).device == "a4-c1-38-12-34-56")
    }

    @Test("Control and invisible characters are escaped for display; other text is untouched")
    func displayText() {
        #expect(DisplayText.escaped("\u{1B}[31mred\u{07}") == #"\u{1B}[31mred\u{7}"#)
        #expect(DisplayText.escaped("a\nb\tc\r") == #"a\nb\tc\r"#)
        #expect(DisplayText.escaped("left\u{202E}thgir\u{200B}\u{9B}") == #"left\u{202E}thgir\u{200B}\u{9B}"#)
        #expect(DisplayText.escaped("Zoë Ñ 120/80 — ok") == "Zoë Ñ 120/80 — ok")
    }

    // MARK: RFC 3339

    @Test("Second 60 is only the leap second 23:59:60 UTC, read as 23:59:59.999Z")
    func leapSecond() throws {
        #expect(RFC3339.parse("2026-03-04T12:34:60Z") == nil)
        #expect(RFC3339.parse("2026-03-04T12:34:60-06:00") == nil)
        #expect(RFC3339.parse("2016-12-31T23:59:60+01:00") == nil)  // 22:59:60Z
        let leap = try #require(RFC3339.parse("2016-12-31T23:59:60Z"))
        #expect(RFC3339.format(leap) == "2016-12-31T23:59:59.999Z")
        #expect(RFC3339.parse("2016-12-31T17:59:60-06:00") == leap)
        #expect(RFC3339.parse("2016-12-31T23:59:60.5Z") == leap)
        #expect(RFC3339.parse("2016-12-31T23:59:59Z")! < leap)
        #expect(leap < RFC3339.parse("2017-01-01T00:00:00Z")!)
    }

    @Test("Year 0000 is refused; year 0001 is a date")
    func yearZero() {
        #expect(RFC3339.parse("0000-01-01T00:00:00Z") == nil)
        #expect(RFC3339.parse("0000-02-29T12:00:00+01:00") == nil)
        #expect(RFC3339.parse("0001-01-01T00:00:00Z") != nil)
        #expect(
            nativeFailure(
                #"{"v":1,"device":"x","kind":"pulse","unit":"/min","values":{"pulse":60},"measured_at":"0000-01-01T00:00:00Z"}"#
            )
                == #"measured_at: "0000-01-01T00:00:00Z" is not an RFC 3339 time with an offset; write it like 2026-03-04T07:42:10-06:00"#
        )
    }
}
