import Foundation
import GatewayCore
import Testing

/// Small templates built in code, so these tests depend on nothing but GatewayCore.
enum Sample {
    static func threshold(
        _ id: String, _ quantity: Quantity, _ direction: Direction, warning: Double?, urgent: Double?,
        unit: MeasurementUnit = .mmHg,
        resolveAfter: Double = 0, meals: Set<MealContext>? = nil
    ) -> TemplateRule {
        var parameters: [ParameterKey: Double] = [ParameterKey(.resolveAfter): resolveAfter]
        parameters[ParameterKey(.warning)] = warning.map { unit.convert($0, toCanonicalOf: quantity)! }
        parameters[ParameterKey(.urgent)] = urgent.map { unit.convert($0, toCanonicalOf: quantity)! }
        let kind = ReadingKind.allCases.first { $0.allowedQuantities.contains(quantity) }!
        return TemplateRule(
            id: id, type: .threshold, kind: kind, quantities: [quantity], direction: direction, meals: meals,
            unit: unit,
            parameters: parameters, limitIsGoal: false, source: "test source", title: id)
    }

    static func stale(_ id: String, _ kind: ReadingKind, hours: Double) -> TemplateRule {
        TemplateRule(
            id: id, type: .stale, kind: kind, quantities: [], direction: .above, meals: nil, unit: nil,
            parameters: [ParameterKey(.after): hours * 3600, ParameterKey(.level): 0], limitIsGoal: false,
            source: "stale source",
            title: id)
    }

    static func template(
        _ name: String, _ rules: [TemplateRule], goals: [Quantity: TemplateGoal] = [:]
    ) -> CarePlanTemplate {
        CarePlanTemplate(name: name, description: name, goals: goals, rules: rules)
    }

    static let t0 = RFC3339.parse("2026-03-01T12:00:00Z")!

    static func at(hours: Double) -> Date { t0.addingTimeInterval(hours * 3600) }
}

@Suite("Care-plan composition")
struct CarePlanTests {
    @Test("Where two templates set the same parameter the stricter wins, and says so")
    func stricterWins() throws {
        let t2 = Sample.template(
            "diabetes-t2",
            [
                Sample.stale("glucose-stale", .glucose, hours: 72),
                Sample.threshold(
                    "glucose-high", .glucose, .above, warning: 250, urgent: 300, unit: .milligramsPerDeciliter),
            ])
        let insulin = Sample.template(
            "diabetes-insulin",
            [
                Sample.stale("glucose-stale", .glucose, hours: 24),
                Sample.threshold(
                    "glucose-high", .glucose, .above, warning: 240, urgent: 320, unit: .milligramsPerDeciliter),
            ])
        let plan = try CarePlan.compose(templates: [t2, insulin])
        let stale = try #require(plan.rules.first { $0.id == "glucose-stale" })
        #expect(stale.after == 24 * 3600)
        let high = try #require(plan.rules.first { $0.id == "glucose-high" })
        #expect(high.warning() == 240)
        #expect(high.urgent() == 300)
        let from = Dictionary(uniqueKeysWithValues: plan.parameters.map { ($0.key, $0) })
        #expect(from["glucose-stale.after"]?.value == "1d")
        #expect(from["glucose-stale.after"]?.from == "diabetes-insulin (stricter than 3d): stale source")
        #expect(from["glucose-high.urgent"]?.from == "diabetes-t2: test source")
        #expect(from["glucose-high.warning"]?.from == "diabetes-insulin (stricter than 250 mg/dL): test source")
    }

    @Test("Lower limits are stricter higher")
    func belowDirection() throws {
        let a = Sample.template(
            "a", [Sample.threshold("spo2-low", .spo2, .below, warning: 90, urgent: 88, unit: .percent)])
        let b = Sample.template(
            "b", [Sample.threshold("spo2-low", .spo2, .below, warning: 92, urgent: 85, unit: .percent)])
        let rule = try #require(try CarePlan.compose(templates: [a, b]).rules.first)
        #expect(rule.warning() == 92)
        #expect(rule.urgent() == 88)
    }

