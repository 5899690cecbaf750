import Foundation
import Hummingbird
import Ledger
import Projections

// What the dashboard's templates print, as text already formatted: the templates escape it.

/// The hidden field that carries a session's CSRF token; none without a session.
struct CSRFField {
    let name = SessionStore.csrfField
    let token: String

    init?(_ token: String) {
        guard !token.isEmpty else { return nil }
        self.token = token
    }
}

/// The page shell.
struct PageView {
    let title: String
    let nav: Bool
    let csrf: CSRFField?
    let style: String
    let content: String
}

/// The sign-in form, with why the last attempt failed.
struct LoginView {
    let message: String?
}

/// A refusal shown on a page, with its problems when `hasProblems`.
struct ErrorView {
    let heading: String
    let message: String
    let hasProblems: Bool
    let problems: [BatchProblem]

    init(heading: String, error: APIError, listsProblems: Bool) {
        self.heading = heading
        self.message = error.message
        self.hasProblems = listsProblems
        self.problems = error.problems
    }
}

/// The what-if form, holding the candidate last sent.
struct WhatIfFormView {
    let candidate: String
    let csrf: CSRFField?
}

/// The main page.
struct DashboardView {
    let events, leads, handedOff, acceptanceRate, accepted, rejectionRate, rejected, pending: String
    let headHash: String
    /// The latest signed receipt, in words (`GET /v1/receipt` gives it whole).
    let receipt: String
    let mapUsed: String
    let ratesChart, reasonsChart: String
    let impact: ImpactView
    let candidate: String
    let csrf: CSRFField?
    let filters: FilterFormView
    let funnelChart, complianceChart, ownersChart: String
    let profile: ProfileView?
}

/// A page of the drill-down: the episodes of a cohort, each linked to its lead's audit.
struct EpisodesPageView {
    struct Row {
        let lead, auditLink, episode, handedOffAt, owner, channel, campaign, definition, outcome, decidedAt, hours, reason: String
        let corrected: Bool
    }
    let heading, summary, total, range: String
    let rows: [Row]
    let nextLink: String?
    let dashboardLink: String

    init(_ report: EpisodeListReport, query: EpisodeListQuery, filters: DashboardFilters, parameters: Parameters) {
        var cell: [String] = []
        if let cohort = report.cohort { cell.append("\(query.bucket == .week ? "week of" : query.bucket.rawValue) \(cohort)") }
        if let by = query.groupBy, let group = query.group { cell.append("\(by.rawValue) \(group)") }
        if let outcome = query.outcome { cell.append(outcome.name) }
        if let reason = query.reason { cell.append("reason \(reason)") }
        switch query.stage {
        case .converted?: cell.append("accepted and converted")
        case .won?: cell.append("converted and won")
        case nil: break
        }
        if let selection = query.serviceLevel {
            let limit = selection.limit == .firstTouch ? "first touch" : "decision"
            cell.append("\(limit) \(selection.status?.rawValue ?? "judged")")
            if let owner = selection.owner { cell.append("\(owner) answering at the deadline") }
        }
        heading = cell.isEmpty ? "Episodes" : "Episodes: " + cell.joined(separator: ", ")
        summary = filters.summary
        total = HTML.count(report.total)
        range = report.episodes.isEmpty ? "none" : "\(report.episodes.count) shown"
        rows = report.episodes.map { e in
            Row(
                lead: e.lead, auditLink: "/leads?lead=\(DashboardFilters.encode(e.lead))#episode-\(e.episode)", episode: "\(e.episode)",
                handedOffAt: e.handedOffAt, owner: e.owner ?? "–", channel: e.channel ?? "–", campaign: e.campaign ?? "–",
                definition: e.definition.map { "v\($0)" } ?? "–", outcome: e.outcome, decidedAt: e.decidedAt ?? "",
                hours: e.hoursToDecision.map { HTML.number($0) } ?? "",
                reason: e.reason.map { code in e.reasonLabel.map { "\(code) — \($0)" } ?? code } ?? "",
                corrected: e.corrected)
        }
        // The next page keeps every parameter of this one, only `after` moves on.
        nextLink = report.next.map { next in
            var pairs = parameters.filter { $0.key != "after" }.map { (String($0.key), String($0.value)) }
            pairs.append(("after", next))
            return "/episodes?" + pairs.map { "\(DashboardFilters.encode($0.0))=\(DashboardFilters.encode($0.1))" }.joined(separator: "&")
        }
        dashboardLink = filters.href("/")
    }
}

