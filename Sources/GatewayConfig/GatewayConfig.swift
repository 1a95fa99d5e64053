import Foundation
public import GatewayCore
import Yams

/// The gateway's configuration (`--config FILE`, YAML). `config/gateway.yaml` is the complete,
/// commented example; every key is optional and has the default given there.
public struct GatewayConfig: Sendable, Equatable {
    public struct Database: Sendable, Equatable {
        /// SQLite file; relative paths are relative to the working directory.
        public var path: String
        public init(path: String) { self.path = path }
    }

    public struct Practice: Sendable, Equatable {
        /// IANA time zone the practice's days and CCM months are counted in.
        public var timeZone: String
        public init(timeZone: String) { self.timeZone = timeZone }

        /// The practice's zone: the one every program component counts days and months in.
        /// `load` refuses an unknown identifier, so the UTC fallback is only for a value set
        /// in code.
        public var zone: TimeZone { TimeZone(identifier: timeZone) ?? .gmt }
    }

    public struct Ingest: Sendable, Equatable {
        /// Inputs larger than this are rejected (and kept in the inbox with the reason).
        public var maxPayloadBytes: Int
        public init(maxPayloadBytes: Int) { self.maxPayloadBytes = maxPayloadBytes }
    }

    public struct FileSource: Sendable, Equatable {
        /// JSON lines to feed the pipeline at start; `-` reads standard input.
        public var path: String
        public init(path: String) { self.path = path }
    }

    public struct Sources: Sendable, Equatable {
        public var file: FileSource?
        public init(file: FileSource? = nil) { self.file = file }
    }

    public struct CarePlans: Sendable, Equatable {
        /// The folder of disease templates (`NAME.yaml`).
        public var directory: String
        public init(directory: String) { self.directory = directory }
    }

    public struct Alerts: Sendable, Equatable {
        /// The append-only alert log.
        public var log: String
        /// `text` (for tail -f) or `json` (one object per line).
        public var format: AlertLogFormat
        /// How often the daemon checks for stale data and alerts back in range long enough.
        public var checkInterval: Double
        public init(log: String, format: AlertLogFormat, checkInterval: Double) {
            self.log = log
            self.format = format
            self.checkInterval = checkInterval
        }
    }

    public struct MQTT: Sendable, Equatable {
        /// Connect to the broker at all (home hubs publish there).
        public var enabled: Bool
        public var host: String
        public var port: Int
        /// Stable across restarts: the broker keeps the gateway's persistent session under it.
        public var clientID: String
        public var prefix: String
        public var keepalive: Int
        public var username: String?
        /// A file holding the password (so it stays out of the configuration).
        public var passwordFile: String?
        public var caFile: String?
        public var certFile: String?
        public var keyFile: String?
        /// Subscribe through `$share/{group}/` when several gateways share a broker.
        public var sharedGroup: String?
        /// MQTT sessions received on at once: what they have read at one moment shares one fsync'd
        /// inbox commit.
        public var lanes: Int
        /// The default of `mqtt.lanes`: one. More lanes subscribe through `$share`, and mosquitto
        /// 2.0.11 (Debian 12) does not restore `$share` subscriptions from its persistence file:
        /// after a broker restart, what hubs publish before the lanes reconnect reaches no one and
        /// is dropped (the chaos test lost a 500-reading chunk that way). One lane keeps a plain
        /// subscription, which the broker restores and queues for, and it commits every message it
        /// has read at once too. BENCHMARKS.md has the drain for 1, 2, 4 and 8 lanes.
        public static let defaultLanes = 1
        public static let maxLanes = 64

        public init(
            enabled: Bool = true, host: String = "localhost", port: Int = 1883, clientID: String = "ccm-gateway",
            prefix: String = "ccm/v1", keepalive: Int = 30, username: String? = nil, passwordFile: String? = nil,
            caFile: String? = nil, certFile: String? = nil, keyFile: String? = nil, sharedGroup: String? = nil,
            lanes: Int = MQTT.defaultLanes
        ) {
            self.enabled = enabled
            self.host = host
            self.port = port
            self.clientID = clientID
            self.prefix = prefix
            self.keepalive = keepalive
            self.username = username
            self.passwordFile = passwordFile
            self.caFile = caFile
            self.certFile = certFile
            self.keyFile = keyFile
            self.sharedGroup = sharedGroup
            self.lanes = lanes
        }
    }

