import Foundation
import GRDB
import GatewayCore
import GatewayPipeline
import GatewayTestSupport
import Testing

@testable import GatewayStore

#if canImport(Glibc)
import Glibc
#endif

/// The input edges of docs/native-format.md through the pipeline and the line reader (overlong
/// lines: docs/data-flow.md § "The durability rule").
@Suite("Input edges in the pipeline", .ownThreads)
struct InputEdgesStoreTests {
    func file(_ directory: TemporaryDirectory, _ bytes: String) throws -> FileHandle {
        let path = directory.file("input.jsonl")
        try Data(bytes.utf8).write(to: URL(fileURLWithPath: path))
        return try #require(FileHandle(forReadingAtPath: path))
    }

    func lines(_ text: String, max: Int = .max) throws -> [InputLine] {
        let directory = TemporaryDirectory()
        return Array(LineReader(handle: try file(directory, text), maxLineBytes: max))
    }

    @Test("Lines: LF and CRLF, a last line without a line end, blank lines kept for the caller to skip")
    func lineEnds() throws {
        let read = try lines("a\r\nbb\n\n  \ncc")
        #expect(read.map { String(decoding: $0.bytes, as: UTF8.self) } == ["a", "bb", "", "  ", "cc"])
        #expect(read.map(\.isBlank) == [false, false, true, true, false])
        #expect(read.allSatisfy { !$0.isTruncated })
        #expect(try lines("").isEmpty)
        #expect(try lines("x\n").count == 1)
    }

    @Test("Lines across many read chunks come back whole and in order")
    func manyChunks() throws {
        let texts = (0..<30_000).map { "line \($0) " + String(repeating: "y", count: $0 % 97) }
        let read = try lines(texts.joined(separator: "\n") + "\n")
        #expect(read.map { String(decoding: $0.bytes, as: UTF8.self) } == texts)
    }

