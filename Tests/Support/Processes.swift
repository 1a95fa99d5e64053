import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension Spawned {
    /// Waits at most `timeout` seconds for the child to end and returns its status (or 128 +
    /// signal); after that it kills the child (SIGKILL) and returns nil.
    public func wait(timeout: Double) -> Int32? {
        let done = DispatchSemaphore(value: 0)
        let status = StatusBox()
        Thread.detachNewThread {
            status.set(self.wait())
            done.signal()
        }
        if done.wait(timeout: .now() + timeout) == .success { return status.value }
        kill(pid, SIGKILL)
        done.wait()
        return nil
    }
}

private final class StatusBox: @unchecked Sendable {
    // Safety: `status` is behind `lock`.
    private let lock = NSLock()
    private var status: Int32 = 0
    func set(_ value: Int32) { lock.withLock { status = value } }
    var value: Int32 { lock.withLock { status } }
}
