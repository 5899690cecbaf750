import Foundation
import LeadModel
import Testing

@Suite("Timestamps")
struct TimestampTests {
    @Test("UTC with Z parses to the Unix epoch offset in microseconds")
    func parsesZulu() throws {
        let timestamp = try #require(Timestamp(rfc3339: "2026-03-02T14:05:00Z"))
        #expect(timestamp.microseconds == 1_772_460_300_000_000)
        #expect(timestamp.utcOffsetSeconds == 0)
        #expect(timestamp.rfc3339 == "2026-03-02T14:05:00Z")
    }

    @Test("an offset is applied to the instant and kept for re-encoding")
    func keepsOffset() throws {
        let paris = try #require(Timestamp(rfc3339: "2026-03-02T15:05:00+01:00"))
        let utc = try #require(Timestamp(rfc3339: "2026-03-02T14:05:00Z"))
        #expect(paris.microseconds == utc.microseconds)
        #expect(paris.utcOffsetSeconds == 3600)
        #expect(paris.rfc3339 == "2026-03-02T15:05:00+01:00")
        #expect(paris != utc)
        #expect(utc < paris, "same instant orders by offset so < agrees with ==")
        let newYork = try #require(Timestamp(rfc3339: "2026-03-02T09:04:59.5-05:00"))
        #expect(newYork < utc)
        #expect(newYork.rfc3339 == "2026-03-02T09:04:59.500-05:00")
    }

    @Test("fractions up to nine digits are truncated to microseconds")
    func fractions() throws {
        #expect(Timestamp(rfc3339: "1970-01-01T00:00:00.123456789Z")?.microseconds == 123_456)
        #expect(Timestamp(rfc3339: "1970-01-01T00:00:00.1Z")?.microseconds == 100_000)
        #expect(Timestamp(rfc3339: "1970-01-01T00:00:00.000001Z")?.rfc3339 == "1970-01-01T00:00:00.000001Z")
        #expect(Timestamp(rfc3339: "1970-01-01T00:00:00.1234567890Z") == nil)
        #expect(Timestamp(rfc3339: "1970-01-01T00:00:00.Z") == nil)
    }

    @Test("dates before 1970 and leap days are exact")
    func calendar() throws {
        let before = try #require(Timestamp(rfc3339: "1969-12-31T23:59:59.999999Z"))
        #expect(before.microseconds == -1)
        #expect(before.rfc3339 == "1969-12-31T23:59:59.999999Z")
        #expect(Timestamp(rfc3339: "2024-02-29T12:00:00Z") != nil)
        #expect(Timestamp(rfc3339: "2023-02-29T12:00:00Z") == nil)
        #expect(Timestamp(rfc3339: "2000-02-29T00:00:00Z")?.rfc3339 == "2000-02-29T00:00:00Z")
        #expect(Timestamp(rfc3339: "1900-02-29T00:00:00Z") == nil)
    }

    @Test(
        "malformed or offset-less times are refused",
        arguments: [
            "2026-03-02T14:05:00", "2026-03-02 14:05:00Z", "2026-13-02T14:05:00Z", "2026-03-32T14:05:00Z",
            "2026-03-02T24:00:00Z", "2026-03-02T14:60:00Z", "2026-03-02T14:05:60Z", "2026-03-02T14:05:00+0100",
            "2026-03-02T14:05:00+01:00x", "2026-3-02T14:05:00Z", "", "2026-03-02", "2026-03-02T14:05:00+24:00",
        ])
    func refusesMalformed(text: String) {
        #expect(Timestamp(rfc3339: text) == nil)
    }

    @Test("Date conversion round-trips at microsecond precision")
    func dates() throws {
        let timestamp = Timestamp(microseconds: 1_772_460_300_123_456)
        #expect(Timestamp(date: timestamp.date) == timestamp)
        #expect(Timestamp(date: Date(timeIntervalSince1970: 0)).rfc3339 == "1970-01-01T00:00:00Z")
    }

    @Test("random instants and offsets survive formatting and parsing")
    func roundTrip() throws {
        var random = RandomEvents(rng: SplitMix64(seed: 7))
        for _ in 0..<2000 {
            let timestamp = random.timestamp()
            #expect(Timestamp(rfc3339: timestamp.rfc3339) == timestamp, "\(timestamp.rfc3339)")
        }
    }

    @Test("Codable uses the RFC 3339 string")
    func codable() throws {
        let timestamp = try #require(Timestamp(rfc3339: "2026-03-02T15:05:00+01:00"))
        let data = try JSONEncoder().encode([timestamp])
        #expect(String(decoding: data, as: UTF8.self) == #"["2026-03-02T15:05:00+01:00"]"#)
        #expect(try JSONDecoder().decode([Timestamp].self, from: data) == [timestamp])
    }

    @Test("a UUID's lowercase text matches Foundation's, and the zero UUID is all zeros")
    func uuidText() {
        var rng = SplitMix64(seed: 7)
        for _ in 0..<1000 {
            let id = UUID(version8High: rng.next(), low: rng.next())
            #expect(id.lowercasedText == id.uuidString.lowercased())
        }
        #expect(UUID.zero.lowercasedText == "00000000-0000-0000-0000-000000000000")
    }
}
