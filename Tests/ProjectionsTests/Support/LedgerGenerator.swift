import EventLog
import Foundation
import LeadModel
import Projections

/// A seeded ledger of about 100,000 events with everything that makes replays hard: late arrivals
/// (attributes, scores, captures, hand-offs and decisions appended after later events of their
/// lead), corrections in and out of business order, re-MQL episodes, double hand-offs, orphan
/// decisions, retired codes with chained replacements, and definitions published late or tied; and
/// for the feedback loop, service levels in four calendars, re-assignments, touches before and after
/// decisions, conversions with amounts in two currencies (and without an acceptance), some late.
struct GeneratedEvents {
    /// Every event with the knowledge time it is appended at, in append order.
    var events: [(appendKey: Int64, event: LeadEvent)] = []
    let base: Int64
    let days: Int64
    /// The versions' effective instants, for hand-offs that name the version in force.
    let effective: [(version: Int, at: Int64)]

    static let channels = ["email", "paid", "organic", "events", "partner"]
    static let campaigns = ["spring", "summer", "autumn", "winter", "webinar", "expo", "retarget", "launch"]
    static let owners = ["rep:ana", "rep:bo", "rep:cy", "rep:dee", "queue:smb", "queue:ent"]
    static let sources = ["hubspot", "salesforce", "marketo"]
    static let countries = ["US", "CA", "GB", "FR", "DE", "BR"]
    static let domains = ["acme.com", "gmail.com", "corp.io", "yahoo.com", "bigco.com"]
    static let industries = ["saas", "retail", "finance", "health"]
    static let codes = [
        "FIT.SMALL", "FIT.INDUSTRY", "TIMING.LATER", "BUDGET.NONE", "CONTACT.BAD_EMAIL", "OLD.NO_RESPONSE", "OLD.DUPLICATE",
        "DATA.DUPLICATE", "OTHER.MISC",
    ]