    @Test("A line past the limit keeps its first bytes and its length; the lines after it are whole")
    func overlong() throws {
        let long = String(repeating: "z", count: 200_000)
        let read = try lines("12345\n123456\r\n\(long)\r\nok\n1234567", max: 6)
        #expect(
            read.map { String(decoding: $0.bytes, as: UTF8.self) } == ["12345", "123456", "zzzzzz", "ok", "123456"])
        #expect(read.map(\.length) == [5, 6, 200_000, 2, 7])
        #expect(read.map(\.isTruncated) == [false, false, true, false, true])
    }

    /// The high-water mark of this process's resident memory, in bytes.
    static func peakResidentBytes() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
    }

    @Test(
        "A 50 MB line is read without being held whole, rejected as too large, and only its first bytes are kept",
        .timeLimit(.minutes(2)))
    func fiftyMegabyteLine() throws {
        let world = try World()
        let path = world.directory.file("huge.jsonl")
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        let writer = try #require(FileHandle(forWritingAtPath: path))
        let head = #"{"v":1,"device":"A4:C1:38:12:34:56","kind":"pulse","unit":"/min","values":{"pulse":60},"id":""#
        writer.write(Data(head.utf8))
        let megabyte = Data(repeating: UInt8(ascii: "a"), count: 1 << 20)
        for _ in 0..<50 { writer.write(megabyte) }
        writer.write(Data("\"}\n".utf8))
        writer.write(Data((World.bp + "\n").utf8))
        try writer.close()
        let size = head.utf8.count + 50 * (1 << 20) + 2

        let peakBefore = Self.peakResidentBytes()
        var outcomes: [ItemOutcome] = []
        let handle = try #require(FileHandle(forReadingAtPath: path))
        var number = 0
        for line in LineReader(handle: handle, maxLineBytes: world.pipeline.maxPayloadBytes) {
            number += 1
            let id = try world.pipeline.receive(line.rawInput(source: "file:huge.jsonl:\(number)"))
            outcomes += try world.pipeline.process(inboxID: id)
        }
        // Nothing near the line's 50 MB was held (the old reader held it twice over).
        #expect(Self.peakResidentBytes() - peakBefore < 30 << 20)
        #expect(outcomes.map(\.status) == [.rejected, .accepted])
        #expect(outcomes[0].code == "too_large")
        #expect(
            outcomes[0].reason
                == "payload of \(size) bytes is over the 65536-byte limit; split it into smaller messages (only its first 65536 bytes are kept)"
        )
        let stored = try #require(try world.database.inbox(status: "rejected").first)
        #expect(stored.payload.count == 65536)
        #expect(stored.payload.prefix(head.utf8.count) == Data(head.utf8))
    }

    @Test("A reading with no measured_at, seq or id is rejected every time it comes, never stored")
    func noIdentity() throws {
        let world = try World()
        let json =
            #"{"v":1,"device":"A4:C1:38:12:34:56","kind":"blood_pressure","unit":"mmHg","values":{"systolic":138,"diastolic":88}}"#
        for _ in 0..<2 {
            let outcomes = try world.ingest(json)
            #expect(outcomes.map(\.status) == [.rejected])
            #expect(outcomes.first?.code == "missing_field")
            #expect(outcomes.first?.reason == "measured_at: " + NativeReadingV1.identityMissing)
        }
        #expect(try world.count("SELECT COUNT(*) FROM reading") == 0)
    }

    @Test("A blood-pressure reading identified by its record number alone is stored once")
    func sequenceOnly() throws {
        let world = try World()
        let json =
            #"{"v":1,"device":"A4:C1:38:12:34:56","kind":"blood_pressure","unit":"mmHg","values":{"systolic":138,"diastolic":88},"seq":41}"#
        #expect(try world.ingest(json).map(\.status) == [.accepted])
        let again = try world.ingest(json)
        #expect(again.map(\.status) == [.duplicate])
        #expect(again.first?.reason?.hasSuffix("(A4:C1:38:12:34:56|blood_pressure|seq:41)") == true)
        #expect(try world.count("SELECT COUNT(*) FROM reading") == 1)
    }

    @Test("A device id with control characters is rejected, not quarantined under that id")
    func deviceWithEscapes() throws {
        let world = try World()
        let json =
            #"{"v":1,"device":"\u001b]0;pwned\u0007","kind":"pulse","unit":"/min","values":{"pulse":60},"id":"m1"}"#
        let outcomes = try world.ingest(json)
        #expect(outcomes.map(\.status) == [.rejected])
        #expect(outcomes.first?.reason?.hasPrefix(#"device: "\u{1B}]0;pwned\u{7}" is not a valid device id"#) == true)
        #expect(try world.count("SELECT COUNT(*) FROM inbox_item WHERE status = 'quarantined'") == 0)
    }

    @Test("An input whose hub id breaks the id rule is rejected whole with the rule")
    func badHub() throws {
        let world = try World()
        let outcomes = try world.ingest(World.bp, hub: "hub 7")
        #expect(outcomes.map(\.status) == [.rejected])
        #expect(
            outcomes.first?.reason
                == #""hub 7" is not a valid hub id: a space is not allowed; use 1 to 64 characters from A-Z a-z 0-9 . _ - : @ (no spaces, control characters, #, + or /) (the hub id is the topic level after hub/, or ccmctl ingest --hub)"#
        )
        let time =
            #"{"v":1,"patient":"P1","start":"2026-03-04T10:05:00-06:00","minutes":12,"staff":"nurse.kim","role":"clinical_staff","program":"ccm","activity":"call","id":"t1"}"#
        let timeOutcomes = try world.pipeline.ingest(
            RawInput(source: "mqtt:x", format: .timeEntryV1, hubID: "hub\u{1B}", payload: Data(time.utf8)))
        #expect(timeOutcomes.map(\.status) == [.rejected])
        #expect(try world.count("SELECT COUNT(*) FROM time_entry") == 0)
        try world.pipeline.addHub("hub-7", patients: ["P1"], by: "test")
        #expect(try world.ingest(World.bp, hub: "hub-7").map(\.status) == [.accepted])
    }

    @Test("The test command installs jsonschema as a Debian package, never with pip (PEP 668)")
    func testCommandOnDebian12() throws {
        let scripts = fixtures.deletingLastPathComponent().appendingPathComponent("scripts")
        let test = try String(contentsOf: scripts.appendingPathComponent("test"), encoding: .utf8)
        let deps = try String(contentsOf: scripts.appendingPathComponent("install-deps"), encoding: .utf8)
        #expect(!test.contains("pip install"))
        let packages = try #require(deps.split(separator: "\n").first { $0.hasPrefix("packages=(") })
        #expect(
            packages.split(separator: " ").contains {
                $0.trimmingCharacters(in: CharacterSet(charactersIn: "()")) == "python3-jsonschema"
            })
    }
}

extension World {
    static let bp =
        #"{"v":1,"device":"A4:C1:38:12:34:56","kind":"blood_pressure","measured_at":"2026-03-04T07:42:10-06:00","unit":"mmHg","values":{"systolic":142,"diastolic":91}}"#
}
