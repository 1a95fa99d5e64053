import Foundation
public import GatewayCore
public import GatewayStore
import Yams

extension GatewayConfig {
    /// The fee schedule for `year` from `billing.fees_directory`, with the practice's overrides.
    /// A year without a file is an error naming the file to add.
    public func feeSchedule(year: Int) throws -> FeeSchedule {
        let path = (billing.feesDirectory as NSString).appendingPathComponent("\(year).yaml")
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(
                "no fee schedule for \(year) at \(path); add \(year).yaml to billing.fees_directory (copy the nearest year and update its amounts from the CMS relative value file)"
            )
        }
        return try Self.parseFees(String(decoding: data, as: UTF8.self), origin: path).overridden(billing.feeOverrides)
    }

    static func parseFees(_ text: String, origin: String) throws -> FeeSchedule {
        guard case let node? = try? Yams.compose(yaml: text) else { throw ConfigError("\(origin): not valid YAML") }
        let root = try Section(node, path: "", origin: origin)
        try root.allow(["year", "basis", "conversion_factor", "source", "fees"])
        guard let year = try root.int("year") else { throw ConfigError("\(origin): year: required") }
        guard let fees = try root.section("fees") else {
            throw ConfigError("\(origin): fees: required, a mapping of codes to amounts")
        }
        var schedule = FeeSchedule(year: year, fees: [:])
        for (code, fee) in try fees.sections() {
            try fee.allow(["amount", "source", "verified", "note"])
            guard let text = try fee.string("amount"), let cents = FeeSchedule.cents(text) else {
                throw ConfigError("\(origin): fees.\(code).amount: required, in dollars like 66.13")
            }
            guard let source = try fee.string("source") else {
                throw ConfigError("\(origin): fees.\(code).source: required", fix: "say where the amount comes from")
            }
            schedule.fees[code] = .init(cents: cents, source: source, verified: try fee.bool("verified") ?? false)
        }
        return schedule
    }

    /// The chronic-condition list of `billing.conditions`.
    public func chronicConditions() throws -> ChronicConditions {
        let path = billing.conditions
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError(
                "no chronic-condition list at \(path)",
                fix: "set billing.conditions to config/chronic-conditions.yaml or its installed copy")
        }
        guard case let node? = try? Yams.compose(yaml: String(decoding: data, as: UTF8.self)) else {
            throw ConfigError("\(path): not valid YAML")
        }
        let root = try Section(node, path: "", origin: path)
        try root.allow(["source", "conditions"])
        guard let list = root.value("conditions")?.sequence else {
            throw ConfigError("\(path): conditions: required, a list of categories")
        }
        return ChronicConditions(
            categories: try list.enumerated().map { index, item in
                let category = try Section(item, path: "conditions[\(index)]", origin: path)
                try category.allow(["name", "codes", "note"])
                guard let name = try category.string("name"), let codes = try category.list("codes"), !codes.isEmpty
                else {
                    throw ConfigError("\(path): conditions[\(index)]: needs a name and a list of ICD-10 codes")
                }
                for code in codes where ICD10.canonical(code) == nil {
                    throw ConfigError(
                        "\(path): conditions[\(index)].codes: \"\(code)\" is not an ICD-10-CM code or prefix")
                }
                return .init(name: name, codes: codes)
            })
    }
}

extension GatewayConfig {
    /// The CCM month for every patient (or one) with something to bill or explain: enrolled in a
    /// program, or with minutes or device days in the month. Months are the practice's.
    public func monthSummaries(
        database: GatewayDatabase, month: CalendarMonth, patient: String? = nil
    ) throws -> [MonthSummary] {
        let zone = practice.zone
        let inputs = try database.billingInputs(month: month, zone: zone, patient: patient)
        let list = try chronicConditions()
        // Patients share code lists; each distinct list is counted once.
        var conditionCounts: [[String]: Int] = [:]
        return inputs.patients.compactMap { p in
            let entries = inputs.entries[p.id] ?? []
            let days = inputs.readingDays[p.id] ?? []
            guard !p.programs.isEmpty || !entries.isEmpty || days.contains(where: month.contains) || patient != nil
            else { return nil }
            let conditions = conditionCounts[p.conditions] ?? list.count(p.conditions).count
            conditionCounts[p.conditions] = conditions
            let facts = BillingPatient(
                id: p.id, chronicConditions: conditions, medicarePartB: p.medicarePartB,
                consent: p.ccmConsentDate,
                programs: Set(p.programs), complex: (inputs.complexity[p.id] ?? p.complexity) == .complex,
                rpmStart: p.rpmStart,
                hasCarePlan: inputs.carePlans.contains(p.id))
            return MonthRules.summarize(
                facts, month: month, entries: entries, readingDays: days, days: inputs.days,
                devicePeriod: billing.devicePeriod
            )
        }
    }
}
