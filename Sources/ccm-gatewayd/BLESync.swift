import Foundation
public import GatewayBLE
public import GatewayCore
public import GatewayPipeline
import GatewayStore
public import Logging

/// Runs a ``HealthSession`` for a registered device and stores what arrives through the
/// pipeline, like every other source: each value as the raw GATT record (`gatt:2a18:DEVICE`),
/// from source `ble:ADDRESS`. Records the session in the device's sync state.
public struct BLESync: Sendable {
    public let pipeline: Pipeline
    public let logger: Logger
    /// Session timings (tests shorten them).
    public var idle: Duration = .seconds(10)
    public var timeout: Duration = .seconds(30)
    /// One PLX Continuous Measurement stored per this many seconds (`ble.continuous_spo2_interval`).
    public var continuousInterval: Double = 900
    /// Told when a value is in hand, before it is stored (the daemon counts it in flight).
    public var arriving: (@Sendable () -> Void)?
    /// Told each value's outcomes once decided.
    public var decided: (@Sendable ([ItemOutcome]) -> Void)?

    public init(pipeline: Pipeline, logger: Logger) {
        self.pipeline = pipeline
        self.logger = logger
    }

    /// What a sync did: the session's report and the pipeline's outcomes.
    public struct Summary: Sendable {
        public var device: String
        public var report: SessionReport
        /// The pipeline's outcome for each measurement (2a35, 2a18).
        public var outcomes: [ItemOutcome]
        /// The outcome for each Glucose Measurement Context (joined to its reading, or waiting).
        public var contextOutcomes: [ItemOutcome]
        /// How far the device's clock was ahead of the gateway's when the session read it.
        public var clockOffset: Double?
        /// The meter's new record epoch, when the session found it reset.
        public var epoch: Int?

        public func count(_ status: ItemStatus) -> Int { outcomes.filter { $0.status == status }.count }
        public var readingsStored: Int { outcomes.filter { $0.status == .accepted && $0.code != "control_test" }.count }
        /// Control-solution tests stored (not readings).
        public var controlTests: Int { outcomes.filter { $0.status == .accepted && $0.code == "control_test" }.count }
    }

    /// One session with `device` over `bearer` (which it closes).
    public func run(device: Device, address: String, bearer: ATTBearer) throws -> Summary {
        defer { bearer.close() }
        let state = try pipeline.database.bleSyncState(device: device.id)
        var options = HealthSession.Options(
            lastGlucoseSequence: state.lastGlucoseSeq,
            currentTime: CurrentTime.value(pipeline.clock(), in: pipeline.timeZone),
            idle: idle, procedureTimeout: timeout)
        options.continuousInterval = continuousInterval
        if device.kind == .pulseOximeter {
            options.lastContinuousAt = try pipeline.database.lastContinuousMeasurement(device: device.id)
        }
        options.lastGlucoseMeasurement = try state.lastGlucoseSeq.flatMap {
            try pipeline.database.receivedGlucoseMeasurement(device: device.id, sequence: $0)
        }
        var outcomes: [ItemOutcome] = [], contextOutcomes: [ItemOutcome] = []
        var clockOffset: Double?
        let session = HealthSession(client: ATTClient(bearer: bearer, timeout: timeout), options: options) { record in
            let input = RawInput(
                source: "ble:\(address)", format: .gatt(characteristic: record.characteristic, device: device.id),
                payload: Data(record.value),
                receivedAt: pipeline.clock(), deviceClockOffset: clockOffset)
            arriving?()
            let result = try pipeline.receiveBLE(
                input, device: device.id, glucoseSequence: record.completedGlucoseSequence)
            decided?(result)
            if record.characteristic == "2a34" { contextOutcomes += result } else { outcomes += result }
        }
        session.now = pipeline.clock
        session.onDeviceClock = { clockOffset = pipeline.deviceClockOffset(currentTime: $0, readAt: pipeline.clock()) }
        var epoch: Int?
        session.onReset = { reason in
            epoch = try pipeline.database.startGlucoseEpoch(
                device: device.id, reason: reason, by: "ble:\(address)", at: pipeline.clock())
            logger.warning(
                "glucose meter reset detected; downloading every record",
                metadata: ["device.id": "\(device.id)", "device.epoch": "\(epoch ?? 0)"])
        }
        logger.info(
            "BLE session started",
            metadata: [
                "device.id": "\(device.id)",
                "ble.from_sequence": "\(options.lastGlucoseSequence.map { "\($0 + 1)" } ?? "all")",
            ])
        let report = session.run()
        try pipeline.database.recordBLESession(
            device: device.id, at: pipeline.clock(), records: report.measurements, error: report.failure)
        var summary = Summary(
            device: device.id, report: report, outcomes: outcomes, contextOutcomes: contextOutcomes,
            clockOffset: clockOffset)
        summary.epoch = epoch
        var metadata: Logger.Metadata = [
            "device.id": "\(device.id)", "ble.records": "\(report.measurements)",
            "ble.stored": "\(summary.readingsStored)",
            "ble.services": "\(report.services.joined(separator: ","))",
        ]
        if let failure = report.failure {
            metadata["error"] = "\(failure)"
            logger.warning("BLE session ended early; what arrived is kept", metadata: metadata)
        } else {
            logger.info("BLE session complete", metadata: metadata)
        }
        return summary
    }
}

