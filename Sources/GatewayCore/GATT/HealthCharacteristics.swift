#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// The Bluetooth health-profile characteristic values a reading can come from, decoded to the
/// byte (docs/ble.md, the sections per characteristic). The same decoders serve the BLE client
/// and MQTT bridges that forward raw values on `…/gatt/{device}/{char}`.
public enum HealthCharacteristic {
    /// A Date Time field's wall-clock parts; the device clock has no time zone.
    public struct WallTime: Sendable, Hashable {
        public var year, month, day, hour, minute, second: Int
    }

    /// Turns a device's wall-clock time into an instant (the pipeline uses the practice's
    /// time zone); `nil` when it cannot.
    public typealias Clock = @Sendable (WallTime) -> Date?

    /// Decodes a characteristic value: `2a35` blood pressure, `2a18` glucose, `2a9d` weight,
    /// `2a9c` body composition (a weight reading when it carries the weight), `2a5e` PLX
    /// spot-check, `2a5f` PLX continuous, `2a1c` temperature.
    public static func decode(
        characteristic: String, device: String, bytes: [UInt8], clock: Clock
    ) -> Result<ReadingInput, Rejection> {
        Result { () throws(Rejection) in
            switch characteristic {
            case "2a35": return try bloodPressure(bytes, device: device, clock: clock)
            case "2a18": return try glucose(bytes, device: device, clock: clock)
            case "2a9d": return try weight(bytes, device: device, clock: clock)
            case "2a9c": return try bodyComposition(bytes, device: device, clock: clock)
            case "2a5e": return try plxSpotCheck(bytes, device: device, clock: clock)
            case "2a5f": return try plxContinuous(bytes, device: device)
            case "2a1c": return try temperature(bytes, device: device, clock: clock)
            case "2a1e":
                throw Rejection(
                    .unsupportedFormat, field: nil,
                    "intermediate temperature (2a1e) is progress during a measurement, not a reading")
            case "2a34":
                throw Rejection(
                    .unsupportedFormat, field: nil,
                    "a Glucose Measurement Context (2a34) is not a reading; it adds the meal to the measurement with its sequence number"
                )
            case "2a36":
                throw Rejection(
                    .unsupportedFormat, field: nil,
                    "intermediate cuff pressure (2a36) is progress during a measurement, not a reading")
            default:
                throw Rejection(
                    .unsupportedFormat, field: nil,
                    "characteristic \(characteristic) is not a health measurement this gateway reads; use 2a35, 2a18, 2a9d, 2a9c, 2a5e, 2a5f or 2a1c"
                )
            }
        }
    }

    /// The device's clock from a Current Time (0x2A2B) value: its leading Date Time placed by
    /// `clock`; `nil` when it is short or says "unknown" (zeros).
    public static func currentTime(_ bytes: [UInt8], clock: Clock) -> Date? {
        var reader = Reader(bytes: bytes, name: "Current Time")
        guard let time = try? reader.dateTime("date time") else { return nil }
        return instant(time, clock: clock)
    }

    /// Reads `[UInt8]` little-endian fields with a bounds check that names what was short.
    struct Reader {
        let bytes: [UInt8]
        var offset = 0
        let name: String

        mutating func u8(_ field: String) throws(Rejection) -> UInt8 {
            guard offset < bytes.count else { throw short(field) }
            defer { offset += 1 }
            return bytes[offset]
        }

        mutating func u16(_ field: String) throws(Rejection) -> UInt16 {
            guard offset + 2 <= bytes.count else { throw short(field) }
            defer { offset += 2 }
            return UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
        }

        mutating func u24(_ field: String) throws(Rejection) -> UInt32 {
            guard offset + 3 <= bytes.count else { throw short(field) }
            defer { offset += 3 }
            return UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
        }

        mutating func sfloat(_ field: String) throws(Rejection) -> MedFloat { MedFloat(sfloat: try u16(field)) }