    @Test("Overrides come last, in the rule's unit unless another is given")
    func overrides() throws {
        let hf = Sample.template(
            "hf", [Sample.threshold("weight-high", .weight, .above, warning: 220, urgent: 240, unit: .pound)])
        let plan = try CarePlan.compose(
            templates: [hf],
            overrides: [
                CarePlanOverride(key: "weight-high.warning", value: "210", by: "dr"),
                CarePlanOverride(key: "weight-high.urgent", value: "105 kg", by: "dr"),
            ])
        let rule = try #require(plan.rules.first)
        #expect(rule.warning() == 95.25439770)
        #expect(rule.urgent() == 105)
        #expect(plan.parameters.first { $0.key == "weight-high.urgent" }?.value == "231.5 lb")
        #expect(plan.parameters.first { $0.key == "weight-high.warning" }?.from == "override by dr")
    }

    @Test(
        "Mistakes name the key and the fix",
        arguments: [
            ("bp.warning", "150", "bp.warning: no rule bp in this plan; its rules are systolic-high"),
            (
                "systolic-high.limit", "150",
                "systolic-high.limit: rule systolic-high has no parameter limit; use warning, urgent, resolve_after"
            ),
            (
                "systolic-high.warning", "190",
                "rule systolic-high: warning 190 mmHg is beyond urgent 180 mmHg; a warning must come before urgent (lower than it)"
            ),
            (
                "systolic-high.warning", "150 mg/dL",
                "systolic-high.warning: \"mg/dL\" is not a unit for systolic; use mmHg, kPa"
            ),
            (
                "systolic-high.warning", "high",
                "systolic-high.warning: \"high\" is not a number; write it like 180 or 180 mmHg"
            ),
            (
                "systolic-high.resolve_after", "soon",
                "systolic-high.resolve_after: \"soon\" is not a duration; write it like 30m, 24h or 7d"
            ),
            (
                "goal.pressure", "130",
                "goal.pressure: not a goal; goals are goal.QUANTITY with systolic, diastolic, map, pulse, glucose, weight, spo2, temperature"
            ),
        ])
    func mistakes(key: String, value: String, message: String) {
        let template = Sample.template(
            "htn", [Sample.threshold("systolic-high", .systolic, .above, warning: 160, urgent: 180)])
        #expect(throws: CarePlanError(message)) {
            try CarePlan.compose(templates: [template], overrides: [CarePlanOverride(key: key, value: value, by: "x")])
        }
    }

    @Test("A rule defined differently by two templates is refused")
    func conflictingDefinitions() {
        let a = Sample.template("a", [Sample.threshold("x", .systolic, .above, warning: 160, urgent: 180)])
        let b = Sample.template("b", [Sample.threshold("x", .systolic, .below, warning: 90, urgent: 80)])
        #expect(throws: CarePlanError("rule x is defined differently by a and b; give one of them another id")) {
            try CarePlan.compose(templates: [a, b])
        }
    }

    @Test("A goal rule without a goal is refused; a goal override moves its limit")
    func goals() throws {
        let rule = TemplateRule(
            id: "sys-goal", type: .nOfM, kind: .bloodPressure, quantities: [.systolic], direction: .above, meals: nil,
            unit: .mmHg,
            parameters: [ParameterKey(.n): 3, ParameterKey(.m): 5, ParameterKey(.level): 0], limitIsGoal: true,
            source: "s", title: "t")
        #expect(
            throws: CarePlanError(
                "rule sys-goal alerts against the goal for systolic, but no template or override sets goal.systolic")
        ) {
            try CarePlan.compose(templates: [Sample.template("a", [rule])])
        }
        let goal = TemplateGoal(quantity: .systolic, keep: .below, value: 130, unit: .mmHg, source: "ACC/AHA")
        let plan = try CarePlan.compose(
            templates: [Sample.template("a", [rule], goals: [.systolic: goal])],
            overrides: [CarePlanOverride(key: "goal.systolic", value: "125", by: "dr")])
        #expect(plan.rules[0].limit == 125)
        #expect(plan.parameters.first { $0.key == "sys-goal.limit" }?.from == "goal.systolic")
        #expect(plan.parameters.first { $0.key == "goal.systolic" }?.value == "< 125 mmHg")
    }
}

@Suite("Rule evaluation")
struct EvaluatorTests {
    func plan(_ rules: [TemplateRule], goals: [Quantity: TemplateGoal] = [:]) throws -> CarePlan {
        try CarePlan.compose(templates: [Sample.template("t", rules, goals: goals)])
    }

    func bp(_ hours: Double, _ systolic: Double, _ diastolic: Double = 80, id: Int64? = nil) -> Observation {
        Observation(readingID: id, at: Sample.at(hours: hours), values: [.systolic: systolic, .diastolic: diastolic])
    }

