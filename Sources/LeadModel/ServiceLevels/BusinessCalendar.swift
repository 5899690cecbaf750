import Foundation

/// The working hours a service level counts in (DESIGN §8.1 `calendar`): workdays between a local
/// start and end time in an IANA time zone, holidays excepted.
public struct BusinessCalendar: Sendable, Hashable {
    /// The IANA time zone name, e.g. `Europe/Paris`.
    public var timeZone: String
    /// ISO weekdays that are worked, Monday = 1 … Sunday = 7, ascending and distinct.
    public var workdays: [Int]
    /// The local start of a working day, minutes after midnight.
    public var startMinute: Int
    /// The local end of a working day, minutes after midnight; after `startMinute`.
    public var endMinute: Int
    /// Local dates that are not worked, `YYYY-MM-DD`, ascending and distinct.
    public var holidays: [String]

    /// Most holidays one calendar may list: decades of them, and a bound on a record's size.
    public static let maximumHolidays = 2000

    /// Creates a calendar; the decoder checks what a client sends, code that builds one is trusted.
    public init(timeZone: String, workdays: [Int], startMinute: Int, endMinute: Int, holidays: [String] = []) {
        self.timeZone = timeZone
        self.workdays = workdays
        self.startMinute = startMinute
        self.endMinute = endMinute
        self.holidays = holidays
    }

    /// `HH:MM` of a minute of the day.
    public static func clockText(_ minute: Int) -> String {
        let hours = minute / 60, minutes = minute % 60
        return (hours < 10 ? "0" : "") + String(hours) + ":" + (minutes < 10 ? "0" : "") + String(minutes)
    }

    /// The minute of the day of `HH:MM` (00:00 … 24:00), or nil.
    public static func minute(parsing text: String) -> Int? {
        let bytes = Array(text.utf8)
        guard bytes.count == 5, bytes[2] == UInt8(ascii: ":") else { return nil }
        let digits = [bytes[0], bytes[1], bytes[3], bytes[4]]
        guard digits.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        let hours = Int(digits[0] - 0x30) * 10 + Int(digits[1] - 0x30)
        let minutes = Int(digits[2] - 0x30) * 10 + Int(digits[3] - 0x30)
        guard minutes < 60, hours < 24 || (hours == 24 && minutes == 0) else { return nil }
        return hours * 60 + minutes
    }

    /// The days since 1970-01-01 of a `YYYY-MM-DD` date, or nil when it is not a real date.
    public static func dayNumber(parsing text: String) -> Int64? {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for index in range {
                guard (0x30...0x39).contains(bytes[index]) else { return nil }
                value = value * 10 + Int(bytes[index] - 0x30)
            }
            return value
        }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), (1...12).contains(month), day >= 1
        else { return nil }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let lengths = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard day <= lengths[month - 1] else { return nil }
        return Self.daysFromCivil(year: year, month: month, day: day)
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int64 {
        let y = Int64(month <= 2 ? year - 1 : year)
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let m = Int64(month)
        let dayOfYear = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + Int64(day) - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The ISO weekday (Monday = 1) of a day number.
    @inlinable
    public static func isoWeekday(ofDay day: Int64) -> Int {
        // 1970-01-01 was a Thursday (4).
        Int(((day % 7) + 7 + 3) % 7) + 1
    }
}

/// Business-time arithmetic over one ``BusinessCalendar``: elapsed working time between two instants,
/// and the instant at which a number of working hours has elapsed.
///
/// Each local day's working interval is turned into UTC instants once, with the time zone's offset
/// on that day, so a daylight-saving change shortens or lengthens the day it falls on and nothing else;
/// later questions cost a bisection over the days already known.
public struct BusinessClock: Sendable {
    /// The calendar it counts in.
    public let calendar: BusinessCalendar
    private let zone: TimeZone
    private let holidays: Set<Int64>
    private let worked: [Bool]
    /// The local day number of slot 0.
    private var firstDay: Int64 = 0
    /// Per day from `firstDay`: local midnight, the working interval's start and end (UTC µs; equal
    /// on a day off), and the working time of every earlier known day.
    private var midnight: [Int64] = [], open: [Int64] = [], close: [Int64] = [], before: [Int64] = []

