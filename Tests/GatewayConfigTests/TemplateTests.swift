import Foundation
import GatewayConfig
import GatewayCore
import GatewayTestSupport
import Testing

@Suite("Care-plan templates", .ownThreads)
struct TemplateTests {
    static let library = try! CarePlanLibrary.load(directory: templatesDirectory)
    static let names = library.templates.keys.sorted()
    static let t0 = RFC3339.parse("2026-03-10T12:00:00Z")!

    @Test("The five disease templates are there, each with its sources")
    func present() {
        #expect(Self.names == ["copd", "diabetes-insulin", "diabetes-t2", "heart-failure", "hypertension"])
        for template in Self.library.templates.values {
            for rule in template.rules {
                #expect(rule.source.count > 20, "\(template.name) \(rule.id) needs a real source")
            }
        }
    }

    /// One value a small step (0.1 in the rule's unit) beyond or before a limit, in canonical units.
    static func step(_ rule: EffectiveRule, _ quantity: Quantity) -> Double {
        let unit = rule.rule.unit ?? quantity.canonicalUnit
        return 0.1 * (unit.convert(1, toCanonicalOf: quantity)! - unit.convert(0, toCanonicalOf: quantity)!)
    }

    static func levelName(_ level: AlertLevel?) -> String { level?.rawValue ?? "in range" }

