#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A reading as the rules see it: when, the canonical values, the meal context.
public struct Observation: Sendable, Hashable {
    public var readingID: Int64?
    public var at: Date
    public var values: [Quantity: Double]
    public var meal: MealContext?
    /// What the device said about the measurement (irregular pulse, HI, LO, …).
    public var flags: Set<ReadingFlag>

    public init(
        readingID: Int64? = nil, at: Date, values: [Quantity: Double], meal: MealContext? = nil,
        flags: Set<ReadingFlag> = []
    ) {
        self.readingID = readingID
        self.at = at
        self.values = values
        self.meal = meal
        self.flags = flags
    }

    /// The side of the device's measuring range the true value lies beyond, when the device said
    /// its result was higher (HI) or lower (LO) than it can measure; its number is then a bound,
    /// not the value.
    public var beyondDeviceRange: Direction? {
        if flags.contains(.resultAboveRange) { return .above }
        if flags.contains(.resultBelowRange) { return .below }
        return nil
    }
}

/// What one rule says about the patient now: out of range at a level, or back in range.
public struct Finding: Sendable, Hashable {
    public var ruleID: String
    public var title: String
    /// `nil`: in range.
    public var level: AlertLevel?
    /// The value that decided it, with its unit: `182 mmHg`, `+2.4 lb in 24h`, `no reading for 73h`.
    public var value: String
    /// What it was compared with: `> 180 mmHg`, `3 of last 5 > 130 mmHg`.
    public var threshold: String
    /// The reading that decided it (none for stale data).
    public var readingID: Int64?
    /// How long the patient must stay in range before an open alert resolves itself.
    public var resolveAfter: Double

    public init(
        ruleID: String, title: String, level: AlertLevel?, value: String, threshold: String, readingID: Int64? = nil,
        resolveAfter: Double
    ) {
        self.ruleID = ruleID
        self.title = title
        self.level = level
        self.value = value
        self.threshold = threshold
        self.readingID = readingID
        self.resolveAfter = resolveAfter
    }
}

/// Evaluates care-plan rules. Pure and deterministic: the caller passes the readings and, for
/// stale data, the time.
public enum Evaluator {
    /// Earlier readings a rule needs: those inside a window, and the last `count` (of the meal
    /// contexts given, when the rule looks at some only).
    public struct HistoryNeed: Sendable, Hashable {
        public var window: Double
        public var count: Int
        public var meals: Set<MealContext>?
    }

    /// What `evaluate` needs of the patient's earlier readings of `kind`.
    public static func historyNeeds(_ plan: CarePlan, kind: ReadingKind) -> [HistoryNeed] {
        var needs: Set<HistoryNeed> = []
        for rule in plan.rules(for: kind) {
            switch rule.rule.type {
            case .average, .change: needs.insert(HistoryNeed(window: rule.window, count: 0, meals: rule.rule.meals))
            case .nOfM, .irregularPulse: needs.insert(HistoryNeed(window: 0, count: rule.m, meals: rule.rule.meals))
            case .threshold, .stale: break
            }
        }
        return needs.sorted { ($0.window, $0.count) < ($1.window, $1.count) }
    }

    /// Evaluates every rule for `reading`'s kind as of the reading's time. `history` holds the
    /// patient's earlier readings of that kind (oldest first, none after the reading). Rules that
    /// do not apply (another meal context, a value the reading lacks, no earlier weight to
    /// compare with) give no finding.
    public static func evaluate(
        _ plan: CarePlan, kind: ReadingKind, reading: Observation, history: [Observation]
    ) -> [Finding] {
        plan.rules(for: kind).compactMap { rule in
            if let meals = rule.rule.meals, !meals.contains(reading.meal ?? .unknown) { return nil }
            switch rule.rule.type {
            case .threshold: return threshold(rule, reading)
            case .nOfM: return nOfM(rule, reading, history)
            case .average: return average(rule, reading, history)
            case .change: return change(rule, reading, history)
            case .irregularPulse: return irregularPulse(rule, reading, history)
            case .stale:
                // Any reading of the kind ends "no data".
                return Finding(
                    ruleID: rule.id, title: rule.rule.title, level: nil, value: "\(kind.rawValue) reading received",
                    threshold: "> \(DurationText.format(rule.after))", readingID: reading.readingID, resolveAfter: 0)
            }
        }
    }

