import ArgumentParser

#if canImport(Glibc)
import Glibc
#endif

@main
struct CCMCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ccmctl",
        abstract:
            "Operate ccm-gateway: patients, devices, care plans, readings, alerts, the inbox, the time ledger and the CCM month.",
        discussion: """
            ccmctl works on the gateway's SQLite database while ccm-gatewayd runs. ccmctl init \
            creates the database; every other command needs it to exist. Operators run ccmctl as \
            members of the ccm-gateway group (the database and its folder are group-writable); \
            files ccmctl creates are not readable by others (umask 0007). Listings print \
            tables for people; --format json or csv for scripts. Every change is written to the \
            audit log under --by (default: your login name). --config, --db and --by go \
            before or after the command words.
            """,
        version: "0.1.0",
        subcommands: [
            InitCommand.self, StatusCommand.self, PatientsCommand.self, DevicesCommand.self, CarePlanCommand.self,
            IngestCommand.self,
            ReadingsCommand.self, AlertsCommand.self,
            InboxCommand.self, TimeCommand.self, MonthCommand.self, InvoiceCommand.self, EligibilityCommand.self,
            HubsCommand.self,
            StaffCommand.self,
        ])

    static func main() {
        // What ccmctl creates (the database, its -wal and -shm, the alert log) is shared with
        // the daemon's user through the ccm-gateway group, and holds patient data: group
        // read-write, nothing for others, whatever the operator's own umask.
        umask(0o007)
        main(GlobalOptions.movedAfterSubcommands(Array(CommandLine.arguments.dropFirst())))
    }
}

extension GlobalOptions {
    /// The options every command takes, each of which takes a value.
    static let names: Set<String> = ["--db", "--config", "--by"]

    /// `ccmctl --db X patients list` read as `ccmctl patients list --db X`: the global options
    /// are accepted before the command words too, as git and kubectl users type them. Leading
    /// global options move to the end (before a `--`, which ends the options).
    static func movedAfterSubcommands(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var rest = arguments[...]
        while let first = rest.first {
            let name = String(first.prefix { $0 != "=" })
            guard names.contains(name) else { break }
            leading.append(first)
            rest = rest.dropFirst()
            if !first.contains("="), let value = rest.first {
                leading.append(value)
                rest = rest.dropFirst()
            }
        }
        guard !leading.isEmpty else { return arguments }
        let end = rest.firstIndex(of: "--") ?? rest.endIndex
        return Array(rest[..<end]) + leading + Array(rest[end...])
    }
}