    @Test("A threshold over two quantities is one finding at the worst level")
    func bloodPressure() throws {
        var rule = Sample.threshold("bp-high", .systolic, .above, warning: nil, urgent: nil)
        rule.quantities = [.systolic, .diastolic]
        rule.parameters = [
            ParameterKey(.warning, .systolic): 160, ParameterKey(.urgent, .systolic): 180,
            ParameterKey(.warning, .diastolic): 100,
            ParameterKey(.urgent, .diastolic): 120,
        ]
        let p = try plan([rule])
        let crisis = Evaluator.evaluate(p, kind: .bloodPressure, reading: bp(0, 182, 121), history: [])
        #expect(crisis.count == 1)
        #expect(crisis[0].level == .urgent)
        #expect(crisis[0].value == "182/121 mmHg")
        #expect(crisis[0].threshold == "systolic > 180 mmHg, diastolic > 120 mmHg")
        let mixed = Evaluator.evaluate(p, kind: .bloodPressure, reading: bp(0, 165, 125), history: [])
        #expect(mixed[0].level == .urgent)
        #expect(mixed[0].threshold == "diastolic > 120 mmHg")
        #expect(Evaluator.evaluate(p, kind: .bloodPressure, reading: bp(0, 160, 100), history: [])[0].level == nil)
    }

    @Test("N of the last M: counts only the last M readings of the matching meal context")
    func nOfM() throws {
        let rule = TemplateRule(
            id: "fasting", type: .nOfM, kind: .glucose, quantities: [.glucose], direction: .above, meals: [.fasting],
            unit: .milligramsPerDeciliter,
            parameters: [ParameterKey(.limit): 130, ParameterKey(.n): 3, ParameterKey(.m): 5, ParameterKey(.level): 0],
            limitIsGoal: false, source: "ADA", title: "t")
        let p = try plan([rule])
        func g(_ h: Double, _ v: Double, _ meal: MealContext = .fasting) -> Observation {
            Observation(at: Sample.at(hours: h), values: [.glucose: v], meal: meal)
        }
        // Two fasting highs, many after-meal highs that must not count.
        let history = [g(0, 150), g(1, 250, .afterMeal), g(2, 120), g(3, 260, .afterMeal), g(4, 140)]
        #expect(Evaluator.evaluate(p, kind: .glucose, reading: g(5, 130), history: history)[0].level == nil)
        let out = Evaluator.evaluate(p, kind: .glucose, reading: g(5, 131), history: history)
        #expect(out[0].level == .warning)
        #expect(out[0].value == "131 mg/dL, 3 of last 4")
        #expect(out[0].threshold == "3 of 5 > 130 mg/dL")
        // After-meal readings do not apply to the fasting rule at all.
        #expect(Evaluator.evaluate(p, kind: .glucose, reading: g(5, 300, .afterMeal), history: history).isEmpty)
        // Only the last five count: a sixth, older high reading does not.
        let older = [g(0, 150), g(1, 150), g(2, 150), g(3, 120), g(4, 120)]
        #expect(Evaluator.evaluate(p, kind: .glucose, reading: g(5, 120), history: older)[0].level == nil)
        #expect(
            Evaluator.evaluate(p, kind: .glucose, reading: g(5, 120), history: [g(-1, 150)] + older)[0].level == nil)
        #expect(
            Evaluator.evaluate(p, kind: .glucose, reading: g(5, 131), history: [g(-1, 150)] + older)[0].level
                == .warning)
    }

    @Test("Rolling average: only readings inside the window, and at least min_readings of them")
    func average() throws {
        let rule = TemplateRule(
            id: "avg", type: .average, kind: .bloodPressure, quantities: [.systolic], direction: .above, meals: nil,
            unit: .mmHg,
            parameters: [
                ParameterKey(.limit): 130, ParameterKey(.window): 7 * 86_400, ParameterKey(.minReadings): 3,
                ParameterKey(.level): 0,
            ],
            limitIsGoal: false, source: "s", title: "t")
        let p = try plan([rule])
        // 8 days ago a very high reading, outside the window.
        let history = [bp(-8 * 24, 200), bp(-48, 130), bp(-24, 131)]
        let out = Evaluator.evaluate(p, kind: .bloodPressure, reading: bp(0, 129), history: history)
        #expect(out[0].level == nil)
        #expect(out[0].value == "average 130 mmHg of 3")
        let above = Evaluator.evaluate(p, kind: .bloodPressure, reading: bp(0, 130), history: history)[0]
        #expect(above.level == .warning)
        #expect(above.value == "average 130.3 mmHg of 3")
        #expect(
            Evaluator.evaluate(p, kind: .bloodPressure, reading: bp(0, 190), history: [bp(-24, 131)])[0].level == nil)
    }

    @Test("Change: the rise over the lowest value in the window, at least the amount")
    func change() throws {
        let rule = TemplateRule(
            id: "gain", type: .change, kind: .weight, quantities: [.weight], direction: .above, meals: nil,
            unit: .pound,
            parameters: [
                ParameterKey(.warning): Normalizer.trimConversionNoise(2 * 0.45359237),
                ParameterKey(.urgent): Normalizer.trimConversionNoise(3 * 0.45359237), ParameterKey(.window): 86_400,
                ParameterKey(.resolveAfter): 0,
            ],
            limitIsGoal: false, source: "s", title: "t")
        let p = try plan([rule])
        func w(_ h: Double, _ lb: Double) -> Observation {
            Observation(at: Sample.at(hours: h), values: [.weight: Normalizer.trimConversionNoise(lb * 0.45359237)])
        }
        let history = [w(-30, 190), w(-20, 200), w(-10, 199.4)]
        #expect(Evaluator.evaluate(p, kind: .weight, reading: w(0, 201.3), history: history)[0].level == nil)
        let warning = Evaluator.evaluate(p, kind: .weight, reading: w(0, 201.4), history: history)[0]
        #expect(warning.level == .warning)
        #expect(warning.value == "+2 lb in 1d")
        #expect(warning.threshold == "+2 lb in 1d")
        #expect(Evaluator.evaluate(p, kind: .weight, reading: w(0, 202.4), history: history)[0].level == .urgent)
        // Nothing earlier inside the window: nothing to compare with.
        #expect(Evaluator.evaluate(p, kind: .weight, reading: w(0, 250), history: [w(-30, 190)]).isEmpty)
    }

    @Test("Stale data: out of range past the window since the last reading or the plan's start")
    func stale() throws {
        let p = try plan([Sample.stale("glucose-stale", .glucose, hours: 72)])
        let since = Sample.at(hours: 0)
        #expect(Evaluator.stale(p, lastReadingAt: [:], planSince: since, now: Sample.at(hours: 72))[0].level == nil)
        let out = Evaluator.stale(p, lastReadingAt: [:], planSince: since, now: Sample.at(hours: 72.001))[0]
        #expect(out.level == .warning)
        #expect(out.value == "no glucose reading for 72h")
        #expect(
            Evaluator.stale(
                p, lastReadingAt: [.glucose: Sample.at(hours: 10)], planSince: since, now: Sample.at(hours: 82))[0]
                .level == nil
        )
        // Any new reading of the kind ends it.
        let reading = Observation(at: Sample.at(hours: 90), values: [.glucose: 100])
        #expect(Evaluator.evaluate(p, kind: .glucose, reading: reading, history: []).map(\.level) == [nil])
    }
}

