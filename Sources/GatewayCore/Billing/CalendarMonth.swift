#if canImport(FoundationEssentials)
public import FoundationEssentials
#else
public import Foundation
#endif

/// A calendar month (`2026-03`): the service period of every CCM, PCM and RPM time code.
public struct CalendarMonth: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let year: Int
    public let month: Int

    public init(year: Int, month: Int) {
        self.year = year
        self.month = month
    }

    /// Parses `YYYY-MM`.
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 4, parts[1].count == 2, let y = Int(parts[0]), let m = Int(parts[1]),
            (1...12).contains(m)
        else { return nil }
        self.init(year: y, month: m)
    }

    public init(_ date: LocalDate) { self.init(year: date.year, month: date.month) }

    /// The month holding `instant` in `zone`.
    public init(_ instant: Date, in zone: TimeZone) { self.init(LocalDay.date(of: instant, in: zone)) }

    public var first: LocalDate { LocalDate(year: year, month: month, day: 1) }
    public var last: LocalDate {
        LocalDate(year: year, month: month, day: RFC3339.daysInMonth(year: year, month: month))
    }
    public func contains(_ date: LocalDate) -> Bool { date.year == year && date.month == month }
    public var previous: CalendarMonth {
        month == 1 ? CalendarMonth(year: year - 1, month: 12) : CalendarMonth(year: year, month: month - 1)
    }

    public var description: String { RFC3339.pad(year, 4) + "-" + RFC3339.pad(month, 2) }

    public static func < (a: CalendarMonth, b: CalendarMonth) -> Bool { (a.year, a.month) < (b.year, b.month) }
}

/// Practice-local calendar days.
public enum LocalDay {
    public static func calendar(_ zone: TimeZone) -> Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        return calendar
    }

    /// The local date of `instant` in `zone`.
    public static func date(of instant: Date, in zone: TimeZone) -> LocalDate {
        let parts = calendar(zone).dateComponents([.year, .month, .day], from: instant)
        return LocalDate(year: parts.year!, month: parts.month!, day: parts.day!)
    }

    /// The instant local midnight begins `date` in `zone` (on a day whose midnight a clock
    /// change skips, the first instant of the day).
    public static func start(of date: LocalDate, in zone: TimeZone) -> Date {
        let calendar = calendar(zone)
        let noon = calendar.date(from: DateComponents(year: date.year, month: date.month, day: date.day, hour: 12))!
        return calendar.startOfDay(for: noon)
    }

    /// The instant `zone`'s clocks show `hour:minute:second` on `date` (a time a clock change
    /// skips is read in the offset before the change), or `nil` for a date the calendar cannot
    /// place.
    public static func instant(_ date: LocalDate, hour: Int, minute: Int, second: Int = 0, in zone: TimeZone) -> Date? {
        calendar(zone).date(
            from: DateComponents(
                year: date.year, month: date.month, day: date.day, hour: hour, minute: minute, second: second))
    }
}

/// The local days of one zone over a span, placed once: the local date of an instant and the
/// instant a local day begins are looked up among the span's midnights instead of asked of a
/// calendar each time (a calendar answer costs microseconds, and the month summary places about
/// 300,000 instants for 5,000 patients). Outside the span the calendar answers, so every instant
/// has its day. The answers are ``LocalDay``'s, clock changes included: the midnights come from it.
public struct LocalDays: Sendable {
    public let zone: TimeZone
    /// The day number (``LocalDate/dayNumber``) of the span's first day.
    private let firstDay: Int
    /// Seconds since 1970: `midnights[i]` begins the span's day `i`; the last one ends the span.
    private let midnights: [Double]

    /// The days `first` through `last` of `zone`.
    public init(_ zone: TimeZone, from first: LocalDate, through last: LocalDate) {
        self.zone = zone
        firstDay = first.dayNumber
        midnights = (firstDay...max(firstDay, last.dayNumber + 1)).map {
            LocalDay.start(of: LocalDate(dayNumber: $0), in: zone).timeIntervalSince1970
        }
    }

    /// The days a month's billing reads: from a day before it (an entry that starts the evening
    /// before can cross into it) to a day after it.
    public init(_ zone: TimeZone, around month: CalendarMonth) {
        self.init(zone, from: month.first.adding(days: -1), through: month.last.adding(days: 1))
    }

    /// The local date of `instant`.
    public func date(of instant: Date) -> LocalDate {
        let seconds = instant.timeIntervalSince1970
        guard let first = midnights.first, let end = midnights.last, seconds >= first, seconds < end else {
            return LocalDay.date(of: instant, in: zone)
        }
        // The last midnight at or before the instant.
        var low = 0
        var high = midnights.count - 1
        while high - low > 1 {
            let middle = (low + high) / 2
            if midnights[middle] <= seconds { low = middle } else { high = middle }
        }
        return LocalDate(dayNumber: firstDay + low)
    }

    /// The instant local midnight begins `date` (``LocalDay/start(of:in:)``).
    public func start(of date: LocalDate) -> Date {
        let index = date.dayNumber - firstDay
        guard midnights.indices.contains(index) else { return LocalDay.start(of: date, in: zone) }
        return Date(timeIntervalSince1970: midnights[index])
    }
}
