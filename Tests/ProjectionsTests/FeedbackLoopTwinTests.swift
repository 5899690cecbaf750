import EventLog
import Foundation
import LeadModel
import Projections
import Testing

extension Mismatches {
    mutating func compare(_ a: Interval?, _ x: Int, _ n: Int, _ label: String) {
        let w = Naive.wilson(x, n)
        close(a?.low, w?.low, label + " low")
        close(a?.high, w?.high, label + " high")
    }

    mutating func compare(_ rate: Rate, _ x: Int, _ n: Int, _ label: String) {
        check(rate.count == x && rate.of == n, "\(label) \(rate.count)/\(rate.of) vs \(x)/\(n)")
        close(rate.rate, n == 0 ? nil : Double(x) / Double(n), label)
        compare(rate.interval, x, n, label)
    }

    mutating func compare(_ d: Durations, _ values: [Double], _ label: String) {
        check(d.count == values.count, "\(label) count \(d.count) vs \(values.count)")
        close(d.medianHours, Naive.quantile(values, 0.5), label + " median")
        close(d.p90Hours, Naive.quantile(values, 0.9), label + " p90")
    }

    mutating func compare(_ amounts: [CurrencyAmount], _ naive: [String: (Double, Int)], _ label: String) {
        check(amounts.count == naive.count, "\(label) currencies \(amounts.map(\.currency)) vs \(naive.keys.sorted())")
        for a in amounts {
            let n = naive[a.currency ?? "\u{0}"]
            close(a.amount, n?.0, "\(label) \(a.currency ?? "-")")
            check(a.count == n?.1, "\(label) \(a.currency ?? "-") count")
        }
    }

    mutating func compare(_ row: FunnelRow, _ n: NaiveFunnelRow, _ label: String) {
        check(
            [row.handedOff, row.accepted, row.rejected, row.recycled, row.pending] == [n.handedOff, n.accepted, n.rejected, n.recycled, n.pending],
            "\(label) counts")
        check(
            [row.converted, row.convertedAccepted, row.won, row.wonConverted] == [n.converted, n.convertedAccepted, n.won, n.wonConverted],
            "\(label) stages \([row.converted, row.convertedAccepted, row.won, row.wonConverted]) vs \([n.converted, n.convertedAccepted, n.won, n.wonConverted])")
        compare(row.acceptedOfHandedOff, n.accepted, n.handedOff, "\(label) acceptedOfHandedOff")
        compare(row.convertedOfAccepted, n.convertedAccepted, n.accepted, "\(label) convertedOfAccepted")
        compare(row.wonOfConverted, n.wonConverted, n.converted, "\(label) wonOfConverted")
        compare(row.handOffToDecision, n.decision, "\(label) decision")
        compare(row.acceptedToConverted, n.acceptedToConverted, "\(label) acceptedToConverted")
        compare(row.convertedToClosed, n.convertedToClosed, "\(label) convertedToClosed")
        check(row.timeToDecision.decided == n.decision.count, "\(label) decided")
        check(row.timeToDecision.censored == n.survival.count - n.decision.count, "\(label) censored")
        close(row.timeToDecision.naiveMedianHours, Naive.quantile(n.decision, 0.5), "\(label) naive median")
        close(row.timeToDecision.kaplanMeierMedianHours, NaiveFeedbackLoop.kaplanMeierMedian(n.survival), "\(label) KM median")
        compare(row.pipeline, n.pipeline, "\(label) pipeline")
        compare(row.wonAmount, n.wonAmount, "\(label) won amount")
        compare(row.recycling.recycled, n.recycled, n.handedOff, "\(label) recycle rate")
        compare(row.recycling.reMQLWithin30Days, n.reMQL30, n.recycled, "\(label) re-MQL 30")
        compare(row.recycling.reMQLWithin90Days, n.reMQL90, n.recycled, "\(label) re-MQL 90")
        compare(row.recycling.reMQLAcceptance, n.reMQLAccepted, n.reMQLDecided, "\(label) re-MQL acceptance")
    }

    mutating func compare(_ report: FunnelReport, _ naive: (rows: [NaiveFunnelRow], total: NaiveFunnelRow), _ label: String) {
        check(report.rows.count == naive.rows.count, "\(label) rows \(report.rows.count) vs \(naive.rows.count)")
        for (row, n) in zip(report.rows, naive.rows) {
            check(row.start == n.start && row.group == n.group, "\(label) row \(row.start ?? "")/\(row.group ?? "") vs \(n.start ?? "")/\(n.group ?? "")")
            compare(row, n, "\(label) \(n.start ?? "")/\(n.group ?? "-")")
        }
        compare(report.total, naive.total, "\(label) total")
    }