/// The impact table.
struct ImpactView {
    struct Change {
        let from, to, name, effective, before, beforeCounts, after, afterCounts: String
        let direction, difference, interval, pValue, rising, falling, rules: String
        /// The figures adjusted for time (DESIGN §8.3).
        let stayers, adjusted, adjustedInterval, level, slope, series, reasonMix, detectable: String
        let warning: String?
    }
    let windowDays: Int
    let changes: [Change]
    let hasChanges: Bool

    init(_ report: ImpactReport) {
        windowDays = report.windowDays
        hasChanges = !report.changes.isEmpty
        changes = report.changes.map { change in
            let difference = change.difference
            return Change(
                from: "\(change.from)", to: "\(change.to)", name: change.name, effective: String(change.effectiveAt.prefix(10)),
                before: HTML.percent(change.before.rejectionRate), beforeCounts: "\(change.before.rejected)/\(change.before.decided)",
                after: HTML.percent(change.after.rejectionRate), afterCounts: "\(change.after.rejected)/\(change.after.decided)",
                direction: (difference?.difference ?? 0) > 0 ? "up" : "down",
                difference: difference.map { "\(HTML.number($0.difference * 100)) pp" } ?? "–",
                interval: difference.map { "[\(HTML.number($0.interval.low * 100)), \(HTML.number($0.interval.high * 100))]" } ?? "",
                pValue: difference.map { String(format: "%.3g", $0.pValue) } ?? "–",
                rising: change.reasonsRising.map { "\($0.code) +\(HTML.number($0.change * 100)) pp" }.joined(separator: ", "),
                falling: change.reasonsFalling.map { "\($0.code) \(HTML.number($0.change * 100)) pp" }.joined(separator: ", "),
                rules: change.changes.joined(separator: "; "),
                stayers: change.timeAdjusted.map {
                    "\(HTML.percent($0.stayersBefore.rejectionRate)) (\($0.stayersBefore.rejected)/\($0.stayersBefore.decided)) → \(HTML.percent($0.stayersAfter.rejectionRate)) (\($0.stayersAfter.rejected)/\($0.stayersAfter.decided))"
                } ?? "–",
                adjusted: change.timeAdjusted.map { adjusted in
                    adjusted.estimate.map { "\(HTML.number($0.difference * 100)) pp" } ?? "too few stayers"
                } ?? "–",
                adjustedInterval: change.timeAdjusted?.estimate.map { Self.interval($0.interval) }
                    ?? change.timeAdjusted.map { "fewer than \($0.minimumStayers) decided on a side" } ?? "",
                level: change.weeklySeries.fit.map {
                    "\(HTML.number($0.levelChange.estimate * 100)) pp \(Self.interval($0.levelChange.interval))"
                } ?? "–",
                slope: change.weeklySeries.fit.map {
                    "\(HTML.number($0.slopeChange.estimate * 100)) pp/wk \(Self.interval($0.slopeChange.interval))"
                } ?? "–",
                series: change.weeklySeries.fit == nil
                    ? (change.weeklySeries.note ?? "")
                    : "\(change.weeklySeries.weeksBefore) + \(change.weeklySeries.weeksAfter) weeks",
                reasonMix: change.reasonMix.statistic.map { statistic in
                    "χ² \(HTML.number(statistic)), df \(change.reasonMix.degreesOfFreedom), p \(String(format: "%.3g", change.reasonMix.pValue ?? 1))"
                        + (change.reasonMix.pooled.isEmpty ? "" : " (\(change.reasonMix.pooled.count) sparse codes pooled)")
                } ?? "not tested",
                detectable: change.detectable.difference.map { "\(HTML.number($0 * 100)) pp" } ?? "–",
                warning: change.population.warning)
        }
    }

    static func interval(_ i: Interval) -> String { "[\(HTML.number(i.low * 100)), \(HTML.number(i.high * 100))]" }
}

/// A what-if report.
struct WhatIfResultView {
    struct Segment {
        let label, leads, episodes, accepted, rejected, won, rejectionRate: String

