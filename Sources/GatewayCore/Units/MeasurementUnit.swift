/// A unit a reading may arrive in. The raw value is the native format's spelling (docs/native-format.md:
/// `mmHg`, `lb`, otherwise the UCUM code); ``ucum`` gives the strict UCUM code for FHIR.
///
/// Every quantity is stored in one canonical unit (mmHg, mg/dL, kg, Cel, %, /min); the others are
/// converted with exact, documented factors and the original value and unit are kept beside it.
public enum MeasurementUnit: String, Sendable, CaseIterable, Codable {
    case mmHg
    case kilopascal = "kPa"
    case milligramsPerDeciliter = "mg/dL"
    case millimolesPerLiter = "mmol/L"
    /// SI unit of the BLE Glucose Measurement (unit flag set).
    case molesPerLiter = "mol/L"
    /// SI unit of the BLE Glucose Measurement (unit flag clear).
    case kilogramsPerLiter = "kg/L"
    case kilogram = "kg"
    case pound = "lb"
    case celsius = "Cel"
    case fahrenheit = "[degF]"
    case percent = "%"
    case perMinute = "/min"

    /// Accepts the native spelling and the strict UCUM code (`mm[Hg]`, `[lb_av]`).
    public init?(spelling: String) {
        switch spelling {
        case "mm[Hg]": self = .mmHg
        case "[lb_av]": self = .pound
        default:
            guard let unit = MeasurementUnit(rawValue: spelling) else { return nil }
            self = unit
        }
    }

    /// The UCUM code (FHIR `valueQuantity.code`).
    public var ucum: String {
        switch self {
        case .mmHg: "mm[Hg]"
        case .pound: "[lb_av]"
        default: rawValue
        }
    }
}

/// Exact conversion factors. Each one is a definition, not a measurement.
public enum ConversionFactor {
    /// 1 mmHg = 133.322387415 Pa (definition of the conventional millimetre of mercury).
    public static let pascalsPerMmHg = 133.322387415
    /// 1 mmol/L of glucose = 18.016 mg/dL (molar mass of glucose 180.16 g/mol; docs/native-format.md).
    public static let glucoseMgPerDLPerMmolPerL = 18.016
    /// 1 kg/L = 10^6 mg / 10 dL = 100,000 mg/dL.
    public static let mgPerDLPerKgPerL = 100_000.0
    /// 1 lb (avoirdupois) = 0.45359237 kg exactly (international yard and pound agreement, 1959).
    public static let kilogramsPerPound = 0.45359237
}

extension MeasurementUnit {
    /// Converts `value` in this unit to the canonical unit of `quantity`, or `nil` when this unit
    /// does not measure that quantity.
    public func convert(_ value: Double, toCanonicalOf quantity: Quantity) -> Double? {
        switch (quantity.dimension, self) {
        case (.pressure, .mmHg): value
        case (.pressure, .kilopascal): value * 1000 / ConversionFactor.pascalsPerMmHg
        case (.glucoseConcentration, .milligramsPerDeciliter): value
        case (.glucoseConcentration, .millimolesPerLiter): value * ConversionFactor.glucoseMgPerDLPerMmolPerL
        case (.glucoseConcentration, .molesPerLiter): value * 1000 * ConversionFactor.glucoseMgPerDLPerMmolPerL
        case (.glucoseConcentration, .kilogramsPerLiter): value * ConversionFactor.mgPerDLPerKgPerL
        case (.mass, .kilogram): value
        case (.mass, .pound): value * ConversionFactor.kilogramsPerPound
        case (.temperature, .celsius): value
        case (.temperature, .fahrenheit): (value - 32) * 5 / 9
        case (.fraction, .percent): value
        case (.rate, .perMinute): value
        default: nil
        }
    }
}

extension MeasurementUnit {
    /// Converts a canonical value of `quantity` back into this unit (for showing thresholds in
    /// the unit a care plan was written in), or `nil` when this unit does not measure it.
    public func convert(fromCanonical value: Double, of quantity: Quantity) -> Double? {
        guard let one = convert(1, toCanonicalOf: quantity), let zero = convert(0, toCanonicalOf: quantity), one != zero
        else {
            return nil
        }
        // Every conversion is linear: canonical = zero + value × (one − zero).
        return (value - zero) / (one - zero)
    }
}
