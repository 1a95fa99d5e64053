import Foundation
public import Testing

/// Runs a suite's tests on threads of their own instead of Swift's cooperative pool.
///
/// The pool has one thread per core, two on this project's machines. Tests that block (wait for
/// a child process, a broker, an inotify event, a database lock) would hold those threads, and
/// the in-process daemons of other tests, which run on the pool, would starve: a daemon that
/// cannot say READY=1 within its bound fails its test. With this trait a test's body and every
/// child task it starts prefer ``BlockingTestExecutor``, whose threads may block freely, so the
/// whole suite runs in parallel (`swift test`, the default) without starving anyone.
public struct OwnThreads: TestTrait, SuiteTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        // Only the test cases themselves, not the suite around them.
        guard testCase != nil else { return try await function() }
        try await withTaskExecutorPreference(BlockingTestExecutor.shared) { try await function() }
    }
}

extension Trait where Self == OwnThreads {
    /// This suite's tests block: run them on threads of their own (``OwnThreads``).
    public static var ownThreads: Self { OwnThreads() }
}

/// A task executor with enough threads (an in-process daemon a test starts runs here too:
/// `Task(executorPreference: BlockingTestExecutor.shared) { … }`) that blocking tests never wait for one another: each
/// job runs on an idle thread, and a thread is added whenever jobs outnumber the idle ones.
public final class BlockingTestExecutor: TaskExecutor, @unchecked Sendable {
    // Safety: `jobs` and `idle` are used with `condition` locked. Each idle thread takes one
    // job when woken, so a job with no idle thread for it gets a new thread.
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var idle = 0

    public static let shared = BlockingTestExecutor()

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.withLock {
            jobs.append(job)
            if jobs.count > idle {
                Thread.detachNewThread { [self] in serve() }
            } else {
                condition.signal()
            }
        }
    }

    private func serve() {
        while true {
            condition.lock()
            idle += 1
            while jobs.isEmpty { condition.wait() }
            idle -= 1
            let job = jobs.removeFirst()
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
