import EventLog
import Foundation
import LeadModel
import Projections
import Testing

@Suite("Buyer profile, worked by hand")
struct BuyerProfileTests {
    static func ledger() async throws -> TestLedger {
        var f = EventFactory(seed: 21)
        var events = reasonCatalog(&f)
        let t0 = at("2026-03-02T10:00:00Z")
        func lead(_ id: String, _ n: Int64, channel: String, country: String, score: Double, accepted: Bool, won: Bool = false) {
            let t = t0 + n * microsPerDay
            events.append(f.captured(id, t - microsPerHour, channel: channel, attributes: ["country": .string(country), "phone": .null]))
            events.append(f.scored(id, t - microsPerHour, score))
            events.append(f.handedOff(id, t))
            events.append(accepted ? f.accepted(id, t + microsPerHour) : f.rejected(id, t + microsPerHour, reason: "FIT.SMALL"))
            if won { events.append(f.closed(id, t + 2 * microsPerDay, won: true, amount: 10)) }
        }
        lead("p1", 0, channel: "email", country: "US", score: 72, accepted: true, won: true)
        lead("p2", 1, channel: "email", country: "US", score: 65, accepted: true)
        lead("p3", 2, channel: "email", country: "GB", score: 41, accepted: false)
        lead("p4", 3, channel: "paid", country: "US", score: 35, accepted: false)
        lead("p5", 4, channel: "paid", country: "GB", score: 38, accepted: false)
        lead("p6", 5, channel: "paid", country: "GB", score: 61, accepted: true)
        // Still open: not decided, so in no rate.
        events += [f.captured("p7", t0, channel: "email", attributes: ["country": .string("US")]), f.handedOff("p7", t0 + microsPerHour)]
        // The attribute observed after the hand-off is not what the lead looked like at hand-off.
        events.append(f.observed("p6", t0 + 6 * microsPerDay, ["country": .string("FR")]))
        let ledger = try TestLedger()
        try await ledger.append(events, recordedAt: at("2026-04-01T00:00:00Z"))
        return ledger
    }

    @Test("acceptance and win rates per value at hand-off, lift against all, p-values against the rest, q-values")
    func profile() async throws {
        let report = try feedbackLoop(try await Self.ledger(), FeedbackLoopRequest(profile: ProfileQuery(minimumDecided: 2))).profile!
        #expect(report.baselines.count == 1)
        #expect(report.baselines[0].decided == 6)
        #expect(report.baselines[0].acceptance.rate == 0.5)
        #expect(report.baselines[0].win.count == 1)
        let keys = report.rows.map { "\($0.field)=\($0.value)" }
        // p1–p6 hold two values of each field; phone was null (unknown), so no row; single bands are below the minimum.
        #expect(
            keys == [
                "attributes.country=GB", "attributes.country=US", "campaign=(none)", "channel=email", "channel=paid", "scoreBand=30–40",
                "scoreBand=60–70",
            ])
        let email = report.rows.first { $0.field == "channel" && $0.value == "email" }!
        #expect(email.decided == 3)
        #expect(email.acceptance.rate.count == 2)
        #expect(abs(email.acceptance.lift! - 4.0 / 3) < 1e-12)
        #expect(email.acceptance.pValue == Statistics.twoProportions(1, 3, 2, 3)!.pValue)
        #expect(email.win.lift == 2)
        let us = report.rows.first { $0.value == "US" }!
        #expect(us.decided == 3 && us.acceptance.rate.count == 2 && us.win.rate.count == 1)
        // Everyone is in campaign (none): nothing to compare with, so no test.
        let campaign = report.rows.first { $0.field == "campaign" }!
        #expect(campaign.acceptance.pValue == nil && campaign.acceptance.qValue == nil)
        #expect(report.rows.filter { $0.acceptance.pValue != nil }.allSatisfy { $0.acceptance.qValue! >= $0.acceptance.pValue! })
    }

    @Test("per definition version on request")
    func byDefinition() async throws {
        let report = try feedbackLoop(
            try await Self.ledger(), FeedbackLoopRequest(profile: ProfileQuery(minimumDecided: 1, byDefinition: true))
        ).profile!
        // No definition was published nor named: every episode is under "no definition".
        #expect(report.baselines.map(\.definition) == [-1])
        #expect(report.rows.allSatisfy { $0.definition == -1 })
    }

    @Test("Benjamini–Hochberg q-values, worked by hand")
    func benjaminiHochberg() {
        let q = Statistics.benjaminiHochberg([0.01, 0.04, 0.03, 0.5, nil])
        #expect(q[0]! == 0.04)
        #expect(abs(q[1]! - 0.16 / 3) < 1e-12)
        #expect(abs(q[2]! - 0.16 / 3) < 1e-12)
        #expect(q[3]! == 0.5)
        #expect(q[4] == nil)
    }
}
