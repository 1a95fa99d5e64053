import Foundation
@_exported import GatewayTestSupport
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

    /// The ACL shipped with ccm-gateway (config/mosquitto.acl).
    static let shippedACL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("config/mosquitto.acl").path

    /// The password file of a broker started with `accounts` (mosquitto_passwd's format).
    var passwordFile: String { directory + "/passwd" }

    /// `accounts` (username → password): the broker refuses anonymous clients, takes these
    /// accounts from a password file written by `mosquitto_passwd -b`, and enforces the shipped
    /// ACL (followed by `aclExtra`, e.g. a named alert reader). `nil`: anyone may do anything.
    init(extraConfig: String = "", tls: Bool = false, accounts: [String: String]? = nil, aclExtra: String = "") throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("broker-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        port = try Self.freePort()
        log = directory + "/mosquitto.log"
        self.extraConfig = extraConfig
        var access = "allow_anonymous true"
        if let accounts {
            for (index, (user, password)) in accounts.sorted(by: { $0.key < $1.key }).enumerated() {
                let made = try Self.run("/usr/bin/mosquitto_passwd", ["-b"] + (index == 0 ? ["-c"] : []) + [directory + "/passwd", user, password])
                try #require(made.status == 0, "mosquitto_passwd: \(made.err)")
            }
            let acl = try String(contentsOfFile: Self.shippedACL, encoding: .utf8) + "\n" + aclExtra + "\n"
            try acl.write(toFile: directory + "/acl", atomically: true, encoding: .utf8)
            access = "allow_anonymous false\npassword_file \(directory)/passwd\nacl_file \(directory)/acl"
        }
        try """
            user root
            listener \(port) 127.0.0.1
            \(access)
            persistence true
            persistence_location \(directory)/
            autosave_interval 1
            max_queued_messages 100000
            max_inflight_messages 100
            set_tcp_nodelay true
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

    /// Sends SIGHUP (mosquitto reads its password and ACL files again) and waits for the log
    /// to say it reloaded.
    func reload() throws {
        let marker = "Reloading config"
        let before = (try? String(contentsOfFile: log, encoding: .utf8))?.components(separatedBy: marker).count ?? 1
        guard let process else { throw SupportError(description: "the broker is not running") }
        kill(process.pid, SIGHUP)
        try #require(waitUntil(log, timeout: 10) { $0.components(separatedBy: marker).count > before }, "mosquitto did not reload")
    }

    /// Runs a tool to its end; fails the test when it fails.
    @discardableResult
    static func run(_ path: String, _ arguments: [String], input: String? = nil) throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let stdin = Pipe()
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try stdin.fileHandleForWriting.close()
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
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

/// The real `ccm-gatewayd` against a test broker: its configuration and database in the broker's
/// folder (alert timer off, warnings only), and a start that waits, bounded, until the broker has
/// seen it connect.
struct DaemonUnderTest {
    let broker: Broker
    let clientID: String
    let config: String
    let databasePath: String
    let alertLog: String
    let daemonLog: String
    /// `mqtt.lanes` in the configuration; `nil`: the default.
    let lanes: Int?

    static let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    static let daemon = products.appendingPathComponent("ccm-gatewayd").path
    static let ccmctl = products.appendingPathComponent("ccmctl").path

    /// Writes the configuration; the database is the caller's to create.
    init(broker: Broker, clientID: String, lanes: Int? = nil) throws {
        self.broker = broker
        self.clientID = clientID
        self.lanes = lanes
        config = broker.directory + "/gateway.yaml"
        databasePath = broker.directory + "/gateway.sqlite"
        alertLog = broker.directory + "/alerts.log"
        daemonLog = broker.directory + "/gatewayd.log"
        try """
            database:
              path: \(databasePath)
            careplans:
              directory: \(repository.appendingPathComponent("config/careplans").path)
            alerts:
              log: \(alertLog)
              check_interval: 1h
            mqtt:
              host: 127.0.0.1
              port: \(broker.port)
              client_id: \(clientID)
            \(lanes.map { "  lanes: \($0)" } ?? "")
            logging:
              level: warning
            """.write(toFile: config, atomically: true, encoding: .utf8)
    }

    /// Starts the daemon and waits until the broker logs the connection of each of its lanes.
    func start(environment: [String: String]? = nil, timeout: Double = 30) throws -> Spawned {
        // Lane 1 is the client id, lane n is CLIENT_ID-n; the broker logs "... as ID (p2, ...".
        let markers = (0..<(lanes ?? 1)).map { "as \($0 == 0 ? clientID : "\(clientID)-\($0 + 1)") (" }
        let log = (try? String(contentsOfFile: broker.log, encoding: .utf8)) ?? ""
        let connections = markers.map { log.components(separatedBy: $0).count }
        let daemon = try Spawned(Self.daemon, ["--config", config], environment: environment, stderr: daemonLog)
        let connected = waitUntil(broker.log, timeout: timeout) { text in
            zip(markers, connections).allSatisfy { text.components(separatedBy: $0).count > $1 }
        }
        guard connected else {
            let said = (try? String(contentsOfFile: daemonLog, encoding: .utf8)) ?? ""
            let heard = (try? String(contentsOfFile: broker.log, encoding: .utf8)) ?? ""
            throw SupportError(description: "the daemon did not connect; it said: \(said.suffix(1500)); the broker: \(heard.suffix(1500))")
        }
        return daemon
    }
}