    public struct Metrics: Sendable, Equatable {
        /// Prometheus text-format metrics, rewritten every status tick, for node_exporter's
        /// textfile collector and `ccmctl status`.
        public var textfile: String
        public init(textfile: String) { self.textfile = textfile }
    }

    public struct BLE: Sendable, Equatable {
        /// Take readings from assigned cuffs and meters over Bluetooth LE.
        public var enabled = true
        /// Listen for health devices advertising (`ccmctl devices discovered`).
        public var scan = true
        /// How long a connection attempt may take.
        public var connectTimeout: Double = 20
        /// The wait between sessions with a device after a good one.
        public var interval: Double = 60
        /// The longest wait after failed attempts (the wait doubles from 5 s).
        public var maxBackoff: Double = 600
        /// A pulse oximeter's continuous measurements (about one a second) are stored one per
        /// this many seconds: 15 minutes by default, 1 minute to 24 hours.
        public var continuousSpO2Interval: Double = 900
        public init() {}
    }

    public struct Billing: Sendable, Equatable {
        /// The folder of fee schedules, one `YEAR.yaml` each.
        public var feesDirectory = "config/fees"
        /// The practice's own amounts, in cents by code, in place of the national ones.
        public var feeOverrides: [String: Int] = [:]
        /// The chronic-condition list (categories and ICD-10 prefixes).
        public var conditions = "config/chronic-conditions.yaml"
        /// How RPM device days are grouped: calendar_month or 30_days (from the RPM start).
        public var devicePeriod = DevicePeriod.calendarMonth
        public init() {}
    }

    public struct Logging: Sendable, Equatable {
        /// trace, debug, info, notice, warning, error or critical.
        public var level: String
        public init(level: String) { self.level = level }
    }

    public var database: Database
    public var practice: Practice
    public var ingest: Ingest
    public var sources: Sources
    public var carePlans: CarePlans
    public var alerts: Alerts
    public var mqtt: MQTT
    public var ble: BLE
    public var billing: Billing
    public var metrics: Metrics
    public var logging: Logging

    /// Where an installed gateway keeps its configuration.
    public static let installedPath = "/etc/ccm-gateway/gateway.yaml"

    /// The defaults of a first run: database under `./var/`, the machine's time zone.
    public static var defaults: GatewayConfig {
        GatewayConfig(
            database: Database(path: "var/ccm-gateway.sqlite"),
            practice: Practice(timeZone: TimeZone.current.identifier),
            ingest: Ingest(maxPayloadBytes: 64 * 1024),
            sources: Sources(file: nil),
            carePlans: CarePlans(directory: "config/careplans"),
            alerts: Alerts(log: "var/alerts.log", format: .text, checkInterval: 300),
            mqtt: MQTT(),
            ble: BLE(),
            billing: Billing(),
            metrics: Metrics(textfile: "var/ccm-gateway.prom"),
            logging: Logging(level: "info"))
    }

    /// The configuration to use: `explicitPath` when given (it must exist), else the installed
    /// file when present, else ``defaults``.
    public static func resolve(explicitPath: String?) throws -> GatewayConfig {
        if let explicitPath { return try load(path: explicitPath) }
        if FileManager.default.fileExists(atPath: installedPath) { return try load(path: installedPath) }
        return defaults
    }

