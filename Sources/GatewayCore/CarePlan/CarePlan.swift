/// A rule with every parameter resolved for one patient.
public struct EffectiveRule: Sendable, Hashable {
    public var rule: TemplateRule
    /// The template that defined the rule first.
    public var template: String

    public var id: String { rule.id }

    /// A parameter, for `quantity` when the rule limits several.
    public func value(_ name: ParameterName, _ quantity: Quantity? = nil) -> Double? {
        rule.parameters[ParameterKey(name, quantity)] ?? rule.parameters[ParameterKey(name)]
    }

    public func warning(_ quantity: Quantity? = nil) -> Double? { value(.warning, quantity) }
    public func urgent(_ quantity: Quantity? = nil) -> Double? { value(.urgent, quantity) }
    public var limit: Double? { value(.limit) }
    public var n: Int { Int(value(.n) ?? 1) }
    public var m: Int { Int(value(.m) ?? 1) }
    public var window: Double { value(.window) ?? 0 }
    public var after: Double { value(.after) ?? 0 }
    public var minReadings: Int { Int(value(.minReadings) ?? 2) }
    public var resolveAfter: Double { value(.resolveAfter) ?? 0 }
    /// The level of single-level rules (n_of_m, average, stale).
    public var level: AlertLevel { (value(.level) ?? 0) >= 1 ? .urgent : .warning }

    /// A canonical value of `quantity` in the rule's unit, with the unit: `182 mmHg`; a change
    /// is a difference, converted without the unit's offset and signed when asked.
    public func show(
        _ canonical: Double, _ quantity: Quantity? = nil, signed: Bool = false, withUnit: Bool = true,
        extraDigits: Int = 0
    ) -> String {
        guard let quantity = quantity ?? rule.quantity else { return formatNumber(canonical) }
        let unit = rule.unit ?? quantity.canonicalUnit
        let value =
            rule.type == .change
            ? canonical / (unit.convert(1, toCanonicalOf: quantity)! - unit.convert(0, toCanonicalOf: quantity)!)
            : (unit.convert(fromCanonical: canonical, of: quantity) ?? canonical)
        let digits =
            (unit == quantity.canonicalUnit ? quantity.displayFractionDigits + (rule.type == .change ? 1 : 0) : 1)
            + extraDigits
        let text = (signed && value > 0 ? "+" : "") + formatNumber(value, fractionDigits: digits)
        return withUnit ? text + " " + unit.rawValue : text
    }

    /// A parameter's value as `careplan show` prints it.
    func show(_ value: Double, _ key: ParameterKey) -> String {
        switch key.name {
        case .warning, .urgent, .limit: show(value, key.quantity, signed: rule.type == .change)
        case .n, .m, .minReadings: formatNumber(value)
        case .window, .after, .resolveAfter: DurationText.format(value)
        case .level: value >= 1 ? "urgent" : "warning"
        }
    }
}

