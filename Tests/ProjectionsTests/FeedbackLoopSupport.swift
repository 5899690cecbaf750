import EventLog
import Foundation
import LeadModel
import Projections

extension EventFactory {
    mutating func assigned(_ lead: String, _ t: Int64, owner: String) -> LeadEvent {
        self.lead(lead, t, .assigned(.init(owner: owner)), source: "salesforce")
    }

    mutating func touched(_ lead: String, _ t: Int64, _ activity: SalesActivity = .call) -> LeadEvent {
        self.lead(lead, t, .touched(.init(activity: activity)), source: "salesforce")
    }

    mutating func converted(_ lead: String, _ t: Int64, amount: Double?, currency: String?) -> LeadEvent {
        self.lead(lead, t, .converted(.init(opportunity: "opp-\(lead)", amount: amount, currency: currency)), source: "salesforce")
    }

    mutating func closed(_ lead: String, _ t: Int64, won: Bool, amount: Double?) -> LeadEvent {
        self.lead(lead, t, .closed(.init(won: won, amount: amount)), source: "salesforce")
    }

    mutating func serviceLevel(
        _ t: Int64, version: Int, effectiveAt: Int64, firstTouchWithin: Double?, decisionWithin: Double?, calendar: BusinessCalendar
    ) -> LeadEvent {
        catalog(
            t,
            .slaPublished(
                .init(
                    version: version, name: "SLA v\(version)", effectiveAt: Timestamp(microseconds: effectiveAt),
                    firstTouchWithin: firstTouchWithin, decisionWithin: decisionWithin, calendar: calendar)))
    }
}

/// Mondays to Fridays, 09:00 to 17:00 in Paris.
let parisOffice = BusinessCalendar(timeZone: "Europe/Paris", workdays: [1, 2, 3, 4, 5], startMinute: 540, endMinute: 1020)

func feedbackLoop(_ ledger: TestLedger, _ request: FeedbackLoopRequest, cut: ReplayCut = .everything) throws -> FeedbackLoopReports {
    try FeedbackLoop.run(ledger.log, cut: cut, request)
}