    public static func load(path: String) throws -> GatewayConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(
                FileManager.default.fileExists(atPath: path)
                    ? "cannot read the configuration \(path): permission denied; run as a member of the ccm-gateway group"
                    : "no configuration file at \(path); copy config/gateway.yaml there or pass --config with the right path"
            )
        }
        return try parse(String(decoding: data, as: UTF8.self), origin: path)
    }

    /// Parses YAML text; `origin` names the file in error messages.
    public static func parse(_ text: String, origin: String) throws -> GatewayConfig {
        let node: Node?
        do {
            node = try Yams.compose(yaml: text)
        } catch {
            throw ConfigError("\(origin): not valid YAML: \(error)")
        }
        var config = defaults
        guard let node else { return config }
        let root = try Section(node, path: "", origin: origin)
        try root.allow([
            "database", "practice", "ingest", "sources", "careplans", "alerts", "mqtt", "ble", "billing", "metrics",
            "logging",
        ])
        if let database = try root.section("database") {
            try database.allow(["path"])
            if let path = try database.string("path") { config.database.path = path }
        }
        if let practice = try root.section("practice") {
            try practice.allow(["time_zone"])
            if let zone = try practice.string("time_zone") {
                guard TimeZone(identifier: zone) != nil else {
                    throw ConfigError(
                        "\(origin): practice.time_zone: unknown time zone \"\(zone)\"",
                        fix: "use an IANA name such as America/Chicago")
                }
                config.practice.timeZone = zone
            }
        }
        if let ingest = try root.section("ingest") {
            try ingest.allow(["max_payload_bytes"])
            if let limit = try ingest.int("max_payload_bytes") {
                guard limit >= 1024 else {
                    throw ConfigError(
                        "\(origin): ingest.max_payload_bytes: \(limit) is too small",
                        fix: "use 1024 or more (default 65536)")
                }
                config.ingest.maxPayloadBytes = limit
            }
        }
        if let sources = try root.section("sources") {
            try sources.allow(["file"])
            if let file = try sources.section("file") {
                try file.allow(["path"])
                guard let path = try file.string("path") else {
                    throw ConfigError(
                        "\(origin): sources.file.path: required when sources.file is present",
                        fix: "give a JSON-lines file or - for standard input")
                }
                config.sources.file = FileSource(path: path)
            }
        }
        if let careplans = try root.section("careplans") {
            try careplans.allow(["directory"])
            if let directory = try careplans.string("directory") { config.carePlans.directory = directory }
        }
        if let alerts = try root.section("alerts") {
            try alerts.allow(["log", "format", "check_interval"])
            if let log = try alerts.string("log") { config.alerts.log = log }
            if let text = try alerts.string("format") {
                guard let format = AlertLogFormat(rawValue: text) else {
                    throw ConfigError("\(origin): alerts.format: unknown format \"\(text)\"", fix: "use text or json")
                }
                config.alerts.format = format
            }
            if let seconds = try alerts.duration("check_interval") { config.alerts.checkInterval = seconds }
        }
        if let mqtt = try root.section("mqtt") {
            try mqtt.allow([
                "enabled", "host", "port", "client_id", "prefix", "keepalive", "username", "password_file", "tls",
                "shared_group", "lanes",
            ])
            if let enabled = try mqtt.bool("enabled") { config.mqtt.enabled = enabled }
            if let host = try mqtt.string("host") { config.mqtt.host = host }
            if let port = try mqtt.int("port") {
                guard (1...65_535).contains(port) else {
                    throw ConfigError("\(origin): mqtt.port: \(port) is not a TCP port (1-65535)")
                }
                config.mqtt.port = port
            }
            if let id = try mqtt.string("client_id") {
                guard !id.isEmpty, id.utf8.count <= 65_535, !id.contains(where: { $0 == "/" || $0 == "+" || $0 == "#" })
                else {
                    throw ConfigError(
                        "\(origin): mqtt.client_id: \"\(id)\" cannot be used as a client id and topic level",
                        fix: "avoid /, + and #")
                }
                config.mqtt.clientID = id
            }
            if let prefix = try mqtt.string("prefix") {
                guard !prefix.isEmpty, !prefix.hasSuffix("/"), !prefix.contains(where: { $0 == "+" || $0 == "#" })
                else {
                    throw ConfigError(
                        "\(origin): mqtt.prefix: \"\(prefix)\" is not a topic prefix", fix: "write it like ccm/v1")
                }
                config.mqtt.prefix = prefix
            }
            if let keepalive = try mqtt.int("keepalive") {
                guard keepalive >= 5 else {
                    throw ConfigError(
                        "\(origin): mqtt.keepalive: \(keepalive) is too short", fix: "use 5 seconds or more")
                }
                config.mqtt.keepalive = keepalive
            }
            config.mqtt.username = try mqtt.string("username")
            config.mqtt.passwordFile = try mqtt.string("password_file")
            config.mqtt.sharedGroup = try mqtt.string("shared_group")
            if let lanes = try mqtt.int("lanes") {
                guard (1...MQTT.maxLanes).contains(lanes) else {
                    throw ConfigError(
                        "\(origin): mqtt.lanes: \(lanes) is out of range",
                        fix: "use 1 to \(MQTT.maxLanes) (1: one session, as a single client)")
                }
                config.mqtt.lanes = lanes
            }
            if let tls = try mqtt.section("tls") {
                try tls.allow(["ca_file", "cert_file", "key_file"])
                config.mqtt.caFile = try tls.string("ca_file")
                config.mqtt.certFile = try tls.string("cert_file")
                config.mqtt.keyFile = try tls.string("key_file")
                if (config.mqtt.certFile == nil) != (config.mqtt.keyFile == nil) {
                    throw ConfigError(
                        "\(origin): mqtt.tls: cert_file and key_file go together", fix: "give both or neither")
                }
                if config.mqtt.caFile == nil {
                    throw ConfigError(
                        "\(origin): mqtt.tls.ca_file: required for TLS",
                        fix: "give the CA that signed the broker's certificate")
                }
            }
        }
        if let ble = try root.section("ble") {
            try ble.allow(["enabled", "scan", "connect_timeout", "interval", "max_backoff", "continuous_spo2_interval"])
            if let enabled = try ble.bool("enabled") { config.ble.enabled = enabled }
            if let scan = try ble.bool("scan") { config.ble.scan = scan }
            if let seconds = try ble.duration("connect_timeout") { config.ble.connectTimeout = seconds }
            if let seconds = try ble.duration("interval") { config.ble.interval = seconds }
            if let seconds = try ble.duration("max_backoff") { config.ble.maxBackoff = seconds }
            if let seconds = try ble.duration("continuous_spo2_interval") {
                guard (60...86_400).contains(seconds) else {
                    throw ConfigError(
                        "\(origin): ble.continuous_spo2_interval: \(DurationText.format(seconds)) is outside 1m to 24h; one stored continuous SpO2 reading per 15m is the default, write it like 15m"
                    )
                }
                config.ble.continuousSpO2Interval = seconds
            }
        }
        if let billing = try root.section("billing") {
            try billing.allow(["fees_directory", "fee_overrides", "conditions", "device_period"])
            if let directory = try billing.string("fees_directory") { config.billing.feesDirectory = directory }
            if let file = try billing.string("conditions") { config.billing.conditions = file }
            if let text = try billing.string("device_period") {
                guard let period = DevicePeriod(rawValue: text) else {
                    throw ConfigError("\(origin): billing.device_period: \"\(text)\" is not calendar_month or 30_days")
                }
                config.billing.devicePeriod = period
            }
            if let overrides = try billing.section("fee_overrides") {
                for (code, text) in try overrides.scalars() {
                    guard code.count == 5, code.allSatisfy({ $0.isNumber || $0.isUppercase }),
                        let cents = FeeSchedule.cents(text)
                    else {
                        throw ConfigError(
                            "\(origin): billing.fee_overrides.\(code): write a code and a dollar amount, like \"99490\": 70.25"
                        )
                    }
                    config.billing.feeOverrides[code] = cents
                }
            }
        }
        if let metrics = try root.section("metrics") {
            try metrics.allow(["textfile"])
            if let path = try metrics.string("textfile") { config.metrics.textfile = path }
        }
        if let logging = try root.section("logging") {
            try logging.allow(["level"])
            if let level = try logging.string("level") {
                let levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
                guard levels.contains(level) else {
                    throw ConfigError(
                        "\(origin): logging.level: unknown level \"\(level)\"",
                        fix: "use one of \(levels.joined(separator: ", "))")
                }
                config.logging.level = level
            }
        }
        return config
    }
}

/// A configuration problem, naming the file, the key and the fix.
public typealias ConfigError = Explanation<ConfigMistake>
public enum ConfigMistake {}