/// One effective parameter of a plan and where it comes from, for `ccmctl careplan show`.
public struct PlanParameter: Sendable, Hashable {
    /// `bp-high.systolic.urgent`, `glucose-stale.after`, `goal.systolic`.
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
        case .irregularPulse: [.n, .m, .level, .resolveAfter]
        case .average: [.limit, .window, .minReadings, .level, .resolveAfter]
        case .stale: [.after, .level]
        }
    }

    /// The keys a rule takes: per quantity for the limits of a rule over several quantities.
    public static func parameterKeys(of rule: TemplateRule) -> [ParameterKey] {
        parameterNames(of: rule.type).flatMap { name -> [ParameterKey] in
            if (name == .warning || name == .urgent) && rule.quantities.count > 1 {
                return rule.quantities.map { ParameterKey(name, $0) }
            }
            return [ParameterKey(name)]
        }
    }

    /// Composes templates in order, then applies overrides. Where two templates set the same
    /// parameter, the stricter value wins (the one that alerts sooner). Fails with the key and
    /// the fix on anything inconsistent.
    public static func compose(
        templates: [CarePlanTemplate], overrides: [CarePlanOverride] = []
    ) throws(CarePlanError) -> CarePlan {
        guard !templates.isEmpty else { throw CarePlanError("a care plan needs at least one template") }
        var goals: [Quantity: TemplateGoal] = [:]
        var goalFrom: [Quantity: String] = [:]
        var rules: [String: EffectiveRule] = [:]
        var from: [String: String] = [:]

        for template in templates {
            for (quantity, goal) in template.goals.sorted(by: { $0.key < $1.key }) {
                guard let current = goals[quantity] else {
                    goals[quantity] = goal
                    goalFrom[quantity] = "\(template.name): \(goal.source)"
                    continue
                }
                guard current.keep == goal.keep else {
                    throw CarePlanError(
                        "goal.\(quantity.rawValue): \(template.name) keeps \(quantity.rawValue) on the other side of its goal",
                        fix: "a goal has one side")
                }
                // An upper goal is stricter lower, a lower goal stricter higher.
                if current.keep.opposite.isStricter(goal.value, than: current.value) {
                    goals[quantity] = goal
                    goalFrom[quantity] = "\(template.name) (stricter): \(goal.source)"
                }
            }
            for rule in template.rules {
                guard var existing = rules[rule.id] else {
                    rules[rule.id] = EffectiveRule(rule: rule, template: template.name)
                    for key in rule.parameters.keys { from["\(rule.id).\(key)"] = "\(template.name): \(rule.source)" }
                    continue
                }
                let a = existing.rule
                guard a.type == rule.type, a.kind == rule.kind, a.quantities == rule.quantities,
                    a.direction == rule.direction,
                    a.meals == rule.meals, a.parameters[ParameterKey(.window)] == rule.parameters[ParameterKey(.window)]
                else {
                    throw CarePlanError(
                        "rule \(rule.id) is defined differently by \(existing.template) and \(template.name)",
                        fix: "give one of them another id")
                }
                for (key, value) in rule.parameters {
                    let name = "\(rule.id).\(key)"
                    guard let current = a.parameters[key] else {
                        existing.rule.parameters[key] = value
                        from[name] = "\(template.name): \(rule.source)"
                        continue
                    }
                    if isStricter(key.name, value, than: current, direction: rule.direction) {
                        existing.rule.parameters[key] = value
                        from[name] = "\(template.name) (stricter than \(existing.show(current, key))): \(rule.source)"
                    }
                }
                if rule.limitIsGoal && a.parameters[ParameterKey(.limit)] == nil { existing.rule.limitIsGoal = true }
                rules[rule.id] = existing
            }
        }

        for override in overrides {
            let parts = override.key.split(separator: ".").map(String.init)
            if parts.first == "goal" {
                guard parts.count == 2, let quantity = Quantity(rawValue: parts[1]) else {
                    throw CarePlanError(
                        "\(override.key): not a goal",
                        fix: "goals are goal.QUANTITY with \(Quantity.allCases.map(\.rawValue).joined(separator: ", "))"
                    )
                }
                let unit = goals[quantity]?.unit ?? quantity.canonicalUnit
                let value = try parseQuantity(override.value, quantity: quantity, unit: unit, key: override.key)
                goals[quantity] = TemplateGoal(
                    quantity: quantity, keep: goals[quantity]?.keep ?? .below, value: value, unit: unit,
                    source: "override")
                goalFrom[quantity] = "override by \(override.by)"
                continue
            }
            guard parts.count >= 2, var rule = rules[parts[0]] else {
                throw CarePlanError(
                    "\(override.key): no rule \(parts.first ?? "") in this plan",
                    fix: "its rules are \(rules.keys.sorted().joined(separator: ", "))")
            }
            let keys = parameterKeys(of: rule.rule)
            let text = parts.dropFirst().joined(separator: ".")
            guard let key = keys.first(where: { $0.description == text }) else {
                throw CarePlanError(
                    "\(override.key): rule \(rule.id) has no parameter \(text)",
                    fix: "use \(keys.map(\.description).joined(separator: ", "))")
            }
            rule.rule.parameters[key] = try parseParameter(
                override.value, key: key, rule: rule.rule, name: override.key)
            if key.name == .limit { rule.rule.limitIsGoal = false }
            from[override.key] = "override by \(override.by)"
            rules[rule.id] = rule
        }

        var resolved: [EffectiveRule] = []
        for id in rules.keys.sorted() {
            var rule = rules[id]!
            if rule.rule.limitIsGoal {
                guard let quantity = rule.rule.quantity, let goal = goals[quantity] else {
                    let name = rule.rule.quantity?.rawValue ?? "?"
                    throw CarePlanError(
                        "rule \(id) alerts against the goal for \(name), but no template or override sets goal.\(name)")
                }
                rule.rule.parameters[ParameterKey(.limit)] = goal.value
                from["\(id).limit"] = "goal.\(quantity.rawValue)"
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
                    value:
                        "\(goal.keep == .below ? "<" : ">") \(formatNumber(value, fractionDigits: 1)) \(goal.unit.rawValue)",
                    from: goalFrom[quantity]!))
        }
        for rule in resolved {
            for key in parameterKeys(of: rule.rule) {
                guard let value = rule.rule.parameters[key] else { continue }
                let name = "\(rule.id).\(key)"
                parameters.append(
                    PlanParameter(
                        key: name, value: rule.show(value, key),
                        from: from[name] ?? "\(rule.template): \(rule.rule.source)"))
            }
        }
        return CarePlan(
            templates: templates.map(\.name), rules: resolved, parameters: parameters, goals: goals.mapValues(\.value))
    }

    static func isStricter(
        _ name: ParameterName, _ candidate: Double, than current: Double, direction: Direction
    ) -> Bool {
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
            let direction: Direction = rule.type == .change ? .above : rule.direction
            for quantity in rule.quantities {
                let name = rule.quantities.count > 1 ? "\(id) \(quantity.rawValue)" : id
                let warning = effective.warning(quantity)
                let urgent = effective.urgent(quantity)
                guard warning != nil || urgent != nil else {
                    throw CarePlanError("rule \(name) sets neither warning nor urgent", fix: "set at least one")
                }
                if let warning, let urgent, !direction.isStricter(warning, than: urgent) {
                    throw CarePlanError(
                        "rule \(name): warning \(effective.show(warning, quantity, signed: rule.type == .change)) is beyond urgent \(effective.show(urgent, quantity, signed: rule.type == .change)); a warning must come before urgent (\(direction == .above ? "lower" : "higher") than it)"
                    )
                }
            }
            if rule.type == .change, effective.window <= 0 {
                throw CarePlanError("rule \(id): window must be longer than 0", fix: "write it like 24h or 7d")
            }
        case .nOfM:
            guard effective.limit != nil else { throw CarePlanError("rule \(id): needs limit (a value, or goal)") }
            guard effective.n >= 1, effective.n <= effective.m else {
                throw CarePlanError("rule \(id): n \(effective.n) must be between 1 and m \(effective.m)")
            }
        case .average:
            guard effective.limit != nil else { throw CarePlanError("rule \(id): needs limit (a value, or goal)") }
            guard effective.window > 0 else {
                throw CarePlanError("rule \(id): window must be longer than 0", fix: "write it like 7d")
            }
            guard effective.minReadings >= 1 else { throw CarePlanError("rule \(id): min_readings must be 1 or more") }
        case .irregularPulse:
            guard effective.n >= 1, effective.n <= effective.m else {
                throw CarePlanError("rule \(id): n \(effective.n) must be between 1 and m \(effective.m)")
            }
        case .stale:
            guard effective.after > 0 else {
                throw CarePlanError("rule \(id): after must be longer than 0", fix: "write it like 72h")
            }
        }
    }

    /// Parses a value for parameter `key` of `rule`; `name` is the key as written, for errors.
    public static func parseParameter(
        _ text: String, key: ParameterKey, rule: TemplateRule, name: String
    ) throws(CarePlanError) -> Double {
        switch key.name {
        case .warning, .urgent, .limit:
            guard let quantity = key.quantity ?? rule.quantity else {
                throw CarePlanError("\(name): this rule has no quantity")
            }
            return try parseQuantity(
                text, quantity: quantity, unit: rule.unit ?? quantity.canonicalUnit, key: name,
                difference: rule.type == .change)
        case .n, .m, .minReadings:
            guard let value = Int(text), value >= 1 else {
                throw CarePlanError("\(name): \"\(text)\" is not a whole number of 1 or more")
            }
            return Double(value)
        case .window, .after, .resolveAfter:
            guard let seconds = DurationText.parse(text) else {
                throw CarePlanError("\(name): \"\(text)\" is not a duration", fix: "write it like 30m, 24h or 7d")
            }
            return seconds
        case .level:
            guard let level = AlertLevel(rawValue: text) else {
                throw CarePlanError("\(name): \"\(text)\" is not a level", fix: "use warning or urgent")
            }
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
            throw CarePlanError("\(key): \"\(text)\" is not a number", fix: "write it like 180 or 180 \(unit.rawValue)")
        }
        let given = unitPart.isEmpty ? unit : MeasurementUnit(spelling: unitPart)
        guard let given, let one = given.convert(1, toCanonicalOf: quantity),
            let zero = given.convert(0, toCanonicalOf: quantity)
        else {
            let units = MeasurementUnit.allCases.filter { $0.convert(1, toCanonicalOf: quantity) != nil }.map(
                \.rawValue)
            throw CarePlanError(
                "\(key): \"\(unitPart)\" is not a unit for \(quantity.rawValue)",
                fix: "use \(units.joined(separator: ", "))")
        }
        let canonical = difference ? number * (one - zero) : zero + number * (one - zero)
        return Normalizer.trimConversionNoise(canonical)
    }
}

extension Direction {
    var opposite: Direction { self == .above ? .below : .above }
}
