import Foundation
import GatewayConfig
import GatewayCore
import GatewayTestSupport
import Testing

@Suite("Configuration", .ownThreads)
struct ConfigTests {
    @Test("The example config/gateway.yaml is complete and parses")
    func example() throws {
        let config = try GatewayConfig.load(path: repository.appendingPathComponent("config/gateway.yaml").path)
        #expect(config.database.path == "/var/lib/ccm-gateway/ccm-gateway.sqlite")
        #expect(config.practice.timeZone == "America/Chicago")
        #expect(config.ingest.maxPayloadBytes == 65536)
        #expect(config.sources.file == nil)
        #expect(config.carePlans.directory == "/etc/ccm-gateway/careplans")
        #expect(config.alerts.log == "/var/log/ccm-gateway/alerts.log")
        #expect(config.alerts.format == .text)
        #expect(config.alerts.checkInterval == 300)
        #expect(
            config.mqtt
                == GatewayConfig.MQTT(
                    enabled: true, host: "localhost", port: 1883, clientID: "ccm-gateway", prefix: "ccm/v1",
                    keepalive: 30))
        #expect(config.metrics.textfile == "/var/lib/ccm-gateway/ccm-gateway.prom")
        #expect(config.logging.level == "info")
        #expect(config.ble.continuousSpO2Interval == 900)
    }

    @Test(
        "ble.continuous_spo2_interval: one stored continuous SpO2 reading per 15 minutes unless set; 1 minute to 24 hours"
    )
    func continuousSpO2Interval() throws {
        #expect(GatewayConfig.defaults.ble.continuousSpO2Interval == 900)
        #expect(
            try GatewayConfig.parse("ble:\n  continuous_spo2_interval: 5m\n", origin: "x.yaml").ble
                .continuousSpO2Interval == 300)
        #expect(
            try GatewayConfig.parse("ble:\n  continuous_spo2_interval: 24h\n", origin: "x.yaml").ble
                .continuousSpO2Interval == 86_400)
    }

    @Test("An empty file means the defaults")
    func empty() throws {
        #expect(try GatewayConfig.parse("", origin: "x.yaml") == GatewayConfig.defaults)
        #expect(try GatewayConfig.parse("# nothing\n", origin: "x.yaml") == GatewayConfig.defaults)
    }

    @Test(
        "Mistakes name the file, the key and the fix",
        arguments: [
            (
                "databse:\n  path: x\n",
                "x.yaml: databse: unknown key; the top level allows database, practice, ingest, sources, careplans, alerts, mqtt, ble, billing, metrics, logging"
            ),
            ("database:\n  file: x\n", "x.yaml: database.file: unknown key; database allows path"),
            (
                "practice:\n  time_zone: Mars/Base\n",
                "x.yaml: practice.time_zone: unknown time zone \"Mars/Base\"; use an IANA name such as America/Chicago"
            ),
            (
                "logging:\n  level: loud\n",
                "x.yaml: logging.level: unknown level \"loud\"; use one of trace, debug, info, notice, warning, error, critical"
            ),
            (
                "ingest:\n  max_payload_bytes: lots\n",
                "x.yaml: ingest.max_payload_bytes: \"lots\" is not a whole number"
            ),
            (
                "ingest:\n  max_payload_bytes: 10\n",
                "x.yaml: ingest.max_payload_bytes: 10 is too small; use 1024 or more (default 65536)"
            ),
            (
                "sources:\n  file: {}\n",
                "x.yaml: sources.file.path: required when sources.file is present; give a JSON-lines file or - for standard input"
            ),
            ("database: [1, 2]\n", "x.yaml: database: expected a mapping of keys to values"),
            ("mqtt:\n  port: 99999\n", "x.yaml: mqtt.port: 99999 is not a TCP port (1-65535)"),
            (
                "mqtt:\n  lanes: 0\n",
                "x.yaml: mqtt.lanes: 0 is out of range; use 1 to 64 (1: one session, as a single client)"
            ),
            ("mqtt:\n  prefix: ccm/#\n", "x.yaml: mqtt.prefix: \"ccm/#\" is not a topic prefix; write it like ccm/v1"),
            (
                "mqtt:\n  tls:\n    cert_file: a.pem\n",
                "x.yaml: mqtt.tls: cert_file and key_file go together; give both or neither"
            ),
            (
                "mqtt:\n  tls:\n    cert_file: a.pem\n    key_file: a.key\n",
                "x.yaml: mqtt.tls.ca_file: required for TLS; give the CA that signed the broker's certificate"
            ),
            ("alerts:\n  format: xml\n", "x.yaml: alerts.format: unknown format \"xml\"; use text or json"),
            (
                "alerts:\n  check_interval: often\n",
                "x.yaml: alerts.check_interval: \"often\" is not a duration; write it like 30s or 5m"
            ),
            ("ble:\n  enabled: maybe\n", "x.yaml: ble.enabled: \"maybe\" is not true or false"),
            ("ble:\n  max_backoff: 0s\n", "x.yaml: ble.max_backoff: \"0s\" is not a duration; write it like 30s or 5m"),
            (
                "billing:\n  device_period: weekly\n",
                "x.yaml: billing.device_period: \"weekly\" is not calendar_month or 30_days"
            ),
            (
                "billing:\n  fee_overrides:\n    \"99490\": lots\n",
                "x.yaml: billing.fee_overrides.99490: write a code and a dollar amount, like \"99490\": 70.25"
            ),
            (
                "ble:\n  adapter: hci1\n",
                "x.yaml: ble.adapter: unknown key; ble allows enabled, scan, connect_timeout, interval, max_backoff, continuous_spo2_interval"
            ),
            (
                "ble:\n  continuous_spo2_interval: 10s\n",
                "x.yaml: ble.continuous_spo2_interval: 10s is outside 1m to 24h; one stored continuous SpO2 reading per 15m is the default, write it like 15m"
            ),
            (
                "ble:\n  continuous_spo2_interval: 2d\n",
                "x.yaml: ble.continuous_spo2_interval: 2d is outside 1m to 24h; one stored continuous SpO2 reading per 15m is the default, write it like 15m"
            ),
            (
                "ble:\n  continuous_spo2_interval: often\n",
                "x.yaml: ble.continuous_spo2_interval: \"often\" is not a duration; write it like 30s or 5m"
            ),
        ])
    func mistakes(yaml: String, message: String) {
        #expect(throws: ConfigError.self) { try GatewayConfig.parse(yaml, origin: "x.yaml") }
        do {
            _ = try GatewayConfig.parse(yaml, origin: "x.yaml")
        } catch {
            #expect("\(error)" == message)
        }
    }

    @Test("A missing --config file is an error, not the defaults")
    func missing() {
        #expect(throws: ConfigError.self) { try GatewayConfig.resolve(explicitPath: "/nonexistent/gateway.yaml") }
    }
}