    mutating func compare(_ row: ServiceLevelRow, _ n: NaiveSLARow, _ label: String) {
        check([row.met, row.breached, row.open, row.withdrawn] == [n.met, n.breached, n.open, n.withdrawn],
            "\(label) \([row.met, row.breached, row.open, row.withdrawn]) vs \([n.met, n.breached, n.open, n.withdrawn])")
        compare(row.compliance, n.met, n.met + n.breached, "\(label) compliance")
        check(row.touched == n.hours.count, "\(label) touched")
        close(row.medianBusinessHoursToFirstTouch, Naive.quantile(n.hours, 0.5), "\(label) business hours")
    }

    mutating func compare(_ table: ServiceLevelTable, _ n: NaiveSLATable, _ label: String) {
        check(table.byCohort.map(\.start) == n.cohorts.keys.sorted().map(Optional.some), "\(label) cohorts")
        for row in table.byCohort { if let expected = n.cohorts[row.start ?? ""] { compare(row, expected, "\(label) \(row.start ?? "")") } }
        check(table.byOwner.map(\.owner) == n.owners.keys.sorted().map(Optional.some), "\(label) owners")
        for row in table.byOwner { if let expected = n.owners[row.owner ?? ""] { compare(row, expected, "\(label) \(row.owner ?? "")") } }
        compare(table.total, n.total, "\(label) total")
        let listed = n.breaches.prefix(ServiceLevels.defaultMaximumBreaches)
        check(table.breaches.count == listed.count, "\(label) breaches \(table.breaches.count) vs \(listed.count)")
        check(table.breachesTruncated == (n.breaches.count > listed.count), "\(label) truncated")
        for (b, e) in zip(table.breaches, listed) {
            check(
                b.lead == e.lead && b.handOffPosition == e.handOffPosition && b.owner == e.owner
                    && b.deadline == Timestamp(microseconds: e.deadline).rfc3339
                    && b.answeredAt == e.answeredAt.map { Timestamp(microseconds: $0).rfc3339 },
                "\(label) breach \(b) vs \(e)")
        }
    }

    mutating func compare(_ report: BuyerProfileReport, _ naive: NaiveFeedbackLoop, minimum: Int) {
        let n = naive.profile(minimum: minimum)
        check(report.baselines.count == 1 && report.baselines[0].decided == n.decided, "profile baseline")
        compare(report.baselines[0].acceptance, n.accepted, n.decided, "profile baseline acceptance")
        compare(report.baselines[0].win, n.won, n.decided, "profile baseline win")
        check(report.rows.map { $0.field + "=" + $0.value } == n.rows.map { $0.field + "=" + $0.value }, "profile values")
        let acceptanceP = n.rows.map { NaiveFeedbackLoop.pValue($0.accepted, $0.decided, n.accepted, n.decided) }
        let winP = n.rows.map { NaiveFeedbackLoop.pValue($0.won, $0.decided, n.won, n.decided) }
        let acceptanceQ = NaiveFeedbackLoop.qValues(acceptanceP), winQ = NaiveFeedbackLoop.qValues(winP)
        for (i, (row, e)) in zip(report.rows, n.rows).enumerated() {
            let label = "profile \(e.field)=\(e.value)"
            compare(row.acceptance.rate, e.accepted, e.decided, label + " acceptance")
            compare(row.win.rate, e.won, e.decided, label + " win")
            let baseAcceptance = Double(n.accepted) / Double(n.decided), baseWin = Double(n.won) / Double(n.decided)
            close(row.acceptance.lift, baseAcceptance > 0 ? Double(e.accepted) / Double(e.decided) / baseAcceptance : nil, label + " lift")
            close(row.win.lift, baseWin > 0 ? Double(e.won) / Double(e.decided) / baseWin : nil, label + " win lift")
            close(row.acceptance.pValue, acceptanceP[i], label + " p", tolerance: 1e-9)
            close(row.win.pValue, winP[i], label + " win p", tolerance: 1e-9)
            close(row.acceptance.qValue, acceptanceQ[i], label + " q", tolerance: 1e-9)
            close(row.win.qValue, winQ[i], label + " win q", tolerance: 1e-9)
        }
    }
}

/// Compares the engine's funnel, service levels and profile with the plain twin on one replay.
func compareFeedbackLoopWithNaive(_ log: EventLog, _ stored: [StoredEvent], cut: ReplayCut, at instant: Int64) throws -> Mismatches {
    var m = Mismatches()
    let naiveLedger = NaiveLedger(stored, cut: cut)
    let naive = NaiveFeedbackLoop(naiveLedger, stored, cut: cut)
    let minimum = 40
    let queries = Bucket.allCases.flatMap { bucket in
        ([nil] + Projections.Dimension.allCases.map(Optional.some)).map { CohortQuery(bucket: bucket, groupBy: $0, at: instant) }
    }
    let request = FeedbackLoopRequest(
        trends: TrendsQuery(), serviceLevels: CohortQuery(bucket: .week, at: instant), profile: ProfileQuery(minimumDecided: minimum))
    let (state, facts) = try FeedbackLoop.replay(log, cut: cut, collectsAttributes: true)
    let reports = try log.withSnapshot { snapshot in
        FeedbackLoop.compute(state, facts, request, leadName: { try? snapshot.streamName($0) })
    }
    for query in queries {
        m.compare(Funnel.compute(state, facts, query), naive.funnel(query), "funnel \(query.bucket)/\(query.groupBy?.rawValue ?? "-")")
    }
    let sla = reports.serviceLevels!, naiveSLA = naive.serviceLevels(CohortQuery(bucket: .week, at: instant))
    m.check(sla.withoutPolicy == naiveSLA.withoutPolicy, "sla withoutPolicy \(sla.withoutPolicy) vs \(naiveSLA.withoutPolicy)")
    m.compare(sla.firstTouch, naiveSLA.firstTouch, "sla first touch")
    m.compare(sla.decision, naiveSLA.decision, "sla decision")
    m.compare(reports.profile!, naive, minimum: minimum)
    // The trends of the same pass are those of a replay of their own.
    m.check(reports.trends == Trends.compute(try ReplayEngine.replay(log, cut: cut), TrendsQuery()), "trends of the shared pass")
    return m
}