    @Test("Every threshold at, just inside and just past its boundary", arguments: names)
    func boundaries(_ name: String) throws {
        let plan = try Self.library.plan(templates: [name], overrides: [])
        for rule in plan.rules {
            let meal = rule.rule.meals?.sorted { $0.rawValue < $1.rawValue }.first
            func evaluate(_ values: [Quantity: Double], history: [Observation] = []) -> AlertLevel?? {
                let reading = Observation(at: Self.t0, values: values, meal: meal)
                return Evaluator.evaluate(plan, kind: rule.rule.kind, reading: reading, history: history)
                    .first { $0.ruleID == rule.id }.map(\.level)
            }
            func check(
                _ actual: AlertLevel??, _ expected: AlertLevel?, _ what: String,
                sourceLocation: SourceLocation = #_sourceLocation
            ) {
                #expect(
                    actual == .some(expected),
                    "\(name) \(rule.id) \(what): \(actual.map(Self.levelName) ?? "no finding"), expected \(Self.levelName(expected))",
                    sourceLocation: sourceLocation)
            }
            let sign: Double = rule.rule.direction == .above ? 1 : -1
            switch rule.rule.type {
            case .threshold:
                for quantity in rule.rule.quantities {
                    // The rule's other quantities sit on their own first limit: in range.
                    var neutral: [Quantity: Double] = [:]
                    for other in rule.rule.quantities where other != quantity {
                        neutral[other] = rule.warning(other) ?? rule.urgent(other)
                    }
                    let eps = Self.step(rule, quantity) * sign
                    func with(_ v: Double) -> [Quantity: Double] { neutral.merging([quantity: v]) { $1 } }
                    if let warning = rule.warning(quantity) {
                        check(evaluate(with(warning - eps)), nil, "\(quantity.rawValue) just inside warning")
                        check(evaluate(with(warning)), nil, "\(quantity.rawValue) at warning")
                        check(evaluate(with(warning + eps)), .warning, "\(quantity.rawValue) just past warning")
                    }
                    if let urgent = rule.urgent(quantity) {
                        check(
                            evaluate(with(urgent)), rule.warning(quantity) == nil ? nil : .warning,
                            "\(quantity.rawValue) at urgent")
                        check(evaluate(with(urgent + eps)), .urgent, "\(quantity.rawValue) just past urgent")
                    }
                }
            case .change:
                let quantity = rule.rule.quantity!
                let base = 80.0
                let earlier = [Observation(at: Self.t0.addingTimeInterval(-rule.window / 2), values: [quantity: base])]
                let eps = Self.step(rule, quantity)
                for (limit, level, below) in [
                    (rule.warning(), AlertLevel.warning, nil as AlertLevel?),
                    (rule.urgent(), .urgent, rule.warning() == nil ? nil : .warning),
                ] {
                    guard let limit else { continue }
                    check(
                        evaluate([quantity: base + limit - eps], history: earlier), below,
                        "rise just under \(level.rawValue)")
                    check(
                        evaluate([quantity: base + limit], history: earlier), level, "rise of exactly \(level.rawValue)"
                    )
                }
                // The same rise, but the earlier reading lies outside the window: nothing to compare.
                let outside = [Observation(at: Self.t0.addingTimeInterval(-rule.window - 60), values: [quantity: base])]
                #expect(
                    evaluate([quantity: base + 100], history: outside) == nil, "\(name) \(rule.id) outside its window")
            case .nOfM:
                let quantity = rule.rule.quantity!
                let limit = rule.limit!
                let eps = Self.step(rule, quantity) * sign
                // n - 1 of the earlier m - 1 readings beyond the limit, the rest on it.
                let history = (0..<(rule.m - 1)).map { i in
                    Observation(
                        at: Self.t0.addingTimeInterval(Double(i - rule.m) * 3600),
                        values: [quantity: i < rule.n - 1 ? limit + eps : limit],
                        meal: meal)
                }
                check(
                    evaluate([quantity: limit], history: history), nil,
                    "\(rule.n - 1) of \(rule.m) beyond, the last on the limit")
                check(evaluate([quantity: limit + eps], history: history), rule.level, "\(rule.n) of \(rule.m) beyond")
            case .average:
                let quantity = rule.rule.quantity!
                let limit = rule.limit!
                let eps = Self.step(rule, quantity) * sign
                let history = (1..<rule.minReadings).map { i in
                    Observation(at: Self.t0.addingTimeInterval(-Double(i) * 3600), values: [quantity: limit])
                }
                check(evaluate([quantity: limit], history: history), nil, "average on the limit")
                check(evaluate([quantity: limit + eps], history: history), rule.level, "average just past the limit")
                check(
                    evaluate([quantity: limit + 50 * eps], history: []), rule.minReadings > 1 ? nil : rule.level,
                    "too few readings")
            case .irregularPulse:
                // n - 1 of the earlier m - 1 readings flagged, then one more.
                let values: [Quantity: Double] = [.systolic: 120, .diastolic: 80]
                let history = (0..<(rule.m - 1)).map { i in
                    Observation(
                        at: Self.t0.addingTimeInterval(Double(i - rule.m) * 3600), values: values,
                        flags: i < rule.n - 1 ? [.irregularPulse] : [])
                }
                func flagged(_ flags: Set<ReadingFlag>) -> AlertLevel?? {
                    Evaluator.evaluate(
                        plan, kind: .bloodPressure, reading: Observation(at: Self.t0, values: values, flags: flags),
                        history: history
                    )
                    .first { $0.ruleID == rule.id }.map(\.level)
                }
                check(flagged([]), nil, "\(rule.n - 1) of \(rule.m) with irregular pulse")
                check(flagged([.irregularPulse]), rule.level, "\(rule.n) of \(rule.m) with irregular pulse")
            case .stale:
                let since = Self.t0
                let at = Evaluator.stale(
                    plan, lastReadingAt: [:], planSince: since, now: since.addingTimeInterval(rule.after))
                check(
                    at.first { $0.ruleID == rule.id }.map(\.level), nil,
                    "exactly \(DurationText.format(rule.after)) without data")
                let past = Evaluator.stale(
                    plan, lastReadingAt: [:], planSince: since, now: since.addingTimeInterval(rule.after + 1))
                check(
                    past.first { $0.ruleID == rule.id }.map(\.level), rule.level,
                    "a second past \(DurationText.format(rule.after))")
            }
        }
    }

    @Test("Templates compose: the stricter stale window of diabetes-insulin wins over diabetes-t2")
    func composition() throws {
        let plan = try Self.library.plan(templates: ["diabetes-t2", "diabetes-insulin", "hypertension"], overrides: [])
        let stale = try #require(plan.parameters.first { $0.key == "glucose-stale.after" })
        #expect(stale.value == "1d")
        #expect(stale.from.hasPrefix("diabetes-insulin (stricter than 3d): product choice"))
        #expect(plan.rules.contains { $0.id == "glucose-after-meal-above-goal" })
        #expect(plan.rules.contains { $0.id == "bp-high" })
    }

    @Test("An unknown template is named with the ones there are")
    func unknownTemplate() {
        #expect(
            throws: CarePlanError(
                "unknown template \"asthma\"; the templates in \(templatesDirectory) are copd, diabetes-insulin, diabetes-t2, heart-failure, hypertension"
            )
        ) {
            try Self.library.plan(templates: ["hypertension", "asthma"], overrides: [])
        }
    }

    static let minimal = """
        template: t
        description: d
        rules:
          r:
            title: R
            type: threshold
            quantity: systolic
            direction: above
            warning: 160
            urgent: 180
            unit: mmHg
            source: somewhere
        """

    @Test(
        "Template mistakes name the file, the key and the fix",
        arguments: [
            (
                "warning: 160", "warning: 190",
                "t.yaml: rule r: warning 190 mmHg is beyond urgent 180 mmHg; a warning must come before urgent (lower than it)"
            ),
            ("unit: mmHg", "unit: mg/dL", "t.yaml: rules.r.unit: \"mg/dL\" is not a unit for systolic; use mmHg, kPa"),
            (
                "direction: above", "direction: above\n    colour: red",
                "t.yaml: rules.r.colour: unknown key; rules.r allows type, title, kind, quantity, limits, direction, meals, unit, source, warning, urgent, resolve_after"
            ),
            (
                "type: threshold", "type: spike",
                "t.yaml: rules.r.type: required, one of threshold, n_of_m, average, change, stale, irregular_pulse"
            ),
            (
                "    source: somewhere", "",
                "t.yaml: rules.r.source: required; name the clinical source of its numbers, or say it is a product choice and why"
            ),
            (
                "quantity: systolic", "quantity: pressure",
                "t.yaml: rules.r.quantity: unknown quantity \"pressure\"; use one of systolic, diastolic, map, pulse, glucose, weight, spo2, temperature"
            ),
            (
                "template: t", "template: other",
                "t.yaml: template: \"other\" differs from the file name; name the file other.yaml"
            ),
        ])
    func mistakes(find: String, replace: String, message: String) {
        let text = Self.minimal.replacingOccurrences(of: find, with: replace)
        #expect(throws: ConfigError.self) { try CarePlanLibrary.parse(text, origin: "t.yaml", expectedName: "t") }
        do {
            _ = try CarePlanLibrary.parse(text, origin: "t.yaml", expectedName: "t")
        } catch {
            #expect("\(error)" == message)
        }
    }

    @Test("A missing templates folder says which setting to fix")
    func missingFolder() {
        #expect(
            throws: ConfigError(
                "cannot read the care-plan templates in /nonexistent; set careplans.directory in the configuration to the folder holding them"
            )
        ) {
            try CarePlanLibrary.load(directory: "/nonexistent")
        }
    }
}
