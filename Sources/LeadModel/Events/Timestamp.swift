import Foundation

/// An instant with microsecond precision, plus the UTC offset it was written with.
///
/// The offset is kept so that an event re-encoded to JSON shows `occurredAt` exactly as its source
/// wrote it. Two timestamps are equal only when instant and offset both match; ordering is by instant
/// first, so sorting by `<` gives business-time order.
public struct Timestamp: Sendable, Hashable, Comparable, Codable {
    /// Microseconds since 1970-01-01T00:00:00Z.
    public var microseconds: Int64
    /// The offset from UTC the time was written in, in seconds (east positive).
    public var utcOffsetSeconds: Int32

    /// Creates a timestamp from an instant and the offset to show it in.
    public init(microseconds: Int64, utcOffsetSeconds: Int32 = 0) {
        self.microseconds = microseconds
        self.utcOffsetSeconds = utcOffsetSeconds
    }

    /// The instant of `date`, rounded to the nearest microsecond, shown in UTC.
    public init(date: Date) {
        self.init(microseconds: Int64((date.timeIntervalSince1970 * 1_000_000).rounded()))
    }

    /// The instant as a `Date`.
    public var date: Date {
        Date(timeIntervalSince1970: Double(microseconds) / 1_000_000)
    }

    /// Orders by instant, then by offset so that `<` stays consistent with `==`.
    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool {
        if lhs.microseconds != rhs.microseconds { return lhs.microseconds < rhs.microseconds }
        return lhs.utcOffsetSeconds < rhs.utcOffsetSeconds
    }

    /// Decodes from an RFC 3339 string.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = Timestamp(rfc3339: text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "expected an RFC 3339 date-time with offset, found \"\(text)\"")
        }
        self = value
    }

    /// Encodes as an RFC 3339 string in the stored offset.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rfc3339)
    }
}

extension Timestamp {
    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; fractions beyond microseconds are truncated.
    ///
    /// A time without an offset is refused: it names no instant.
    public init?(rfc3339 text: String) {
        var text = text
        let parsed = text.withUTF8 { Timestamp.parse($0) }
        guard let parsed else { return nil }
        self = parsed
    }

    /// Parses RFC 3339 UTF-8 bytes.
    public init?(rfc3339Bytes bytes: UnsafeBufferPointer<UInt8>) {
        guard let parsed = Timestamp.parse(bytes) else { return nil }
        self = parsed
    }

