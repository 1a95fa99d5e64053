import Dispatch

/// A serial queue for blocking database work (a write transaction, a writer waiting for the
/// lock), off Swift's cooperative pool. That pool has a thread per core, two on a Raspberry Pi
/// class box: writers waiting there for a lock an operator's `ccmctl` holds would starve every
/// other service of the daemon (the MQTT connection, systemd's watchdog) until it is released.
final class BlockingQueue: Sendable {
    private let queue: DispatchQueue

    init(_ label: String) {
        queue = DispatchQueue(label: "ccm-gatewayd.\(label)")
    }

    /// Runs `body` on the queue, in order with the queue's other work, and returns its result.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
