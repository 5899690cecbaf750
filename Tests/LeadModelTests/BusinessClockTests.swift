import Foundation
import LeadModel
import Testing

@Suite("Business hours, worked by hand")
struct BusinessClockTests {
    static let hour: Int64 = 3_600_000_000
    static func t(_ text: String) -> Int64 { Timestamp(rfc3339: text)!.microseconds }
    static func paris(holidays: [String] = []) -> BusinessClock {
        BusinessClock(BusinessCalendar(timeZone: "Europe/Paris", workdays: [1, 2, 3, 4, 5], startMinute: 9 * 60, endMinute: 17 * 60, holidays: holidays))!
    }

    @Test("a deadline runs over the weekend: Friday 16:00 plus 4 business hours is Monday 12:00")
    func weekend() {
        var clock = Self.paris()
        // 2026-03-06 is a Friday; Paris is UTC+1 in March before the 29th.
        let handOff = Self.t("2026-03-06T16:00:00+01:00")
        #expect(clock.deadline(from: handOff, adding: 4 * Self.hour) == Self.t("2026-03-09T12:00:00+01:00"))
        // Friday 16:00–17:00 and Monday 09:00–11:00: three hours, nothing for the weekend.
        #expect(clock.elapsed(from: handOff, to: Self.t("2026-03-09T11:00:00+01:00")) == 3 * Self.hour)
        // Saturday to Sunday counts nothing.
        #expect(clock.elapsed(from: Self.t("2026-03-07T08:00:00Z"), to: Self.t("2026-03-08T20:00:00Z")) == 0)
    }

    @Test("a holiday is skipped: Thursday 15:00 before 1 May plus 4 business hours is Monday 11:00")
    func holiday() {
        var clock = Self.paris(holidays: ["2026-05-01"])
        let handOff = Self.t("2026-04-30T15:00:00+02:00")
        #expect(clock.deadline(from: handOff, adding: 4 * Self.hour) == Self.t("2026-05-04T11:00:00+02:00"))
        var workingFriday = Self.paris()
        #expect(workingFriday.deadline(from: handOff, adding: 4 * Self.hour) == Self.t("2026-05-01T11:00:00+02:00"))
    }

    @Test("the daylight-saving change moves the working day in UTC: Monday 30 March opens at 07:00Z, not 08:00Z")
    func daylightSaving() {
        var clock = Self.paris()
        // Friday 27 March 16:00 CET (15:00Z) plus 2 hours: 1 h on Friday, 1 h from Monday 09:00 CEST (07:00Z).
        let handOff = Self.t("2026-03-27T16:00:00+01:00")
        #expect(clock.deadline(from: handOff, adding: 2 * Self.hour) == Self.t("2026-03-30T08:00:00Z"))
        // Round the clock, the night of the change has 23 hours.
        var always = BusinessClock(
            BusinessCalendar(timeZone: "Europe/Paris", workdays: [1, 2, 3, 4, 5, 6, 7], startMinute: 0, endMinute: 24 * 60))!
        #expect(always.elapsed(from: Self.t("2026-03-28T12:00:00+01:00"), to: Self.t("2026-03-29T12:00:00+02:00")) == 23 * Self.hour)
        // And in autumn (25 October 2026) 25 hours.
        #expect(always.elapsed(from: Self.t("2026-10-24T12:00:00+02:00"), to: Self.t("2026-10-25T12:00:00+01:00")) == 25 * Self.hour)
    }

    @Test("a deadline that ends exactly at closing time is the closing instant, and zero hours is the hand-off itself")
    func boundaries() {
        var clock = Self.paris()
        let handOff = Self.t("2026-03-10T09:00:00+01:00")
        #expect(clock.deadline(from: handOff, adding: 8 * Self.hour) == Self.t("2026-03-10T17:00:00+01:00"))
        #expect(clock.deadline(from: handOff, adding: 0) == handOff)
        // Handed off at night: the clock starts at the next opening.
        #expect(clock.deadline(from: Self.t("2026-03-10T22:00:00+01:00"), adding: Self.hour) == Self.t("2026-03-11T10:00:00+01:00"))
        // An instant far earlier than the first asked for still answers (the table grows backwards).
        #expect(clock.elapsed(from: Self.t("2025-03-10T09:00:00+01:00"), to: Self.t("2025-03-10T10:30:00+01:00")) == 3 * Self.hour / 2)
    }

    @Test("an unknown time zone gives no clock")
    func unknownZone() {
        #expect(BusinessClock(BusinessCalendar(timeZone: "Mars/Olympus", workdays: [1], startMinute: 0, endMinute: 60)) == nil)
    }

    @Test("service-level status: met, breached, open and withdrawn as §8.2 defines them")
    func statuses() {
        let deadline: Int64 = 1_000
        #expect(EpisodeMachine.serviceLevelStatus(deadline: deadline, answeredAt: 1_000, recycledAt: nil, reportAt: 5_000) == .met)
        #expect(EpisodeMachine.serviceLevelStatus(deadline: deadline, answeredAt: 1_001, recycledAt: nil, reportAt: 5_000) == .breached)
        #expect(EpisodeMachine.serviceLevelStatus(deadline: deadline, answeredAt: nil, recycledAt: nil, reportAt: 1_000) == .breached)
        #expect(EpisodeMachine.serviceLevelStatus(deadline: deadline, answeredAt: nil, recycledAt: nil, reportAt: 999) == .open)
        #expect(EpisodeMachine.serviceLevelStatus(deadline: deadline, answeredAt: nil, recycledAt: 999, reportAt: 5_000) == .withdrawn)
        #expect(EpisodeMachine.serviceLevelStatus(deadline: deadline, answeredAt: nil, recycledAt: 1_000, reportAt: 5_000) == .breached)
        // Re-assigned before the deadline: the new owner answers for it; after it, the old one still does.
        let owner = EpisodeMachine.ownerAtDeadline(
            handOffOwner: "ana", assignments: [(at: 500, owner: "bo"), (at: 1_500, owner: "cy")], deadline: deadline)
        #expect(owner == "bo")
    }
}

extension BusinessClockTests {
    @Test("asked about a later span first and an earlier one next, the clock still counts right")
    func earlierAfterLater() {
        var clock = Self.paris()
        #expect(clock.elapsed(from: Self.t("2026-03-12T09:00:00+01:00"), to: Self.t("2026-03-13T10:00:00+01:00")) == 9 * Self.hour)
        #expect(clock.elapsed(from: Self.t("2026-03-06T16:00:00+01:00"), to: Self.t("2026-03-09T11:30:00+01:00")) == 7 * Self.hour / 2)
        #expect(clock.deadline(from: Self.t("2026-01-05T09:00:00+01:00"), adding: Self.hour) == Self.t("2026-01-05T10:00:00+01:00"))
        #expect(clock.elapsed(from: Self.t("2026-03-12T09:00:00+01:00"), to: Self.t("2026-03-13T10:00:00+01:00")) == 9 * Self.hour)
    }
}
