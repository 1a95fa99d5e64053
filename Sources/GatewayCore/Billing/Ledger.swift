#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A time entry as the CCM month reads it.
public struct LedgerEntry: Sendable, Hashable {
    public var id: Int64
    public var start: Date
    public var minutes: Int
    public var role: TimeEntryInput.Role
    public var program: TimeEntryInput.Program
    public var interactive: Bool
    /// Voided entries stay visible in the ledger and never count.
    public var voided: Bool

    public init(
        id: Int64, start: Date, minutes: Int, role: TimeEntryInput.Role, program: TimeEntryInput.Program,
        interactive: Bool,
        voided: Bool = false
    ) {
        self.id = id
        self.start = start
        self.minutes = minutes
        self.role = role
        self.program = program
        self.interactive = interactive
        self.voided = voided
    }

    /// The entry's minutes by practice-local date (docs/billing.md § "Counting minutes"): an entry
    /// that crosses local midnight is split there, so each part counts in its own day and month,
    /// including across a month end and on days a clock change makes 23 or 25 hours long. Minutes
    /// are elapsed minutes; the start is taken to the whole minute (entries are recorded in whole
    /// minutes), so every part is whole.
    public func split(in zone: TimeZone) -> [(date: LocalDate, minutes: Int)] {
        let day = LocalDay.date(of: start, in: zone)
        return split(in: LocalDays(zone, from: day, through: day.adding(days: 2)))
    }

    /// ``split(in:)`` with the zone's days looked up in `days` (many entries, one zone).
    public func split(in days: LocalDays) -> [(date: LocalDate, minutes: Int)] {
        var parts: [(LocalDate, Int)] = []
        var at = Date(timeIntervalSince1970: (start.timeIntervalSince1970 / 60).rounded(.down) * 60)
        var remaining = minutes
        while remaining > 0 {
            let day = days.date(of: at)
            let midnight = days.start(of: day.adding(days: 1))
            let untilMidnight = Int((midnight.timeIntervalSince(at) / 60).rounded(.up))
            let part = min(remaining, max(1, untilMidnight))
            parts.append((day, part))
            remaining -= part
            at = at.addingTimeInterval(Double(part) * 60)
        }
        return parts
    }
}