    private static func parse(_ b: UnsafeBufferPointer<UInt8>) -> Timestamp? {
        // Shortest valid form: 2026-03-02T14:05:00Z (20 bytes).
        guard b.count >= 20 else { return nil }
        func digits(_ start: Int, _ count: Int) -> Int? {
            var value = 0
            for index in start..<(start + count) {
                let digit = Int(b[index]) &- 48
                guard digit >= 0 && digit <= 9 else { return nil }
                value = value * 10 + digit
            }
            return value
        }
        guard let year = digits(0, 4), b[4] == UInt8(ascii: "-"),
            let month = digits(5, 2), b[7] == UInt8(ascii: "-"),
            let day = digits(8, 2),
            b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t"),
            let hour = digits(11, 2), b[13] == UInt8(ascii: ":"),
            let minute = digits(14, 2), b[16] == UInt8(ascii: ":"),
            let second = digits(17, 2)
        else { return nil }
        guard year >= 1, (1...12).contains(month), day >= 1, day <= daysInMonth(year: year, month: month),
            hour <= 23, minute <= 59, second <= 59
        else { return nil }
        var index = 19
        var fraction = 0
        if b[index] == UInt8(ascii: ".") {
            index += 1
            var count = 0
            while index < b.count, b[index] >= UInt8(ascii: "0"), b[index] <= UInt8(ascii: "9") {
                if count < 6 { fraction = fraction * 10 + Int(b[index] - 48) }
                count += 1
                index += 1
            }
            guard count >= 1, count <= 9 else { return nil }
            for _ in min(count, 6)..<6 { fraction *= 10 }
        }
        guard index < b.count else { return nil }
        var offset = 0
        switch b[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            index += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            guard b.count - index == 6, let offsetHours = digits(index + 1, 2), b[index + 3] == UInt8(ascii: ":"),
                let offsetMinutes = digits(index + 4, 2), offsetHours <= 23, offsetMinutes <= 59
            else { return nil }
            offset = (offsetHours * 60 + offsetMinutes) * 60
            if b[index] == UInt8(ascii: "-") { offset = -offset }
            index += 6
        default:
            return nil
        }
        guard index == b.count else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let localSeconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + second)
        let utcSeconds = localSeconds - Int64(offset)
        return Timestamp(microseconds: utcSeconds * 1_000_000 + Int64(fraction), utcOffsetSeconds: Int32(offset))
    }

    /// RFC 3339 in the stored offset: `Z` for UTC, fraction only when non-zero (3 or 6 digits).
    public var rfc3339: String {
        let local = microseconds + Int64(utcOffsetSeconds) * 1_000_000
        let (localSeconds, micros) = floorDivide(local, 1_000_000)
        let (days, secondOfDay) = floorDivide(localSeconds, 86_400)
        let (year, month, day) = civilFromDays(days)
        // At most 6 (year) + 15 + 7 (fraction) + 6 (offset) bytes, written in place.
        return String(unsafeUninitializedCapacity: 40) { out in
            var at = 0
            func put(_ byte: UInt8) {
                out[at] = byte
                at += 1
            }
            func put(_ value: Int64, width: Int) {
                var count = 1
                var rest = value / 10
                while rest > 0 {
                    count += 1
                    rest /= 10
                }
                for _ in count..<max(width, count) { put(48) }
                rest = value
                for index in stride(from: at + count - 1, through: at, by: -1) {
                    out[index] = UInt8(48 + rest % 10)
                    rest /= 10
                }
                at += count
            }
            if year < 0 { put(UInt8(ascii: "-")) }
            put(abs(year), width: 4)
            put(UInt8(ascii: "-"))
            put(month, width: 2)
            put(UInt8(ascii: "-"))
            put(day, width: 2)
            put(UInt8(ascii: "T"))
            put(secondOfDay / 3600, width: 2)
            put(UInt8(ascii: ":"))
            put(secondOfDay / 60 % 60, width: 2)
            put(UInt8(ascii: ":"))
            put(secondOfDay % 60, width: 2)
            if micros != 0 {
                put(UInt8(ascii: "."))
                if micros % 1000 == 0 { put(micros / 1000, width: 3) } else { put(micros, width: 6) }
            }
            if utcOffsetSeconds == 0 {
                put(UInt8(ascii: "Z"))
            } else {
                put(utcOffsetSeconds < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
                let minutes = Int64(abs(Int(utcOffsetSeconds))) / 60
                put(minutes / 60, width: 2)
                put(UInt8(ascii: ":"))
                put(minutes % 60, width: 2)
            }
            return at
        }
    }
}

/// Howard Hinnant's civil-calendar algorithms (proleptic Gregorian), exact for any day count.
@usableFromInline
func daysFromCivil(year: Int, month: Int, day: Int) -> Int64 {
    let y = Int64(month <= 2 ? year - 1 : year)
    let era = (y >= 0 ? y : y - 399) / 400
    let yearOfEra = y - era * 400
    let shiftedMonth = Int64(month > 2 ? month - 3 : month + 9)
    let dayOfYear = (153 * shiftedMonth + 2) / 5 + Int64(day) - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146_097 + dayOfEra - 719_468
}

@usableFromInline
func civilFromDays(_ days: Int64) -> (year: Int64, month: Int64, day: Int64) {
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let dayOfEra = z - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let shiftedMonth = (5 * dayOfYear + 2) / 153
    let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
    let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
    return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
}

@usableFromInline
func floorDivide(_ value: Int64, _ divisor: Int64) -> (quotient: Int64, remainder: Int64) {
    let quotient = value >= 0 ? value / divisor : -((-value + divisor - 1) / divisor)
    return (quotient, value - quotient * divisor)
}

func daysInMonth(year: Int, month: Int) -> Int {
    switch month {
    case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
    case 4, 6, 9, 11: return 30
    default: return 31
    }
}
