/// What a device said about a measurement besides its values: each bit of a blood-pressure
/// cuff's Measurement Status (0x2A35 flags bit 4), of a glucose meter's Sensor Status
/// Annunciation (0x2A18 flags bit 3) and of a pulse oximeter's Measurement Status and Device and
/// Sensor Status (0x2A5E, 0x2A5F), by name (docs/ble.md, the sections of those characteristics).
/// Stored on the reading and shown by `ccmctl readings list`.
public enum ReadingFlag: String, Sendable, Hashable, CaseIterable, Codable, Comparable {
    // Blood Pressure Measurement Status.
    case bodyMovement = "body_movement"
    case cuffTooLoose = "cuff_too_loose"
    case irregularPulse = "irregular_pulse"
    case pulseAboveRange = "pulse_above_range"
    case pulseBelowRange = "pulse_below_range"
    /// Pulse rate range 0b11, which the profile reserves.
    case pulseRangeReserved = "pulse_range_reserved"
    case improperPosition = "improper_position"
    // Glucose Sensor Status Annunciation.
    case batteryLow = "battery_low"
    case sensorMalfunction = "sensor_malfunction"
    case sampleSizeInsufficient = "sample_size_insufficient"
    case stripInsertionError = "strip_insertion_error"
    case stripTypeIncorrect = "strip_type_incorrect"
    /// "Result higher than the device can process": a HI reading.
    case resultAboveRange = "result_above_range"
    /// "Result lower than the device can process": a LO reading.
    case resultBelowRange = "result_below_range"
    case temperatureTooHigh = "temperature_too_high"
    case temperatureTooLow = "temperature_too_low"
    case readInterrupted = "read_interrupted"
    case generalDeviceFault = "general_device_fault"
    case timeFault = "time_fault"
    // Pulse oximeter Measurement Status (the states that say something about the value).
    case demonstrationData = "demonstration_data"
    case testingData = "testing_data"
    case calibrationOngoing = "calibration_ongoing"
    case measurementUnavailable = "measurement_unavailable"
    case questionableMeasurement = "questionable_measurement"
    case invalidMeasurement = "invalid_measurement"
    // Pulse oximeter Device and Sensor Status (sensor malfunctioning is `sensor_malfunction`).
    case equipmentMalfunction = "equipment_malfunction"
    case signalProcessingIrregularity = "signal_processing_irregularity"
    case inadequateSignal = "inadequate_signal"
    case poorSignal = "poor_signal"
    case lowPerfusion = "low_perfusion"
    case erraticSignal = "erratic_signal"
    case nonpulsatileSignal = "nonpulsatile_signal"
    case questionablePulse = "questionable_pulse"
    case sensorInterference = "sensor_interference"
    case sensorUnconnected = "sensor_unconnected"
    case unknownSensor = "unknown_sensor"
    case sensorDisplaced = "sensor_displaced"
    case sensorDisconnected = "sensor_disconnected"

    public static func < (a: ReadingFlag, b: ReadingFlag) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// Measurement Status bits 0–5 (bits 3–4 are the pulse rate range); bits 6–15 are RFU.
    public static func bloodPressureStatus(_ status: UInt16) -> [ReadingFlag] {
        var flags: [ReadingFlag] = []
        if status & 0x0001 != 0 { flags.append(.bodyMovement) }
        if status & 0x0002 != 0 { flags.append(.cuffTooLoose) }
        if status & 0x0004 != 0 { flags.append(.irregularPulse) }
        switch (status >> 3) & 0x3 {
        case 1: flags.append(.pulseAboveRange)
        case 2: flags.append(.pulseBelowRange)
        case 3: flags.append(.pulseRangeReserved)
        default: break
        }
        if status & 0x0020 != 0 { flags.append(.improperPosition) }
        return flags
    }

    /// Sensor Status Annunciation bits 0–11; bits 12–15 are RFU.
    public static func glucoseAnnunciation(_ status: UInt16) -> [ReadingFlag] {
        let bits: [ReadingFlag] = [
            .batteryLow, .sensorMalfunction, .sampleSizeInsufficient, .stripInsertionError, .stripTypeIncorrect,
            .resultAboveRange,
            .resultBelowRange, .temperatureTooHigh, .temperatureTooLow, .readInterrupted, .generalDeviceFault,
            .timeFault,
        ]
        return bits.enumerated().filter { status & (1 << $0.offset) != 0 }.map(\.element)
    }

    /// PLX Measurement Status (u16): bits 12 calibration ongoing, 13 measurement unavailable,
    /// 14 questionable, 15 invalid, 10 demonstration data, 11 testing data. Bits 5–9 (ongoing,
    /// early estimate, validated, fully qualified, from storage) say nothing against the value;
    /// bits 0–4 are RFU.
    public static func plxMeasurementStatus(_ status: UInt16) -> [ReadingFlag] {
        let bits: [Int: ReadingFlag] = [
            10: .demonstrationData, 11: .testingData, 12: .calibrationOngoing, 13: .measurementUnavailable,
            14: .questionableMeasurement,
            15: .invalidMeasurement,
        ]
        return bits.keys.sorted().filter { status & (1 << $0) != 0 }.map { bits[$0]! }
    }

