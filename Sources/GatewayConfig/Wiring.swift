public import Foundation
public import GatewayPipeline
public import GatewayStore

extension GatewayConfig {
    /// Loads the care-plan templates of `careplans.directory`.
    public func loadTemplates() throws -> CarePlanLibrary {
        try CarePlanLibrary.load(directory: carePlans.directory)
    }

    /// The pipeline both executables run: this configuration's limits and templates; `sink` is
    /// told of the alert events each commit stored in the outbox.
    public func pipeline(
        database: GatewayDatabase, templates: CarePlanLibrary, sink: any AlertSink,
        clock: @escaping @Sendable () -> Date = { Date() }
    ) -> Pipeline {
        Pipeline(
            database: database, maxPayloadBytes: ingest.maxPayloadBytes,
            templates: CarePlanTemplates(templates.templates),
            sink: sink, clock: clock, timeZone: practice.zone)
    }

    /// The alert log file this configuration names.
    public func alertLog() -> AlertLogFile {
        AlertLogFile(path: alerts.log, format: alerts.format)
    }
}