extension BLESync.Summary {
    /// The summary `ble-sync` prints: services found, records downloaded, readings stored, errors.
    public var lines: [String] {
        var lines = ["services: \(report.services.isEmpty ? "none found" : report.services.joined(separator: ", "))"]
        if let feature = report.bloodPressureFeature { lines.append("blood pressure feature: 0x\(hex16(feature))") }
        if let feature = report.glucoseFeature { lines.append("glucose feature: 0x\(hex16(feature))") }
        lines += report.profileLines
        if let reset = report.reset {
            lines.append("METER RESET DETECTED: \(reset)")
            lines.append(
                "  its records are numbered anew\(epoch.map { " (epoch \($0))" } ?? ""); every record on the meter is downloaded, none is folded into the old ones"
            )
        }
        if let count = report.recordsOnMeter {
            lines.append(
                "records on the meter \(report.requestedFrom.map { "from sequence \($0)" } ?? "in all"): \(count)")
        }
        var downloaded = "records downloaded: \(report.measurements)"
        if report.contexts > 0 { downloaded += " (and \(report.contexts) meal contexts)" }
        lines.append(downloaded)
        let others = [ItemStatus.duplicate, .rejected, .quarantined].map { "\(count($0)) \($0.rawValue)" }.joined(
            separator: ", ")
        lines.append("readings stored: \(readingsStored) (\(others))")
        if controlTests > 0 {
            lines.append("control-solution tests stored: \(controlTests) (not readings; not evaluated)")
        }
        for outcome in outcomes where outcome.status == .rejected || outcome.status == .quarantined {
            lines.append(
                "  inbox \(outcome.inboxID): \(outcome.status.rawValue): \(outcome.reason ?? outcome.code ?? "")")
        }
        if let sequence = report.lastGlucoseSequence { lines.append("last glucose sequence: \(sequence)") }
        if let clockOffset, abs(clockOffset) >= 60 {
            let minutes = Int((abs(clockOffset) / 60).rounded())
            lines.append(
                "device clock was \(minutes) minutes \(clockOffset > 0 ? "ahead" : "behind"); suspect record times corrected by it"
            )
        }
        lines.append(
            "device clock set: \(report.clockSet ? "yes, through \(report.clockSetThrough ?? "Current Time (2a2b)")" : "no")"
        )
        if report.securityRaised { lines.append("security level raised once") }
        if report.ignoredPDUs > 0 { lines.append("ignored PDUs: \(report.ignoredPDUs)") }
        lines += report.notes.map { "note: \($0)" }
        lines.append(report.failure.map { "error: \($0)" } ?? "result: complete")
        return lines
    }
}
