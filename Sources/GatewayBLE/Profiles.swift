import Foundation
import GatewayCore

/// The SIG numbers of the health profiles this gateway speaks (docs/ble.md § "UUIDs").
public enum HealthUUID {
    public static let bloodPressureService: UInt16 = 0x1810
    public static let glucoseService: UInt16 = 0x1808
    public static let currentTimeService: UInt16 = 0x1805
    public static let bloodPressureMeasurement: UInt16 = 0x2A35
    public static let intermediateCuffPressure: UInt16 = 0x2A36
    public static let bloodPressureFeature: UInt16 = 0x2A49
    public static let glucoseMeasurement: UInt16 = 0x2A18
    public static let glucoseMeasurementContext: UInt16 = 0x2A34
    public static let glucoseFeature: UInt16 = 0x2A51
    public static let recordAccessControlPoint: UInt16 = 0x2A52
    public static let currentTime: UInt16 = 0x2A2B
    public static let dateTime: UInt16 = 0x2A08
    public static let weightScaleService: UInt16 = 0x181D
    public static let weightMeasurement: UInt16 = 0x2A9D
    public static let weightScaleFeature: UInt16 = 0x2A9E
    public static let bodyCompositionService: UInt16 = 0x181B
    public static let bodyCompositionMeasurement: UInt16 = 0x2A9C
    public static let bodyCompositionFeature: UInt16 = 0x2A9B
    public static let pulseOximeterService: UInt16 = 0x1822
    public static let plxSpotCheckMeasurement: UInt16 = 0x2A5E
    public static let plxContinuousMeasurement: UInt16 = 0x2A5F
    public static let plxFeatures: UInt16 = 0x2A60
    public static let healthThermometerService: UInt16 = 0x1809
    public static let temperatureMeasurement: UInt16 = 0x2A1C
    public static let intermediateTemperature: UInt16 = 0x2A1E

    /// The services whose presence in an advertisement marks a health device worth listing.
    public static let healthServices = Set(DeviceKind.gattServices.keys)

    /// The services a session reads (the health services and Current Time).
    static let sessionServices = healthServices.union([currentTimeService])

    /// The values a device pushes, by service, in the order the session arms their CCCDs: by
    /// indication or notification, and whether the service is useless without it.
    static let pushed: [(service: UInt16, uuid: UInt16, indicate: Bool, required: Bool)] = [
        (bloodPressureService, intermediateCuffPressure, false, false),
        (bloodPressureService, bloodPressureMeasurement, true, true),
        (weightScaleService, weightMeasurement, true, true),
        (bodyCompositionService, bodyCompositionMeasurement, true, true),
        (pulseOximeterService, plxContinuousMeasurement, false, false),
        (pulseOximeterService, plxSpotCheckMeasurement, true, false),
        (healthThermometerService, intermediateTemperature, false, false),
        (healthThermometerService, temperatureMeasurement, true, true),
    ]
}

/// The Record Access Control Point of the Glucose and Pulse Oximeter services (docs/ble.md
/// § "Record Access Control Point (0x2A52), GLS"): the requests this client sends and the
/// responses it reads. A pulse oximeter's RACP knows only the operator "all records".
public enum RACP {
    /// Report stored records: all of them, or those with sequence number ≥ `from`.
    static func reportRecords(from sequence: Int?) -> [UInt8] {
        guard let sequence else { return [0x01, 0x01] }
        return [0x01, 0x03, 0x01] + le16(UInt16(sequence))
    }

    /// Report the number of stored records: all, or those with sequence number ≥ `from`.
    static func numberOfRecords(from sequence: Int?) -> [UInt8] {
        guard let sequence else { return [0x04, 0x01] }
        return [0x04, 0x03, 0x01] + le16(UInt16(sequence))
    }

    static let abort: [UInt8] = [0x03, 0x00]

    /// Delete all stored records (a pulse oximeter's, once they are all stored here).
    static let deleteAllRecords: [UInt8] = [0x02, 0x01]

    /// Report the last (newest) stored record.
    static let reportLastRecord: [UInt8] = [0x01, 0x06]

    /// Report the stored record with this sequence number (within range `n…n`).
    static func reportRecord(sequence: Int) -> [UInt8] {
        [0x01, 0x04, 0x01] + le16(UInt16(sequence)) + le16(UInt16(sequence))
    }

    /// The procedure a request starts, by its op code, for messages.
    static func procedureName(_ request: [UInt8]) -> String {
        switch request.first {
        case 0x01: "Report Stored Records"
        case 0x02: "Delete Stored Records"
        case 0x03: "Abort Operation"
        case 0x04: "Report Number of Stored Records"
        default: "RACP op code 0x\(hex(request.first ?? 0))"
        }
    }

    /// The response codes (GLS; docs/ble.md, the RACP section).
    public enum ResponseCode: UInt8, Sendable, CustomStringConvertible {
        case success = 1, opCodeNotSupported, invalidOperator, operatorNotSupported, invalidOperand, noRecordsFound,
            abortUnsuccessful, procedureNotCompleted, operandNotSupported

        public var description: String {
            switch self {
            case .success: "success"
            case .opCodeNotSupported: "op code not supported"
            case .invalidOperator: "invalid operator"
            case .operatorNotSupported: "operator not supported"
            case .invalidOperand: "invalid operand"
            case .noRecordsFound: "no records found"
            case .abortUnsuccessful: "abort unsuccessful"
            case .procedureNotCompleted: "procedure not completed"
            case .operandNotSupported: "operand not supported"
            }
        }
    }

    /// An indication on the RACP.
    public enum Response: Sendable, Equatable {
        /// `05 00 NN NN`: the number of stored records (u16 for GLS).
        case numberOfRecords(Int)
        /// `06 00 OP CC`: the outcome of request `OP`.
        case responseCode(request: UInt8, code: UInt8)

        public init?(_ value: [UInt8]) {
            switch (value.first, value.count) {
            case (0x05, 4) where value[1] == 0x00:
                self = .numberOfRecords(Int(value[2]) | Int(value[3]) << 8)
            case (0x06, 4) where value[1] == 0x00:
                self = .responseCode(request: value[2], code: value[3])
            default:
                return nil
            }
        }
    }
}

/// Current Time (0x2A2B; docs/ble.md § "Date Time (0x2A08) and Current Time (0x2A2B)"): the gateway's
/// clock as the device's wall clock.
public enum CurrentTime {
    /// Date Time, day of week (1 Monday … 7 Sunday), fractions of 1/256 s, and the adjust
    /// reason "external reference time update" (bit 1): the gateway keeps NTP time.
    public static func value(_ date: Date, in zone: TimeZone) -> [UInt8] {
        let c = LocalDay.calendar(zone).dateComponents(
            [.year, .month, .day, .hour, .minute, .second, .weekday, .nanosecond], from: date)
        let weekday = ((c.weekday ?? 1) + 5) % 7 + 1  // Calendar: 1 Sunday … 7 Saturday.
        let fractions = UInt8(min(255, (c.nanosecond ?? 0) / 3_906_250))
        return le16(UInt16(c.year ?? 0)) + [c.month, c.day, c.hour, c.minute, c.second].map { UInt8($0 ?? 0) }
            + [UInt8(weekday), fractions, 0x02]
    }
}