    /// How far a search for working time looks before it gives up: ten years without one working
    /// minute means the calendar has none.
    static let horizonDays: Int64 = 3660
    static let microsPerSecond: Int64 = 1_000_000
    static let microsPerDay: Int64 = 86_400_000_000

    /// A clock for `calendar`; nil when its time zone is unknown.
    public init?(_ calendar: BusinessCalendar) {
        guard let zone = TimeZone(identifier: calendar.timeZone) else { return nil }
        self.calendar = calendar
        self.zone = zone
        self.holidays = Set(calendar.holidays.compactMap(BusinessCalendar.dayNumber(parsing:)))
        var worked = Array(repeating: false, count: 8)
        for day in calendar.workdays where (1...7).contains(day) { worked[day] = true }
        self.worked = worked
    }

    /// Working time between two instants (µs since the epoch), in µs; zero when `to` is not after `from`.
    public mutating func elapsed(from: Int64, to: Int64) -> Int64 {
        guard to > from else { return 0 }
        // The earlier instant first: reaching back before the known days renumbers them all.
        let start = worked(before: from)
        return worked(before: to) - start
    }

    /// The first instant at which `amount` µs of working time have elapsed since `from`; nil when the
    /// calendar has no working time within ten years.
    public mutating func deadline(from: Int64, adding amount: Int64) -> Int64? {
        guard amount > 0 else { return from }
        let target = worked(before: from) + amount
        var day = dayIndex(of: from)
        var searched: Int64 = 0
        while true {
            if day + 1 >= before.count { extend(through: firstDay + Int64(before.count) + 31) }
            let end = before[day] + (close[day] - open[day])
            if end >= target, close[day] > open[day] { return open[day] + (target - before[day]) }
            day += 1
            searched += 1
            if searched > Self.horizonDays { return nil }
        }
    }

    /// Working time from the start of the known days to `t`.
    private mutating func worked(before t: Int64) -> Int64 {
        let day = dayIndex(of: t)
        return before[day] + min(max(t - open[day], 0), close[day] - open[day])
    }

    /// The slot of the local day holding `t`, extending the table as needed.
    private mutating func dayIndex(of t: Int64) -> Int {
        let utcDay = t >= 0 ? t / Self.microsPerDay : (t + 1) / Self.microsPerDay - 1
        if midnight.isEmpty || utcDay - 1 < firstDay || utcDay + 1 >= firstDay + Int64(midnight.count) - 1 {
            extend(covering: utcDay - 2, utcDay + 2)
        }
        var index = Int(utcDay - firstDay)
        while index > 0, t < midnight[index] { index -= 1 }
        while index + 1 < midnight.count, t >= midnight[index + 1] { index += 1 }
        return index
    }

    private mutating func extend(through day: Int64) {
        extend(covering: firstDay, max(day, firstDay + Int64(midnight.count)))
    }

    /// Makes the table hold every day from `low` to `high`, with one day's margin after.
    private mutating func extend(covering low: Int64, _ high: Int64) {
        if midnight.isEmpty {
            firstDay = low
        } else if low < firstDay {
            // Rare (an instant earlier than all before it): rebuild from the new first day.
            let last = firstDay + Int64(midnight.count) - 1
            midnight = []
            open = []
            close = []
            before = []
            firstDay = low
            extend(covering: low, max(high, last))
            return
        }
        let target = max(high + 1, firstDay + Int64(midnight.count) - 1)
        var day = firstDay + Int64(midnight.count)
        while day <= target {
            let start = utc(day: day, minute: 0)
            midnight.append(start)
            if worked[BusinessCalendar.isoWeekday(ofDay: day)], !holidays.contains(day) {
                let opens = utc(day: day, minute: calendar.startMinute)
                let closes = utc(day: day, minute: calendar.endMinute)
                open.append(opens)
                close.append(max(opens, closes))
            } else {
                open.append(start)
                close.append(start)
            }
            let index = before.count
            before.append(index == 0 ? 0 : before[index - 1] + (close[index - 1] - open[index - 1]))
            day += 1
        }
    }

    /// The UTC instant (µs) of a local day and minute in the calendar's zone.
    private func utc(day: Int64, minute: Int) -> Int64 {
        let local = day * 86_400 + Int64(minute) * 60
        let guess = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(local))))
        var seconds = local - guess
        let actual = Int64(zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(seconds))))
        if actual != guess { seconds = local - actual }
        return seconds * Self.microsPerSecond
    }
}
