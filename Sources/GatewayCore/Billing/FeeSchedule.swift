/// National non-facility payment amounts for one year (`config/fees/YEAR.yaml`), with the
/// practice's overrides applied. Amounts are whole cents.
public struct FeeSchedule: Sendable, Hashable {
    public struct Fee: Sendable, Hashable {
        public var cents: Int
        public var source: String
        /// False when the public figures disagree or the CMS file was not checked.
        public var verified: Bool

        public init(cents: Int, source: String, verified: Bool) {
            self.cents = cents
            self.source = source
            self.verified = verified
        }
    }

    public var year: Int
    public var fees: [String: Fee]

    public init(year: Int, fees: [String: Fee]) {
        self.year = year
        self.fees = fees
    }

    /// The schedule with the practice's amounts (cents by code) in place of the national ones.
    public func overridden(_ overrides: [String: Int]) -> FeeSchedule {
        var copy = self
        for (code, cents) in overrides {
            copy.fees[code] = Fee(cents: cents, source: "practice override (billing.fee_overrides)", verified: true)
        }
        return copy
    }

    /// Parses a dollar amount (`66.13`) to cents exactly.
    public static func cents(_ text: String) -> Int? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let dollars = Int(parts[0]), dollars >= 0, parts[0].allSatisfy(\.isNumber)
        else { return nil }
        guard parts.count == 2 else { return dollars * 100 }
        guard (1...2).contains(parts[1].count), parts[1].allSatisfy(\.isNumber), let fraction = Int(parts[1]) else {
            return nil
        }
        return dollars * 100 + (parts[1].count == 1 ? fraction * 10 : fraction)
    }

    /// `66.13`
    public static func dollars(_ cents: Int) -> String {
        "\(cents / 100)." + (cents % 100 < 10 ? "0" : "") + "\(cents % 100)"
    }
}