        mutating func float(_ field: String) throws(Rejection) -> MedFloat {
            guard offset + 4 <= bytes.count else { throw short(field) }
            defer { offset += 4 }
            return MedFloat(floatBytes: bytes[offset], bytes[offset + 1], bytes[offset + 2], bytes[offset + 3])
        }

        /// An optional Date Time placed by `clock`: the instant, and whether the device sent a
        /// time that says "unknown" (zeros) or cannot be one.
        mutating func timeStamp(_ field: String, clock: Clock) throws(Rejection) -> (at: Date?, unknown: Bool) {
            let at = instant(try dateTime(field), clock: clock)
            return (at, at == nil)
        }

        mutating func dateTime(_ field: String) throws(Rejection) -> WallTime {
            let year = Int(try u16(field))
            let month = Int(try u8(field)), day = Int(try u8(field))
            let hour = Int(try u8(field)), minute = Int(try u8(field)), second = Int(try u8(field))
            return WallTime(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        }

        func short(_ field: String) -> Rejection {
            Rejection(
                .malformedValue, field: field,
                "\(name) value of \(bytes.count) bytes ends before this field; the flags announce more")
        }
    }

    static func instant(_ time: WallTime, clock: Clock) -> Date? {
        // Year, month or day 0 means "unknown": no device time.
        guard time.year > 0, (1...12).contains(time.month), (1...31).contains(time.day), time.hour < 24,
            time.minute < 60, time.second < 60
        else { return nil }
        return clock(time)
    }

    static func value(_ float: MedFloat, _ field: String, required: Bool) throws(Rejection) -> Double? {
        if let value = float.value { return value }
        guard required else { return nil }
        throw Rejection(
            .noValue, field: field, "the device sent \(float.specialName ?? "no value"), not a number; nothing to store"
        )
    }

    /// What a Glucose Measurement Context (0x2A34) adds to the measurement with the same
    /// sequence number.
    public struct GlucoseContext: Sendable, Hashable {
        public var sequence: Int
        /// `nil` when the context carries no meal field.
        public var meal: MealContext?

        public init(sequence: Int, meal: MealContext?) {
            self.sequence = sequence
            self.meal = meal
        }
    }

    /// Decodes a Glucose Measurement Context 0x2A34 (docs/ble.md § "Glucose Measurement Context
    /// (0x2A34), GLS"): flags, sequence number, optional
    /// extended flags and carbohydrate, then the meal. Meal codes: 1 preprandial, 2 postprandial,
    /// 3 fasting, 4 casual, 5 bedtime.
    public static func glucoseContext(_ bytes: [UInt8]) -> Result<GlucoseContext, Rejection> {
        Result { () throws(Rejection) in
            var r = Reader(bytes: bytes, name: "Glucose Measurement Context")
            let flags = try r.u8("flags")
            let sequence = Int(try r.u16("sequence number"))
            if flags & 0x80 != 0 { _ = try r.u8("extended flags") }
            if flags & 0x01 != 0 {
                _ = try r.u8("carbohydrate id")
                _ = try r.u16("carbohydrate")
            }
            var meal: MealContext?
            if flags & 0x02 != 0 {
                meal =
                    switch try r.u8("meal") {
                    case 1: .beforeMeal
                    case 2: .afterMeal
                    case 3: .fasting
                    case 4: .casual
                    case 5: .bedtime
                    default: .unknown
                    }
            }
            return GlucoseContext(sequence: sequence, meal: meal)
        }
    }

