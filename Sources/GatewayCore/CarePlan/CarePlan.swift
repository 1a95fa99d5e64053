/// A rule with every parameter resolved for one patient.
public struct EffectiveRule: Sendable, Hashable {
    public var rule: TemplateRule
    /// The template that defined the rule first.
    public var template: String

    public var id: String { rule.id }
    public var warning: Double? { rule.parameters[.warning] }
    public var urgent: Double? { rule.parameters[.urgent] }
    public var limit: Double? { rule.parameters[.limit] }
    public var n: Int { Int(rule.parameters[.n] ?? 1) }
    public var m: Int { Int(rule.parameters[.m] ?? 1) }
    public var window: Double { rule.parameters[.window] ?? 0 }
    public var after: Double { rule.parameters[.after] ?? 0 }
    public var minReadings: Int { Int(rule.parameters[.minReadings] ?? 2) }
    public var resolveAfter: Double { rule.parameters[.resolveAfter] ?? 0 }
    /// The level of single-level rules (n_of_m, average, stale).
    public var level: AlertLevel { (rule.parameters[.level] ?? 0) >= 1 ? .urgent : .warning }

    /// A canonical value of the rule's quantity in the rule's unit, with the unit: `182 mmHg`.
    public func show(_ canonical: Double, signed: Bool = false) -> String {
        guard let quantity = rule.quantity else { return formatNumber(canonical) }
        let unit = rule.unit ?? quantity.canonicalUnit
        // A change is a difference: convert it without the unit's offset.
        let value =
            rule.type == .change
            ? canonical / (unit.convert(1, toCanonicalOf: quantity)! - unit.convert(0, toCanonicalOf: quantity)!)
            : (unit.convert(fromCanonical: canonical, of: quantity) ?? canonical)
        let digits = unit == quantity.canonicalUnit ? quantity.displayFractionDigits + (rule.type == .change ? 1 : 0) : 1
        let text = formatNumber(value, fractionDigits: digits)
        return (signed && value > 0 ? "+" : "") + text + " " + unit.rawValue
    }
}

/// One effective parameter of a plan and where it comes from, for `ccmctl careplan show`.
public struct PlanParameter: Sendable, Hashable {
    /// `systolic-high.urgent`, `goal.systolic`.
    public var key: String
    public var value: String
    public var from: String
}

/// A patient's effective care plan: the composition of their templates and overrides.
public struct CarePlan: Sendable {
    public var templates: [String]
    /// Rules by id, in id order.
    public var rules: [EffectiveRule]
    /// Every effective parameter with its origin, in key order.
    public var parameters: [PlanParameter]
    /// Goals in canonical units.
    public var goals: [Quantity: Double]

    /// The rules that look at readings of `kind`.
    public func rules(for kind: ReadingKind) -> [EffectiveRule] { rules.filter { $0.rule.kind == kind } }

    /// Which parameters each rule type takes.
    public static func parameterNames(of type: RuleType) -> [ParameterName] {
        switch type {
        case .threshold: [.warning, .urgent, .resolveAfter]
        case .change: [.warning, .urgent, .window, .resolveAfter]
        case .nOfM: [.limit, .n, .m, .level, .resolveAfter]
        case .average: [.limit, .window, .minReadings, .level, .resolveAfter]
        case .stale: [.after, .level]
        }
    }

