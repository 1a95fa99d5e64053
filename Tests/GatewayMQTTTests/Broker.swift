import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real mosquitto (Debian's package) on a free loopback port, with its own configuration,
/// persistence and log in a temporary directory. Stopped when released.
final class Broker: @unchecked Sendable {
    // Safety: `process` is replaced only by start/stop, called from the test's own task.
    let directory: String
    let port: Int
    let log: String
    private var process: Spawned?
    private let extraConfig: String

    init(extraConfig: String = "", tls: Bool = false) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("broker-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        port = try Self.freePort()
        log = directory + "/mosquitto.log"
        self.extraConfig = extraConfig
        try """
            user root
            listener \(port) 127.0.0.1
            allow_anonymous true
            persistence true
            persistence_location \(directory)/
            autosave_interval 1
            max_queued_messages 100000
            max_inflight_messages 100
            log_dest file \(log)
            log_type error
            log_type warning
            log_type notice
            log_type information
            log_type subscribe
            connection_messages true
            \(extraConfig)
            """.write(toFile: directory + "/mosquitto.conf", atomically: true, encoding: .utf8)
        try start()
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer -> Int32 in
                guard bind(fd, pointer, length) == 0 else { return -1 }
                return getsockname(fd, pointer, &length)
            }
        }
        try #require(bound == 0)
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Starts mosquitto and waits (on inotify, bounded) for it to say it listens.
    func start() throws {
        let marker = "Opening ipv4 listen socket on port \(port)"
        let before = (try? String(contentsOfFile: log, encoding: .utf8))?.components(separatedBy: marker).count ?? 1
        process = try Spawned("/usr/sbin/mosquitto", ["-c", directory + "/mosquitto.conf"])
        let ready = waitUntil(log, timeout: 10) { $0.components(separatedBy: marker).count > before }
        try #require(ready, "mosquitto did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "no log")")
    }

    /// Stops mosquitto (SIGTERM: it saves its persistence file first).
    func stop() {
        process?.terminate()
        process = nil
    }

    func restart() throws {
        stop()
        try start()
    }

    /// Publishes with Debian's `mosquitto_pub` at QoS 1: one message, or (`lines`) one per line.
    func publish(_ topic: String, _ message: String, lines: Bool = false, extra: [String] = []) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/mosquitto_pub")
        process.arguments = ["-h", "127.0.0.1", "-p", "\(port)", "-q", "1", "-t", topic] + (lines ? ["-l"] : ["-s"]) + extra
        let input = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        input.fileHandleForWriting.write(Data(message.utf8))
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "mosquitto_pub failed")
    }

    /// Publishes raw bytes from a file (for binary GATT values).
    func publish(_ topic: String, bytes: [UInt8]) throws {
        let file = directory + "/payload-\(UUID().uuidString)"
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/mosquitto_pub")
        process.arguments = ["-h", "127.0.0.1", "-p", "\(port)", "-q", "1", "-t", topic, "-f", file]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "mosquitto_pub -f failed")
    }
}

/// Waits, on inotify rather than by sleeping, until `predicate` holds for the content of the
/// file at `path`. Returns false after `timeout` seconds.
func waitUntil(_ path: String, timeout: Double = 10, _ predicate: (String) -> Bool) -> Bool {
    let directory = (path as NSString).deletingLastPathComponent
    let fd = inotify_init1(Int32(IN_CLOEXEC))
    guard fd >= 0 else { return false }
    defer { close(fd) }
    inotify_add_watch(fd, directory, UInt32(IN_CREATE | IN_MODIFY | IN_MOVED_TO | IN_CLOSE_WRITE))
    let deadline = Date().addingTimeInterval(timeout)
    var buffer = [UInt8](repeating: 0, count: 4096)
    while true {
        if let content = try? String(contentsOfFile: path, encoding: .utf8), predicate(content) { return true }
        let remaining = deadline.timeIntervalSinceNow
        guard remaining > 0 else { return false }
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        if poll(&descriptor, 1, Int32(remaining * 1000)) == 1 { _ = read(fd, &buffer, buffer.count) }
    }
}

/// A child process started with posix_spawn and a clean signal mask. (Foundation's Process,
/// called from a test's worker thread, passes on that thread's blocked signals, so SIGTERM
/// would never reach the child.)
final class Spawned: @unchecked Sendable {
    // Safety: `pid` is set once; terminate() is called by the owner only.
    let pid: pid_t

    init(
        _ path: String, _ arguments: [String], environment: [String: String]? = nil, stdin: Int32? = nil, stdout: String? = nil,
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
        if let stdin { posix_spawn_file_actions_adddup2(&actions, stdin, 0) } else { posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0) }
        posix_spawn_file_actions_addopen(&actions, 1, stdout ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, stderr ?? "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0o644)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { env.forEach { free($0) } }
        var child = pid_t()
        let rc = posix_spawn(&child, path, &actions, &attributes, argv, env)
        try #require(rc == 0, "cannot start \(path): \(String(cString: strerror(rc)))")
        pid = child
    }

    /// Sends `signal` and waits for the child to end; returns its exit status (or 128 + signal).
    @discardableResult
    func terminate(_ signal: Int32 = SIGTERM) -> Int32 {
        kill(pid, signal)
        return wait()
    }

    func wait() -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        let signaled = (status & 0x7F) != 0
        return signaled ? 128 + (status & 0x7F) : (status >> 8) & 0xFF
    }
}
