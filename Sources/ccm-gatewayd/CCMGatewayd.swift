import ArgumentParser
import Foundation
import GatewayConfig
import GatewayPipeline
import GatewayStore
import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

@main
struct CCMGatewayd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ccm-gatewayd",
        abstract:
            "The ccm-gateway daemon: takes readings from BLE cuffs and meters, MQTT home hubs and replay files through the pipeline, raises alerts.",
        version: "0.1.0",
        subcommands: [Run.self, BLESyncCommand.self],
        defaultSubcommand: Run.self)

    /// What the daemon creates (the -wal and -shm files, the lock file, the alert log) is
    /// shared with the operators in the ccm-gateway group and holds patient data: group
    /// read-write, nothing for others, wherever it was started from (the unit says the same).
    static func restrictUmask() {
        umask(0o007)
    }

    /// Logs to the journal with priorities when systemd started us, else to standard error.
    static func bootstrapLogging(level text: String) {
        let level = Logger.Level(rawValue: text) ?? .info
        let journal = JournalLogHandler.stderrIsJournal()
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler =
                journal ? JournalLogHandler(label: label) : StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

/// The option every subcommand takes.
struct ConfigOption: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The YAML configuration (default: \(GatewayConfig.installedPath) when present, else built-in defaults).",
            valueName: "path"))
    var config: String?
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the daemon (the default).",
        discussion: """
            Runs until SIGTERM or SIGINT, then stops gracefully. SIGHUP reopens the alert log \
            (logrotate) and reloads the care-plan templates. Under systemd (Type=notify) it sends \
            READY=1 once the database is open and its sources have started, and STOPPING=1 when it \
            begins to stop; it logs to the journal with priorities when started by it. \
            The database must exist (ccmctl init creates it). One daemon per database: it holds \
            an exclusive lock on DATABASE.lock and a second one is refused with the first's pid. \
            When the database file is deleted or replaced while it runs, it stops (exit status \
            1 or 75) before acknowledging anything more, and does not start again until a \
            database is at the path.
            """)

    @OptionGroup var options: ConfigOption

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Feed these JSON lines (or - for standard input) to the pipeline; overrides sources.file.path.",
            valueName: "path"))
    var replay: String?

    func run() async throws {
        CCMGatewayd.restrictUmask()
        let config = options.config
        var settings = try GatewayConfig.resolve(explicitPath: config)
        let configPath =
            config
            ?? (FileManager.default.fileExists(atPath: GatewayConfig.installedPath) ? GatewayConfig.installedPath : nil)
        if let replay { settings.sources.file = .init(path: replay) }
        CCMGatewayd.bootstrapLogging(level: settings.logging.level)
        let logger = Logger(label: "ccm-gatewayd")
        let gateway = try Gateway(config: settings, configPath: configPath, logger: logger)
        logger.info("database open", metadata: ["database.path": "\(gateway.database.path)"])
        try await gateway.group.run()
    }
}