    init(seed: UInt64, leads: Int) {
        var rng = SplitMix64(seed: seed)
        var f = EventFactory(seed: seed)
        base = at("2025-01-06T00:00:00Z")  // a Monday
        days = 360
        let day = microsPerDay
        effective = [
            (1, base - 30 * day), (2, base + 90 * day), (3, base + 180 * day), (4, base + 270 * day), (5, base + 330 * day),
            (6, base + 330 * day),
        ]
        var items: [(Int64, LeadEvent)] = []
        func add(_ e: LeadEvent, appendAt: Int64? = nil) { items.append((appendAt ?? e.occurredAt.microseconds, e)) }

        // The catalog.
        for code in Self.codes + ["CONTACT.NO_RESPONSE", "DATA.DUP2"] {
            add(f.reasonDefined(base - 10 * day, code, label: "label of \(code)", category: String(code.split(separator: ".")[0])))
        }
        add(f.reasonRetired(base + 120 * day, "OLD.NO_RESPONSE", replacedBy: "CONTACT.NO_RESPONSE"))
        add(f.reasonRetired(base + 200 * day, "OLD.DUPLICATE", replacedBy: "DATA.DUPLICATE"))
        add(f.reasonRetired(base + 250 * day, "DATA.DUPLICATE", replacedBy: "DATA.DUP2"))
        add(f.reasonRetired(base + 260 * day, "OTHER.MISC", replacedBy: nil))
        add(f.reasonDefined(base + 150 * day, "FIT.SMALL", label: "Company too small (relabelled)", category: "FIT"))
        let ruleSets: [MQLRule] = [
            field("score", .gte(.number(40))),
            .all([field("score", .gte(.number(50))), field("country", .in([.string("US"), .string("CA"), .string("GB")]))]),
            .all([field("score", .gte(.number(55))), .not(field("email_domain", .in([.string("gmail.com"), .string("yahoo.com")])))]),
            .any([field("score", .gte(.number(70))), field("employees", .gte(.number(200)))]),
            .all([field("score", .gte(.number(60))), field("channel", .ne(.string("organic")))]),
            .all([field("score", .gte(.number(60))), field("industry", .exists(true))]),
        ]
        // Published when they take effect, except v4 (published ten days after it took effect) and
        // v2, v3 (announced ten days ahead); v5 and v6 take effect at the same instant.
        let published: [Int64] = [base - 30 * day, base + 80 * day, base + 170 * day, base + 280 * day, base + 320 * day, base + 321 * day]
        for (i, rules) in ruleSets.enumerated() {
            add(f.published(published[i], version: i + 1, effectiveAt: effective[i].at, rules: rules))
        }

        func pick<T>(_ xs: [T]) -> T { xs[Int.random(in: 0..<xs.count, using: &rng)] }
        func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }
        func minutes(_ a: Int64, _ b: Int64) -> Int64 { Int64.random(in: a...b, using: &rng) * microsPerMinute }
        func lateness() -> Int64 { Int64.random(in: microsPerHour...(30 * day), using: &rng) }
        func attributes(_ partial: Bool) -> [String: AttributeValue] {
            var a: [String: AttributeValue] = [:]
            if !partial || chance(0.4) { a["country"] = chance(partial ? 0.15 : 0.05) ? .null : .string(pick(Self.countries)) }
            if !partial || chance(0.4) { a["employees"] = .number(Double(Int.random(in: 1...5000, using: &rng))) }
            if !partial || chance(0.3) { a["email_domain"] = .string(pick(Self.domains)) }
            if chance(partial ? 0.3 : 0.5) { a["industry"] = chance(0.2) ? .null : .string(pick(Self.industries)) }
            return a
        }
        // Service levels, drawn from a stream of their own so the rest of the ledger stays as it was:
        // four calendars (DST in Paris and New York, a six-day week in Kolkata, round the clock in
        // UTC), holidays, v4 tied with v3 and published after it took effect.
        var activity = SplitMix64(seed: seed ^ 0x5EC0_7A5C)
        func maybe(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &activity) < p }
        func activityMinutes(_ a: Int64, _ b: Int64) -> Int64 { Int64.random(in: a...b, using: &activity) * microsPerMinute }
        func activityLateness() -> Int64 { Int64.random(in: microsPerHour...(30 * day), using: &activity) }
        let calendars = [
            BusinessCalendar(
                timeZone: "Europe/Paris", workdays: [1, 2, 3, 4, 5], startMinute: 540, endMinute: 1050,
                holidays: ["2025-05-01", "2025-07-14", "2025-12-25"]),
            BusinessCalendar(timeZone: "America/New_York", workdays: [1, 2, 3, 4, 5], startMinute: 480, endMinute: 1080, holidays: ["2025-09-01"]),
            BusinessCalendar(timeZone: "Asia/Kolkata", workdays: [1, 2, 3, 4, 5, 6], startMinute: 600, endMinute: 1140),
            BusinessCalendar(timeZone: "UTC", workdays: [1, 2, 3, 4, 5, 6, 7], startMinute: 0, endMinute: 1440),
        ]
        let limits: [(Double?, Double?)] = [(8, 24), (4, nil), (nil, 30), (2.5, 48)]
        let slaEffective = [base + 60 * day, base + 200 * day, base + 300 * day, base + 300 * day]
        let slaPublished = [base + 50 * day, base + 190 * day, base + 290 * day, base + 310 * day]
        for v in 0..<4 {
            add(
                f.serviceLevel(
                    slaPublished[v], version: v + 1, effectiveAt: slaEffective[v], firstTouchWithin: limits[v].0,
                    decisionWithin: limits[v].1, calendar: calendars[v]))
        }
        /// Sales activity after a hand-off at `t`: re-assignments and touches, before or after the
        /// decision, some appended late.
        func salesActivity(_ lead: String, _ t: Int64) {
            if maybe(0.12) {
                let at = t + activityMinutes(5, 3 * 24 * 60)
                add(f.assigned(lead, at, owner: Self.owners[Int.random(in: 0..<Self.owners.count, using: &activity)]),
                    appendAt: maybe(0.05) ? at + activityLateness() : nil)
            }
            if maybe(0.75) {
                let at = t + activityMinutes(0, 4 * 24 * 60)
                add(f.touched(lead, at, SalesActivity.allCases[Int.random(in: 0..<5, using: &activity)]), appendAt: maybe(0.04) ? at + activityLateness() : nil)
            }
        }
        func money() -> (Double?, String?) {
            guard maybe(0.8) else { return (nil, maybe(0.2) ? "EUR" : nil) }
            return (Double(Int.random(in: 1...500, using: &activity)) * 100, maybe(0.1) ? nil : (maybe(0.6) ? "USD" : "EUR"))
        }
        func inForce(_ t: Int64) -> Int? { effective.filter { $0.at <= t }.max { ($0.at, $0.version) < ($1.at, $1.version) }?.version }

        for i in 0..<leads {
            let lead = "L\(i)"
            var t = base + Int64.random(in: 0..<(days * 86_400), using: &rng) * microsPerSecond
            if chance(0.1) { t -= t % microsPerHour }  // round hours make business-time ties
            let campaign: String? = chance(0.8) ? pick(Self.campaigns) : nil
            func captured(_ t: Int64) {
                let e = f.captured(lead, t, channel: pick(Self.channels), campaign: campaign, attributes: attributes(false))
                add(e, appendAt: chance(0.03) ? t + lateness() : nil)
            }
            func stateChanges(_ n: Int) {
                for _ in 0..<n {
                    t += minutes(10, 3 * 24 * 60)
                    if chance(0.1) { t -= t % microsPerHour }
                    let e =
                        chance(0.55)
                        ? f.observed(lead, t, attributes(true)) : f.scored(lead, t, Double(Int.random(in: 0...1000, using: &rng)) / 10)
                    add(e, appendAt: chance(0.03) ? t + lateness() : nil)
                }
            }
            captured(t)
            if maybe(0.05) { add(f.assigned(lead, t + microsPerMinute, owner: "queue:routing")) }  // routed before any hand-off
            stateChanges(Int.random(in: 2...5, using: &rng))
            if chance(0.1) {
                t += minutes(60, 20 * 24 * 60)
                captured(t)  // seen again, possibly through another channel
            }
            if chance(0.01) { add(f.accepted(lead, t + minutes(1, 60))) }  // a decision with no open episode
            guard chance(0.72) else { continue }
            var episodes = 0
            while episodes < 4 {
                episodes += 1
                t += minutes(60, 10 * 24 * 60)
                let named: Int? = chance(0.4) ? (chance(0.85) ? inForce(t) : Int.random(in: 1...6, using: &rng)) : nil
                add(
                    f.handedOff(lead, t, owner: pick(Self.owners), definition: named, source: pick(Self.sources)),
                    appendAt: chance(0.01) ? t + lateness() : nil)
                salesActivity(lead, t)
                if chance(0.03) { continue }  // handed off again over the open episode
                let roll = Double.random(in: 0..<1, using: &rng)
                if roll < 0.08 { break }  // pending
                t += minutes(1, 10 * 24 * 60)
                let lateDecision: Int64? = chance(0.04) ? t + lateness() : nil
                if roll < 0.58 {
                    add(f.accepted(lead, t, by: pick(Self.owners)), appendAt: lateDecision)
                    if chance(0.25) {
                        let (amount, currency) = money()
                        add(f.converted(lead, t + minutes(60, 20 * 24 * 60), amount: amount, currency: currency))
                        if chance(0.6) {
                            add(f.closed(lead, t + minutes(30 * 24 * 60, 60 * 24 * 60), won: chance(0.5), amount: money().0))
                        }
                    }
                    if !chance(0.05) { break }
                } else if roll < 0.88 {
                    let rejection = f.rejected(lead, t, reason: pick(Self.codes), by: pick(Self.owners))
                    add(rejection, appendAt: lateDecision)
                    if maybe(0.04) {
                        // Converted all the same: a conversion without an acceptance.
                        let (amount, currency) = money()
                        add(f.converted(lead, t + activityMinutes(60, 9 * 24 * 60), amount: amount, currency: currency))
                    }
                    let stored = lateDecision ?? t
                    if chance(0.12) {
                        // Usually days later; sometimes stamped minutes before the rejection by a skewed clock.
                        let c1 = chance(0.08) ? t - minutes(1, 30) : t + minutes(60, 5 * 24 * 60)
                        add(
                            f.corrected(lead, c1, rejection: rejection.id, reason: pick(Self.codes)),
                            appendAt: max(c1, stored) + microsPerSecond)
                        if chance(0.2) {
                            // A second correction, stored after the first but not always later in business time.
                            let c2 = c1 + minutes(-2 * 24 * 60, 2 * 24 * 60)
                            add(
                                f.corrected(lead, c2, rejection: rejection.id, reason: pick(Self.codes)),
                                appendAt: max(c1, c2, stored) + 2 * microsPerSecond)
                        }
                    }
                } else {
                    add(f.recycled(lead, t), appendAt: lateDecision)
                }
                guard chance(0.35) else { break }  // re-MQL: the lead comes back
                stateChanges(Int.random(in: 0...2, using: &rng))
            }
        }
        events = items.enumerated().sorted { ($0.element.0, $0.offset) < ($1.element.0, $1.offset) }.map { ($0.element.0, $0.element.1) }
    }

    /// Appends everything in batches; each batch is recorded at its latest append key.
    func append(to ledger: TestLedger, batchSize: Int = 5_000) async throws -> [Int64] {
        var recorded: [Int64] = []
        var start = 0
        while start < events.count {
            let end = min(start + batchSize, events.count)
            let t = max(events[end - 1].appendKey, (recorded.last ?? .min) + 1)
            try await ledger.append(events[start..<end].map(\.event), recordedAt: t)
            recorded.append(t)
            start = end
        }
        return recorded
    }
}

