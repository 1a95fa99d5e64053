import ArgumentParser

@main
struct CCMCtl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ccmctl",
        abstract: "Operate ccm-gateway: patients, devices, care plans, readings, alerts, the inbox, the time ledger and the CCM month.",
        discussion: """
            ccmctl works on the gateway's SQLite database while ccm-gatewayd runs. Listings print \
            tables for people; --format json or csv for scripts. Every change is written to the \
            audit log under --by (default: your login name).
            """,
        version: "0.1.0",
        subcommands: [
            StatusCommand.self, Patients.self, Devices.self, CarePlanCommand.self, Ingest.self, Readings.self, AlertsCommand.self,
            Inbox.self, TimeCommand.self, MonthCommand.self, InvoiceCommand.self, EligibilityCommand.self,
        ])
}