    /// Stale-data rules at `now`: out of range when the last reading of the rule's kind (or the
    /// plan's start, when there was none) is older than the rule's `after`.
    public static func stale(
        _ plan: CarePlan, lastReadingAt: [ReadingKind: Date], planSince: Date, now: Date
    ) -> [Finding] {
        plan.rules.filter { $0.rule.type == .stale }.map { rule in
            let last = max(lastReadingAt[rule.rule.kind] ?? planSince, planSince)
            let age = now.timeIntervalSince(last)
            let hours = Int((age / 3600).rounded(.down))
            return Finding(
                ruleID: rule.id, title: rule.rule.title, level: age > rule.after ? rule.level : nil,
                value: "no \(rule.rule.kind.rawValue) reading for \(hours)h",
                threshold: "> \(DurationText.format(rule.after))",
                readingID: nil, resolveAfter: 0)
        }
    }

    static func beyond(_ value: Double, _ limit: Double, _ direction: Direction) -> Bool {
        direction == .above ? value > limit : value < limit
    }

    static func sign(_ direction: Direction) -> String { direction == .above ? ">" : "<" }

    static func threshold(_ rule: EffectiveRule, _ reading: Observation) -> Finding? {
        let present = rule.rule.quantities.filter { reading.values[$0] != nil }
        guard !present.isEmpty else { return nil }
        let direction = rule.rule.direction
        if let beyond = reading.beyondDeviceRange, rule.rule.quantities == [.glucose] {
            return deviceRange(rule, reading, beyond: beyond)
        }
        let several = rule.rule.quantities.count > 1
        // Per quantity: the level it reaches and the limit it passed (or the first limit).
        let decided: [(quantity: Quantity, level: AlertLevel?, limit: Double)] = present.map { q in
            let value = reading.values[q]!
            if let urgent = rule.urgent(q), beyond(value, urgent, direction) { return (q, .urgent, urgent) }
            if let warning = rule.warning(q), beyond(value, warning, direction) { return (q, .warning, warning) }
            return (q, nil, rule.warning(q) ?? rule.urgent(q)!)
        }
        let level = decided.compactMap(\.level).max()
        let shown = decided.filter { $0.level == level }
        let threshold = shown.map {
            (several ? "\($0.quantity.rawValue) " : "") + "\(sign(direction)) \(rule.show($0.limit, $0.quantity))"
        }
        .joined(separator: ", ")
        // 182/121 mmHg: the rule's quantities in order, one unit.
        let value =
            present.map { rule.show(reading.values[$0]!, $0, withUnit: false) }.joined(separator: "/") + " "
            + (rule.rule.unit ?? present[0].canonicalUnit).rawValue
        return Finding(
            ruleID: rule.id, title: rule.rule.title, level: level, value: value, threshold: threshold,
            readingID: reading.readingID, resolveAfter: rule.resolveAfter)
    }

    /// A HI or LO result: beyond every limit on its side, at the rule's highest level, worded as
    /// the meter's HI or LO rather than the bound the meter sent as its number; in range for a
    /// rule looking the other way.
    static func deviceRange(_ rule: EffectiveRule, _ reading: Observation, beyond: Direction) -> Finding {
        let direction = rule.rule.direction
        let word = beyond == .above ? "HI" : "LO"
        let value = "\(word) (\(beyond == .above ? "above" : "below") the meter's range)"
        guard beyond == direction else {
            let limit = rule.warning() ?? rule.urgent()!
            return Finding(
                ruleID: rule.id, title: rule.rule.title, level: nil, value: value,
                threshold: "\(sign(direction)) \(rule.show(limit))",
                readingID: reading.readingID, resolveAfter: rule.resolveAfter)
        }
        let level: AlertLevel = rule.urgent() != nil ? .urgent : .warning
        let limit = rule.urgent() ?? rule.warning()!
        return Finding(
            ruleID: rule.id, title: rule.rule.title, level: level, value: value,
            threshold: "\(sign(direction)) \(rule.show(limit))",
            readingID: reading.readingID, resolveAfter: rule.resolveAfter)
    }