/// The generated ledger, stored once and shared by the tests that read it.
struct GeneratedLedger: Sendable {
    let ledger: TestLedger
    let stored: [StoredEvent]
    /// Each batch's knowledge time, in order.
    let batchTimes: [Int64]
    let base: Int64

    static func make() async throws -> GeneratedLedger {
        let generated = GeneratedEvents(seed: 0x1EAD_1ED6, leads: 16_000)
        let ledger = try TestLedger(name: "generated")
        let times = try await generated.append(to: ledger)
        // Positions are commit order and each batch is recorded at its time, so what the log stored
        // is known without decoding it back; the head and a sample of records confirm it.
        var stored: [StoredEvent] = []
        stored.reserveCapacity(generated.events.count)
        var numbers: [String: UInt32] = [:]
        for (i, item) in generated.events.enumerated() {
            let stream = CatalogStream.stream(of: item.event)
            let number = numbers[stream] ?? UInt32(numbers.count + 1)
            numbers[stream] = number
            stored.append(StoredEvent(position: UInt64(i + 1), recordedAt: times[i / 5_000], streamNumber: number, event: item.event))
        }
        guard try ledger.log.head().position == UInt64(stored.count) else { throw GeneratedLedgerError.mismatch("head") }
        for i in stride(from: 0, to: stored.count, by: 997) {
            let record = try ledger.log.record(at: stored[i].position)
            guard record?.id == stored[i].event.id, record?.recordedAt == stored[i].recordedAt,
                record?.streamNumber == stored[i].streamNumber
            else { throw GeneratedLedgerError.mismatch("record \(i + 1)") }
        }
        return GeneratedLedger(ledger: ledger, stored: stored, batchTimes: times, base: generated.base)
    }

    /// The candidate definitions the what-if comparisons try.
    static let candidates = [
        CandidateDefinition(
            name: "strict", rules: .all([field("score", .gte(.number(65))), field("country", .in([.string("US"), .string("GB")]))])),
        CandidateDefinition(name: "big or hot", rules: .any([field("employees", .gte(.number(1000))), field("score", .gt(.number(85)))])),
        CandidateDefinition(
            name: "no free mail",
            rules: .all([
                .not(field("email_domain", .in([.string("gmail.com"), .string("yahoo.com")]))), field("industry", .exists(true)),
                field("campaign", .ne(.string("expo"))),
            ])),
    ]
}

enum GeneratedLedgerError: Error { case mismatch(String) }

/// Built on first use; tests that only read it share one copy.
let sharedGeneratedLedger = Task { try await GeneratedLedger.make() }
