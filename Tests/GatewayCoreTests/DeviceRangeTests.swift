import Foundation
import GatewayCore
import Testing

/// HI and LO glucose results: the meter's number is a bound, not the value.
@Suite("HI and LO results")
struct DeviceRangeTests {
    static let plan: CarePlan = {
        let high = TemplateRule(
            id: "glucose-high", type: .threshold, kind: .glucose, quantities: [.glucose], direction: .above, meals: nil,
            unit: .milligramsPerDeciliter,
            parameters: [ParameterKey(.warning): 250, ParameterKey(.urgent): 300], limitIsGoal: false, source: "test",
            title: "Glucose high"
        )
        let low = TemplateRule(
            id: "glucose-low", type: .threshold, kind: .glucose, quantities: [.glucose], direction: .below, meals: nil,
            unit: .milligramsPerDeciliter,
            parameters: [ParameterKey(.warning): 70, ParameterKey(.urgent): 54], limitIsGoal: false, source: "test",
            title: "Glucose low")
        return try! CarePlan.compose(templates: [
            CarePlanTemplate(name: "g", description: "", goals: [:], rules: [high, low])
        ])
    }()

    func findings(_ value: Double, _ flags: Set<ReadingFlag>) -> [String: Finding] {
        let reading = Observation(
            at: Date(timeIntervalSince1970: 1_800_000_000), values: [.glucose: value], flags: flags)
        return Dictionary(
            uniqueKeysWithValues: Evaluator.evaluate(Self.plan, kind: .glucose, reading: reading, history: []).map {
                ($0.ruleID, $0)
            })
    }

    @Test(
        "HI raises the urgent level of the high rule, worded HI, whatever number the meter sent; the low rule is in range"
    )
    func hi() {
        // A meter whose top is 240 mg/dL would otherwise raise nothing at all.
        for sent in [240.0, 600] {
            let found = findings(sent, [.resultAboveRange])
            #expect(found["glucose-high"]?.level == .urgent)
            #expect(found["glucose-high"]?.value == "HI (above the meter's range)")
            #expect(found["glucose-high"]?.threshold == "> 300 mg/dL")
            #expect(found["glucose-low"]?.level == nil)
        }
    }

    @Test("LO raises the urgent level of the low rule, worded LO; the high rule is in range")
    func lo() {
        let found = findings(60, [.resultBelowRange])
        #expect(found["glucose-low"]?.level == .urgent)
        #expect(found["glucose-low"]?.value == "LO (below the meter's range)")
        #expect(found["glucose-high"]?.level == nil)
        // Without the flag, 60 mg/dL is a warning with its number.
        #expect(findings(60, [])["glucose-low"]?.level == .warning)
        #expect(findings(60, [])["glucose-low"]?.value == "60 mg/dL")
    }
}
