import Foundation
import GatewayCore

/// A value a health device sent that the pipeline takes: the characteristic (`2a35`, `2a18`,
/// `2a34`, `2a9d`, `2a9c`, `2a5e`, `2a5f`, `2a1c`) and its bytes exactly as received, the same raw record a BLE-to-MQTT bridge publishes.
public struct HealthRecord: Sendable, Hashable {
    public var characteristic: String
    public var value: [UInt8]

    public init(characteristic: String, value: [UInt8]) {
        self.characteristic = characteristic
        self.value = value
    }

    /// The glucose sequence number this record completes, which the next download starts after:
    /// a Glucose Measurement's (bytes 1–2), unless its flags announce a context still to come
    /// (bit 4), in which case the context's. A disconnect between the two therefore downloads
    /// that measurement again; it is stored once, and its context joins it.
    public var completedGlucoseSequence: Int? {
        guard value.count >= 3 else { return nil }
        switch characteristic {
        case "2a18" where value[0] & 0x10 == 0, "2a34": return Int(value[1]) | Int(value[2]) << 8
        default: return nil
        }
    }
}

/// What one connection to a device did, for the sync state, the log and `ble-sync`'s summary.
public struct SessionReport: Sendable {
    /// The primary services found, as `1810`, `1808`, `1805`, ….
    public var services: [String] = []
    public var bloodPressureFeature: UInt16?
    public var glucoseFeature: UInt16?
    /// Weight Scale Feature (0x2A9E) and Body Composition Feature (0x2A9B), both u32.
    public var weightScaleFeature: UInt32?
    public var bodyCompositionFeature: UInt32?
    /// PLX Features (0x2A60): the Supported Features u16.
    public var plxFeatures: UInt16?
    /// What the oximeter said it holds of stored spot-checks, and whether they were deleted from
    /// it once all were stored here (so the next download holds only newer ones).
    public var spotChecksOnDevice: Int?
    public var spotChecksDeleted = false
    /// PLX Continuous Measurements received, and of them stored (one per storage interval).
    public var continuousReceived = 0
    public var continuousStored = 0
    /// What the meter said it holds from the requested sequence number on.
    public var recordsOnMeter: Int?
    /// Measurements stored (2a35, 2a18, 2a9d, 2a9c, 2a5e, 2a1c, and the 2a5f kept at the storage
    /// interval); contexts and cuff pressure are counted apart.
    public var measurements = 0
    public var contexts = 0
    public var intermediateCuffPressures = 0
    /// The highest glucose sequence number completed in this session (measurement and any context).
    public var lastGlucoseSequence: Int?
    /// The sequence number the download asked for (`nil`: all records).
    public var requestedFrom: Int?
    public var racpResult: String?
    public var clockSet = false
    /// Which characteristic set the clock: `Current Time (2a2b)` or `Date Time (2a08)`.
    public var clockSetThrough: String?
    /// Why the meter was found reset (or its numbering wrapped), when it was: the download then
    /// asked for every record.
    public var reset: String?
    /// The device's Current Time as read before it was set (its clock's own idea of now).
    public var deviceClock: [UInt8]?
    public var securityRaised = false
    public var ignoredPDUs = 0
    /// Problems that did not end the session (a feature that could not be read, …).
    public var notes: [String] = []
    /// What ended the session early, if anything. Records received before it are kept.
    public var failure: String?

    public init() {}

    /// The lines `ble-sync` prints about the weight scale, body composition and pulse oximeter
    /// profiles (blood pressure and glucose have their own).
    public var profileLines: [String] {
        var lines: [String] = []
        if let feature = weightScaleFeature {
            lines.append("weight scale feature: 0x\(hex16(UInt16(feature >> 16)))\(hex16(UInt16(feature & 0xFFFF)))")
        }
        if let feature = bodyCompositionFeature {
            lines.append(
                "body composition feature: 0x\(hex16(UInt16(feature >> 16)))\(hex16(UInt16(feature & 0xFFFF)))")
        }
        if let feature = plxFeatures { lines.append("pulse oximeter features: 0x\(hex16(feature))") }
        if let count = spotChecksOnDevice {
            lines.append(
                "stored spot-checks on the oximeter: \(count)\(spotChecksDeleted ? " (deleted from it once stored here)" : "")"
            )
        }
        if continuousReceived > 0 {
            lines.append("continuous measurements received: \(continuousReceived), stored: \(continuousStored)")
        }
        return lines
    }
}

