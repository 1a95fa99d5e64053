import Foundation
import GatewayCore
import GatewayPipeline
import GatewayStore
import Logging
import ServiceLifecycle

/// Feeds JSON lines from a file or standard input into the pipeline (tests and replays). Each
/// line is stored and decided in one transaction, through an inbox writer as the MQTT lanes'.
/// At the end of the input the service idles until the daemon stops (a service that returned
/// while the group shuts down would fail the shutdown).
struct FileSource: Service {
    let path: String
    let writer: InboxWriter
    let readiness: Readiness
    let logger: Logger
    /// Where each line's fsync'd commit runs, off the cooperative pool.
    let queue = BlockingQueue("file-source")

    static let name = "file-source"

    /// Opens the input now, so that a wrong path fails the start with a clear message.
    static func open(_ path: String) throws -> FileHandle {
        if path == "-" { return .standardInput }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw GatewaydError(
                "sources.file.path: cannot read \(path)",
                fix: "check the path or remove sources.file from the configuration")
        }
        return handle
    }

    let handle: FileHandle

    init(path: String, writer: InboxWriter, readiness: Readiness, logger: Logger) throws {
        self.path = path
        self.handle = try Self.open(path)
        self.writer = writer
        self.readiness = readiness
        self.logger = logger
    }

    func run() async throws {
        readiness.mark(Self.name)
        let label = path == "-" ? "stdin" : "file:\(path)"
        var lineNumber = 0
        var received = 0
        let writer = self.writer
        for await line in Self.lines(of: handle, maxLineBytes: writer.maxPayloadBytes).cancelOnGracefulShutdown() {
            lineNumber += 1
            guard !line.isBlank else { continue }
            let input = line.rawInput(source: "\(label):\(lineNumber)")
            _ = try await queue.run { try writer.receive(input) }
            received += 1
        }
        logger.info("file source finished", metadata: ["input.source": "\(label)", "input.count": "\(received)"])
        try? await gracefulShutdown()
    }

    /// Reads lines on a thread of their own (reads from a pipe or terminal block), so the
    /// cooperative pool stays free.
    static func lines(of handle: FileHandle, maxLineBytes: Int) -> AsyncStream<InputLine> {
        let (stream, continuation) = AsyncStream.makeStream(of: InputLine.self, bufferingPolicy: .unbounded)
        Thread.detachNewThread {
            for line in LineReader(handle: handle, maxLineBytes: maxLineBytes) {
                if case .terminated = continuation.yield(line) { return }
            }
            continuation.finish()
        }
        return stream
    }
}

/// A start-up problem of the daemon, naming the setting and the fix.
typealias GatewaydError = Explanation<GatewaydMistake>
enum GatewaydMistake {}
