import Foundation
public import GatewayCore
import Yams

/// The disease templates of a `careplans` directory (`config/careplans/*.yaml`), each checked
/// on load: a template that would not compose on its own is an error naming file and key.
public struct CarePlanLibrary: Sendable {
    public let directory: String
    public let templates: [String: CarePlanTemplate]

    public init(templates: [CarePlanTemplate], directory: String = "") {
        self.directory = directory
        self.templates = Dictionary(uniqueKeysWithValues: templates.map { ($0.name, $0) })
    }

    /// Loads every `*.yaml` in `directory`.
    public static func load(directory: String) throws -> CarePlanLibrary {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".yaml") }
                .sorted()
        } catch {
            throw ConfigError(
                "cannot read the care-plan templates in \(directory)",
                fix: "set careplans.directory in the configuration to the folder holding them")
        }
        var templates: [CarePlanTemplate] = []
        for name in names {
            let path = directory + "/" + name
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ConfigError("cannot read \(path)")
            }
            templates.append(
                try parse(String(decoding: data, as: UTF8.self), origin: path, expectedName: String(name.dropLast(5))))
        }
        return CarePlanLibrary(templates: templates, directory: directory)
    }

    /// The templates named, in the order given; an unknown name is an error listing the known ones.
    public func templates(named names: [String]) throws -> [CarePlanTemplate] {
        try names.map { name in
            guard let template = templates[name] else {
                throw CarePlanError(
                    "unknown template \"\(name)\"",
                    fix: "the templates in \(directory) are \(templates.keys.sorted().joined(separator: ", "))")
            }
            return template
        }
    }

    /// Composes a patient's plan from template names and overrides.
    public func plan(templates names: [String], overrides: [CarePlanOverride]) throws -> CarePlan {
        try CarePlan.compose(templates: try templates(named: names), overrides: overrides)
    }

    /// Parses one template's YAML.
    public static func parse(_ text: String, origin: String, expectedName: String? = nil) throws -> CarePlanTemplate {
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch { throw ConfigError("\(origin): not valid YAML: \(error)") }
        guard let node else {
            throw ConfigError("\(origin): empty", fix: "a template needs template, description and rules")
        }
        let root = try Section(node, path: "", origin: origin)
        try root.allow(["template", "description", "goals", "rules"])
        guard let name = try root.string("template") else {
            throw ConfigError("\(origin): template: required", fix: "give the template's name")
        }
        if let expectedName, expectedName != name {
            throw ConfigError(
                "\(origin): template: \"\(name)\" differs from the file name", fix: "name the file \(name).yaml")
        }
        var goals: [Quantity: TemplateGoal] = [:]
        if let section = try root.section("goals") {
            for key in section.keys {
                guard let quantity = Quantity(rawValue: key) else {
                    throw ConfigError(
                        "\(origin): goals.\(key): unknown quantity",
                        fix: "use one of \(Quantity.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                let goal = try section.section(key)!
                try goal.allow(["below", "above", "unit", "source"])
                let unit = try unit(goal, quantity: quantity)
                let below = try goal.string("below")
                let above = try goal.string("above")
                guard (below == nil) != (above == nil), let text = below ?? above else {
                    throw ConfigError("\(origin): goals.\(key): give exactly one of below or above")
                }
                let value = try wrap(origin) { () throws(CarePlanError) in
                    try CarePlan.parseQuantity(text, quantity: quantity, unit: unit, key: "goals.\(key)")
                }
                goals[quantity] = TemplateGoal(
                    quantity: quantity, keep: below != nil ? .below : .above, value: value, unit: unit,
                    source: try required(goal, "source", "name the clinical source of the goal"))
            }
        }
        guard let rulesSection = try root.section("rules"), !rulesSection.keys.isEmpty else {
            throw ConfigError("\(origin): rules: required", fix: "a template needs at least one rule")
        }
        var rules: [TemplateRule] = []
        for id in rulesSection.keys {
            rules.append(try rule(id, try rulesSection.section(id)!, origin: origin))
        }
        let template = CarePlanTemplate(
            name: name, description: try required(root, "description", "say in one line what the template is for"),
            goals: goals, rules: rules)
        _ = try wrap(origin) { () throws(CarePlanError) in try CarePlan.compose(templates: [template]) }
        return template
    }

    private static func rule(_ id: String, _ section: Section, origin: String) throws -> TemplateRule {
        let at = "rules.\(id)"
        guard id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }), !id.isEmpty else {
            throw ConfigError("\(origin): \(at): rule ids use letters, digits, - and _ only")
        }
        guard let typeText = try section.string("type"), let type = RuleType(rawValue: typeText) else {
            throw ConfigError(
                "\(origin): \(at).type: required, one of \(RuleType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let parameterNames = CarePlan.parameterNames(of: type).map(\.rawValue)
        try section.allow(
            ["type", "title", "kind", "quantity", "limits", "direction", "meals", "unit", "source"] + parameterNames)
        var kind: ReadingKind?
        if let text = try section.string("kind") {
            guard let parsed = ReadingKind(rawValue: text) else {
                throw ConfigError(
                    "\(origin): \(at).kind: unknown kind \"\(text)\"",
                    fix: "use one of \(ReadingKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            kind = parsed
        }
        // One quantity, or for a threshold rule several, each with its own limits:
        //   limits: {systolic: {warning: 160, urgent: 180}, diastolic: {warning: 100, urgent: 120}}
        let limits = try section.section("limits")
        if limits != nil, type != .threshold {
            throw ConfigError(
                "\(origin): \(at).limits: only threshold rules limit several quantities", fix: "use quantity")
        }
        if limits != nil, try section.string("quantity") != nil {
            throw ConfigError("\(origin): \(at): give quantity or limits, not both")
        }
        var quantities: [Quantity] = []
        let quantityNames = try limits?.keys ?? section.string("quantity").map({ [$0] }) ?? []
        for name in quantityNames {
            guard let quantity = Quantity(rawValue: name) else {
                throw ConfigError(
                    "\(origin): \(at).quantity: unknown quantity \"\(name)\"",
                    fix: "use one of \(Quantity.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            quantities.append(quantity)
        }
        if type == .irregularPulse {
            // The cuff's flag, not a quantity: blood-pressure readings only.
            guard quantities.isEmpty else {
                throw ConfigError(
                    "\(origin): \(at).quantity: an irregular_pulse rule counts the cuff's flag", fix: "remove quantity")
            }
            guard kind == nil || kind == .bloodPressure else {
                throw ConfigError("\(origin): \(at).kind: an irregular_pulse rule looks at blood_pressure readings")
            }
            kind = .bloodPressure
        } else if type != .stale {
            guard !quantities.isEmpty else {
                throw ConfigError(
                    "\(origin): \(at).quantity: required, one of \(Quantity.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            for quantity in quantities {
                let implied = ReadingKind.allCases.filter { $0.allowedQuantities.contains(quantity) }
                if kind == nil {
                    guard implied.count == 1 else {
                        throw ConfigError(
                            "\(origin): \(at).kind: required for \(quantity.rawValue), which readings of several kinds carry"
                        )
                    }
                    kind = implied[0]
                } else if !implied.contains(kind!) {
                    throw ConfigError(
                        "\(origin): \(at).quantity: \(kind!.rawValue) readings have no \(quantity.rawValue)")
                }
            }
        }
        guard let kind else { throw ConfigError("\(origin): \(at).kind: required for a stale rule") }
        var direction = Direction.above
        if let text = try section.string("direction") {
            guard let parsed = Direction(rawValue: text), type != .change || parsed == .above else {
                throw ConfigError(
                    "\(origin): \(at).direction: use above or below\(type == .change ? " (a change rule looks for a rise: above)" : "")"
                )
            }
            direction = parsed
        } else if type == .threshold || type == .nOfM || type == .average {
            throw ConfigError("\(origin): \(at).direction: required", fix: "above or below")
        }
        var meals: Set<MealContext>?
        if let list = try section.list("meals") {
            meals = Set(
                try list.map { text in
                    guard let meal = MealContext(rawValue: text), kind == .glucose else {
                        throw ConfigError(
                            "\(origin): \(at).meals: \"\(text)\" is not a meal context of glucose readings",
                            fix: "use \(MealContext.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                    return meal
                })
        }
        var unit: MeasurementUnit?
        if let quantity = quantities.first {
            unit = try self.unit(section, quantity: quantity)
            for other in quantities.dropFirst() where unit!.convert(1, toCanonicalOf: other) == nil {
                throw ConfigError(
                    "\(origin): \(at).unit: \(unit!.rawValue) does not measure \(other.rawValue)",
                    fix: "a rule's quantities share one unit"
                )
            }
        }
        var stub = TemplateRule(
            id: id, type: type, kind: kind, quantities: quantities, direction: direction, meals: meals, unit: unit,
            parameters: [:],
            limitIsGoal: false, source: "", title: "")
        var parameters: [ParameterKey: Double] = [:]
        var limitIsGoal = false
        for key in CarePlan.parameterKeys(of: stub) {
            let holder: Section
            if let quantity = key.quantity {
                guard let limits, let perQuantity = try limits.section(quantity.rawValue) else { continue }
                try perQuantity.allow(["warning", "urgent"])
                holder = perQuantity
            } else {
                holder = section
            }
            guard let text = try holder.string(key.name.rawValue) else { continue }
            if key.name == .limit, text == "goal" {
                limitIsGoal = true
                continue
            }
            parameters[key] = try wrap(origin) { () throws(CarePlanError) in
                try CarePlan.parseParameter(text, key: key, rule: stub, name: holder.key(key.name.rawValue))
            }
        }
        stub.parameters = parameters
        stub.limitIsGoal = limitIsGoal
        stub.source = try required(
            section, "source", "name the clinical source of its numbers, or say it is a product choice and why")
        stub.title = try required(section, "title", "give the alert a short title")
        return stub
    }

    private static func unit(_ section: Section, quantity: Quantity) throws -> MeasurementUnit {
        guard let text = try section.string("unit") else { return quantity.canonicalUnit }
        guard let unit = MeasurementUnit(spelling: text), unit.convert(1, toCanonicalOf: quantity) != nil else {
            let units = MeasurementUnit.allCases.filter { $0.convert(1, toCanonicalOf: quantity) != nil }.map(
                \.rawValue)
            throw ConfigError(
                "\(section.origin): \(section.key("unit")): \"\(text)\" is not a unit for \(quantity.rawValue)",
                fix: "use \(units.joined(separator: ", "))")
        }
        return unit
    }

    private static func required(_ section: Section, _ name: String, _ fix: String) throws -> String {
        guard let text = try section.string(name), !text.isEmpty else {
            throw ConfigError("\(section.origin): \(section.key(name)): required", fix: "\(fix)")
        }
        return text
    }

    private static func wrap<T>(_ origin: String, _ body: () throws(CarePlanError) -> T) throws -> T {
        do { return try body() } catch { throw ConfigError("\(origin): \(error.description)") }
    }
}