/// One session with a health device over a connected bearer (docs/ble.md § "A session"):
/// MTU exchange, discovery, the device clock, every CCCD armed afresh, then the profile's
/// transfer. Glucose: the Record Access Control Point downloads the records after the last one
/// stored. Pulse oximeter: the same RACP code path downloads the stored spot-checks (operator
/// "all records"), which are then deleted from the device. Blood pressure, weight, body
/// composition, spot-check and temperature measurements are indicated until the device
/// disconnects or falls silent; PLX continuous measurements are notified, and one is stored per
/// ``Options/continuousInterval``.
///
/// Each record goes to `store` as it arrives; an indication is confirmed only after `store`
/// returned, so a record is stored before the device is told it was received. A disconnect at
/// any point keeps what was stored.
public final class HealthSession {
    public struct Options: Sendable {
        /// The highest glucose sequence number already stored; the download asks for the next.
        public var lastGlucoseSequence: Int?
        /// The Glucose Measurement received with ``lastGlucoseSequence``, as received: the meter's
        /// record with that number must still have its time, or the meter was reset.
        public var lastGlucoseMeasurement: [UInt8]?
        /// The time to write into Current Time (0x2A2B) when the device exposes it writable.
        public var currentTime: [UInt8]?
        /// How long a cuff may stay silent after its CCCDs are armed before the session ends.
        public var idle: Duration
        /// How long the meter may stay silent during a RACP procedure (TI: 30 s).
        public var procedureTimeout: Duration
        /// One PLX Continuous Measurement is stored per this many seconds (`ble.continuous_spo2_interval`).
        public var continuousInterval: Double = 900
        /// When the last continuous measurement from this device was stored (a previous session).
        public var lastContinuousAt: Date?
        /// The longest a session takes pushed values: a continuous oximeter streams until its
        /// link drops, and the other devices are due too.
        public var listenLimit: Duration = .seconds(600)

        public init(
            lastGlucoseSequence: Int? = nil, currentTime: [UInt8]? = nil, idle: Duration = .seconds(10),
            procedureTimeout: Duration = .seconds(30)
        ) {
            self.lastGlucoseSequence = lastGlucoseSequence
            self.currentTime = currentTime
            self.idle = idle
            self.procedureTimeout = procedureTimeout
        }
    }

    let client: ATTClient
    var options: Options
    let store: (HealthRecord) throws -> Void
    /// Told the device's Current Time when it was read, before any record is stored.
    public var onDeviceClock: (([UInt8]) -> Void)?
    /// Told why the meter was found reset, before its records are downloaded again (the caller
    /// starts a new record epoch, so that they are not folded into the old ones).
    public var onReset: ((String) throws -> Void)?
    /// The gateway's clock, for the continuous-measurement storage interval.
    public var now: () -> Date = Date.init
    /// While the session checks the meter's records against what is stored, the measurements it
    /// is sent are collected here instead of stored.
    private var probed: [[UInt8]]?
    public private(set) var report = SessionReport()
    private var routes: [UInt16: UInt16] = [:]
    private var racpResponses: [RACP.Response] = []

    public init(client: ATTClient, options: Options, store: @escaping (HealthRecord) throws -> Void) {
        self.client = client
        self.options = options
        self.store = store
    }

