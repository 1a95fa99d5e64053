/// One measured quantity of a reading, with its canonical unit, LOINC code and plausible range.
public enum Quantity: String, Sendable, CaseIterable, Codable, Comparable {
    case systolic
    case diastolic
    /// Mean arterial pressure; the native format's key is `map`.
    case meanArterialPressure = "map"
    case pulse
    case glucose
    case weight
    case spo2
    case temperature

    /// What a quantity measures, which decides the units it may arrive in.
    public enum Dimension: Sendable {
        case pressure, glucoseConcentration, mass, temperature, fraction, rate
    }

    public var dimension: Dimension {
        switch self {
        case .systolic, .diastolic, .meanArterialPressure: .pressure
        case .pulse: .rate
        case .glucose: .glucoseConcentration
        case .weight: .mass
        case .spo2: .fraction
        case .temperature: .temperature
        }
    }

    /// The unit every stored value of this quantity is in.
    public var canonicalUnit: MeasurementUnit {
        switch dimension {
        case .pressure: .mmHg
        case .rate: .perMinute
        case .glucoseConcentration: .milligramsPerDeciliter
        case .mass: .kilogram
        case .fraction: .percent
        case .temperature: .celsius
        }
    }

    /// LOINC code of the observation (docs/native-format.md). Glucose is the capillary-blood code by
    /// default; see ``ReadingKind/loinc``.
    public var loinc: String {
        switch self {
        case .systolic: "8480-6"
        case .diastolic: "8462-4"
        case .meanArterialPressure: "8478-0"
        case .pulse: "8867-4"
        case .glucose: "41653-7"
        case .weight: "29463-7"
        case .spo2: "59408-5"
        case .temperature: "8310-5"
        }
    }

    /// Physiologically plausible values, in the canonical unit, inclusive. A value outside is a
    /// device or entry error and the reading is rejected with the range named.
    public var plausibleRange: ClosedRange<Double> {
        switch self {
        case .systolic: 40...300
        case .diastolic: 20...200
        case .meanArterialPressure: 30...250
        case .pulse: 20...300
        case .glucose: 10...1000
        case .weight: 1...500
        case .spo2: 50...100
        case .temperature: 25...45
        }
    }

    /// Fraction digits worth showing for a canonical value (no false precision in tables).
    public var displayFractionDigits: Int {
        switch self {
        case .systolic, .diastolic, .meanArterialPressure, .pulse, .glucose, .spo2: 0
        case .weight, .temperature: 1
        }
    }

    public static func < (lhs: Quantity, rhs: Quantity) -> Bool { lhs.ordinal < rhs.ordinal }

    /// Hashes its position, not its name: a String-backed enum otherwise hashes its raw string,
    /// and every history row of every reading builds a dictionary of values keyed by these
    /// (Hasher was 4 % of `ccmctl ingest`, perf).
    public func hash(into hasher: inout Hasher) { hasher.combine(ordinal) }

    /// Its position in `allCases`.
    public var ordinal: Int {
        switch self {
        case .systolic: 0
        case .diastolic: 1
        case .meanArterialPressure: 2
        case .pulse: 3
        case .glucose: 4
        case .weight: 5
        case .spo2: 6
        case .temperature: 7
        }
    }
}