    /// PLX Device and Sensor Status (u24): bits 1–8 and 10–15 by name; bit 0 (extended display
    /// update ongoing) and bit 9 (signal analysis ongoing) are states, bits 16–23 RFU.
    public static func plxDeviceAndSensorStatus(_ status: UInt32) -> [ReadingFlag] {
        let bits: [Int: ReadingFlag] = [
            1: .equipmentMalfunction, 2: .signalProcessingIrregularity, 3: .inadequateSignal, 4: .poorSignal,
            5: .lowPerfusion,
            6: .erraticSignal, 7: .nonpulsatileSignal, 8: .questionablePulse, 10: .sensorInterference,
            11: .sensorUnconnected,
            12: .unknownSensor, 13: .sensorDisplaced, 14: .sensorMalfunction, 15: .sensorDisconnected,
        ]
        return bits.keys.sorted().filter { status & (1 << $0) != 0 }.map { bits[$0]! }
    }

    /// A blood-pressure measurement taken while the patient moved, with a loose cuff or in an
    /// improper position is not a reliable value: stored and shown, left out of threshold and
    /// average rules (product choice: the cuff itself says the value may be wrong).
    public var makesUnreliable: Bool { [.bodyMovement, .cuffTooLoose, .improperPosition].contains(self) }

    /// A glucose result the meter itself says it could not measure properly: the input is
    /// rejected with the reason (a strip or sample error gives a number that means nothing; a
    /// 20 mg/dL from a half-filled strip must not raise a hypoglycaemia alert).
    public var rejectsReading: Bool {
        [
            .sensorMalfunction, .sampleSizeInsufficient, .stripInsertionError, .stripTypeIncorrect, .readInterrupted,
            .generalDeviceFault,
            // An oximeter that says its value is invalid, unavailable, not the patient's, or from a broken sensor.
            .calibrationOngoing, .measurementUnavailable, .invalidMeasurement, .demonstrationData, .testingData,
            .equipmentMalfunction,
            .sensorUnconnected, .unknownSensor, .sensorDisconnected,
        ].contains(self)
    }

    /// What the flag means, for reasons and notes.
    public var meaning: String {
        switch self {
        case .bodyMovement: "body movement during the measurement"
        case .cuffTooLoose: "cuff too loose"
        case .irregularPulse: "irregular pulse detected"
        case .pulseAboveRange: "pulse rate above the cuff's upper limit"
        case .pulseBelowRange: "pulse rate below the cuff's lower limit"
        case .pulseRangeReserved: "pulse rate range reported with a reserved value"
        case .improperPosition: "improper measurement position"
        case .batteryLow: "meter battery low"
        case .sensorMalfunction: "sensor malfunction"
        case .sampleSizeInsufficient: "sample size insufficient"
        case .stripInsertionError: "strip insertion error"
        case .stripTypeIncorrect: "strip type incorrect"
        case .resultAboveRange: "result higher than the meter can measure (HI)"
        case .resultBelowRange: "result lower than the meter can measure (LO)"
        case .temperatureTooHigh: "temperature too high for a valid test"
        case .temperatureTooLow: "temperature too low for a valid test"
        case .readInterrupted: "sensor read interrupted"
        case .generalDeviceFault: "general device fault"
        case .timeFault: "meter time fault"
        case .calibrationOngoing: "calibration ongoing"
        case .measurementUnavailable: "measurement unavailable"
        case .questionableMeasurement: "questionable measurement detected"
        case .invalidMeasurement: "invalid measurement detected"
        case .demonstrationData: "data for demonstration"
        case .testingData: "data for testing"
        case .equipmentMalfunction: "equipment malfunction detected"
        case .signalProcessingIrregularity: "signal processing irregularity detected"
        case .inadequateSignal: "inadequate signal detected"
        case .poorSignal: "poor signal detected"
        case .lowPerfusion: "low perfusion detected"
        case .erraticSignal: "erratic signal detected"
        case .nonpulsatileSignal: "nonpulsatile signal detected"
        case .questionablePulse: "questionable pulse detected"
        case .sensorInterference: "sensor interference detected"
        case .sensorUnconnected: "sensor unconnected to the user"
        case .unknownSensor: "unknown sensor connected"
        case .sensorDisplaced: "sensor displaced"
        case .sensorDisconnected: "sensor disconnected"
        }
    }
}

/// Glucose Measurement Type (low nibble of 0x2A18's Type-Sample Location).
public enum GlucoseSampleType: Int, Sendable, Hashable, CaseIterable {
    case capillaryWholeBlood = 1, capillaryPlasma, venousWholeBlood, venousPlasma, arterialWholeBlood, arterialPlasma
    case undeterminedWholeBlood, undeterminedPlasma, interstitialFluid, controlSolution

    public var name: String {
        switch self {
        case .capillaryWholeBlood: "capillary_whole_blood"
        case .capillaryPlasma: "capillary_plasma"
        case .venousWholeBlood: "venous_whole_blood"
        case .venousPlasma: "venous_plasma"
        case .arterialWholeBlood: "arterial_whole_blood"
        case .arterialPlasma: "arterial_plasma"
        case .undeterminedWholeBlood: "undetermined_whole_blood"
        case .undeterminedPlasma: "undetermined_plasma"
        case .interstitialFluid: "interstitial_fluid"
        case .controlSolution: "control_solution"
        }
    }

    /// The type's name, or `type_N` for a reserved value.
    public static func name(_ code: Int) -> String { GlucoseSampleType(rawValue: code)?.name ?? "type_\(code)" }
}

/// Glucose Sample Location (high nibble of 0x2A18's Type-Sample Location).
public enum GlucoseSampleLocation {
    public static func name(_ code: Int) -> String {
        switch code {
        case 1: "finger"
        case 2: "alternate_site"
        case 3: "earlobe"
        case 4: "control_solution"
        case 15: "not_available"
        default: "location_\(code)"
        }
    }
}
