import EventLog
import Foundation
import LeadModel
import Projections
import Testing

/// The reason catalog most fixtures share.
func reasonCatalog(_ f: inout EventFactory) -> [LeadEvent] {
    let t = at("2025-12-01T00:00:00Z")
    return [
        f.reasonDefined(t, "FIT.SMALL", label: "Company too small", category: "FIT"),
        f.reasonDefined(t, "TIMING.LATER", label: "Not now", category: "TIMING"),
        f.reasonDefined(t, "BUDGET.NONE", label: "No budget", category: "BUDGET"),
    ]
}

func trends(_ ledger: TestLedger, _ query: TrendsQuery = TrendsQuery(), cut: ReplayCut = .everything) throws -> TrendsReport {
    Trends.compute(try ReplayEngine.replay(ledger.log, cut: cut), query)
}

/// z² for the 95 % interval, used by the closed forms below.
let z2 = 1.959963984540054 * 1.959963984540054

@Suite("Trends, worked by hand")
struct TrendsTests {
    /// Two ISO weeks (2026-03-02 and 2026-03-09 are Mondays) and two channels.
    static func twoWeeks() async throws -> TestLedger {
        var f = EventFactory(seed: 1)
        var events = reasonCatalog(&f)
        func lead(_ id: String, _ channel: String, _ handOff: String, _ decision: ((String, Int64) -> LeadEvent)?) {
            let t = at(handOff)
            events.append(f.captured(id, t - microsPerDay, channel: channel))
            events.append(f.handedOff(id, t))
            if let decision { events.append(decision(id, t)) }
        }
        // Week of 2026-03-02.
        lead("a1", "email", "2026-03-03T10:00:00Z") { f.accepted($0, $1 + 2 * microsPerHour) }
        lead("a2", "email", "2026-03-04T09:00:00Z") { f.accepted($0, $1 + 6 * microsPerHour) }
        lead("a3", "email", "2026-03-05T08:00:00Z") { f.rejected($0, $1 + microsPerHour, reason: "FIT.SMALL") }
        // Handed off on Sunday night, accepted on Monday: the cohort is the hand-off's week.
        lead("a4", "paid", "2026-03-08T23:00:00Z") { f.accepted($0, $1 + 10 * microsPerHour) }
        lead("a5", "paid", "2026-03-06T10:00:00Z") { f.rejected($0, $1 + microsPerHour, reason: "FIT.SMALL") }
        lead("a6", "paid", "2026-03-07T10:00:00Z") { f.rejected($0, $1 + microsPerHour, reason: "TIMING.LATER") }
        // Week of 2026-03-09; b1 is handed off at the very first instant of the week.
        lead("b1", "email", "2026-03-09T00:00:00Z") { f.accepted($0, $1 + microsPerHour) }
        lead("b2", "paid", "2026-03-10T12:00:00Z") { f.accepted($0, $1 + 30 * microsPerHour) }
        lead("b3", "paid", "2026-03-11T12:00:00Z") { f.recycled($0, $1 + microsPerDay) }
        lead("b4", "email", "2026-03-12T12:00:00Z", nil)
        let ledger = try TestLedger()
        try await ledger.append(events, recordedAt: at("2026-04-01T00:00:00Z"))
        return ledger
    }