@Suite("Alert log lines")
struct AlertLogLineTests {
    static let event = AlertEvent(
        at: RFC3339.parse("2026-03-04T13:42:10Z")!, kind: .acknowledged, alertID: 7, level: .urgent, patientID: "P1",
        rule: "bp-high",
        title: "Blood pressure high", value: "182/121 mmHg", threshold: "systolic > 180 mmHg, diastolic > 120 mmHg",
        by: "nurse.kim",
        note: "called \"back\" = ok")

    @Test("Text lines carry time, level, event, ids, value and threshold, and parse back")
    func text() {
        let line = AlertLogFormat.text.line(Self.event)
        #expect(
            line
                == #"2026-03-04T13:42:10Z URGENT acknowledged alert=7 patient=P1 rule=bp-high value="182/121 mmHg" threshold="systolic > 180 mmHg, diastolic > 120 mmHg" title="Blood pressure high" by=nurse.kim note="called \"back\" = ok""#
        )
        #expect(AlertLogFormat.parse(line) == Self.event)
    }

    @Test("JSON lines parse back")
    func json() {
        let line = AlertLogFormat.json.line(Self.event)
        #expect(line.hasPrefix(#"{"alert":7,"by":"nurse.kim","event":"acknowledged","level":"urgent","#))
        #expect(AlertLogFormat.parse(line) == Self.event)
        #expect(AlertLogFormat.parse("not a line") == nil)
    }
}
