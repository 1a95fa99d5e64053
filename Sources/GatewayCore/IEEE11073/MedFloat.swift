/// An IEEE 11073-20601 number as the Bluetooth health profiles send it: SFLOAT (16 bits, 4-bit
/// exponent, 12-bit mantissa) or FLOAT (32 bits, 8-bit exponent, 24-bit mantissa), both
/// two's complement, value = mantissa × 10^exponent.
///
/// The special values (NaN, NRes, ±INFINITY, reserved) are defined with exponent 0 only and mean
/// "no value": they never become numbers. A 16-bit word such as `0x17FE` is therefore the number
/// 2046 × 10¹, not +INFINITY (nRF Toolbox for iOS reads it wrongly by comparing the mantissa
/// only; see docs/ble.md § "Numbers: SFLOAT and FLOAT (IEEE 11073-20601)").
public enum MedFloat: Sendable, Hashable {
    /// A finite number, kept as the exact decimal pair the device sent.
    case number(mantissa: Int32, exponent: Int8)
    /// Not a number (SFLOAT 0x07FF, FLOAT 0x007FFFFF).
    case notANumber
    /// Not at this resolution (SFLOAT 0x0800, FLOAT 0x00800000).
    case notAtThisResolution
    /// +INFINITY (SFLOAT 0x07FE, FLOAT 0x007FFFFE).
    case positiveInfinity
    /// −INFINITY (SFLOAT 0x0802, FLOAT 0x00800002).
    case negativeInfinity
    /// Reserved for future use (SFLOAT 0x0801, FLOAT 0x00800001).
    case reserved

    /// Decodes a 16-bit SFLOAT given as the host-order word (wire bytes `[lo, hi]`).
    public init(sfloat raw: UInt16) {
        switch raw {
        case 0x07FF: self = .notANumber
        case 0x0800: self = .notAtThisResolution
        case 0x07FE: self = .positiveInfinity
        case 0x0802: self = .negativeInfinity
        case 0x0801: self = .reserved
        default:
            // Sign-extend the 12-bit mantissa and the 4-bit exponent.
            let mantissa = Int32(Int16(bitPattern: raw << 4) >> 4)
            let exponent = Int8(Int16(bitPattern: raw) >> 12)
            self = .number(mantissa: mantissa, exponent: exponent)
        }
    }

    /// Decodes a 32-bit FLOAT given as the host-order word (wire bytes little-endian).
    public init(float raw: UInt32) {
        switch raw {
        case 0x007F_FFFF: self = .notANumber
        case 0x0080_0000: self = .notAtThisResolution
        case 0x007F_FFFE: self = .positiveInfinity
        case 0x0080_0002: self = .negativeInfinity
        case 0x0080_0001: self = .reserved
        default:
            let mantissa = Int32(bitPattern: raw << 8) >> 8
            let exponent = Int8(truncatingIfNeeded: Int32(bitPattern: raw) >> 24)
            self = .number(mantissa: mantissa, exponent: exponent)
        }
    }

    /// Decodes an SFLOAT from two little-endian bytes.
    public init(sfloatBytes lo: UInt8, _ hi: UInt8) {
        self.init(sfloat: UInt16(lo) | UInt16(hi) << 8)
    }

    /// Decodes a FLOAT from four little-endian bytes.
    public init(floatBytes b0: UInt8, _ b1: UInt8, _ b2: UInt8, _ b3: UInt8) {
        self.init(float: UInt32(b0) | UInt32(b1) << 8 | UInt32(b2) << 16 | UInt32(b3) << 24)
    }

    /// The value as a `Double`, or `nil` for every special value.
    ///
    /// Negative exponents divide by an exact power of ten, so `189e-1` is `18.9` (the nearest
    /// double), not `189 × 0.1 = 18.900000000000002`.
    public var value: Double? {
        guard case .number(let mantissa, let exponent) = self else { return nil }
        var scale = 1.0
        for _ in 0..<Int(exponent.magnitude) { scale *= 10 }
        return exponent < 0 ? Double(mantissa) / scale : Double(mantissa) * scale
    }

    /// A short name for the special values, used in rejection reasons.
    public var specialName: String? {
        switch self {
        case .number: nil
        case .notANumber: "NaN"
        case .notAtThisResolution: "NRes"
        case .positiveInfinity: "+INFINITY"
        case .negativeInfinity: "-INFINITY"
        case .reserved: "reserved value"
        }
    }
}