    /// Runs the session to its end. Never throws: the report says what happened.
    @discardableResult
    public func run() -> SessionReport {
        client.onValue = { [unowned self] handle, value, _ in try self.received(handle: handle, value: value) }
        do {
            try client.exchangeMTU()
            let services = try client.discoverPrimaryServices()
            report.services = services.map(\.uuid.description)
            var characteristics: [UInt16: [GATTCharacteristic]] = [:]
            for service in services {
                guard case .short(let uuid) = service.uuid, HealthUUID.sessionServices.contains(uuid) else { continue }
                characteristics[uuid, default: []] += try client.discoverCharacteristics(of: service)
            }
            for characteristic in characteristics.values.joined() {
                if case .short(let uuid) = characteristic.uuid { routes[characteristic.valueHandle] = uuid }
            }
            try setClock(
                characteristics[HealthUUID.currentTimeService] ?? [],
                dateTime: characteristics[HealthUUID.bloodPressureService] ?? [])
            if let glucose = characteristics[HealthUUID.glucoseService] { try downloadGlucose(glucose) }
            if let oximeter = characteristics[HealthUUID.pulseOximeterService] { try downloadSpotChecks(oximeter) }
            if characteristics.keys.contains(where: {
                $0 != HealthUUID.glucoseService && $0 != HealthUUID.currentTimeService
            }) {
                try receivePushed(characteristics)
            }
            if characteristics.keys.allSatisfy({ $0 == HealthUUID.currentTimeService }) {
                report.failure =
                    "the device has none of the health services this gateway reads: Blood Pressure (1810), Glucose (1808), Weight Scale (181d), Body Composition (181b), Pulse Oximeter (1822), Health Thermometer (1809)"
            }
        } catch {
            report.failure = describe(error)
        }
        report.securityRaised = client.securityRaised
        report.ignoredPDUs = client.ignoredPDUs
        client.onValue = nil
        return report
    }

    private func describe(_ failure: ATT.Failure) -> String {
        guard failure == .disconnected, report.requestedFrom != nil || report.measurements > 0 else {
            return failure.description
        }
        let resume = report.lastGlucoseSequence.map { "; the next session resumes from sequence \($0 + 1)" } ?? ""
        return "the device disconnected after \(report.measurements) records\(resume)"
    }

    // MARK: Values

    private func received(handle: UInt16, value: [UInt8]) throws {
        switch routes[handle] {
        case HealthUUID.glucoseMeasurement where probed != nil:
            probed!.append(value)
        case HealthUUID.glucoseMeasurementContext where probed != nil:
            break
        case HealthUUID.plxContinuousMeasurement:
            report.continuousReceived += 1
            let time = now()
            // One per storage interval, not every notification (about one a second).
            guard options.lastContinuousAt.map({ time.timeIntervalSince($0) >= options.continuousInterval }) ?? true
            else { return }
            options.lastContinuousAt = time
            try store(HealthRecord(characteristic: "2a5f", value: value))
            report.continuousStored += 1
            report.measurements += 1
        case HealthUUID.bloodPressureMeasurement, HealthUUID.glucoseMeasurement, HealthUUID.weightMeasurement,
            HealthUUID.bodyCompositionMeasurement,
            HealthUUID.plxSpotCheckMeasurement, HealthUUID.temperatureMeasurement:
            let record = HealthRecord(characteristic: String(format4: routes[handle]!), value: value)
            try store(record)
            report.measurements += 1
            completed(record)
        case HealthUUID.glucoseMeasurementContext:
            let record = HealthRecord(characteristic: "2a34", value: value)
            try store(record)
            report.contexts += 1
            completed(record)
        case HealthUUID.intermediateCuffPressure:
            // Progress during a measurement: not a reading.
            report.intermediateCuffPressures += 1
        case HealthUUID.intermediateTemperature:
            break
        case HealthUUID.recordAccessControlPoint:
            if let response = RACP.Response(value) {
                racpResponses.append(response)
            } else {
                report.notes.append("the meter indicated an unreadable RACP value \(hexString(value))")
            }
        default:
            report.ignoredPDUs += 1
        }
    }

    private func completed(_ record: HealthRecord) {
        if let sequence = record.completedGlucoseSequence {
            report.lastGlucoseSequence = max(report.lastGlucoseSequence ?? sequence, sequence)
        }
    }

    // MARK: Procedures

    private func find(_ uuid: UInt16, in characteristics: [GATTCharacteristic]) -> GATTCharacteristic? {
        characteristics.first { $0.uuid == .short(uuid) }
    }