    @Test("weekly cohorts count hand-offs by the hand-off's ISO week, with rates, Wilson bounds and time to accept")
    func weekly() async throws {
        let report = try trends(try await Self.twoWeeks(), TrendsQuery(bucket: .week))
        #expect(report.rows.map(\.start) == ["2026-03-02", "2026-03-09"])
        let w1 = report.rows[0], w2 = report.rows[1]
        // Week 1: a1…a6. Accepted a1 (2 h), a2 (6 h), a4 (10 h); rejected a3, a5, a6.
        #expect([w1.handedOff, w1.accepted, w1.rejected, w1.recycled, w1.pending] as [Int] == [6, 3, 3, 0, 0])
        #expect(w1.acceptanceRate == 0.5)
        #expect(w1.rejectionRate == 0.5)
        // Wilson at p = ½, n = 6: centre ½, half-width z·√(¼/6 + z²/144) / (1 + z²/6).
        let half = 1.959963984540054 * (0.25 / 6 + z2 / 144).squareRoot() / (1 + z2 / 6)
        #expect(abs(w1.acceptanceRateInterval!.low - (0.5 - half)) < 1e-9)
        #expect(abs(w1.acceptanceRateInterval!.high - (0.5 + half)) < 1e-9)
        #expect(abs(w1.rejectionRateInterval!.low - (0.5 - half)) < 1e-9)
        // Sorted hours 2, 6, 10: median 6; p90 at rank 1.8 → 6 + 0.8 × 4 = 9.2.
        #expect(w1.timeToAccept.count == 3)
        #expect(w1.timeToAccept.medianHours == 6)
        #expect(abs(w1.timeToAccept.p90Hours! - 9.2) < 1e-12)
        #expect(
            rendered(w1.rejectionsByReason) == [
                "FIT.SMALL|Company too small|FIT|2",
                "TIMING.LATER|Not now|TIMING|1",
            ])
        // Week 2: b1 (1 h) and b2 (30 h) accepted, b3 recycled, b4 still open.
        #expect([w2.handedOff, w2.accepted, w2.rejected, w2.recycled, w2.pending] as [Int] == [4, 2, 0, 1, 1])
        #expect(w2.acceptanceRate == 1)
        #expect(w2.rejectionRate == 0)
        // Wilson at p = 1, n = 2: low = 1 / (1 + z²/2), high clamped to 1.
        #expect(abs(w2.acceptanceRateInterval!.low - 1 / (1 + z2 / 2)) < 1e-9)
        #expect(w2.acceptanceRateInterval!.high == 1)
        #expect(abs(w2.rejectionRateInterval!.high - (z2 / 2) / (1 + z2 / 2)) < 1e-9)
        #expect(w2.rejectionRateInterval!.low == 0)
        // Hours 1 and 30: median 15.5; p90 at rank 0.9 → 1 + 0.9 × 29 = 27.1.
        #expect(w2.timeToAccept.medianHours == 15.5)
        #expect(abs(w2.timeToAccept.p90Hours! - 27.1) < 1e-12)
        #expect(w2.rejectionsByReason.isEmpty)
        // The total covers both weeks: 5 accepted, 3 rejected.
        #expect(
            [report.total.handedOff, report.total.accepted, report.total.rejected, report.total.recycled, report.total.pending] as [Int]
                == [10, 5, 3, 1, 1])
        #expect(report.total.acceptanceRate == 5.0 / 8)
        #expect(report.total.timeToAccept.medianHours == 6)
    }

    @Test("grouping by channel splits each week, rows ordered by start then group")
    func weeklyByChannel() async throws {
        let report = try trends(try await Self.twoWeeks(), TrendsQuery(bucket: .week, groupBy: .channel))
        #expect(
            report.rows.map { "\($0.start!)/\($0.group!)" } == [
                "2026-03-02/email", "2026-03-02/paid", "2026-03-09/email", "2026-03-09/paid",
            ])
        let counts = report.rows.map { [$0.handedOff, $0.accepted, $0.rejected, $0.recycled, $0.pending] }
        #expect(counts == [[3, 2, 1, 0, 0], [3, 1, 2, 0, 0], [2, 1, 0, 0, 1], [2, 1, 0, 1, 0]])
        // Paid, week 1: one rejection each for two codes, so the tie sorts by code.
        #expect(report.rows[1].rejectionsByReason.map(\.code) == ["FIT.SMALL", "TIMING.LATER"])
        #expect(report.rows[1].acceptanceRate == 1.0 / 3)
        #expect(report.rows[0].timeToAccept.medianHours == 4)
        // One accepted episode: median and p90 are that episode.
        #expect(report.rows[1].timeToAccept.p90Hours == 10)
    }

    @Test("day and month buckets, and from inclusive / until exclusive on the hand-off instant")
    func bucketsAndRange() async throws {
        let ledger = try await Self.twoWeeks()
        let monthly = try trends(ledger, TrendsQuery(bucket: .month))
        #expect(monthly.rows.map(\.start) == ["2026-03-01"])
        #expect(monthly.rows[0].handedOff == 10)
        let daily = try trends(ledger, TrendsQuery(bucket: .day))
        #expect(
            daily.rows.map(\.start) == [
                "2026-03-03", "2026-03-04", "2026-03-05", "2026-03-06", "2026-03-07", "2026-03-08",
                "2026-03-09", "2026-03-10", "2026-03-11", "2026-03-12",
            ])
        // a4 (2026-03-08T23:00) and b1 (2026-03-09T00:00) are at the edges of this range.
        let ranged = try trends(ledger, TrendsQuery(bucket: .week, from: at("2026-03-08T23:00:00Z"), until: at("2026-03-09T00:00:00Z")))
        #expect(ranged.total.handedOff == 1)
        #expect(ranged.rows.map(\.start) == ["2026-03-02"])
        #expect(ranged.total.timeToAccept.medianHours == 10)
    }

    @Test("a late lead.captured re-places itself before the hand-off and changes the channel it was handed off with")
    func lateCapturedChangesChannel() async throws {
        var f = EventFactory(seed: 2)
        let ledger = try TestLedger()
        let first = at("2026-03-10T00:00:00Z"), second = at("2026-03-20T00:00:00Z")
        try await ledger.append(
            [
                f.captured("L", at("2026-03-01T09:00:00Z"), channel: "email", campaign: "spring"),
                f.handedOff("L", at("2026-03-03T09:00:00Z")),
                f.rejected("L", at("2026-03-03T12:00:00Z"), reason: "FIT.SMALL"),
                // After the hand-off in business time: must not count.
                f.captured("L", at("2026-03-05T09:00:00Z"), channel: "paid", campaign: "summer"),
            ], recordedAt: first)
        // A back-fill: the CRM saw the lead again at an event on 03-02, before the hand-off.
        try await ledger.append([f.captured("L", at("2026-03-02T09:00:00Z"), channel: "events", campaign: "expo")], recordedAt: second)

        let now = try trends(ledger, TrendsQuery(bucket: .week, groupBy: .channel))
        #expect(now.rows.map(\.group) == ["events"])
        let campaigns = try trends(ledger, TrendsQuery(bucket: .week, groupBy: .campaign))
        #expect(campaigns.rows.map(\.group) == ["expo"])
        // As the ledger knew it before the back-fill.
        let before = try trends(ledger, TrendsQuery(bucket: .week, groupBy: .channel), cut: .recordedBy(first))
        #expect(before.rows.map(\.group) == ["email"])
        #expect(before.rows.first?.rejected == 1)
    }

    @Test("a hand-off stored after its acceptance still opens the episode the acceptance decides")
    func lateHandOff() async throws {
        var f = EventFactory(seed: 3)
        let ledger = try TestLedger()
        let first = at("2026-03-10T00:00:00Z"), second = at("2026-03-11T00:00:00Z")
        try await ledger.append(
            [
                f.captured("M", at("2026-03-02T08:00:00Z"), channel: "email"),
                f.accepted("M", at("2026-03-02T14:00:00Z")),
                f.captured("N", at("2026-03-02T08:00:00Z"), channel: "email"),
                f.handedOff("N", at("2026-03-02T09:00:00Z")),
            ], recordedAt: first)
        try await ledger.append(
            [
                f.handedOff("M", at("2026-03-02T10:00:00Z")),
                // Stored after N's later events, but it happened first: N's rejection, then a late acceptance attempt.
                f.rejected("N", at("2026-03-02T11:00:00Z"), reason: "TIMING.LATER"),
            ], recordedAt: second)
        try await ledger.append([f.accepted("N", at("2026-03-02T10:30:00Z"))], recordedAt: second + microsPerHour)

        let report = try trends(ledger, TrendsQuery(bucket: .day))
        // M: handed off 10:00, accepted 14:00 → 4 h. N: the acceptance at 10:30 (stored last) decides
        // the episode first, so the rejection at 11:00 finds no open episode and is ignored.
        #expect([report.total.handedOff, report.total.accepted, report.total.rejected, report.total.pending] as [Int] == [2, 2, 0, 0])
        #expect(report.total.timeToAccept.medianHours == 2.75)
        // Knowing only the first batch: M's acceptance had no open episode; N is pending.
        let early = try trends(ledger, TrendsQuery(bucket: .day), cut: .recordedBy(first))
        #expect([early.total.handedOff, early.total.accepted, early.total.pending] as [Int] == [1, 0, 1])
        // Knowing the second batch too: N is rejected.
        let middle = try trends(ledger, TrendsQuery(bucket: .day), cut: .recordedBy(second))
        #expect([middle.total.handedOff, middle.total.accepted, middle.total.rejected] as [Int] == [2, 1, 1])
        #expect(middle.total.rejectionsByReason.map(\.code) == ["TIMING.LATER"])
    }

    @Test("corrections replace the reason; the last correction in business order wins, whatever the order stored")
    func corrections() async throws {
        var f = EventFactory(seed: 4)
        var events = reasonCatalog(&f)
        let t = at("2026-03-03T09:00:00Z")
        events.append(f.captured("C", t, channel: "email"))
        events.append(f.handedOff("C", t))
        let rejection = f.rejected("C", t + microsPerHour, reason: "FIT.SMALL")
        events.append(rejection)
        // Stored first but happened last: this one wins.
        events.append(f.corrected("C", t + 3 * microsPerDay, rejection: rejection.id, reason: "BUDGET.NONE"))
        events.append(f.corrected("C", t + 2 * microsPerDay, rejection: rejection.id, reason: "TIMING.LATER"))
        // D's correction is dated a minute before its rejection (clocks of two systems): it still applies.
        events.append(f.captured("D", t, channel: "email"))
        events.append(f.handedOff("D", t))
        let rejectionD = f.rejected("D", t + microsPerHour, reason: "FIT.SMALL")
        events.append(f.corrected("D", t + microsPerHour - microsPerMinute, rejection: rejectionD.id, reason: "TIMING.LATER"))
        events.append(rejectionD)
        let ledger = try TestLedger()
        try await ledger.append(events, recordedAt: at("2026-04-01T00:00:00Z"))

        let report = try trends(ledger, TrendsQuery(bucket: .week))
        #expect(report.total.rejected == 2)
        #expect(
            rendered(report.total.rejectionsByReason) == [
                "BUDGET.NONE|No budget|BUDGET|1",
                "TIMING.LATER|Not now|TIMING|1",
            ])
        let state = try ReplayEngine.replay(ledger.log)
        #expect(state.liveEpisodes.allSatisfy { $0.corrected })
        #expect(state.liveEpisodes.map { state.reasons.name($0.originalReason) } == ["FIT.SMALL", "FIT.SMALL"])
    }

    @Test("retired codes are reported as they were, or mapped along replacedBy chains when asked")
    func retiredCodes() async throws {
        var f = EventFactory(seed: 5)
        let t0 = at("2026-01-01T00:00:00Z")
        var events = [
            f.reasonDefined(t0, "OLD.A", label: "Old A", category: "OLD"),
            f.reasonDefined(t0, "OLD.B", label: "Old B", category: "OLD"),
            f.reasonDefined(t0, "NEW.C", label: "New C", category: "NEW"),
            f.reasonDefined(t0, "KEEP.D", label: "Kept D", category: "KEEP"),
        ]
        let t = at("2026-03-03T09:00:00Z")
        for (i, code) in ["OLD.A", "OLD.B", "NEW.C", "KEEP.D", "KEEP.D"].enumerated() {
            events.append(f.captured("R\(i)", t, channel: "email"))
            events.append(f.handedOff("R\(i)", t))
            events.append(f.rejected("R\(i)", t + microsPerHour, reason: code))
        }
        // A → B → C: A's rejection maps through B to C.
        events.append(f.reasonRetired(t + microsPerDay, "OLD.A", replacedBy: "OLD.B"))
        events.append(f.reasonRetired(t + microsPerDay, "OLD.B", replacedBy: "NEW.C"))
        let ledger = try TestLedger()
        try await ledger.append(events, recordedAt: at("2026-04-01T00:00:00Z"))

        let asGiven = try trends(ledger, TrendsQuery(bucket: .week))
        #expect(asGiven.total.rejectionsByReason.map { "\($0.code)=\($0.count)" } == ["KEEP.D=2", "NEW.C=1", "OLD.A=1", "OLD.B=1"])
        #expect(asGiven.total.rejectionsByReason.first { $0.code == "OLD.A" }?.label == "Old A")
        let mapped = try trends(ledger, TrendsQuery(bucket: .week, mapRetiredReasons: true))
        #expect(
            rendered(mapped.total.rejectionsByReason) == [
                "NEW.C|New C|NEW|3",
                "KEEP.D|Kept D|KEEP|2",
            ])
    }

    @Test("re-MQL opens a second episode; a hand-off over an open episode leaves it pending; recycled closes without a decision")
    func episodes() async throws {
        var f = EventFactory(seed: 6)
        let t = at("2026-03-02T09:00:00Z")
        let events = [
            f.captured("E", t, channel: "email"),
            f.handedOff("E", t + microsPerHour, owner: "rep:ana"),
            f.recycled("E", t + microsPerDay),
            f.handedOff("E", t + 3 * microsPerDay, owner: "rep:bo"),
            f.accepted("E", t + 3 * microsPerDay + 5 * microsPerHour),
            f.captured("G", t, channel: "email"),
            f.handedOff("G", t + microsPerHour, owner: "rep:ana"),
            f.handedOff("G", t + 2 * microsPerHour, owner: "rep:bo"),
            f.rejected("G", t + 3 * microsPerHour, reason: "FIT.SMALL"),
        ]
        let ledger = try TestLedger()
        try await ledger.append(events, recordedAt: at("2026-04-01T00:00:00Z"))
        let report = try trends(ledger, TrendsQuery(bucket: .week, groupBy: .owner))
        #expect(report.rows.map(\.group) == ["rep:ana", "rep:bo"])
        // rep:ana: E's first episode (recycled) and G's first (pending, overtaken by a second hand-off).
        #expect(
            [report.rows[0].handedOff, report.rows[0].recycled, report.rows[0].pending, report.rows[0].accepted] as [Int] == [2, 1, 1, 0])
        #expect(report.rows[0].acceptanceRate == nil)
        #expect(report.rows[0].acceptanceRateInterval == nil)
        let unmeasured = report.rows[0].timeToAccept
        #expect(unmeasured.count == 0 && unmeasured.medianHours == nil && unmeasured.p90Hours == nil)
        // rep:bo: E's re-MQL (accepted after 5 h) and G's second episode (rejected).
        #expect([report.rows[1].handedOff, report.rows[1].accepted, report.rows[1].rejected] as [Int] == [2, 1, 1])
        #expect(report.rows[1].timeToAccept.medianHours == 5)
    }

    @Test("a decision with no open episode is ignored")
    func orphanDecisions() async throws {
        var f = EventFactory(seed: 7)
        let t = at("2026-03-02T09:00:00Z")
        let events = [
            f.captured("O", t, channel: "email"),
            f.accepted("O", t + microsPerMinute),
            f.rejected("O", t + 2 * microsPerMinute, reason: "FIT.SMALL"),
            f.handedOff("O", t + microsPerHour),
            f.accepted("O", t + 2 * microsPerHour),
            f.rejected("O", t + 3 * microsPerHour, reason: "FIT.SMALL"),
            f.recycled("O", t + 4 * microsPerHour),
        ]
        let ledger = try TestLedger()
        try await ledger.append(events, recordedAt: at("2026-04-01T00:00:00Z"))
        let report = try trends(ledger)
        #expect([report.total.handedOff, report.total.accepted, report.total.rejected, report.total.recycled] as [Int] == [1, 1, 0, 0])
        #expect(report.total.timeToAccept.medianHours == 1)
    }

    @Test("an episode's definition is the one its hand-off names, else the one in force then (ties to the greater version)")
    func definitions() async throws {
        var f = EventFactory(seed: 8)
        let rule = field("score", .gte(.number(50)))
        let events = [
            f.published(at("2026-01-01T00:00:00Z"), version: 1, effectiveAt: at("2026-01-01T00:00:00Z"), rules: rule),
            f.published(at("2026-02-20T00:00:00Z"), version: 2, effectiveAt: at("2026-03-05T00:00:00Z"), rules: rule),
            f.published(at("2026-02-21T00:00:00Z"), version: 3, effectiveAt: at("2026-03-05T00:00:00Z"), rules: rule),
            f.captured("P", at("2025-12-01T00:00:00Z"), channel: "email"),
            f.handedOff("P", at("2025-12-15T00:00:00Z")),  // before any definition took effect
            f.captured("Q", at("2026-03-01T00:00:00Z"), channel: "email"),
            f.handedOff("Q", at("2026-03-04T23:59:59Z")),  // v1 still in force
            f.captured("S", at("2026-03-01T00:00:00Z"), channel: "email"),
            f.handedOff("S", at("2026-03-04T12:00:00Z"), definition: 2),  // named, before v2 took effect
            f.captured("U", at("2026-03-01T00:00:00Z"), channel: "email"),
            f.handedOff("U", at("2026-03-05T00:00:00Z")),  // v2 and v3 took effect together: v3
            f.captured("V", at("2026-03-01T00:00:00Z"), channel: "email"),
            f.handedOff("V", at("2026-03-06T00:00:00Z"), definition: 1),  // named: an older version
        ]
        let ledger = try TestLedger()
        try await ledger.append(events, recordedAt: at("2026-04-01T00:00:00Z"))
        let report = try trends(ledger, TrendsQuery(bucket: .month, groupBy: .definition))
        #expect(
            report.rows.map { "\($0.start!)/\($0.group!)=\($0.handedOff)" } == [
                "2025-12-01/(none)=1", "2026-03-01/1=2", "2026-03-01/2=1", "2026-03-01/3=1",
            ])
    }

    @Test("source groups by the system that sent the hand-off")
    func bySource() async throws {
        var f = EventFactory(seed: 9)
        let t = at("2026-03-02T09:00:00Z")
        let events = [
            f.captured("A", t, channel: "email"),
            f.handedOff("A", t + 1, source: "marketo"),
            f.captured("B", t, channel: "email"),
            f.handedOff("B", t + 1, source: "hubspot"),
            f.accepted("B", t + 2),
        ]
        let ledger = try TestLedger()
        try await ledger.append(events, recordedAt: at("2026-04-01T00:00:00Z"))
        let report = try trends(ledger, TrendsQuery(bucket: .day, groupBy: .source))
        #expect(report.rows.map { "\($0.group!):\($0.handedOff)/\($0.accepted)" } == ["hubspot:1/1", "marketo:1/0"])
    }
}
