import ArgumentParser

#if canImport(Glibc)
import Glibc
#endif

@main
struct CCMCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ccmctl",
        abstract: "Operate ccm-gateway: patients, devices, care plans, readings, alerts, the inbox, the time ledger and the CCM month.",
        discussion: """
            ccmctl works on the gateway's SQLite database while ccm-gatewayd runs. ccmctl init \
            creates the database; every other command needs it to exist. Operators run ccmctl as \
            members of the ccm-gateway group (the database and its folder are group-writable); \
            files ccmctl creates are not readable by others (umask 0007). Listings print \
            tables for people; --format json or csv for scripts. Every change is written to the \
            audit log under --by (default: your login name).
            """,
        version: "0.1.0",
        subcommands: [
            InitCommand.self, StatusCommand.self, Patients.self, Devices.self, CarePlanCommand.self, Ingest.self, Readings.self, AlertsCommand.self,
            Inbox.self, TimeCommand.self, MonthCommand.self, InvoiceCommand.self, EligibilityCommand.self, Hubs.self, Staff.self,
        ])

    static func main() {
        // What ccmctl creates (the database, its -wal and -shm, the alert log) is shared with
        // the daemon's user through the ccm-gateway group, and holds patient data: group
        // read-write, nothing for others, whatever the operator's own umask.
        umask(0o007)
        main(nil)
    }
}
