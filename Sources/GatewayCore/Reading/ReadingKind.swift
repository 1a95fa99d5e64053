/// The kinds of reading the gateway takes (docs/native-format.md § "The native reading format v1").
public enum ReadingKind: String, Sendable, CaseIterable, Codable {
    case bloodPressure = "blood_pressure"
    case glucose
    case pulse
    case weight
    case spo2
    case temperature

    /// Keys that must be present in `values`.
    public var requiredQuantities: [Quantity] {
        switch self {
        case .bloodPressure: [.systolic, .diastolic]
        case .glucose: [.glucose]
        case .pulse: [.pulse]
        case .weight: [.weight]
        case .spo2: [.spo2]
        case .temperature: [.temperature]
        }
    }

    /// Keys that may be present in `values`.
    public var optionalQuantities: [Quantity] {
        switch self {
        case .bloodPressure: [.meanArterialPressure, .pulse]
        case .spo2: [.pulse]
        case .glucose, .pulse, .weight, .temperature: []
        }
    }

    public var allowedQuantities: [Quantity] { requiredQuantities + optionalQuantities }

    /// The units the kind's main quantities may arrive in (pulse is always per minute).
    public var acceptedUnits: [MeasurementUnit] {
        switch self {
        case .bloodPressure: [.mmHg, .kilopascal]
        case .glucose: [.milligramsPerDeciliter, .millimolesPerLiter, .molesPerLiter, .kilogramsPerLiter]
        case .pulse: [.perMinute]
        case .weight: [.kilogram, .pound]
        case .spo2: [.percent]
        case .temperature: [.celsius, .fahrenheit]
        }
    }

    /// The units the native format v1 documents for this kind (the BLE-only SI units are not
    /// offered to publishers).
    public var nativeUnits: [MeasurementUnit] {
        switch self {
        case .glucose: [.milligramsPerDeciliter, .millimolesPerLiter]
        default: acceptedUnits
        }
    }

    /// The unit normalized readings of this kind are reported in.
    public var canonicalUnit: MeasurementUnit { requiredQuantities[0].canonicalUnit }

    /// LOINC code of the whole observation: the BP panel for blood pressure, otherwise the code
    /// of the main quantity.
    public var loinc: String {
        switch self {
        case .bloodPressure: "85354-9"
        default: requiredQuantities[0].loinc
        }
    }
}

/// Meal context of a glucose reading.
public enum MealContext: String, Sendable, CaseIterable, Codable {
    case fasting
    case beforeMeal = "before_meal"
    case afterMeal = "after_meal"
    case bedtime
    /// GATT meal 4 "casual": a snack or a test with no relation to a meal.
    case casual
    case unknown
}