    /// Writes a CCCD: 0x0001 notify, 0x0002 indicate. A characteristic without one cannot push.
    private func arm(_ characteristic: GATTCharacteristic?, indicate: Bool, required: Bool) throws(ATT.Failure) {
        guard let characteristic else {
            if required { throw .malformed("a required characteristic is missing") }
            return
        }
        guard let cccd = characteristic.cccd else {
            if required {
                throw .malformed(
                    "characteristic \(characteristic.uuid) has no Client Characteristic Configuration descriptor")
            }
            return
        }
        try client.write(cccd, indicate ? [0x02, 0x00] : [0x01, 0x00])
    }

    /// Reads a feature characteristic: `size` little-endian bytes, exactly or (`exact: false`,
    /// PLX Features, whose optional fields follow) at least.
    private func readFeature(
        _ characteristic: GATTCharacteristic?, size: Int = 2, exact: Bool = true
    ) throws(ATT.Failure) -> UInt32? {
        guard let characteristic, characteristic.properties.contains(.read) else { return nil }
        do {
            let value = try client.read(characteristic.valueHandle)
            guard exact ? value.count == size : value.count >= size else {
                report.notes.append("feature \(characteristic.uuid) is \(value.count) bytes, not \(size); ignored")
                return nil
            }
            return value.prefix(size).enumerated().reduce(0) { $0 | UInt32($1.element) << (8 * $1.offset) }
        } catch .error(_, _, let code) where !code.isSecurity {
            report.notes.append("feature \(characteristic.uuid) could not be read: \(code)")
            return nil
        }
    }

    /// Reads the device's clock (so that record times from a clock that was wrong can be put
    /// right) and then sets it to the gateway's, when the device allows each.
    /// A cuff without Current Time whose Blood Pressure service has a writable Date Time
    /// (0x2A08) gets its clock set through that: the first 7 bytes of the Current Time value.
    private func setClock(_ characteristics: [GATTCharacteristic], dateTime: [GATTCharacteristic]) throws(ATT.Failure) {
        guard let time = find(HealthUUID.currentTime, in: characteristics) else {
            guard let value = options.currentTime, let date = find(HealthUUID.dateTime, in: dateTime),
                date.properties.contains(.write)
            else { return }
            do {
                try client.write(date.valueHandle, Array(value.prefix(7)))
                report.clockSet = true
                report.clockSetThrough = "Date Time (2a08)"
            } catch .error(_, _, let code) where !code.isSecurity {
                report.notes.append("the device refused the time: \(code)")
            }
            return
        }
        if time.properties.contains(.read) {
            do {
                let clock = try client.read(time.valueHandle)
                report.deviceClock = clock
                onDeviceClock?(clock)
            } catch .error(_, _, let code) where !code.isSecurity {
                report.notes.append("the device refused to tell its time: \(code)")
            }
        }
        guard let value = options.currentTime, time.properties.contains(.write) else { return }
        do {
            try client.write(time.valueHandle, value)
            report.clockSet = true
            report.clockSetThrough = "Current Time (2a2b)"
        } catch .error(_, _, let code) where !code.isSecurity {
            report.notes.append("the device refused the time: \(code)")
        }
    }

    /// Glucose: arm the measurement, context and RACP CCCDs, ask how many records follow the last
    /// stored one, then download them (`01 03 01 <last + 1>`, or `01 01` the first time).
    private func downloadGlucose(_ characteristics: [GATTCharacteristic]) throws(ATT.Failure) {
        report.glucoseFeature = try readFeature(find(HealthUUID.glucoseFeature, in: characteristics)).map { UInt16($0) }
        guard let racp = find(HealthUUID.recordAccessControlPoint, in: characteristics) else {
            throw .malformed("the Glucose service has no Record Access Control Point (2a52)")
        }
        try arm(find(HealthUUID.glucoseMeasurement, in: characteristics), indicate: false, required: true)
        try arm(find(HealthUUID.glucoseMeasurementContext, in: characteristics), indicate: false, required: false)
        try arm(racp, indicate: true, required: true)
        var last = options.lastGlucoseSequence
        if let stored = last, let reason = try resetReason(racp, last: stored) {
            report.reset = reason
            try? onReset?(reason)
            last = nil
        }
        // After 65535 the sequence number has nowhere to go: ask for everything; dedup keeps each once.
        let from = last.flatMap { $0 < 0xFFFF ? $0 + 1 : nil }
        report.requestedFrom = from

        _ = try downloadRecords(racp, from: from, device: "meter", count: \.recordsOnMeter)
    }

