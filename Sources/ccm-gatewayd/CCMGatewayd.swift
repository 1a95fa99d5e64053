import ArgumentParser
import Foundation
import GatewayConfig
import GatewayStore
import Logging
import ServiceLifecycle

@main
struct CCMGatewayd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ccm-gatewayd",
        abstract: "The ccm-gateway daemon: takes readings from MQTT home hubs (and replay files) through the pipeline, raises alerts.",
        discussion: """
            Runs until SIGTERM or SIGINT, then stops gracefully. SIGHUP reopens the alert log \
            (logrotate) and reloads the care-plan templates. Under systemd (Type=notify) it sends \
            READY=1 once the database is open and its sources have started, and STOPPING=1 when it \
            begins to stop; it logs to the journal with priorities when started by it.
            """,
        version: "0.1.0")

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The YAML configuration (default: \(GatewayConfig.installedPath) when present, else built-in defaults).",
            valueName: "path"))
    var config: String?

    @Option(name: .long, help: ArgumentHelp("Feed these JSON lines (or - for standard input) to the pipeline; overrides sources.file.path.", valueName: "path"))
    var replay: String?

    func run() async throws {
        var settings = try GatewayConfig.resolve(explicitPath: config)
        let configPath = config ?? (FileManager.default.fileExists(atPath: GatewayConfig.installedPath) ? GatewayConfig.installedPath : nil)
        if let replay { settings.sources.file = .init(path: replay) }
        let level = Logger.Level(rawValue: settings.logging.level) ?? .info
        let journal = JournalLogHandler.stderrIsJournal()
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = journal ? JournalLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "ccm-gatewayd")
        let gateway = try Gateway(config: settings, configPath: configPath, logger: logger)
        logger.info("database open", metadata: ["database.path": "\(gateway.database.path)"])
        try await gateway.group.run()
    }
}
