import Foundation
import GatewayTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A one-way channel (a stream socket pair) whose ends are close-on-exec from birth, so that a child started by another
/// test running at the same moment cannot inherit them and hold our end-of-file hostage (a
/// `tail -f` would hold it forever). `Process` still hands each child the ends it maps to its
/// standard streams.
struct ClosingPipe {
    let read: FileHandle
    let write: FileHandle

    init() throws {
        // pipe2(O_CLOEXEC) is not visible from Swift's Glibc module; SOCK_CLOEXEC is.
        var fds: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0 else {
            throw CocoaError(.fileWriteUnknown)
        }
        read = FileHandle(fileDescriptor: fds[0], closeOnDealloc: true)
        write = FileHandle(fileDescriptor: fds[1], closeOnDealloc: true)
    }

    /// Reads two handles to their ends, whichever has data first.
    static func drain(_ a: FileHandle, _ b: FileHandle) -> (Data, Data) {
        var data = [Data(), Data()]
        var open = [true, true]
        var chunk = [UInt8](repeating: 0, count: 65_536)
        while open[0] || open[1] {
            var fds = [a, b].enumerated().map { i, handle in
                pollfd(fd: open[i] ? handle.fileDescriptor : -1, events: Int16(POLLIN), revents: 0)
            }
            guard poll(&fds, 2, 30_000) > 0 else { break }
            for i in 0..<2 where open[i] && fds[i].revents != 0 {
                let count = Glibc.read(fds[i].fd, &chunk, chunk.count)
                if count > 0 { data[i].append(contentsOf: chunk[0..<count]) } else { open[i] = false }
            }
        }
        return (data[0], data[1])
    }
}

/// Runs the built `ccmctl` on a temporary database and configuration, as an operator would.
final class CLI: Sendable {
    let directory: String
    let database: String
    let config: String
    let alertLog: String

    static let binary = URL(fileURLWithPath: TestPaths.product("ccmctl"))
    static let repository = TestPaths.repository
    static let fixtures = repository.appendingPathComponent("Fixtures")

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ccmctl-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        database = directory + "/gateway.sqlite"
        config = directory + "/gateway.yaml"
        alertLog = directory + "/alerts.log"
        let templates = Self.fixtures.deletingLastPathComponent().appendingPathComponent("config/careplans").path
        try """
        database:
          path: \(database)
        practice:
          time_zone: America/Chicago
        careplans:
          directory: \(templates)
        alerts:
          log: \(alertLog)
        metrics:
          textfile: \(directory)/ccm-gateway.prom
        billing:
          fees_directory: \(Self.repository.appendingPathComponent("config/fees").path)
          conditions: \(Self.repository.appendingPathComponent("config/chronic-conditions.yaml").path)
        """.write(toFile: config, atomically: true, encoding: .utf8)
        // Only ccmctl init creates a database; every other command needs one.
        let created = try run(["init"])
        guard created.status == 0 else {
            throw CocoaError(
                .fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "ccmctl init failed: \(created.err)"])
        }
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    struct Result {
        let status: Int32
        let out: String
        let err: String
    }

    /// Runs `ccmctl ARGS --config CONFIG`, with `input` on standard input; bounded by a timeout.
    @discardableResult
    func run(_ arguments: [String], input: String? = nil, config: Bool = true) throws -> Result {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments + (config ? ["--config", self.config] : [])
        process.environment = ["USER": "tester", "PATH": "/usr/bin:/bin", "TZ": "UTC"]
        let out = try ClosingPipe()
        let err = try ClosingPipe()
        let stdin = try ClosingPipe()
        process.standardOutput = out.write
        process.standardError = err.write
        process.standardInput = stdin.read
        try process.run()
        // The child has its copies; the parent's must go, or end of file never comes.
        try out.write.close()
        try err.write.close()
        try stdin.read.close()
        if let input { stdin.write.write(Data(input.utf8)) }
        try stdin.write.close()
        // Read both to the end together before waiting: a child blocked writing one (stderr
        // is written a byte at a time) while we wait on the other would never finish.
        let (outData, errData) = ClosingPipe.drain(out.read, err.read)
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, out: String(decoding: outData, as: UTF8.self),
            err: String(decoding: errData, as: UTF8.self))
    }

    /// Runs a command that must succeed and returns its standard output.
    @discardableResult
    func ok(
        _ arguments: [String], input: String? = nil, sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> String {
        let result = try run(arguments, input: input)
        #expect(
            result.status == 0, "ccmctl \(arguments.joined(separator: " ")) failed: \(result.err)",
            sourceLocation: sourceLocation)
        return result.out
    }

    /// Runs a command that must fail and returns its error text (without the `Error: ` prefix).
    func fails(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let result = try run(arguments)
        #expect(
            result.status != 0, "ccmctl \(arguments.joined(separator: " ")) should have failed",
            sourceLocation: sourceLocation)
        let text = result.err.trimmingCharacters(in: .whitespacesAndNewlines)
        return text.hasPrefix("Error: ") ? String(text.dropFirst(7)) : text
    }

    /// Runs a listing with `--format json` and parses it.
    func json(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> [[String: Any]] {
        let out = try ok(arguments + ["--format", "json"], sourceLocation: sourceLocation)
        let parsed = try JSONSerialization.jsonObject(with: Data(out.utf8))
        return try #require(parsed as? [[String: Any]], sourceLocation: sourceLocation)
    }

    /// P1 with a BP cuff and a glucometer, P2 with a scale on hub7.
    func seed() throws {
        try ok([
            "patients", "add", "P1", "--name", "Ada Test", "--conditions", "I10,E11.9", "--medicare-part-b",
            "--ccm-consent", "2026-01-15",
        ])
        try ok(["patients", "add", "P2", "--name", "Bob Test", "--conditions", "I50.22"])
        try ok(["devices", "add", "A4:C1:38:12:34:56", "--kind", "bp_monitor", "--patient", "P1"])
        try ok(["devices", "add", "c0-26-da-01-02-03", "--kind", "glucometer", "--patient", "P1"])
        try ok(["devices", "add", "hub7-scale-1", "--kind", "scale", "--patient", "P2", "--hub", "hub7"])
        try ok(["staff", "add", "nurse.kim", "--role", "clinical_staff"])
        try ok(["staff", "add", "dr.lee", "--role", "physician"])
    }
}
