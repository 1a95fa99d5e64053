import AsyncAlgorithms
import GatewayStore
import Logging
import ServiceLifecycle

/// Checkpoints the database's WAL every `interval`, off the writers' path (``WALCheckpointer``),
/// so that no MQTT lane or BLE session copies it into the database file inside its commit.
/// A failure is logged once, and its end; meanwhile the writer checkpoints itself past
/// ``WALCheckpointer/writerLimit`` pages.
struct CheckpointService: Service {
    let checkpointer: WALCheckpointer
    let logger: Logger
    var interval: Duration = .milliseconds(200)
    private let queue = BlockingQueue("wal-checkpoint")

    static let name = "wal-checkpoint"

    init(checkpointer: WALCheckpointer, logger: Logger) {
        self.checkpointer = checkpointer
        self.logger = logger
    }

    func run() async throws {
        var failing = false
        for await _ in AsyncTimerSequence(interval: interval, clock: .continuous).cancelOnGracefulShutdown() {
            do {
                try await queue.run { _ = try checkpointer.checkpoint() }
                if failing {
                    logger.notice("WAL checkpoints run again")
                    failing = false
                }
            } catch {
                if !failing {
                    logger.warning(
                        "WAL checkpoint failed; the writer checkpoints itself past \(WALCheckpointer.writerLimit) pages",
                        metadata: ["error": "\(error)"])
                }
                failing = true
            }
        }
    }
}
