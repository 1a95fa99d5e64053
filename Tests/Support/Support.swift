import Foundation

#if canImport(Glibc)
import Glibc
#endif

// Helpers the test targets share: temporary directories, waiting on inotify instead of
// sleeping, and child processes with a clean signal mask.

/// A fresh directory, removed when the value is released.
public final class TemporaryDirectory: Sendable {
    public let path: String

    public init(_ prefix: String = "ccm-test") {
        path =
            FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
            .path
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    public func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A failure of the test support itself (a child that cannot start).
public struct SupportError: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

/// Waits, on inotify rather than by sleeping, until `predicate` holds for the content of the
/// file at `path`. Returns false after `timeout` seconds.
public func waitUntil(_ path: String, timeout: Double = 10, _ predicate: (String) -> Bool) -> Bool {
    waitUntil(changesIn: (path as NSString).deletingLastPathComponent, timeout: timeout) {
        guard let content = try? String(contentsOfFile: path, encoding: .utf8) else { return false }
        return predicate(content)
    }
}

/// Waits, on inotify rather than by sleeping, until `condition` holds, looking again whenever
/// something in `directory` changes (a database's folder: its -wal file grows at each commit).
/// Returns false after `timeout` seconds.
public func waitUntil(changesIn directory: String, timeout: Double = 10, _ condition: () -> Bool) -> Bool {
    let fd = inotify_init1(Int32(IN_CLOEXEC))
    guard fd >= 0 else { return false }
    defer { close(fd) }
    inotify_add_watch(fd, directory, UInt32(IN_CREATE | IN_MODIFY | IN_MOVED_TO | IN_CLOSE_WRITE))
    let deadline = Date().addingTimeInterval(timeout)
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        if condition() { return true }
        let remaining = deadline.timeIntervalSinceNow
        guard remaining > 0 else { return false }
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        if poll(&descriptor, 1, Int32(remaining * 1000)) == 1 { _ = read(fd, &buffer, buffer.count) }
    }
}

/// A child process started with posix_spawn and a clean signal mask. (Foundation's Process,
/// called from a test's worker thread, passes on that thread's blocked signals, so SIGTERM
/// would never reach the child.)
public final class Spawned: @unchecked Sendable {
    // Safety: `pid` is set once; terminate() is called by the owner only.
    public let pid: pid_t

    public init(
        _ path: String, _ arguments: [String], environment: [String: String]? = nil, stdin: Int32? = nil,
        stdout: String? = nil,
        stderr: String? = nil
    ) throws {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigmask(&attributes, &empty)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let stdin {
            posix_spawn_file_actions_adddup2(&actions, stdin, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_addopen(&actions, 1, stdout ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { env.forEach { free($0) } }
        var child = pid_t()
        let rc = posix_spawn(&child, path, &actions, &attributes, argv, env)
        guard rc == 0 else { throw SupportError(description: "cannot start \(path): \(String(cString: strerror(rc)))") }
        pid = child
    }

    /// Sends `signal` and waits for the child to end; returns its exit status (or 128 + signal).
    @discardableResult
    public func terminate(_ signal: Int32 = SIGTERM) -> Int32 {
        kill(pid, signal)
        return wait()
    }

    public func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        let signaled = (status & 0x7F) != 0
        return signaled ? 128 + (status & 0x7F) : (status >> 8) & 0xFF
    }
}

/// Waits until the file at `path` contains `text` (see ``waitUntil(_:timeout:_:)``).
public func waitUntil(_ path: String, contains text: String, timeout: Double = 10) -> Bool {
    waitUntil(path, timeout: timeout) { $0.contains(text) }
}

/// Where the tests find the repository and the package's built executables.
public enum TestPaths {
    /// The repository's root (this file is Tests/Support/Support.swift).
    public static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent()
        .deletingLastPathComponent()
    public static let fixtures = repository.appendingPathComponent("Fixtures")
    /// The folder of the built products: the test bundle sits next to them.
    public static let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()

    /// The path of a built executable (`ccmctl`, `ccm-gatewayd`).
    public static func product(_ name: String) -> String { products.appendingPathComponent(name).path }
}
