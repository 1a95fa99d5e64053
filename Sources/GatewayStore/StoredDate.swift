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
}
