import Foundation
import Testing

/// Runs the built `ccmctl` on a temporary database and configuration, as an operator would.
final class CLI: Sendable {
    let directory: String
    let database: String
    let config: String
    let alertLog: String

    static let binary: URL = {
        // The test bundle sits next to the products it was built with.
        let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidate = products.appendingPathComponent("ccmctl")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/ccmctl")
    }()

    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")

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
            """.write(toFile: config, atomically: true, encoding: .utf8)
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
        let out = Pipe()
        let err = Pipe()
        let stdin = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = stdin
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        // Read both pipes to the end before waiting, so a full pipe cannot stall the child.
        let (outData, errData) = (out.fileHandleForReading.readDataToEndOfFile(), err.fileHandleForReading.readDataToEndOfFile())
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, out: String(decoding: outData, as: UTF8.self),
            err: String(decoding: errData, as: UTF8.self))
    }

    /// Runs a command that must succeed and returns its standard output.
    @discardableResult
    func ok(_ arguments: [String], input: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let result = try run(arguments, input: input)
        #expect(result.status == 0, "ccmctl \(arguments.joined(separator: " ")) failed: \(result.err)", sourceLocation: sourceLocation)
        return result.out
    }

    /// Runs a command that must fail and returns its error text (without the `Error: ` prefix).
    func fails(_ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let result = try run(arguments)
        #expect(result.status != 0, "ccmctl \(arguments.joined(separator: " ")) should have failed", sourceLocation: sourceLocation)
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
        try ok(["patients", "add", "P1", "--name", "Ada Test", "--conditions", "I10,E11.9", "--medicare-part-b", "--ccm-consent", "2026-01-15"])
        try ok(["patients", "add", "P2", "--name", "Bob Test", "--conditions", "I50.22"])
        try ok(["devices", "add", "A4:C1:38:12:34:56", "--kind", "bp_monitor", "--patient", "P1"])
        try ok(["devices", "add", "c0-26-da-01-02-03", "--kind", "glucometer", "--patient", "P1"])
        try ok(["devices", "add", "hub7-scale-1", "--kind", "scale", "--patient", "P2", "--hub", "hub7"])
    }
}
