#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Weight Scale (0x181D), Body Composition (0x181B), Pulse Oximeter (0x1822) and Health
/// Thermometer (0x1809) values, decoded to the byte (docs/ble.md § "Weight Scale, Pulse
/// Oximeter, Health Thermometer" gives the field tables and their sources: the GATT
/// Specification Supplement, WSS, BCS, PLXS, HTS).
extension HealthCharacteristic {
    /// A scale's mass field: 0.005 kg (SI) or 0.01 lb (imperial) per step. The two resolutions
    /// differ, which is a trap.
    static func mass(_ raw: UInt16, imperial: Bool) -> Double { imperial ? Double(raw) / 100 : Double(raw) * 5 / 1000 }

    /// A height field: 0.001 m (SI) or 0.1 in (imperial) per step.
    static func height(_ raw: UInt16, imperial: Bool) -> SupplementaryValue {
        imperial
            ? SupplementaryValue("height", Double(raw) / 10, "in")
            : SupplementaryValue("height", Double(raw) / 1000, "m")
    }

    static func unsuccessful(_ field: String) -> Rejection {
        Rejection(
            .noValue, field: field, "the scale sent 0xFFFF, \"measurement unsuccessful\"; nothing to store; weigh again"
        )
    }

    /// A scale's weight reading (from 0x2A9D or 0x2A9C) with what it sent beside it.
    static func weightReading(
        _ raw: UInt16, imperial: Bool, device: String, time: (at: Date?, unknown: Bool), user: Int?,
        supplementary: [SupplementaryValue]
    ) throws(Rejection) -> ReadingInput {
        guard raw != 0xFFFF else { throw unsuccessful("values.weight") }
        var input = reading(
            device, .weight, imperial ? .pound : .kilogram, [.weight: mass(raw, imperial: imperial)], time: time,
            user: user)
        input.supplementary = supplementary
        return input
    }

    /// Weight Measurement 0x2A9D: flags (bit 0 imperial, 1 time stamp, 2 user id, 3 BMI and
    /// height), weight u16, Date Time, User ID (255 unknown), BMI u16 (0.1 kg/m²), height u16.
    static func weight(_ bytes: [UInt8], device: String, clock: Clock) throws(Rejection) -> ReadingInput {
        var r = Reader(bytes: bytes, name: "Weight Measurement")
        let flags = try r.u8("flags")
        let imperial = flags & 0x01 != 0
        let raw = try r.u16("weight")
        let time = flags & 0x02 != 0 ? try r.timeStamp("time stamp", clock: clock) : (nil, false)
        let user = flags & 0x04 != 0 ? Int(try r.u8("user id")) : nil
        var supplementary: [SupplementaryValue] = []
        if flags & 0x08 != 0 {
            supplementary.append(SupplementaryValue("bmi", Double(try r.u16("bmi")) / 10, "kg/m2"))
            supplementary.append(height(try r.u16("height"), imperial: imperial))
        }
        return try weightReading(
            raw, imperial: imperial, device: device, time: time, user: user, supplementary: supplementary)
    }

    /// Body Composition Measurement 0x2A9C: flags u16 (bit 0 imperial, 1 time stamp, 2 user id,
    /// 3 basal metabolism, 4 muscle %, 5 muscle mass, 6 fat free mass, 7 soft lean mass, 8 body
    /// water mass, 9 impedance, 10 weight, 11 height, 12 multiple packets), body fat u16 (0.1 %),
    /// then the fields in that order. With the weight it is a weight reading whose body
    /// composition is kept beside it; without, it is not a reading.
    static func bodyComposition(_ bytes: [UInt8], device: String, clock: Clock) throws(Rejection) -> ReadingInput {
        var r = Reader(bytes: bytes, name: "Body Composition Measurement")
        let flags = try r.u16("flags")
        let imperial = flags & 0x0001 != 0
        let massUnit = imperial ? "lb" : "kg"
        let bodyFat = try r.u16("body fat percentage")
        let time = flags & 0x0002 != 0 ? try r.timeStamp("time stamp", clock: clock) : (nil, false)
        let user = flags & 0x0004 != 0 ? Int(try r.u8("user id")) : nil
        var supplementary = [SupplementaryValue("body_fat", Double(bodyFat) / 10, "%")]
        if flags & 0x0008 != 0 {
            supplementary.append(SupplementaryValue("basal_metabolism", Double(try r.u16("basal metabolism")), "kJ"))
        }
        if flags & 0x0010 != 0 {
            supplementary.append(
                SupplementaryValue("muscle_percentage", Double(try r.u16("muscle percentage")) / 10, "%"))
        }
        let masses = [
            (5, "muscle mass", "muscle_mass"), (6, "fat free mass", "fat_free_mass"),
            (7, "soft lean mass", "soft_lean_mass"),
            (8, "body water mass", "body_water_mass"),
        ]
        for (bit, field, name) in masses where flags & (1 << bit) != 0 {
            supplementary.append(SupplementaryValue(name, mass(try r.u16(field), imperial: imperial), massUnit))
        }
        if flags & 0x0200 != 0 {
            supplementary.append(SupplementaryValue("impedance", Double(try r.u16("impedance")) / 10, "ohm"))
        }
        let weight = flags & 0x0400 != 0 ? try r.u16("weight") : nil
        if flags & 0x0800 != 0 { supplementary.append(height(try r.u16("height"), imperial: imperial)) }
        guard bodyFat != 0xFFFF else { throw unsuccessful("body_fat") }
        guard let weight else {
            throw Rejection(
                .noValue, field: "values.weight",
                "a Body Composition Measurement without the weight (flags bit 10 clear) is not a weight reading; its bytes stay in the inbox"
            )
        }
        return try weightReading(
            weight, imperial: imperial, device: device, time: time, user: user, supplementary: supplementary)
    }