@Suite("The feedback loop on a generated ledger of 100,000 events against a plain implementation")
struct FeedbackLoopTwinTests {
    @Test("the generated ledger holds every new event type, late ones included, and episodes of every service-level status")
    func shape() async throws {
        let g = try await sharedGeneratedLedger.value
        var types: [EventType: Int] = [:]
        for e in g.stored { types[e.event.type, default: 0] += 1 }
        #expect(types[.leadAssigned, default: 0] > 1_000)
        #expect(types[.leadTouched, default: 0] > 10_000)
        #expect(types[.slaPublished] == 4)
        let naive = NaiveFeedbackLoop(NaiveLedger(g.stored), g.stored, cut: .everything)
        let sla = naive.serviceLevels(CohortQuery(at: g.base + 400 * microsPerDay))
        #expect(sla.firstTouch.total.met > 1_000 && sla.firstTouch.total.breached > 1_000)
        #expect(sla.firstTouch.total.withdrawn > 50 && sla.decision.total.withdrawn > 50)
        #expect(sla.withoutPolicy > 1_000)
        let currencies = Set(naive.money.map { $0.1 ?? "-" })
        #expect(currencies == ["EUR", "USD", "-"])
    }

    @Test("funnel (every bucket and grouping), service levels and profile equal the plain implementation exactly")
    func everything() async throws {
        let g = try await sharedGeneratedLedger.value
        let m = try compareFeedbackLoopWithNaive(g.ledger.log, g.stored, cut: .everything, at: g.base + 400 * microsPerDay)
        #expect(m.items.isEmpty, "\(m.summary)")
    }

    @Test("a replay folded on two partitions and then caught up with more events gives the reports of a fresh replay")
    func partitionedThenCaughtUp() async throws {
        let g = try await sharedGeneratedLedger.value
        // Past the engine's threshold for folding on two threads, then the rest in later batches,
        // as a server's shared replay sees them: touches, conversions and new hand-offs of leads
        // the first fold already tracked.
        let events = g.stored.map(\.event)
        let split = 60_000
        let ledger = try TestLedger(name: "caught-up")
        try await ledger.append(Array(events[..<split]), recordedAt: g.batchTimes[0])
        var (state, facts) = try FeedbackLoop.replay(ledger.log, collectsAttributes: true)
        try await ledger.append(Array(events[split...]), batchSize: 7_000, firstRecordedAt: g.batchTimes[0] + 1)
        try ledger.log.withSnapshot { try ReplayEngine.catchUp(&state, snapshot: $0, observer: &facts) }

        let at = g.base + 400 * microsPerDay
        let request = FeedbackLoopRequest(
            trends: TrendsQuery(), funnel: CohortQuery(bucket: .month, groupBy: .owner, at: at), serviceLevels: CohortQuery(at: at),
            profile: ProfileQuery(minimumDecided: 40))
        let caughtUp = FeedbackLoop.compute(state, facts, request, leadName: { _ in nil })
        let (freshState, freshFacts) = try FeedbackLoop.replay(ledger.log, collectsAttributes: true)
        let fresh = FeedbackLoop.compute(freshState, freshFacts, request, leadName: { _ in nil })
        #expect(caughtUp.funnel == fresh.funnel)
        #expect(caughtUp.serviceLevels == fresh.serviceLevels)
        #expect(caughtUp.profile == fresh.profile)
        #expect(caughtUp.trends == fresh.trends)
        #expect((fresh.funnel?.total.converted ?? 0) > 100)
    }

    @Test("and under a business-time cut, with deadlines still open at the cut")
    func cut() async throws {
        let g = try await sharedGeneratedLedger.value
        let instant = g.base + 230 * microsPerDay + 13 * microsPerHour
        let m = try compareFeedbackLoopWithNaive(g.ledger.log, g.stored, cut: .occurredBy(instant), at: instant)
        #expect(m.items.isEmpty, "\(m.summary)")
    }
}
