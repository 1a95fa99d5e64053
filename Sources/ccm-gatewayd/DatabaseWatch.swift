import AsyncAlgorithms
import GatewayStore
import Logging
import ServiceLifecycle

/// Stops the daemon once its database file is deleted or replaced.
///
/// Every commit already checks the file (``GatewayDatabase/checkFile()``, from SQLite's commit
/// hook), so no input is acknowledged into a deleted file: the MQTT source exits before its
/// PUBACK, the others fail their commit. This timer covers the quiet times, so that a daemon
/// with nothing arriving does not run on, looking healthy, on a file that is gone. It fails the
/// service group with the reason (exit status 1); systemd restarts the daemon, which then opens
/// the file now at the path or, when there is none, refuses to start until `ccmctl init`
/// creates one or a backup is restored.
struct DatabaseWatch: Service {
    let database: GatewayDatabase
    let logger: Logger
    var interval: Duration = .seconds(1)

    static let name = "database-watch"

    func run() async throws {
        for await _ in AsyncTimerSequence(interval: interval, clock: .continuous).cancelOnGracefulShutdown() {
            do {
                try database.checkFile()
            } catch {
                logger.critical(
                    "the database file is gone or replaced; stopping",
                    metadata: ["database.path": "\(database.path)", "error": "\(error)"])
                throw error
            }
        }
    }
}
