import Foundation

/// How hand-offs are grouped in time: a cohort is the bucket of its hand-off's business time.
public enum Bucket: String, Sendable, Codable, CaseIterable {
    /// UTC day.
    case day
    /// ISO week, starting Monday (UTC).
    case week
    /// Calendar month (UTC).
    case month

    static let microsPerDay: Int64 = 86_400_000_000

    /// The first instant (µs, UTC) of the bucket holding `micros`.
    public func start(of micros: Int64) -> Int64 {
        let day = Self.floorDiv(micros, Self.microsPerDay)
        switch self {
        case .day:
            return day * Self.microsPerDay
        case .week:
            // 1970-01-01 was a Thursday: days since a Monday are (day + 3) mod 7.
            let sinceMonday = Self.floorMod(day + 3, 7)
            return (day - sinceMonday) * Self.microsPerDay
        case .month:
            let (y, m, _) = Self.civil(fromDays: day)
            return Self.days(year: y, month: m, day: 1) * Self.microsPerDay
        }
    }

    /// `YYYY-MM-DD` of the day holding `micros`.
    public static func dayString(_ micros: Int64) -> String {
        let (y, m, d) = civil(fromDays: floorDiv(micros, microsPerDay))
        return String(format: "%04d-%02d-%02d", y, m, d)
    }

    /// The first instant (µs, UTC) of a `YYYY-MM-DD` day; `nil` for a day the calendar does not
    /// have, such as 2026-02-29 or 2026-04-31.
    public static func dayStart(_ text: String) -> Int64? {
        let parts = text.split(separator: "-")
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let y = Int64(parts[0]), let m = Int64(parts[1]), let d = Int64(parts[2]), (1...12).contains(m), (1...31).contains(d)
        else { return nil }
        let day = days(year: y, month: m, day: d)
        // Past the month's end the count runs into the next month.
        guard civil(fromDays: day) == (y, m, d) else { return nil }
        return day * microsPerDay
    }

    static func floorDiv(_ a: Int64, _ b: Int64) -> Int64 { a >= 0 ? a / b : -((-a + b - 1) / b) }
    static func floorMod(_ a: Int64, _ b: Int64) -> Int64 { a - floorDiv(a, b) * b }

    /// Days since 1970-01-01 of a civil date (proleptic Gregorian).
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDiv(y, 400)
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The civil date of a day count since 1970-01-01.
    static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = floorDiv(z, 146_097)
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }
}