        init(_ label: String, _ segment: ObservedSegment) {
            self.label = label
            leads = "\(segment.leads)"
            episodes = "\(segment.episodes)"
            accepted = "\(segment.accepted)"
            rejected = "\(segment.rejected)"
            won = "\(segment.won)"
            rejectionRate = HTML.percent(segment.rejectionRate)
        }
    }
    struct Candidate {
        let name, changes: String
        let segments: [Segment]
        let addedLeads, addedOutcome, observedRate, observedInterval, boundsLow, boundsHigh, estimate, estimateMethod: String
        let rejectionsAvoided, acceptancesLost, winsLost: String
    }
    let from, to: String
    let candidates: [Candidate]

    init(_ report: WhatIfReport) {
        from = report.from ?? "start"
        to = report.to ?? "now"
        candidates = report.candidates.map { candidate in
            Candidate(
                name: candidate.name, changes: candidate.changes.joined(separator: "; "),
                segments: [
                    Segment("both (handed off and qualifying)", candidate.both),
                    Segment("dropped (handed off, not qualifying)", candidate.dropped),
                ],
                addedLeads: "\(candidate.added.leads)", addedOutcome: candidate.added.outcome,
                observedRate: HTML.percent(candidate.observedRejectionRate),
                observedInterval: candidate.observedRejectionRateInterval.map { " [\(HTML.percent($0.low)), \(HTML.percent($0.high))]" }
                    ?? "",
                boundsLow: HTML.percent(candidate.bounds.low), boundsHigh: HTML.percent(candidate.bounds.high),
                estimate: HTML.percent(candidate.estimate.rejectionRate), estimateMethod: candidate.estimate.method,
                rejectionsAvoided: "\(candidate.rejectionsAvoided)", acceptancesLost: "\(candidate.acceptancesLost)",
                winsLost: "\(candidate.winsLost)")
        }
    }
}

/// A lead's audit.
struct AuditView {
    struct Verdict {
        let verdictClass, mark, rule, seen: String
    }
    // Names are unique across the nested views: Mustache looks a missing (nil) name up in the
    // enclosing view, which would print an episode's note under each of its corrections.
    struct Correction {
        let code, occurredAt: String
        let correctionNote: String?
    }
    struct Episode {
        let number, handedOffAt, owner, definition, definitionName, qualified: String
        let verdicts: [Verdict]
        let outcome: String
        let decidedAt, decidedBy: String?
        let reason: String
        let episodeNote: String?
        let corrections: [Correction]
    }
    struct Event {
        let position, occurredAt: String
        let late: Bool
        let recordedAt, type, source: String
        let actor: String?
        let data: String
    }
    let lead, eventCount, episodeCount, head: String
    let episodes: [Episode]
    let events: [Event]

    init(_ audit: LeadAudit) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        func json(_ value: some Encodable) -> String { (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "" }
        lead = audit.lead
        eventCount = "\(audit.events.count)"
        episodeCount = "\(audit.episodes.count)"
        head = "\(audit.head.position)"
        episodes = audit.episodes.map { episode in
            Episode(
                number: "\(episode.number)", handedOffAt: episode.handedOffAt, owner: episode.owner,
                definition: episode.definition.map { "v\($0)" } ?? "–", definitionName: episode.definitionName ?? "",
                qualified: episode.qualified.map { $0 ? "qualified" : "did not qualify" } ?? "",
                verdicts: episode.verdicts.map {
                    Verdict(verdictClass: $0.passed ? "pass" : "fail", mark: $0.passed ? "✓" : "✗", rule: $0.rule, seen: $0.seen)
                },
                outcome: episode.outcome, decidedAt: episode.decidedAt, decidedBy: episode.decidedBy,
                reason: episode.reason.map { "\($0.code)\($0.label.map { " — \($0)" } ?? "")\($0.category.map { " (\($0))" } ?? "")" }
                    ?? "",
                episodeNote: episode.note,
                corrections: episode.corrections.map {
                    Correction(code: $0.reason.code, occurredAt: $0.occurredAt, correctionNote: $0.note)
                })
        }
        events = audit.events.map { event in
            Event(
                position: "\(event.position)", occurredAt: event.occurredAt, late: event.late, recordedAt: event.recordedAt,
                type: event.type,
                source: event.source, actor: event.actor, data: json(event.data))
        }
    }
}