    /// N of the last M readings flagged with an irregular pulse by the cuff.
    static func irregularPulse(_ rule: EffectiveRule, _ reading: Observation, _ history: [Observation]) -> Finding {
        let recent = (history + [reading]).suffix(rule.m)
        let count = recent.filter { $0.flags.contains(.irregularPulse) }.count
        return Finding(
            ruleID: rule.id, title: rule.rule.title, level: count >= rule.n ? rule.level : nil,
            value: "irregular pulse in \(count) of last \(recent.count)",
            threshold: "\(rule.n) of \(rule.m) with irregular pulse",
            readingID: reading.readingID, resolveAfter: rule.resolveAfter)
    }

    static func matching(_ rule: EffectiveRule, _ history: [Observation]) -> [Observation] {
        guard let meals = rule.rule.meals else { return history }
        return history.filter { meals.contains($0.meal ?? .unknown) }
    }

    static func nOfM(_ rule: EffectiveRule, _ reading: Observation, _ history: [Observation]) -> Finding? {
        guard let quantity = rule.rule.quantity, let value = reading.values[quantity], let limit = rule.limit else {
            return nil
        }
        let recent = (matching(rule, history) + [reading]).compactMap { $0.values[quantity] }.suffix(rule.m)
        let count = recent.filter { beyond($0, limit, rule.rule.direction) }.count
        return Finding(
            ruleID: rule.id, title: rule.rule.title, level: count >= rule.n ? rule.level : nil,
            value: "\(rule.show(value)), \(count) of last \(recent.count)",
            threshold: "\(rule.n) of \(rule.m) \(sign(rule.rule.direction)) \(rule.show(limit))",
            readingID: reading.readingID,
            resolveAfter: rule.resolveAfter)
    }

    static func average(_ rule: EffectiveRule, _ reading: Observation, _ history: [Observation]) -> Finding? {
        guard let quantity = rule.rule.quantity, reading.values[quantity] != nil, let limit = rule.limit else {
            return nil
        }
        let start = reading.at.addingTimeInterval(-rule.window)
        let values = (matching(rule, history) + [reading]).filter { $0.at > start }.compactMap { $0.values[quantity] }
        let mean = Normalizer.trimConversionNoise(values.reduce(0, +) / Double(values.count))
        let out = values.count >= rule.minReadings && beyond(mean, limit, rule.rule.direction)
        return Finding(
            ruleID: rule.id, title: rule.rule.title, level: out ? rule.level : nil,
            value: "average \(rule.show(mean, extraDigits: 1)) of \(values.count)",
            threshold: "\(DurationText.format(rule.window)) average \(sign(rule.rule.direction)) \(rule.show(limit))",
            readingID: reading.readingID, resolveAfter: rule.resolveAfter)
    }

    static func change(_ rule: EffectiveRule, _ reading: Observation, _ history: [Observation]) -> Finding? {
        guard let quantity = rule.rule.quantity, let value = reading.values[quantity] else { return nil }
        let start = reading.at.addingTimeInterval(-rule.window)
        guard let lowest = history.filter({ $0.at >= start }).compactMap({ $0.values[quantity] }).min() else {
            return nil
        }
        let rise = Normalizer.trimConversionNoise(value - lowest)
        var level: AlertLevel?
        var limit = rule.warning() ?? rule.urgent()!
        if let urgent = rule.urgent(), rise >= urgent {
            level = .urgent
            limit = urgent
        } else if let warning = rule.warning(), rise >= warning {
            level = .warning
        }
        let window = DurationText.format(rule.window)
        return Finding(
            ruleID: rule.id, title: rule.rule.title, level: level,
            value: "\(rule.show(rise, signed: true)) in \(window)",
            threshold: "\(rule.show(limit, signed: true)) in \(window)", readingID: reading.readingID,
            resolveAfter: rule.resolveAfter)
    }
}
