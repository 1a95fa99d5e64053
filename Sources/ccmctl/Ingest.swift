import ArgumentParser
import Foundation
import GatewayConfig
import GatewayCore
import GatewayPipeline
import GatewayStore

struct IngestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Feed native JSON readings (one per line) through the pipeline.",
        discussion: """
            Each non-empty line is one input in the native reading format v1 (an object or an \
            array of them). Inputs go through the same pipeline as MQTT and BLE readings: stored \
            as received, then normalized, matched to a patient through the device, and \
            deduplicated. Prints the count of accepted, rejected, quarantined and duplicate \
            readings and the reason for each rejection and quarantine, then the alerts the \
            readings raised (also appended to the alert log). Ingesting the same file twice adds \
            no reading: every reading carries measured_at, seq or id (one without any of them is \
            rejected, as a repeat of it could not be told from a new one). A line longer than \
            ingest.max_payload_bytes is rejected as too large, keeping only its first bytes.
            """)

    @OptionGroup var global: GlobalOptions

    @Argument(help: "A file of JSON lines, or - for standard input.")
    var file: String

    @Option(
        help:
            "Treat the inputs as published by this hub: it must be registered (ccmctl hubs add; else they are quarantined) and enabled, and is checked against each device's hub."
    )
    var hub: String?

    /// Lines committed to the inbox per transaction before they are processed.
    static let batchSize = 500

    func run() throws {
        if let hub, let problem = EntityID.problem(hub, .hub) { throw CLIError("--hub: \(problem)") }
        let handle: FileHandle
        if file == "-" {
            handle = .standardInput
        } else {
            guard let opened = FileHandle(forReadingAtPath: file) else {
                throw CLIError("cannot read \(file)", fix: "check the path, or pass - to read standard input")
            }
            handle = opened
        }
        let pipeline = try global.pipeline()
        let label = file == "-" ? "stdin" : "file:\(file)"
        var summary = IngestSummary()
        var batch: [RawInput] = []
        var lines: [Int64: Int] = [:]
        var lineNumbers: [Int] = []
        func flush() throws {
            guard !batch.isEmpty else { return }
            let ids = try pipeline.receive(batch: batch)
            for (id, line) in zip(ids, lineNumbers) { lines[id] = line }
            summary.add(try pipeline.process(inboxIDs: ids))
            batch.removeAll(keepingCapacity: true)
            lineNumbers.removeAll(keepingCapacity: true)
        }
        var lineNumber = 0
        for line in LineReader(handle: handle, maxLineBytes: pipeline.maxPayloadBytes) {
            lineNumber += 1
            guard !line.isBlank else { continue }
            batch.append(line.rawInput(source: "\(label):\(lineNumber)", hubID: hub))
            lineNumbers.append(lineNumber)
            if batch.count >= Self.batchSize { try flush() }
        }
        try flush()
        print(summaryLine(summary))
        for problem in summary.problems {
            let line = lines[problem.inboxID].map { "line \($0)" } ?? "inbox \(problem.inboxID)"
            print(
                "\(line)\(problem.item > 0 ? " [\(problem.item)]" : ""): \(problem.status.rawValue): \(problem.reason ?? "")"
            )
        }
        printAlerts(summary.alerts)
    }
}