    /// The SpO2 and pulse rate pair both PLX measurements start with (SFLOAT %, SFLOAT bpm), and
    /// their shared tail: Measurement Status u16, Device and Sensor Status u24, Pulse Amplitude
    /// Index SFLOAT (%), each present when its flag bit is set.
    static func plx(
        _ r: inout Reader, flags: UInt8, statusBit: UInt8, device: String,
        before: (inout Reader) throws(Rejection) -> Void
    ) throws(Rejection) -> ReadingInput {
        var values: [Quantity: Double] = [:]
        values[.spo2] = try value(try r.sfloat("spo2"), "values.spo2", required: true)
        values[.pulse] = try value(try r.sfloat("pulse rate"), "values.pulse", required: false)
        try before(&r)
        var input = ReadingInput(device: device, kind: .spo2, unit: .percent, values: values)
        if flags & statusBit != 0 { input.flags += ReadingFlag.plxMeasurementStatus(try r.u16("measurement status")) }
        if flags & (statusBit << 1) != 0 {
            input.flags += ReadingFlag.plxDeviceAndSensorStatus(try r.u24("device and sensor status"))
        }
        if flags & (statusBit << 2) != 0, let index = try r.sfloat("pulse amplitude index").value {
            input.supplementary.append(SupplementaryValue("pulse_amplitude_index", index, "%"))
        }
        return input
    }

    /// PLX Spot-check Measurement 0x2A5E: flags (bit 0 time stamp, 1 measurement status, 2 device
    /// and sensor status, 3 pulse amplitude index, 4 device clock not set), SpO2, PR, then the
    /// optional fields in flag order. A time stamp from a clock the device says is not set is
    /// no time.
    static func plxSpotCheck(_ bytes: [UInt8], device: String, clock: Clock) throws(Rejection) -> ReadingInput {
        var r = Reader(bytes: bytes, name: "PLX Spot-check Measurement")
        let flags = try r.u8("flags")
        var time: (at: Date?, unknown: Bool) = (nil, false)
        var input = try plx(&r, flags: flags, statusBit: 0x02, device: device) { (r: inout Reader) throws(Rejection) in
            if flags & 0x01 != 0 { time = try r.timeStamp("time stamp", clock: clock) }
        }
        if flags & 0x10 != 0, flags & 0x01 != 0 { time = (nil, true) }
        input.measuredAt = time.at
        input.deviceTimeUnknown = time.unknown
        return input
    }

    /// PLX Continuous Measurement 0x2A5F: flags (bit 0 SpO2PR-Fast, 1 SpO2PR-Slow, 2 measurement
    /// status, 3 device and sensor status, 4 pulse amplitude index), SpO2PR-Normal (the reading),
    /// the fast and slow pairs (skipped), then the shared tail. It carries no time: the reading
    /// is taken when it arrives.
    static func plxContinuous(_ bytes: [UInt8], device: String) throws(Rejection) -> ReadingInput {
        var r = Reader(bytes: bytes, name: "PLX Continuous Measurement")
        let flags = try r.u8("flags")
        return try plx(&r, flags: flags, statusBit: 0x04, device: device) { (r: inout Reader) throws(Rejection) in
            if flags & 0x01 != 0 { _ = (try r.u16("spo2 fast"), try r.u16("pulse rate fast")) }
            if flags & 0x02 != 0 { _ = (try r.u16("spo2 slow"), try r.u16("pulse rate slow")) }
        }
    }

    /// Temperature Type (0x2A1D and 0x2A1C's last field) as a body site.
    public static func temperatureSite(_ code: Int) -> String {
        switch code {
        case 1: "armpit"
        case 2: "body"
        case 3: "ear"
        case 4: "finger"
        case 5: "gastrointestinal_tract"
        case 6: "mouth"
        case 7: "rectum"
        case 8: "toe"
        case 9: "tympanum"
        default: "type_\(code)"
        }
    }

    /// Temperature Measurement 0x2A1C: flags (bit 0 Fahrenheit, 1 time stamp, 2 temperature
    /// type), FLOAT, Date Time, Temperature Type u8.
    static func temperature(_ bytes: [UInt8], device: String, clock: Clock) throws(Rejection) -> ReadingInput {
        var r = Reader(bytes: bytes, name: "Temperature Measurement")
        let flags = try r.u8("flags")
        let float = try r.float("temperature")
        let time = flags & 0x02 != 0 ? try r.timeStamp("time stamp", clock: clock) : (nil, false)
        let site = flags & 0x04 != 0 ? temperatureSite(Int(try r.u8("temperature type"))) : nil
        let temperature = try value(float, "values.temperature", required: true)!
        var input = reading(
            device, .temperature, flags & 0x01 == 0 ? .celsius : .fahrenheit, [.temperature: temperature], time: time)
        input.sampleLocation = site
        return input
    }
}
