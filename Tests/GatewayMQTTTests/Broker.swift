import Foundation
@_exported import GatewayTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real mosquitto (Debian's package) on a free loopback port, running the shipped
/// configuration (config/mosquitto.conf and config/mosquitto.acl, written by
/// scripts/private-broker with only the port and paths changed): anonymous clients are refused,
/// every client logs in with an account from a password file written by `mosquitto_passwd`, and
/// the ACL binds hubs to their own topics. Stopped when released.
final class Broker: @unchecked Sendable {
    // Safety: `process` and `accounts` change only through start/stop/login, called from
    // the test's own task.
    let directory: String
    let port: Int
    let log: String
    private var process: Spawned?
    /// Username → password of every account in the password file.
    private var accounts: [String: String] = [:]

    /// The gateway's account (the shipped ACL's `user ccm-gateway`).
    static let gateway = "ccm-gateway"
    /// An account the practice names to read alerts (its ACL block is added to the shipped one).
    static let alertReader = "nurse-station"

    /// The password file (mosquitto_passwd's format), as `ccmctl hubs credentials --password-file` edits it.
    var passwordFile: String { directory + "/passwd" }
    var gatewayPassword: String { accounts[Self.gateway]! }

    /// `accounts` (username → password) are made up front; any other account is made when a
    /// test first logs in with it (`login`). `extraConfig` adds to the shipped configuration
    /// (a TLS listener, for example).
    init(extraConfig: String = "", accounts: [String: String] = [:]) throws {
        directory =
            FileManager.default.temporaryDirectory.appendingPathComponent("broker-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        port = try Self.freePort()
        log = directory + "/mosquitto.log"
        let written = try Self.run(
            repository.appendingPathComponent("scripts/private-broker").path,
            [directory, "\(port)", "user \(Self.alertReader)", "topic read ccm/v1/alerts/#"])
        try #require(written.status == 0, "scripts/private-broker: \(written.err)")
        let defaults = [Self.gateway: Self.secret(), Self.alertReader: Self.secret()]
        for (user, password) in defaults.merging(accounts, uniquingKeysWith: { $1 }).sorted(by: { $0.key < $1.key }) {
            try addAccount(user, password)
        }
        // What the tests need on top: the broker's own log of connections and subscriptions.
        try
            (String(contentsOfFile: directory + "/mosquitto.conf", encoding: .utf8) + """
                log_type error
                log_type warning
                log_type notice
                log_type information
                log_type subscribe
                \(extraConfig)

                """).write(toFile: directory + "/mosquitto.conf", atomically: true, encoding: .utf8)
        try start()
    }

    static func secret() -> String { UUID().uuidString.replacingOccurrences(of: "-", with: "") }

    private func addAccount(_ user: String, _ password: String) throws {
        let first = !FileManager.default.fileExists(atPath: passwordFile)
        let made = try Self.run(
            "/usr/bin/mosquitto_passwd", ["-b"] + (first ? ["-c"] : []) + [passwordFile, user, password])
        try #require(made.status == 0, "mosquitto_passwd: \(made.err)")
        accounts[user] = password
    }

    /// The `mqtt:` section of a gateway.yaml that connects to this broker as the gateway's
    /// account (its password in a file beside the configuration).
    func gatewaySection(clientID: String) throws -> String {
        let file = directory + "/gateway.password"
        try gatewayPassword.write(toFile: file, atomically: true, encoding: .utf8)
        return """
            mqtt:
              host: 127.0.0.1
              port: \(port)
              client_id: \(clientID)
              username: \(Self.gateway)
              password_file: \(file)
            """
    }

    /// The `mosquitto_pub`/`mosquitto_sub` options that log in as `user`, making the account
    /// (and having a running broker read its password file again) the first time.
    func login(_ user: String) throws -> [String] {
        if accounts[user] == nil {
            try addAccount(user, Self.secret())
            if process != nil { try reload() }
        }
        return ["-u", user, "-P", accounts[user]!]
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
        let ready = waitUntil(log, timeout: 60) { $0.components(separatedBy: marker).count > before }
        try #require(
            ready, "mosquitto did not start: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "no log")")
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
        try #require(
            waitUntil(log, timeout: 60) { $0.components(separatedBy: marker).count > before },
            "mosquitto did not reload")
    }

    /// Runs a tool to its end; fails the test when it fails.
    @discardableResult
    static func run(
        _ path: String, _ arguments: [String], input: String? = nil
    ) throws -> (status: Int32, out: String, err: String) {
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

    /// How a publisher on `topic` logs in, unless `extra` says otherwise (a certificate, another
    /// account): as the hub the topic names, the account the ACL lets publish there.
    private func defaultLogin(_ topic: String, _ extra: [String]) throws -> [String] {
        let levels = topic.split(separator: "/", omittingEmptySubsequences: false)
        guard !extra.contains("-u"), !extra.contains("--cert"), levels.count > 3, levels[2] == "hub" else { return [] }
        return try login(String(levels[3]))
    }

    /// Publishes with Debian's `mosquitto_pub` at QoS 1: one message, or (`lines`) one per line.
    func publish(_ topic: String, _ message: String, lines: Bool = false, extra: [String] = []) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/mosquitto_pub")
        process.arguments =
            ["-h", "127.0.0.1", "-p", "\(port)", "-q", "1", "-t", topic] + (lines ? ["-l"] : ["-s"])
            + (try defaultLogin(topic, extra))
            + extra
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
        process.arguments =
            ["-h", "127.0.0.1", "-p", "\(port)", "-q", "1", "-t", topic, "-f", file] + (try defaultLogin(topic, []))
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

    static let products = TestPaths.products
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
        \(try broker.gatewaySection(clientID: clientID))
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
            throw SupportError(
                description:
                    "the daemon did not connect; it said: \(said.suffix(1500)); the broker: \(heard.suffix(1500))")
        }
        return daemon
    }
}
