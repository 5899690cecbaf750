import EventLog
import Foundation
import LeadModel
import Projections
import Testing

@Suite("Service levels, worked by hand")
struct ServiceLevelTests {
    static let reportAt = at("2026-04-01T00:00:00Z")

    /// Paris office hours; 4 business hours to a first touch, 16 to a decision, from 1 March 2026.
    static func ledger() async throws -> TestLedger {
        var f = EventFactory(seed: 8)
        var events = reasonCatalog(&f)
        events.append(
            f.serviceLevel(
                at("2026-02-20T00:00:00Z"), version: 1, effectiveAt: at("2026-03-01T00:00:00+01:00"), firstTouchWithin: 4,
                decisionWithin: 16, calendar: parisOffice))
        // Before any policy.
        events += [f.handedOff("s0", at("2026-02-25T10:00:00Z"))]
        // Friday 16:00: the first-touch deadline runs over the weekend to Monday 12:00; touched Monday 11:30.
        // Re-assigned Monday 14:00, after that deadline but before the decision's (Tuesday 16:00).
        events += [
            f.handedOff("s1", at("2026-03-06T16:00:00+01:00"), owner: "rep:ana"), f.touched("s1", at("2026-03-09T11:30:00+01:00")),
            f.assigned("s1", at("2026-03-09T14:00:00+01:00"), owner: "rep:dee"),
        ]
        // Re-assigned an hour after the hand-off, before the deadline: rep:bo answers for the breach.
        events += [
            f.handedOff("s2", at("2026-03-10T09:00:00+01:00"), owner: "rep:ana"),
            f.assigned("s2", at("2026-03-10T10:00:00+01:00"), owner: "rep:bo"),
        ]
        // Recycled before the deadline without a touch: withdrawn.
        events += [f.handedOff("s3", at("2026-03-11T09:00:00+01:00"), owner: "rep:cy"), f.recycled("s3", at("2026-03-11T10:00:00+01:00"))]
        // Accepted the next day: the acceptance is the (late) first touch and the (timely) decision.
        events += [f.handedOff("s4", at("2026-03-12T09:00:00+01:00"), owner: "rep:ana"), f.accepted("s4", at("2026-03-13T10:00:00+01:00"))]
        // Handed off the evening before the report: both deadlines are still ahead.
        events += [f.handedOff("s5", at("2026-03-31T16:00:00+02:00"), owner: "rep:ana")]
        let ledger = try TestLedger()
        try await ledger.append(events, recordedAt: at("2026-04-01T00:00:00Z"))
        return ledger
    }

    static func report(_ ledger: TestLedger, at instant: Int64 = reportAt, cut: ReplayCut = .everything) throws -> ServiceLevelReport {
        try feedbackLoop(ledger, FeedbackLoopRequest(serviceLevels: CohortQuery(bucket: .week, at: instant)), cut: cut).serviceLevels!
    }

    @Test("met, breached, open and withdrawn per cohort and per owner, with compliance and business hours to first touch")
    func firstTouch() async throws {
        let report = try Self.report(try await Self.ledger())
        #expect(report.withoutPolicy == 1)
        #expect(report.policies.map(\.version) == [1])
        let table = report.firstTouch
        #expect([table.total.met, table.total.breached, table.total.open, table.total.withdrawn] as [Int] == [1, 2, 1, 1])
        #expect(table.total.compliance.count == 1 && table.total.compliance.of == 3)
        #expect(table.total.compliance.interval == Statistics.wilson(1, of: 3))
        // s1: Friday 16–17 and Monday 9–11:30, 3.5 h; s4: Thursday 9–17 and Friday 9–10, 9 h.
        #expect(table.total.touched == 2)
        #expect(table.total.medianBusinessHoursToFirstTouch == 6.25)
        #expect(table.byCohort.map(\.start) == ["2026-03-02", "2026-03-09", "2026-03-30"])
        #expect(table.byCohort.map(\.met) == [1, 0, 0])
        #expect(table.byCohort.map(\.breached) == [0, 2, 0])
        #expect(table.byOwner.map(\.owner) == ["rep:ana", "rep:bo", "rep:cy"])
        #expect(table.byOwner.map { [$0.met, $0.breached, $0.open, $0.withdrawn] } == [[1, 1, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]])
        #expect(table.breaches.map(\.lead) == ["s2", "s4"])
        #expect(table.breaches.map(\.owner) == ["rep:bo", "rep:ana"])
        #expect(table.breaches.map(\.deadline) == ["2026-03-10T12:00:00Z", "2026-03-12T12:00:00Z"])
        #expect(table.breaches.map(\.answeredAt) == [nil, "2026-03-13T09:00:00Z"])
        #expect(!table.breachesTruncated)
    }

    @Test("the decision limit: the owner at the decision's deadline answers, and an acceptance in time is met")
    func decision() async throws {
        let table = try Self.report(try await Self.ledger()).decision
        #expect([table.total.met, table.total.breached, table.total.open, table.total.withdrawn] as [Int] == [1, 2, 1, 1])
        #expect(table.byOwner.map(\.owner) == ["rep:ana", "rep:bo", "rep:cy", "rep:dee"])
        // s1's decision was due Tuesday 16:00 Paris, s2's Wednesday 17:00.
        #expect(table.breaches.map(\.lead) == ["s1", "s2"])
        #expect(table.breaches.map(\.owner) == ["rep:dee", "rep:bo"])
        #expect(table.breaches.map(\.deadline) == ["2026-03-10T15:00:00Z", "2026-03-11T16:00:00Z"])
    }

    @Test("judged earlier, the same episodes are still open: the report's instant decides, and is stated")
    func reportInstant() async throws {
        let ledger = try await Self.ledger()
        // Tuesday 10 March, 12:30 Paris: s2's deadline (13:00) has not come yet.
        let instant = at("2026-03-10T12:30:00+01:00")
        let report = try Self.report(ledger, at: FeedbackLoop.reportInstant(for: .occurredBy(instant), now: 0), cut: .occurredBy(instant))
        #expect(report.reportAt == "2026-03-10T11:30:00Z")
        #expect(report.firstTouch.breaches.map(\.lead) == [])
        #expect(report.firstTouch.byOwner.first { $0.owner == "rep:bo" }?.open == 1)
        #expect([report.firstTouch.total.met, report.firstTouch.total.open] as [Int] == [1, 1])
    }
}