    /// Asks how many stored records follow `from` (all when `nil`), noted in the report at
    /// `count`, then for the records: they arrive as values, each stored as it comes, and the
    /// response code ends the procedure. A code other than success or "no records found" fails
    /// the session (what came is kept). Returns whether records were sent and all arrived.
    private func downloadRecords(
        _ racp: GATTCharacteristic, from: Int?, device: String, count: WritableKeyPath<SessionReport, Int?>
    ) throws(ATT.Failure) -> Bool {
        if case .numberOfRecords(let number) = try racpProcedure(racp, RACP.numberOfRecords(from: from)) {
            report[keyPath: count] = number
        }
        switch try racpProcedure(racp, RACP.reportRecords(from: from)) {
        case .responseCode(_, let code):
            let described = RACP.ResponseCode(rawValue: code)?.description ?? "response code \(code)"
            report.racpResult = described
            if code != RACP.ResponseCode.success.rawValue, code != RACP.ResponseCode.noRecordsFound.rawValue {
                report.failure = "the \(device) ended the download with \"\(described)\""
            }
            return code == RACP.ResponseCode.success.rawValue
        case .numberOfRecords:
            throw .malformed("the \(device) answered a report request with a record count")
        }
    }

    /// Pulse oximeter: the PLX Features, then, when it stores spot-checks (it has a RACP), all of
    /// them through the same RACP procedures as glucose (its RACP knows only "all records"), each
    /// stored before it is confirmed. Once all are stored they are deleted from the oximeter, so
    /// that the next download holds only the spot-checks taken since.
    private func downloadSpotChecks(_ characteristics: [GATTCharacteristic]) throws(ATT.Failure) {
        report.plxFeatures = try readFeature(find(HealthUUID.plxFeatures, in: characteristics), exact: false).map {
            UInt16($0)
        }
        guard let racp = find(HealthUUID.recordAccessControlPoint, in: characteristics) else { return }
        try arm(find(HealthUUID.plxSpotCheckMeasurement, in: characteristics), indicate: true, required: true)
        try arm(racp, indicate: true, required: true)
        guard try downloadRecords(racp, from: nil, device: "oximeter", count: \.spotChecksOnDevice) else { return }
        if case .responseCode(_, let code) = try racpProcedure(racp, RACP.deleteAllRecords),
            code == RACP.ResponseCode.success.rawValue
        {
            report.spotChecksDeleted = true
        } else {
            report.notes.append(
                "the oximeter did not delete its stored spot-checks; the next download sends them again (stored once: same time)"
            )
        }
    }

    /// Whether the meter was reset (or its 16-bit sequence number wrapped) since `last` was
    /// stored: its newest record is numbered below `last`, or its record `last` has another time
    /// than the one received. `nil`: it was not (or the meter holds no records to tell by).
    private func resetReason(_ racp: GATTCharacteristic, last: Int) throws(ATT.Failure) -> String? {
        let newest = try probe(racp, RACP.reportLastRecord)
        guard let newestSequence = newest.last.flatMap(Self.sequence) else { return nil }
        if newestSequence < last {
            return
                "the meter's newest record is sequence \(newestSequence), below the last one stored (\(last)): the meter was reset or its sequence numbers wrapped past 65535"
        }
        guard let stored = options.lastGlucoseMeasurement else { return nil }
        let record =
            newestSequence == last
            ? newest.last : try probe(racp, RACP.reportRecord(sequence: last)).first { Self.sequence($0) == last }
        guard let record, Self.time(record) != Self.time(stored) else { return nil }
        return
            "the meter's record \(last) has another time (\(Self.describeTime(record))) than the one stored (\(Self.describeTime(stored))): the meter was reset"
    }

