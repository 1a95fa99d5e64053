#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// One reading as a source delivered it, before normalization: the raw record every source
/// (native JSON, FHIR, GATT characteristic) is decoded into, so one normalizer serves them all.
public struct ReadingInput: Sendable, Hashable {
    /// The device identifier as sent (BLE address or a hub's device id).
    public var device: String
    public var kind: ReadingKind
    /// Unit of the kind's main quantities. Pulse is always per minute, whatever this says.
    public var unit: MeasurementUnit
    public var values: [Quantity: Double]
    /// The device's own clock, if it sent one.
    public var measuredAt: Date?
    public var meal: MealContext?
    /// The device's record number (glucometers number their stored records).
    public var sequence: Int?
    /// The publisher's message id.
    public var messageID: String?
    /// The device sent a time field that says "unknown" (zeros) or cannot be a time: the
    /// reading was taken at a time nobody knows, which is not the time it arrived.
    public var deviceTimeUnknown = false
    /// What the device said about the measurement (cuff Measurement Status, meter Sensor Status
    /// Annunciation), by name.
    public var flags: [ReadingFlag] = []
    /// The user index of a multi-user device (0x2A35 User ID; 255 is "unknown user").
    public var userIndex: Int?
    /// Glucose: the sample type and location as the meter named them (`capillary_plasma`, `finger`).
    public var sampleType: String?
    public var sampleLocation: String?
    /// Glucose: a control-solution test (type 10 or location 4), not the patient's blood.
    public var controlSolution = false
    /// The meter's record epoch: which numbering of its records `sequence` belongs to (it changes
    /// when the meter is reset or its sequence number wraps). `nil`: the source does not know.
    public var recordEpoch: Int?

    public init(
        device: String, kind: ReadingKind, unit: MeasurementUnit, values: [Quantity: Double],
        measuredAt: Date? = nil, meal: MealContext? = nil, sequence: Int? = nil, messageID: String? = nil
    ) {
        self.device = device
        self.kind = kind
        self.unit = unit
        self.values = values
        self.measuredAt = measuredAt
        self.meal = meal
        self.sequence = sequence
        self.messageID = messageID
    }
}

/// Device identifiers: a Bluetooth address in any case, with dashes or without separators (but
/// with a letter among its digits, so a numeric id stays as it is) is one device, written
/// `A4:C1:38:12:34:56`; any other id is kept as sent (trimmed).
public enum DeviceID {
    public static func canonical(_ raw: String) -> String {
        let trimmed = String(raw.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
        let parts = trimmed.split(separator: ":", omittingEmptySubsequences: false)
        let dashed = trimmed.split(separator: "-", omittingEmptySubsequences: false)
        if trimmed.count == 12, trimmed.allSatisfy(\.isHexDigit), !trimmed.allSatisfy(\.isNumber) {
            // A4C138123456, as bridges write addresses in topics.
            let characters = Array(trimmed.uppercased())
            return stride(from: 0, to: 12, by: 2).map { String(characters[$0..<$0 + 2]) }.joined(separator: ":")
        }
        let groups = parts.count == 6 ? parts : dashed
        guard groups.count == 6, groups.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isHexDigit) }) else {
            return trimmed
        }
        return groups.map { $0.uppercased() }.joined(separator: ":")
    }

    /// Whether `id` is a Bluetooth device address (after ``canonical(_:)``).
    public static func isBluetoothAddress(_ id: String) -> Bool {
        let groups = id.split(separator: ":", omittingEmptySubsequences: false)
        return groups.count == 6 && groups.allSatisfy { $0.count == 2 && $0.allSatisfy(\.isHexDigit) }
    }
}
