import Foundation
import LeadModel

/// Reads the date and time forms that CRM exports write.
///
/// Accepted: `2018-02-26` (midnight UTC), `2018-02-26 19:58:54` and `2018-02-26T19:58:54` with an
/// optional fraction, each with an optional offset (`Z`, `+01:00` or Salesforce's `+0000`); a time
/// without an offset is read as UTC, the convention of the exports this reads; an all-digit value is
/// Unix time (milliseconds from 11 digits on, as HubSpot writes it, else seconds).
enum ImportDate {
    /// The instant `text` names, or nil when it is none of the accepted forms.
    static func parse(_ text: String) -> Timestamp? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let bytes = Array(trimmed.utf8)
        guard bytes.count >= 10 else { return nil }
        if bytes.allSatisfy({ $0 >= 48 && $0 <= 57 }) {
            guard bytes.count <= 16, let value = Int64(trimmed) else { return nil }
            return Timestamp(microseconds: bytes.count >= 11 ? value * 1000 : value * 1_000_000)
        }
        if bytes.count == 10 { return Timestamp(rfc3339: trimmed + "T00:00:00Z") }
        guard bytes.count >= 16, bytes[10] == UInt8(ascii: " ") || bytes[10] == UInt8(ascii: "T") else { return nil }
        var body = Array(bytes[0..<10]) + [UInt8(ascii: "T")] + Array(bytes[11...])
        if body.count == 16 { body += Array(":00".utf8) }
        let last = body[body.count - 1]
        if last == UInt8(ascii: "Z") || last == UInt8(ascii: "z") {
            // Already has an offset.
        } else if body.count >= 25, body[body.count - 6] == UInt8(ascii: "+") || body[body.count - 6] == UInt8(ascii: "-"),
            body[body.count - 3] == UInt8(ascii: ":")
        {
            // Already has an offset in RFC 3339 form.
        } else if body.count >= 24, body[body.count - 5] == UInt8(ascii: "+") || body[body.count - 5] == UInt8(ascii: "-") {
            body.insert(UInt8(ascii: ":"), at: body.count - 2)
        } else {
            body.append(UInt8(ascii: "Z"))
        }
        return Timestamp(rfc3339: String(decoding: body, as: UTF8.self))
    }
}

extension Timestamp {
    /// This instant moved by `seconds`.
    func adding(seconds: Int64) -> Timestamp {
        Timestamp(microseconds: microseconds + seconds * 1_000_000, utcOffsetSeconds: utcOffsetSeconds)
    }
}
