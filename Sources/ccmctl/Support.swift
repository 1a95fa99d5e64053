import ArgumentParser
import Foundation
import GatewayConfig
import GatewayCore
import GatewayPipeline
import GatewayStore
import Synchronization

/// Options every command takes.
struct GlobalOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp("The SQLite database (default: database.path from the configuration).", valueName: "path"))
    var db: String?

    @Option(
        name: .long,
        help: ArgumentHelp(
            "The gateway configuration (default: \(GatewayConfig.installedPath) when present, else built-in defaults).",
            valueName: "path"))
    var config: String?

    @Option(
        name: .long,
        help: ArgumentHelp("Who is making the change, for the audit log (default: your login name).", valueName: "name")
    )
    var by: String?

    func loadConfig() throws -> GatewayConfig {
        try GatewayConfig.resolve(explicitPath: config)
    }

    func databasePath() throws -> String {
        if let db { return db }
        return try loadConfig().database.path
    }

    /// Opens the database, which must exist: only `ccmctl init` creates one.
    ///
    /// A write that finds the database locked (the daemon deciding a burst, another ccmctl) waits
    /// for it, saying so once on standard error, for up to ``GatewayDatabase/defaultWaitLimit``.
    func open(_ mode: GatewayDatabase.OpenMode = .existing) throws -> GatewayDatabase {
        let said = Mutex(false)
        return try GatewayDatabase(path: try databasePath(), mode: mode) { _ in
            guard
                !said.withLock({ (said: inout Bool) in
                    defer { said = true }; return said
                })
            else { return }
            FileHandle.standardError.write(Data("waiting for the database: another process is writing to it\n".utf8))
        }
    }

    /// The care-plan templates; a folder that cannot be read is reported on standard error and
    /// the command goes on without alerts (the daemon refuses to start instead).
    func templates(_ config: GatewayConfig) throws -> CarePlanLibrary {
        do {
            return try config.loadTemplates()
        } catch let error as ConfigError where !FileManager.default.fileExists(atPath: config.carePlans.directory) {
            FileHandle.standardError.write(Data("warning: \(error); readings are stored without alert checks\n".utf8))
            return CarePlanLibrary(templates: [], directory: config.carePlans.directory)
        }
    }

    /// The pipeline every input goes through; after each commit the alert log gets the events
    /// the outbox holds for it.
    func pipeline() throws -> Pipeline {
        let config = try loadConfig()
        let database = try open()
        return config.pipeline(database: database, templates: try templates(config), sink: alertLog(config, database))
    }

    /// Writes the alert events of an operator's action (and any still waiting) to the alert log.
    /// A log that cannot be written is a warning: the action is committed and its events wait in
    /// the outbox for the daemon (or the next ccmctl that can write the log).
    func announce(_ database: GatewayDatabase) throws {
        alertLog(try loadConfig(), database).deliverPending()
    }

    private func alertLog(_ config: GatewayConfig, _ database: GatewayDatabase) -> AlertLogOutbox {
        AlertLogOutbox(database: database, log: config.alertLog()) { message in
            FileHandle.standardError.write(
                Data("warning: \(message) (ccm-gatewayd writes them within seconds when it can)\n".utf8))
        }
    }

    var actor: String {
        if let by { return by }
        let environment = ProcessInfo.processInfo.environment
        return environment["SUDO_USER"] ?? environment["USER"] ?? environment["LOGNAME"] ?? "unknown"
    }
}

/// A command-line mistake that names the problem and the fix; exits with status 1.
typealias CLIError = Explanation<UsageMistake>
enum UsageMistake {}

/// Times in tables are shown in the practice's time zone; JSON and CSV use UTC RFC 3339.
struct LocalTimes {
    let formatter: DateFormatter
    let timeZone: TimeZone

    init(zone: TimeZone) {
        timeZone = zone
        formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = timeZone
        formatter.dateFormat = "yyyy-MM-dd HH:mm zzz"
    }

    func cell(_ date: Date?, _ format: OutputFormat) -> Cell {
        guard let date else { return .null }
        return format == .table ? .text(formatter.string(from: date)) : .date(date)
    }

    /// Parses `--since`: a date (local midnight in the practice's zone) or an RFC 3339 time.
    func parseSince(_ text: String) throws -> Date {
        if let date = RFC3339.parse(text) { return date }
        if let day = LocalDate(text) { return LocalDay.start(of: day, in: timeZone) }
        throw CLIError("--since: \"\(text)\" is not a date", fix: "write 2026-03-04 or 2026-03-04T07:00:00-06:00")
    }
}

func validatedTimeZone(_ identifier: String, option: String) throws -> String {
    guard TimeZone(identifier: identifier) != nil else {
        throw CLIError(
            "\(option): unknown time zone \"\(identifier)\"", fix: "use an IANA name such as America/Chicago")
    }
    return identifier
}

func validatedConditions(_ codes: [String], option: String) throws -> [String] {
    try codes.flatMap { $0.split(whereSeparator: { $0 == "," || $0 == ";" || $0 == " " }) }.map { raw in
        guard let code = ICD10.canonical(String(raw)) else {
            throw CLIError("\(option): \"\(raw)\" is not an ICD-10-CM code", fix: "write codes like I10 or E11.9")
        }
        return code
    }
}

/// yes/no, y/n, true/false or 1/0, in any case.
func validatedYesNo(_ text: String, option: String) throws -> Bool {
    switch text.lowercased() {
    case "yes", "y", "true", "1": return true
    case "no", "n", "false", "0": return false
    default: throw CLIError("\(option): \"\(text.lowercased())\" is not yes or no")
    }
}

func validatedMonth(_ text: String) throws -> CalendarMonth {
    guard let month = CalendarMonth(text) else {
        throw CLIError("--month: \"\(text)\" is not a month", fix: "write YYYY-MM, e.g. 2026-03")
    }
    return month
}

func validatedDate(_ text: String?, option: String) throws -> LocalDate? {
    guard let text else { return nil }
    guard let date = LocalDate(text) else {
        throw CLIError("\(option): \"\(text)\" is not a date", fix: "write YYYY-MM-DD, e.g. 2026-03-04")
    }
    return date
}

extension Complexity: ExpressibleByArgument {}
extension DeviceKind: ExpressibleByArgument {}
extension ReadingKind: ExpressibleByArgument {}
extension ItemStatus: ExpressibleByArgument {}