    /// Runs a report request whose records are collected, not stored.
    private func probe(_ racp: GATTCharacteristic, _ request: [UInt8]) throws(ATT.Failure) -> [[UInt8]] {
        probed = []
        defer { probed = nil }
        _ = try racpProcedure(racp, request)
        return probed ?? []
    }

    static func sequence(_ measurement: [UInt8]) -> Int? {
        measurement.count >= 3 ? Int(measurement[1]) | Int(measurement[2]) << 8 : nil
    }

    /// A Glucose Measurement's Base Time and, when present, Time Offset bytes.
    static func time(_ measurement: [UInt8]) -> [UInt8] {
        guard measurement.count >= 10 else { return measurement }
        let withOffset = measurement[0] & 0x01 != 0 && measurement.count >= 12
        return Array(measurement[3..<(withOffset ? 12 : 10)])
    }

    static func describeTime(_ measurement: [UInt8]) -> String {
        let t = time(measurement)
        guard t.count >= 7 else { return "none" }
        let year = Int(t[0]) | Int(t[1]) << 8
        func two(_ v: UInt8) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(year)-\(two(t[2]))-\(two(t[3])) \(two(t[4])):\(two(t[5])):\(two(t[6]))"
    }

    /// Writes one RACP request and serves notifications until its indication arrives.
    private func racpProcedure(_ racp: GATTCharacteristic, _ request: [UInt8]) throws(ATT.Failure) -> RACP.Response {
        racpResponses.removeAll()
        do {
            try client.write(racp.valueHandle, request)
        } catch .error(let op, let handle, let code) where [0x80, 0xFE].contains(code.rawValue) {
            // Another procedure is running (left over from a broken connection): abort it once.
            _ = try? client.write(racp.valueHandle, RACP.abort)
            _ = try? client.serve(idle: options.procedureTimeout) { !racpResponses.isEmpty }
            racpResponses.removeAll()
            do { try client.write(racp.valueHandle, request) } catch {
                throw .error(request: op, handle: handle, code: code)
            }
        }
        let answered = try client.serve(idle: options.procedureTimeout) { !racpResponses.isEmpty }
        guard answered, let response = racpResponses.first else {
            _ = try? client.write(racp.valueHandle, RACP.abort)
            throw .procedureTimeout(procedure: RACP.procedureName(request), seconds: options.procedureTimeout.inSeconds)
        }
        return response
    }

    /// Blood pressure, weight, body composition, pulse oximeter and thermometer: read the
    /// features, arm each pushed value's CCCD (``HealthUUID/pushed``), then take the values until
    /// the device disconnects (the normal end), falls silent, or the listen limit passes.
    private func receivePushed(_ characteristics: [UInt16: [GATTCharacteristic]]) throws(ATT.Failure) {
        if let pressure = characteristics[HealthUUID.bloodPressureService] {
            report.bloodPressureFeature = try readFeature(find(HealthUUID.bloodPressureFeature, in: pressure)).map {
                UInt16($0)
            }
        }
        if let scale = characteristics[HealthUUID.weightScaleService] {
            report.weightScaleFeature = try readFeature(find(HealthUUID.weightScaleFeature, in: scale), size: 4)
        }
        if let composition = characteristics[HealthUUID.bodyCompositionService] {
            report.bodyCompositionFeature = try readFeature(
                find(HealthUUID.bodyCompositionFeature, in: composition), size: 4)
        }
        for pushed in HealthUUID.pushed {
            guard let service = characteristics[pushed.service] else { continue }
            try arm(find(pushed.uuid, in: service), indicate: pushed.indicate, required: pushed.required)
        }
        let deadline = ContinuousClock.now.advanced(by: options.listenLimit)
        do {
            _ = try client.serve(idle: options.idle) { ContinuousClock.now >= deadline }
        } catch .disconnected {
            // A cuff or scale disconnects after its last confirmed measurement: the end of a transfer.
        }
    }
}
