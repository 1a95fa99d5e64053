/// The chronic-condition categories a patient's ICD-10-CM codes are counted against (data in
/// `config/chronic-conditions.yaml`, from the CMS Chronic Conditions Warehouse algorithms). A
/// listed code matches every code it begins (`I15` matches `I15.0` to `I15.9`).
///
/// Counting is by **category**: two codes of one condition (I10 and I11.9) are one condition,
/// and a code outside the list counts for none until the practice adds it, since the list is
/// what the practice attests as chronic. A code in two categories (E11.22: diabetes and chronic
/// kidney disease) still counts once on its own: conditions are counted over distinct codes,
/// each taking one category not already taken.
public struct ChronicConditions: Sendable, Hashable {
    public struct Category: Sendable, Hashable {
        public var name: String
        /// Code prefixes without dots, upper case (`I10`, `I150`).
        public var prefixes: [String]

        public init(name: String, codes: [String]) {
            self.name = name
            prefixes = codes.map { $0.uppercased().filter { $0 != "." } }
        }
    }

    public var categories: [Category]

    public init(categories: [Category]) { self.categories = categories }

    /// The categories `code` belongs to.
    public func categories(of code: String) -> [String] {
        let bare = code.uppercased().filter { $0 != "." }
        return categories.filter { $0.prefixes.contains { bare.hasPrefix($0) } }.map(\.name)
    }

    /// Distinct conditions among `codes`: each distinct code takes one of its categories that
    /// no other code has taken (a matching, so E11.22 with E11.9 is two: diabetes and CKD; E11.22
    /// alone is one).
    public func count(_ codes: [String]) -> (count: Int, conditions: [String], unlisted: [String]) {
        var distinct: [String] = []
        for code in codes.map({ $0.uppercased() }) where !distinct.contains(code) { distinct.append(code) }
        let options = distinct.map { categories(of: $0) }
        var taken: [String: Int] = [:]  // category → index of the code holding it
        func assign(_ index: Int, _ visited: inout Set<String>) -> Bool {
            for category in options[index] where visited.insert(category).inserted {
                if let holder = taken[category] {
                    guard assign(holder, &visited) else { continue }
                }
                taken[category] = index
                return true
            }
            return false
        }
        for index in distinct.indices {
            var visited: Set<String> = []
            _ = assign(index, &visited)
        }
        let conditions = categories.map(\.name).filter { taken[$0] != nil }
        let unlisted = zip(distinct, options).filter { $0.1.isEmpty }.map(\.0)
        return (taken.count, conditions, unlisted)
    }
}

/// Screening a roster patient for CCM (docs/billing.md § "Eligibility"): Medicare Part B, two or more chronic
/// conditions from the list, not enrolled with another practitioner, consent not declined.
public enum Eligibility {
    public enum Consent: Sendable, Hashable {
        case given(LocalDate)
        case declined
        case notAsked
    }

    public struct Candidate: Sendable, Hashable {
        public var id: String
        public var medicarePartB: Bool
        public var conditions: [String]
        public var otherPractitioner: Bool
        public var consent: Consent

        public init(id: String, medicarePartB: Bool, conditions: [String], otherPractitioner: Bool, consent: Consent) {
            self.id = id
            self.medicarePartB = medicarePartB
            self.conditions = conditions
            self.otherPractitioner = otherPractitioner
            self.consent = consent
        }
    }

    public struct Decision: Sendable, Hashable {
        public var eligible: Bool
        /// The chronic conditions found, by category name.
        public var conditions: [String]
        /// Every reason the patient is not eligible (empty when eligible).
        public var reasons: [String]
        /// What to do next for an eligible patient, or what else was noticed.
        public var notes: [String]
    }

    public static func screen(_ candidate: Candidate, list: ChronicConditions) -> Decision {
        var reasons: [String] = [], notes: [String] = []
        if !candidate.medicarePartB { reasons.append("no Medicare Part B") }
        let found = list.count(candidate.conditions)
        switch found.count {
        case 0:
            reasons.append(
                candidate.conditions.isEmpty
                    ? "no ICD-10 codes on the roster"
                    : "no chronic condition from the CMS list among \(candidate.conditions.joined(separator: ", "))")
        case 1:
            reasons.append("one chronic condition (\(found.conditions[0])); CCM needs two or more (PCM may apply)")
        default: break
        }
        if !found.unlisted.isEmpty {
            notes.append("not on the chronic-condition list: \(found.unlisted.joined(separator: ", "))")
        }
        if candidate.otherPractitioner {
            reasons.append("enrolled in CCM with another practitioner; only one practitioner is paid per month")
        }
        switch candidate.consent {
        case .declined: reasons.append("declined CCM")
        case .notAsked:
            if reasons.isEmpty { notes.insert("obtain and record consent before the first billed minute", at: 0) }
        case .given: break
        }
        return Decision(eligible: reasons.isEmpty, conditions: found.conditions, reasons: reasons, notes: notes)
    }
}