    /// Composes templates in order, then applies overrides. Where two templates set the same
    /// parameter, the stricter value wins (the one that alerts sooner). Fails with the key and
    /// the fix on anything inconsistent.
    public static func compose(templates: [CarePlanTemplate], overrides: [CarePlanOverride] = []) throws(CarePlanError) -> CarePlan {
        guard !templates.isEmpty else { throw CarePlanError("a care plan needs at least one template") }
        var goals: [Quantity: TemplateGoal] = [:]
        var goalFrom: [Quantity: String] = [:]
        var rules: [String: EffectiveRule] = [:]
        var from: [String: String] = [:]

        for template in templates {
            for (quantity, goal) in template.goals.sorted(by: { $0.key < $1.key }) {
                let key = "goal.\(quantity.rawValue)"
                guard let current = goals[quantity] else {
                    goals[quantity] = goal
                    goalFrom[quantity] = "\(template.name): \(goal.source)"
                    continue
                }
                guard current.keep == goal.keep else {
                    throw CarePlanError("\(key): \(template.name) keeps \(quantity.rawValue) \(goal.keep.rawValue) its goal, another template \(current.keep.rawValue); a goal has one side")
                }
                if current.keep.opposite.isStricter(goal.value, than: current.value) {
                    goals[quantity] = goal
                    goalFrom[quantity] = "\(template.name) (stricter): \(goal.source)"
                }
            }
            for rule in template.rules {
                guard var existing = rules[rule.id] else {
                    rules[rule.id] = EffectiveRule(rule: rule, template: template.name)
                    for name in rule.parameters.keys { from["\(rule.id).\(name.rawValue)"] = "\(template.name): \(rule.source)" }
                    if rule.limitIsGoal { from["\(rule.id).limit"] = "goal.\(rule.quantity?.rawValue ?? "")" }
                    continue
                }
                let a = existing.rule
                guard a.type == rule.type, a.kind == rule.kind, a.quantity == rule.quantity, a.direction == rule.direction,
                    a.meals == rule.meals, a.parameters[.window] == rule.parameters[.window]
                else {
                    throw CarePlanError("rule \(rule.id) is defined differently by \(existing.template) and \(template.name); give one of them another id")
                }
                for (name, value) in rule.parameters {
                    let key = "\(rule.id).\(name.rawValue)"
                    guard let current = a.parameters[name] else {
                        existing.rule.parameters[name] = value
                        from[key] = "\(template.name): \(rule.source)"
                        continue
                    }
                    if isStricter(name, value, than: current, direction: rule.direction) {
                        existing.rule.parameters[name] = value
                        from[key] = "\(template.name) (stricter than \(existing.show(current, name))): \(rule.source)"
                    }
                }
                if rule.limitIsGoal && a.parameters[.limit] == nil { existing.rule.limitIsGoal = true }
                rules[rule.id] = existing
            }
        }

        for override in overrides {
            let parts = override.key.split(separator: ".", maxSplits: 1).map(String.init)
            guard parts.count == 2 else {
                throw CarePlanError("\(override.key): not a key; keys look like RULE.PARAMETER or goal.QUANTITY (see ccmctl careplan show)")
            }
            if parts[0] == "goal" {
                guard let quantity = Quantity(rawValue: parts[1]) else {
                    throw CarePlanError("\(override.key): unknown quantity \(parts[1]); goals exist for \(Quantity.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                let unit = goals[quantity]?.unit ?? quantity.canonicalUnit
                let value = try parseQuantity(override.value, quantity: quantity, unit: unit, key: override.key)
                let keep = goals[quantity]?.keep ?? .below
                goals[quantity] = TemplateGoal(quantity: quantity, keep: keep, value: value, unit: unit, source: "override")
                goalFrom[quantity] = "override by \(override.by)"
                continue
            }
            guard var rule = rules[parts[0]] else {
                throw CarePlanError("\(override.key): no rule \(parts[0]) in this plan; its rules are \(rules.keys.sorted().joined(separator: ", "))")
            }
            guard let name = ParameterName(rawValue: parts[1]), parameterNames(of: rule.rule.type).contains(name) else {
                throw CarePlanError("\(override.key): \(rule.rule.type.rawValue) rules have no parameter \(parts[1]); use \(parameterNames(of: rule.rule.type).map(\.rawValue).joined(separator: ", "))")
            }
            rule.rule.parameters[name] = try parseParameter(override.value, name: name, rule: rule.rule, key: override.key)
            if name == .limit { rule.rule.limitIsGoal = false }
            from[override.key] = "override by \(override.by)"
            rules[rule.id] = rule
        }

        var resolved: [EffectiveRule] = []
        for id in rules.keys.sorted() {
            var rule = rules[id]!
            if rule.rule.limitIsGoal {
                guard let quantity = rule.rule.quantity, let goal = goals[quantity] else {
                    throw CarePlanError("rule \(id) alerts against the goal for \(rule.rule.quantity?.rawValue ?? "?"), but no template or override sets goal.\(rule.rule.quantity?.rawValue ?? "?")")
                }
                rule.rule.parameters[.limit] = goal.value
            }
            try validate(rule)
            resolved.append(rule)
        }

        var parameters: [PlanParameter] = []
        for quantity in goals.keys.sorted() {
            let goal = goals[quantity]!
            let value = goal.unit.convert(fromCanonical: goal.value, of: quantity) ?? goal.value
            parameters.append(
                PlanParameter(
                    key: "goal.\(quantity.rawValue)",
                    value: "\(goal.keep == .below ? "<" : ">") \(formatNumber(value, fractionDigits: 1)) \(goal.unit.rawValue)",
                    from: goalFrom[quantity]!))
        }
        for rule in resolved {
            for name in CarePlan.parameterNames(of: rule.rule.type) {
                guard let value = rule.rule.parameters[name] else { continue }
                let key = "\(rule.id).\(name.rawValue)"
                var origin = from[key] ?? "\(rule.template): \(rule.rule.source)"
                if name == .limit, rule.rule.limitIsGoal { origin = "goal.\(rule.rule.quantity!.rawValue)" }
                parameters.append(PlanParameter(key: key, value: rule.show(value, name), from: origin))
            }
        }
        return CarePlan(
            templates: templates.map(\.name), rules: resolved, parameters: parameters, goals: goals.mapValues(\.value))
    }

    static func isStricter(_ name: ParameterName, _ candidate: Double, than current: Double, direction: Direction) -> Bool {
        switch name {
        case .warning, .urgent, .limit: direction.isStricter(candidate, than: current)
        case .n, .minReadings, .after: candidate < current
        case .m, .resolveAfter, .level: candidate > current
        case .window: false
        }
    }

    static func validate(_ effective: EffectiveRule) throws(CarePlanError) {
        let rule = effective.rule
        let id = rule.id
        switch rule.type {
        case .threshold, .change:
            guard let warning = effective.warning ?? effective.urgent, let urgent = effective.urgent ?? effective.warning else {
                throw CarePlanError("rule \(id) sets neither warning nor urgent; set at least one")
            }
            let direction: Direction = rule.type == .change ? .above : rule.direction
            if effective.warning != nil, effective.urgent != nil, warning != urgent, !direction.isStricter(warning, than: urgent) {
                throw CarePlanError(
                    "rule \(id): warning \(effective.show(warning, .warning)) is beyond urgent \(effective.show(urgent, .urgent)); a warning must come before urgent (\(direction == .above ? "lower" : "higher") than it)")
            }
            if rule.type == .change, effective.window <= 0 { throw CarePlanError("rule \(id): window must be longer than 0; write it like 24h or 7d") }
        case .nOfM:
            guard effective.limit != nil else { throw CarePlanError("rule \(id): needs limit (a value, or goal)") }
            guard effective.n >= 1, effective.n <= effective.m else {
                throw CarePlanError("rule \(id): n \(effective.n) must be between 1 and m \(effective.m)")
            }
        case .average:
            guard effective.limit != nil else { throw CarePlanError("rule \(id): needs limit (a value, or goal)") }
            guard effective.window > 0 else { throw CarePlanError("rule \(id): window must be longer than 0; write it like 7d") }
            guard effective.minReadings >= 1 else { throw CarePlanError("rule \(id): min_readings must be 1 or more") }
        case .stale:
            guard effective.after > 0 else { throw CarePlanError("rule \(id): after must be longer than 0; write it like 72h") }
        }
    }

    /// Parses an override value for `name` of `rule`.
    public static func parseParameter(_ text: String, name: ParameterName, rule: TemplateRule, key: String) throws(CarePlanError) -> Double {
        switch name {
        case .warning, .urgent, .limit:
            guard let quantity = rule.quantity else { throw CarePlanError("\(key): this rule has no quantity") }
            return try parseQuantity(text, quantity: quantity, unit: rule.unit ?? quantity.canonicalUnit, key: key, difference: rule.type == .change)
        case .n, .m, .minReadings:
            guard let value = Int(text), value >= 1 else { throw CarePlanError("\(key): \"\(text)\" is not a whole number of 1 or more") }
            return Double(value)
        case .window, .after, .resolveAfter:
            guard let seconds = DurationText.parse(text) else {
                throw CarePlanError("\(key): \"\(text)\" is not a duration; write it like 30m, 24h or 7d")
            }
            return seconds
        case .level:
            guard let level = AlertLevel(rawValue: text) else { throw CarePlanError("\(key): \"\(text)\" is not a level; use warning or urgent") }
            return level == .urgent ? 1 : 0
        }
    }

    /// Parses `175`, `175 mmHg`, `7.2 mmol/L` or `2lb` as a value of `quantity` (a bare number is
    /// in `unit`) and returns it in the canonical unit. A `difference` (a rise) converts without
    /// the unit's offset.
    public static func parseQuantity(
        _ text: String, quantity: Quantity, unit: MeasurementUnit, key: String, difference: Bool = false
    ) throws(CarePlanError) -> Double {
        let trimmed = text.filter { $0 != " " }
        let numberPart = trimmed.prefix { $0.isNumber || $0 == "." || $0 == "-" || $0 == "+" }
        let unitPart = String(trimmed.dropFirst(numberPart.count))
        guard let number = Double(numberPart), number.isFinite else {
            throw CarePlanError("\(key): \"\(text)\" is not a number; write it like 180 or 180 \(unit.rawValue)")
        }
        let given = unitPart.isEmpty ? unit : MeasurementUnit(spelling: unitPart)
        guard let given, let one = given.convert(1, toCanonicalOf: quantity), let zero = given.convert(0, toCanonicalOf: quantity) else {
            let units = MeasurementUnit.allCases.filter { $0.convert(1, toCanonicalOf: quantity) != nil }.map(\.rawValue)
            throw CarePlanError("\(key): \"\(unitPart)\" is not a unit for \(quantity.rawValue); use \(units.joined(separator: ", "))")
        }
        let canonical = difference ? number * (one - zero) : zero + number * (one - zero)
        return Normalizer.trimConversionNoise(canonical)
    }
}

extension Direction {
    var opposite: Direction { self == .above ? .below : .above }
}

extension EffectiveRule {
    /// A parameter's value as `careplan show` prints it.
    func show(_ value: Double, _ name: ParameterName) -> String {
        switch name {
        case .warning, .urgent, .limit: show(value)
        case .n, .m, .minReadings: formatNumber(value)
        case .window, .after, .resolveAfter: DurationText.format(value)
        case .level: value >= 1 ? "urgent" : "warning"
        }
    }
}
