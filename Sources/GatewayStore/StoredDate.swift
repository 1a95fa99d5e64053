import Foundation
import GRDB

/// Dates as the database stores them (GRDB's format, `yyyy-MM-dd HH:mm:ss.SSS` in UTC), written
/// without a DateFormatter. GRDB formats every `Date` argument through ICU, which cost about 15,000
/// instructions a date, eleven dates a reading, 7 % of deciding one (callgrind, BENCHMARKS.md);
/// this is a few hundred. The same text, to the nearest millisecond as ICU rounds it, for
/// 1970 to 9999; any other date goes through GRDB's formatter (ICU rounds earlier ones
/// differently now and then).
package enum StoredDate {
    package static func text(_ date: Date) -> String {
        // ICU's UDate: milliseconds since 1970, as Foundation hands it over.
        let udate = (date.timeIntervalSinceReferenceDate + 978_307_200) * 1000
        guard udate.isFinite, udate >= 0, udate < 253_402_300_800_000 else {
            return String.fromDatabaseValue(date.databaseValue) ?? ""
        }
        let millis = Int64(udate.rounded())
        var days = millis >= 0 ? millis / 86_400_000 : (millis - 86_399_999) / 86_400_000
        let inDay = Int(millis - days * 86_400_000)
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        let year = Int(yearOfEra + era * 400 + (month <= 2 ? 1 : 0))
        var bytes = [UInt8](repeating: 0, count: 23)
        func put(_ value: Int, _ at: Int, _ width: Int) {
            var value = value
            for index in stride(from: at + width - 1, through: at, by: -1) {
                bytes[index] = UInt8(48 + value % 10)
                value /= 10
            }
        }
        put(year, 0, 4)
        bytes[4] = 45
        put(month, 5, 2)
        bytes[7] = 45
        put(day, 8, 2)
        bytes[10] = 32
        put(inDay / 3_600_000, 11, 2)
        bytes[13] = 58
        put(inDay / 60_000 % 60, 14, 2)
        bytes[16] = 58
        put(inDay / 1000 % 60, 17, 2)
        bytes[19] = 46
        put(inDay % 1000, 20, 3)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The date a stored text names, read as GRDB reads it (`Date(sqliteStatement:index:)`: its
    /// own parser, then a UTC Gregorian `Calendar`), to the bit, for the text ``text(_:)``
    /// writes (`yyyy-MM-dd HH:mm:ss.SSS`, a valid day and time of 1970 to 9999); `nil` for
    /// anything else, which the caller leaves to GRDB. The calendar cost about 7,000
    /// instructions a date, each history row of each reading (callgrind,
    /// Benchmarks/decide-profile.md); this is a few dozen. Foundation sums whole days since
    /// 2001 and the time of day with its fraction, in that order, which this repeats.
    package static func date(_ text: UnsafeBufferPointer<UInt8>) -> Date? {
        guard text.count == 23, text[4] == 45, text[7] == 45, text[10] == 32, text[13] == 58, text[16] == 58,
            text[19] == 46
        else { return nil }
        func number(_ at: Int, _ width: Int) -> Int? {
            var value = 0
            for index in at..<at + width {
                let digit = Int(text[index]) - 48
                guard digit >= 0, digit <= 9 else { return nil }
                value = value * 10 + digit
            }
            return value
        }
        guard let year = number(0, 4), year >= 1970, let month = number(5, 2), (1...12).contains(month),
            let day = number(8, 2), day >= 1, let hour = number(11, 2), hour < 24, let minute = number(14, 2),
            minute < 60, let second = number(17, 2), second < 60, let millis = number(20, 3)
        else { return nil }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let monthDays =
            switch month {
            case 2: leap ? 29 : 28
            case 4, 6, 9, 11: 30
            default: 31
            }
        guard day <= monthDays else { return nil }
        // Days since 1970-01-01 (Howard Hinnant's algorithm), then since 2001-01-01.
        let y = month <= 2 ? year - 1 : year
        let era = y / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468 - 11_323
        let inDay = Double(hour * 3600 + minute * 60 + second) + Double(millis * 1_000_000) / 1e9
        return Date(timeIntervalSinceReferenceDate: Double(days) * 86_400 + inDay)
    }
}