    /// Blood Pressure Measurement 0x2A35.
    static func bloodPressure(_ bytes: [UInt8], device: String, clock: Clock) throws(Rejection) -> ReadingInput {
        var r = Reader(bytes: bytes, name: "Blood Pressure Measurement")
        let flags = try r.u8("flags")
        let unit: MeasurementUnit = flags & 0x01 == 0 ? .mmHg : .kilopascal
        var values: [Quantity: Double] = [:]
        values[.systolic] = try value(try r.sfloat("systolic"), "values.systolic", required: true)
        values[.diastolic] = try value(try r.sfloat("diastolic"), "values.diastolic", required: true)
        values[.meanArterialPressure] = try value(try r.sfloat("map"), "values.map", required: false)
        let time = flags & 0x02 != 0 ? try r.timeStamp("time stamp", clock: clock) : (nil, false)
        if flags & 0x04 != 0 { values[.pulse] = try value(try r.sfloat("pulse rate"), "values.pulse", required: false) }
        let user = flags & 0x08 != 0 ? Int(try r.u8("user id")) : nil
        var input = reading(device, .bloodPressure, unit, values, time: time, user: user)
        if flags & 0x10 != 0 { input.flags = ReadingFlag.bloodPressureStatus(try r.u16("measurement status")) }
        return input
    }

    /// A decoded reading with the device's time (`unknown`: it sent one that says "unknown" or
    /// cannot be a time) and, for a multi-user device, its user index.
    static func reading(
        _ device: String, _ kind: ReadingKind, _ unit: MeasurementUnit, _ values: [Quantity: Double],
        time: (at: Date?, unknown: Bool),
        user: Int? = nil
    ) -> ReadingInput {
        var input = ReadingInput(device: device, kind: kind, unit: unit, values: values, measuredAt: time.at)
        input.deviceTimeUnknown = time.unknown
        input.userIndex = user
        return input
    }

    /// Glucose Measurement 0x2A18 (base time plus the signed offset in minutes).
    static func glucose(_ bytes: [UInt8], device: String, clock: Clock) throws(Rejection) -> ReadingInput {
        var r = Reader(bytes: bytes, name: "Glucose Measurement")
        let flags = try r.u8("flags")
        let sequence = Int(try r.u16("sequence number"))
        let base = try r.dateTime("base time")
        var offsetMinutes = 0
        if flags & 0x01 != 0 { offsetMinutes = Int(Int16(bitPattern: try r.u16("time offset"))) }
        guard flags & 0x02 != 0 else {
            throw Rejection(
                .noValue, field: "values.glucose",
                "the meter sent no concentration (flags bit 1 clear); nothing to store")
        }
        let concentration = try value(try r.sfloat("concentration"), "values.glucose", required: true)!
        let typeLocation = Int(try r.u8("type and sample location"))
        var annunciation: [ReadingFlag] = []
        if flags & 0x08 != 0 { annunciation = ReadingFlag.glucoseAnnunciation(try r.u16("sensor status")) }
        let unit: MeasurementUnit = flags & 0x04 == 0 ? .kilogramsPerLiter : .molesPerLiter
        let measuredAt = instant(base, clock: clock).map { $0.addingTimeInterval(Double(offsetMinutes) * 60) }
        var input = ReadingInput(
            device: device, kind: .glucose, unit: unit, values: [.glucose: concentration], measuredAt: measuredAt,
            sequence: sequence)
        // The base time is mandatory: one the meter says it does not know is a stored record
        // from an unknown time, not a reading taken now.
        input.deviceTimeUnknown = measuredAt == nil
        input.flags = annunciation
        let type = typeLocation & 0x0F, location = typeLocation >> 4
        // Type and location 0 are not defined: the meter said nothing about the sample.
        if type != 0 { input.sampleType = GlucoseSampleType.name(type) }
        if location != 0 { input.sampleLocation = GlucoseSampleLocation.name(location) }
        input.controlSolution = type == GlucoseSampleType.controlSolution.rawValue || location == 4
        return input
    }

    /// A payload as raw bytes, or as hex text (`1E 8A 00 …`, `1e8a00…`) from bridges that publish text.
    public static func bytes(_ payload: Data) -> [UInt8] {
        let text = String(decoding: payload, as: UTF8.self).filter { !$0.isWhitespace && $0 != ":" && $0 != "-" }
        guard !text.isEmpty, text.count % 2 == 0, text.allSatisfy(\.isHexDigit), payload.allSatisfy({ $0 < 0x80 })
        else {
            return Array(payload)
        }
        var result: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            result.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return result
    }
}
