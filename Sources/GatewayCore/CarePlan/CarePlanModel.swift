/// Care plans (docs/alerts.md § "Care plans and rules"): disease templates whose rules raise alerts,
/// composed per patient, with per-patient overrides. Every parameter is kept in the canonical unit of
/// its quantity and shown in the unit its template declared.

/// How urgent an alert is. Urgent outranks warning.
public enum AlertLevel: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case warning
    case urgent

    public static func < (a: AlertLevel, b: AlertLevel) -> Bool { a == .warning && b == .urgent }
}

/// What a rule looks at.
public enum RuleType: String, Sendable, Hashable, Codable, CaseIterable {
    /// One reading beyond a warning or urgent value.
    case threshold
    /// N of the last M readings beyond a limit (usually the goal).
    case nOfM = "n_of_m"
    /// The average over a window beyond a limit.
    case average
    /// A rise over a window (heart-failure weight) of at least the warning or urgent amount,
    /// against the lowest value in the window.
    case change
    /// No reading of a kind for a time.
    case stale
    /// N of the last M blood-pressure readings flagged by the cuff with an irregular pulse.
    case irregularPulse = "irregular_pulse"
}

/// Which side of a value is out of range.
public enum Direction: String, Sendable, Hashable, Codable {
    /// Alert when the value is greater than the limit (a rise of at least it, for `change`).
    case above
    /// Alert when the value is less than the limit.
    case below

    /// Whether `candidate` alerts sooner than `current` as a limit in this direction.
    public func isStricter(_ candidate: Double, than current: Double) -> Bool {
        self == .above ? candidate < current : candidate > current
    }
}

/// A named parameter of a rule (`systolic-high.urgent`) or a goal (`goal.systolic`).
public enum ParameterName: String, Sendable, Hashable, CaseIterable {
    case warning, urgent, limit, n, m, window, after
    case minReadings = "min_readings"
    case resolveAfter = "resolve_after"
    case level
}

/// A parameter of a rule: its name, and for a rule over several quantities (blood pressure's
/// systolic and diastolic) the quantity it limits. Written `warning` or `systolic.warning` after
/// the rule id.
public struct ParameterKey: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var name: ParameterName
    public var quantity: Quantity?

    public init(_ name: ParameterName, _ quantity: Quantity? = nil) {
        self.name = name
        self.quantity = quantity
    }

    public var description: String { quantity.map { "\($0.rawValue).\(name.rawValue)" } ?? name.rawValue }

    public static func < (a: ParameterKey, b: ParameterKey) -> Bool {
        let order = ParameterName.allCases
        return (a.quantity.map { Quantity.allCases.firstIndex(of: $0)! } ?? -1, order.firstIndex(of: a.name)!)
            < (b.quantity.map { Quantity.allCases.firstIndex(of: $0)! } ?? -1, order.firstIndex(of: b.name)!)
    }
}

/// A duration written as `90s`, `30m`, `24h` or `7d`.
public enum DurationText {
    public static func parse(_ text: String) -> Double? {
        guard let unit = text.last, let number = Double(text.dropLast()), number >= 0, number.isFinite else {
            return nil
        }
        switch unit {
        case "s": return number
        case "m": return number * 60
        case "h": return number * 3600
        case "d": return number * 86_400
        default: return nil
        }
    }

    /// `7d`, `24h`, `90m`, `45s`: the largest unit that divides evenly.
    public static func format(_ seconds: Double) -> String {
        for (unit, size) in [("d", 86_400.0), ("h", 3600.0), ("m", 60.0)]
        where seconds >= size && seconds.truncatingRemainder(dividingBy: size) == 0 {
            return "\(formatNumber(seconds / size))\(unit)"
        }
        return "\(formatNumber(seconds))s"
    }
}

/// A care-plan mistake, naming the template or key and the fix.
public typealias CarePlanError = Explanation<CarePlanMistake>
public enum CarePlanMistake {}

/// One rule as a template declares it. Numeric parameters are canonical.
public struct TemplateRule: Sendable, Hashable {
    public var id: String
    public var type: RuleType
    public var kind: ReadingKind
    /// The quantities compared, in order (none for stale rules, which look at the kind). Only
    /// threshold rules take several; each then has its own warning and urgent values.
    public var quantities: [Quantity]
    public var quantity: Quantity? { quantities.first }
    public var direction: Direction
    /// Only readings with one of these meal contexts count (glucose rules by meal).
    public var meals: Set<MealContext>?
    /// The unit thresholds are written and shown in.
    public var unit: MeasurementUnit?
    /// `warning`, `urgent`, `limit` (a number), `n`, `m`, `window`, `after`, `min_readings`,
    /// `resolve_after` (seconds), `level` (0 warning, 1 urgent); canonical units.
    public var parameters: [ParameterKey: Double]
    /// `limit: goal`: the limit is the patient's goal for the quantity.
    public var limitIsGoal: Bool
    /// The clinical source of the rule's numbers, or "product choice" with the reason.
    public var source: String
    /// What an alert of this rule says, e.g. "Systolic pressure high".
    public var title: String

    public init(
        id: String, type: RuleType, kind: ReadingKind, quantities: [Quantity], direction: Direction,
        meals: Set<MealContext>?,
        unit: MeasurementUnit?, parameters: [ParameterKey: Double], limitIsGoal: Bool, source: String, title: String
    ) {
        self.id = id
        self.type = type
        self.kind = kind
        self.quantities = quantities
        self.direction = direction
        self.meals = meals
        self.unit = unit
        self.parameters = parameters
        self.limitIsGoal = limitIsGoal
        self.source = source
        self.title = title
    }
}

/// A goal of a template: keep `quantity` below (or above) `value`.
public struct TemplateGoal: Sendable, Hashable {
    public var quantity: Quantity
    /// `.below`: the goal is an upper bound ("home BP < 130/80").
    public var keep: Direction
    public var value: Double
    public var unit: MeasurementUnit
    public var source: String

    public init(quantity: Quantity, keep: Direction, value: Double, unit: MeasurementUnit, source: String) {
        self.quantity = quantity
        self.keep = keep
        self.value = value
        self.unit = unit
        self.source = source
    }
}

/// A disease template (`config/careplans/NAME.yaml`).
public struct CarePlanTemplate: Sendable, Hashable {
    public var name: String
    public var description: String
    public var goals: [Quantity: TemplateGoal]
    public var rules: [TemplateRule]

    public init(name: String, description: String, goals: [Quantity: TemplateGoal], rules: [TemplateRule]) {
        self.name = name
        self.description = description
        self.goals = goals
        self.rules = rules
    }
}

/// A per-patient override of one key, with who set it.
public struct CarePlanOverride: Sendable, Hashable, Codable {
    public var key: String
    public var value: String
    public var by: String

    public init(key: String, value: String, by: String) {
        self.key = key
        self.value = value
        self.by = by
    }
}
