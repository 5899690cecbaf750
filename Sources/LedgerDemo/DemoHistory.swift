import Foundation
import LeadModel

/// A seeded, realistic year of marketing-to-sales hand-offs, for demos, benchmarks and tests.
///
/// The history starts with the reason taxonomy and definition v1, then runs 52 weeks of leads:
/// captured from eight channels with firmographic attributes, scored, handed off when they qualify
/// under the MQL definition in force, and accepted or rejected by one of ten reps within hours to
/// days (median about a day). Rejection is driven by fit (small companies, free-mail addresses,
/// countries sales does not serve, students, webinar content seekers), so each of the four
/// definition changes visibly moves the rejection rate and the reason mix: v2 raises the score
/// threshold (rejections fall), v3 adds a country allow-list (they fall again), v4 lets webinar leads
/// in (they rise), v5 excludes free-mail domains (they fall). Planted on purpose: recycled leads that
/// come back as MQLs (a second episode), conversions and won or lost deals weeks later, about 10% of
/// hand-offs without `definition` (the ledger infers it), a retired reason code with its replacement
/// used afterwards, corrected rejections, about 2% late back-filled events appended at the end, and
/// episodes still open when the year ends. Sales activity tells the service-level story: reps touch
/// their leads, some much sooner than others, a few episodes are re-assigned in their first hours,
/// and a service level (first touch within 8 business hours, decision within 24) takes effect
/// mid-year. The same seed gives the same events with the same ids.
public struct DemoHistory: Sendable {
    /// The events, in an order in which the ledger's validation accepts every one.
    public var events: [LeadEvent]
    /// What the history contains, to find the planted cases without searching.
    public var story: Story

    /// One published definition of the history.
    public struct DefinitionChange: Sendable, Hashable, Codable {
        /// Its version.
        public var version: Int
        /// Its name.
        public var name: String
        /// When it takes effect.
        public var effectiveAt: Timestamp
        /// Why it was published.
        public var rationale: String
        /// Episodes handed off under it.
        public var handOffs: Int
        /// Rejected / (accepted + rejected) of those episodes, nil when none was decided.
        public var rejectionRate: Double?
    }

    /// What was planted in the history, with counts.
    public struct Story: Sendable, Hashable, Codable {
        /// The seed it was generated from.
        public var seed: UInt64
        /// Business time of the first lead event's week.
        public var start: Timestamp
        /// The end of the 52 weeks; nothing happens after it.
        public var end: Timestamp
        /// The published definitions, in version order.
        public var definitions: [DefinitionChange]
        /// The retired reason code.
        public var retiredCode: String
        /// The code that replaces it.
        public var replacementCode: String
        /// When it was retired.
        public var retiredAt: Timestamp
        /// A lead whose rejection was corrected.
        public var correctedLead: String?
        /// The id of that lead's corrected `lead.rejected`.
        public var correctedRejection: UUID?
        /// A lead handed off twice (re-MQL after recycling or rejection).
        public var reMQLLead: String?
        /// A lead with a late (back-filled) event.
        public var lateLead: String?
        /// Leads captured.
        public var leads: Int
        /// Episodes opened (hand-offs).
        public var handOffs: Int
        /// Hand-offs that carry no `definition`.
        public var handOffsWithoutDefinition: Int
        /// Episodes accepted.
        public var accepted: Int
        /// Episodes rejected.
        public var rejected: Int
        /// Episodes recycled.
        public var recycled: Int
        /// Episodes still open at the end.
        public var pending: Int
        /// Second or later hand-offs of a lead.
        public var reMQLEpisodes: Int
        /// Rejection corrections.
        public var corrections: Int
        /// Late events appended at the end.
        public var lateEvents: Int
        /// Conversions.
        public var converted: Int
        /// Deals won.
        public var won: Int
        /// Deals lost.
        public var lost: Int
        /// When the service level (`sla.published` version 1) takes effect: mid-year.
        public var serviceLevelEffectiveAt: Timestamp
        /// Episodes re-assigned to another rep while open (`lead.assigned`).
        public var reassignments: Int
        /// First touches recorded before the decision (`lead.touched`).
        public var touches: Int
    }

    /// Generates the history for `seed`: `leads` leads over the 52 weeks from `start`.
    public static func generate(
        seed: UInt64, leads: Int = 60_000, start: Timestamp = Timestamp(microseconds: 1_736_121_600_000_000)
    ) -> DemoHistory {
        var generator = DemoGenerator(seed: seed, start: start)
        return generator.run(leads: leads)
    }
}

/// The workings of `DemoHistory.generate`.
struct DemoGenerator {
    static let hour: Int64 = 3_600_000_000
    static let day: Int64 = 24 * hour
    static let week: Int64 = 7 * day

    static let servedCountries = ["US", "CA", "GB", "DE", "FR", "NL", "AU", "IE"]
    static let freeMail = ["gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "aol.com"]
    static let reps = [
        "rep:alice", "rep:bruno", "rep:chen", "rep:dana", "rep:emeka", "rep:fatima", "rep:gus", "rep:hana",
        "rep:ivan", "rep:jules",
    ]
    /// How much more or less readily each rep rejects, so trends by owner differ.
    static let repStrictness = [1.0, 0.8, 1.2, 0.95, 1.1, 0.85, 1.25, 1.0, 0.9, 1.05]
    static let channels = Weighted([
        ("paid_search", 22.0), ("organic_search", 20), ("email", 14), ("social", 12), ("referral", 8),
        ("webinar", 10), ("events", 7), ("partner", 7),
    ])
    static let engagement: [String: Double] = [
        "webinar": 0.72, "events": 0.66, "referral": 0.62, "partner": 0.58, "paid_search": 0.52,
        "organic_search": 0.48, "email": 0.42, "social": 0.32,
    ]
    static let countries = Weighted([
        ("US", 42.0), ("GB", 10), ("CA", 6), ("DE", 8), ("FR", 5), ("NL", 3), ("AU", 4), ("IE", 1), ("IN", 8),
        ("BR", 5), ("ES", 2), ("IT", 2), ("MX", 2), ("PL", 1), ("SG", 1),
    ])
    static let titles = Weighted([
        ("VP Marketing", 6.0), ("VP Sales", 4), ("Director of Marketing", 8), ("Head of Growth", 6), ("Chief Executive", 5),
        ("Founder", 5), ("CTO", 4), ("Marketing Manager", 16), ("Operations Manager", 8), ("Analyst", 10),
        ("Software Engineer", 9), ("Consultant", 7), ("Student", 4),
    ])
    static let seniority: [String: Double] = [
        "VP Marketing": 1, "VP Sales": 1, "Director of Marketing": 0.85, "Head of Growth": 0.8, "Chief Executive": 1,
        "Founder": 0.9, "CTO": 0.9, "Marketing Manager": 0.6, "Operations Manager": 0.5, "Analyst": 0.3,
        "Software Engineer": 0.25, "Consultant": 0.35, "Student": 0,
    ]
    static let industries = Weighted([
        ("Software", 22.0), ("Financial Services", 12), ("Healthcare", 10), ("Manufacturing", 12), ("Retail", 10),
        ("Education", 8), ("Media", 6), ("Logistics", 8), ("Government", 4), ("Professional Services", 8),
    ])
    static let genericReasons = Weighted([
        ("UNREACHABLE.NO_RESPONSE", 40.0), ("DUPLICATE.EXISTING_LEAD", 18), ("EXISTING_RELATIONSHIP.CUSTOMER", 10),
        ("INTENT_TIMING.NO_BUDGET", 20), ("DATA.FAKE", 7), ("FIT_PERSON.NO_AUTHORITY", 5),
    ])
    static let lostReasons = Weighted([
        ("LOST.PRICE", 35.0), ("LOST.COMPETITOR", 30), ("LOST.NO_DECISION", 25), ("LOST.FEATURES", 10),
    ])
    static let retiredCode = "INTENT_TIMING.NO_PROJECT"
    static let replacementCode = "INTENT_TIMING.NOT_NOW"
    static let source = "leadledger"
    static let marketing = "hubspot"
    static let sales = "salesforce"
    static let revops = "revops:lena"
    /// Median wall-clock hours from hand-off to a rep's first touch: most are quick, two are slow.
    static let repTouchHours = [2.0, 3, 1.5, 8, 2.5, 20, 4, 2, 30, 3]
    /// The service level published mid-year: a first touch within 8 business hours, a decision within 24,
    /// New York office hours, US holidays.
    static let serviceCalendar = BusinessCalendar(
        timeZone: "America/New_York", workdays: [1, 2, 3, 4, 5], startMinute: 9 * 60, endMinute: 17 * 60,
        holidays: ["2025-07-04", "2025-09-01", "2025-11-27", "2025-12-25", "2026-01-01", "2026-07-03", "2026-09-07", "2026-11-26", "2026-12-25"])

    let seed: UInt64
    let start: Int64
    let end: Int64
    let retiredAt: Int64
    let serviceLevelAt: Int64
    let table = FieldTable()
    var definitions: [(change: DemoHistory.DefinitionChange, published: Int64, compiled: CompiledDefinition)] = []
    var facts: LeadFacts
    let slots: (score: Int, country: Int, employees: Int, title: Int, domain: Int, industry: Int)
    let companyDomains: [String]

    var entries: [(time: Int64, order: UInt64, event: LeadEvent)] = []
    var late: [LeadEvent] = []
    var story: DemoHistory.Story
    var rejectionsByVersion: [Int: (accepted: Int, rejected: Int, handOffs: Int)] = [:]

    init(seed: UInt64, start: Timestamp) {
        self.seed = seed
        self.start = start.microseconds
        end = start.microseconds + 52 * Self.week
        retiredAt = start.microseconds + 26 * Self.week
        serviceLevelAt = start.microseconds + 27 * Self.week
        facts = LeadFacts(table: table)
        slots = (
            table.slot(for: "score"), table.slot(for: "country"), table.slot(for: "employees"),
            table.slot(for: "title"), table.slot(for: "email_domain"), table.slot(for: "industry")
        )
        var random = DemoRandom(seed: seed, stream: 0xD0A1)
        let stems = [
            "acme", "globex", "initech", "umbrella", "hooli", "vandelay", "stark", "wayne", "tyrell", "cyberdyne",
            "soylent", "wonka", "nakatomi", "oscorp", "gringotts", "aperture", "blackmesa", "massive", "duff", "monarch",
        ]
        let suffixes = ["", "labs", "systems", "group", "hq", "tech", "co", "digital", "works", "io"]
        companyDomains = (0..<1_500).map { index in
            let stem = stems[random.int(0...stems.count - 1)]
            let suffix = suffixes[random.int(0...suffixes.count - 1)]
            return "\(stem)\(suffix)\(index % 97).com"
        }
        story = DemoHistory.Story(
            seed: seed, start: start, end: Timestamp(microseconds: end), definitions: [],
            retiredCode: Self.retiredCode, replacementCode: Self.replacementCode,
            retiredAt: Timestamp(microseconds: retiredAt), leads: 0, handOffs: 0, handOffsWithoutDefinition: 0,
            accepted: 0, rejected: 0, recycled: 0, pending: 0, reMQLEpisodes: 0, corrections: 0, lateEvents: 0,
            converted: 0, won: 0, lost: 0, serviceLevelEffectiveAt: Timestamp(microseconds: start.microseconds + 27 * Self.week),
            reassignments: 0, touches: 0)
        buildDefinitions()
    }

    private mutating func buildDefinitions() {
        func score(_ minimum: Double) -> MQLRule { .comparison(RuleComparison(field: "score", .gte(.number(minimum)))) }
        let served = MQLRule.comparison(
            RuleComparison(field: "country", .in(Self.servedCountries.map { AttributeValue.string($0) })))
        let webinar = MQLRule.all([
            .comparison(RuleComparison(field: "channel", .eq(.string("webinar")))), score(40),
        ])
        let notFreeMail = MQLRule.not(
            .comparison(RuleComparison(field: "email_domain", .in(Self.freeMail.map { AttributeValue.string($0) }))))
        let v3 = MQLRule.all([score(65), served])
        let v4 = MQLRule.any([v3, webinar])
        let specs: [(String, MQLRule, Int64, String)] = [
            ("Baseline: score 50", .all([score(50)]), 0, "Initial MQL definition: any lead scoring 50 or more."),
            (
                "Score 65", .all([score(65)]), 10,
                "Sales rejected too many low-score leads as not ready; raise the score threshold to 65."
            ),
            (
                "Served countries only", v3, 20,
                "Sales covers eight countries; stop handing off leads from regions we cannot sell to."
            ),
            (
                "Let webinar attendees in", v4, 30,
                "Webinar attendance signals intent; let webinar leads scoring 40 or more through to grow pipeline."
            ),
            (
                "Exclude free-mail domains", .all([v4, notFreeMail]), 40,
                "Free-mail sign-ups are mostly personal use; exclude them from the MQL definition."
            ),
        ]
        for (index, spec) in specs.enumerated() {
            let effective = start + spec.2 * Self.week
            let published = index == 0 ? start - 2 * Self.day : effective - 3 * Self.day
            let change = DemoHistory.DefinitionChange(
                version: index + 1, name: spec.0, effectiveAt: Timestamp(microseconds: effective), rationale: spec.3,
                handOffs: 0, rejectionRate: nil)
            definitions.append((change, published, CompiledDefinition(spec.1, table: table)))
        }
    }

    /// The index of the definition in force at `time`.
    private func definitionIndex(at time: Int64) -> Int {
        var index = 0
        for (candidate, definition) in definitions.enumerated()
        where definition.change.effectiveAt.microseconds <= time {
            index = candidate
        }
        return index
    }

    private func eventID(lead: UInt64, sequence: UInt64) -> UUID {
        let high = DemoRandom.mix(seed ^ DemoRandom.mix(lead << 16 | sequence))
        return UUID(version8High: high, low: DemoRandom.mix(high ^ 0x5bd1_e995_5bd1_e995))
    }

    /// Appends a ledger-wide event; these sort before lead events of the same instant.
    private mutating func addGlobal(_ time: Int64, actor: String?, _ payload: EventPayload) {
        let sequence = UInt64(entries.count)
        let event = LeadEvent(
            id: eventID(lead: 0xFFFF_FFFF, sequence: sequence), occurredAt: Timestamp(microseconds: time),
            source: Self.source, actor: actor, payload: payload)
        entries.append((time, sequence, event))
    }

    mutating func run(leads count: Int) -> DemoHistory {
        let taxonomyTime = start - 7 * Self.day
        for event in StarterTaxonomy.events(
            source: Self.source, occurredAt: Timestamp(microseconds: taxonomyTime),
            idSeed: "leadledger.demo.\(seed).taxonomy")
        {
            entries.append((taxonomyTime, UInt64(entries.count), event))
        }
        for definition in definitions {
            let change = definition.change
            addGlobal(
                definition.published, actor: Self.revops,
                .definitionPublished(
                    EventPayload.DefinitionPublished(
                        version: change.version, name: change.name, rules: definition.compiled.rule,
                        effectiveAt: change.effectiveAt, rationale: change.rationale)))
        }
        addGlobal(
            retiredAt, actor: Self.revops,
            .reasonRetired(EventPayload.ReasonRetired(code: Self.retiredCode, replacedBy: Self.replacementCode)))
        addGlobal(
            serviceLevelAt - Self.week, actor: Self.revops,
            .slaPublished(
                EventPayload.SLAPublished(
                    version: 1, name: "First touch within a business day", effectiveAt: Timestamp(microseconds: serviceLevelAt),
                    firstTouchWithin: 8, decisionWithin: 24, calendar: Self.serviceCalendar)))

        let captures = captureTimes(count)
        entries.reserveCapacity(entries.count + count * 8)
        for (index, capture) in captures.enumerated() {
            var lead = LeadRun(index: index, seed: seed)
            generateLead(&lead, capture: capture)
        }

        entries.sort { ($0.time, $0.order) < ($1.time, $1.order) }
        var events = entries.map(\.event)
        events.append(contentsOf: late)
        story.leads = count
        story.lateEvents = late.count
        story.definitions = definitions.map { definition in
            var change = definition.change
            let tally = rejectionsByVersion[change.version] ?? (0, 0, 0)
            change.handOffs = tally.handOffs
            let decided = tally.accepted + tally.rejected
            change.rejectionRate = decided == 0 ? nil : Double(tally.rejected) / Double(decided)
            return change
        }
        return DemoHistory(events: events, story: story)
    }

    /// Capture instants over the 52 weeks: weekdays busier than weekends, office hours busier than
    /// nights, a slow rise over the year and quieter August and year-end weeks.
    private func captureTimes(_ count: Int) -> [Int64] {
        var random = DemoRandom(seed: seed, stream: 0xCA97)
        var cumulative: [Double] = []
        var total = 0.0
        for day in 0..<(52 * 7) {
            let weekday = day % 7  // the start is a Monday
            var weight = weekday >= 5 ? 0.3 : 1.0
            weight *= 1 + 0.35 * Double(day) / 364
            if (208...236).contains(day) { weight *= 0.75 }
            if day >= 350 { weight *= 0.5 }
            total += weight
            cumulative.append(total)
        }
        let hours = Weighted((0..<24).map { hour in (hour, (8...18).contains(hour) ? 6.0 : 1.0) })
        var times = (0..<count).map { _ -> Int64 in
            let day = Int64(random.pick(cumulative: cumulative))
            let hour = Int64(hours.draw(&random))
            let second = Int64(random.int(0...3599))
            return start + day * Self.day + hour * Self.hour + second * 1_000_000
        }
        times.sort()
        return times
    }

    /// One lead's generation state: its own random stream and event counter.
    struct LeadRun {
        let index: Int
        let id: String
        var random: DemoRandom
        var sequence: UInt64 = 0
        /// Counts sales activity (touches, re-assignments), numbered apart so the other events keep their ids.
        var activitySequence: UInt64 = 0
        var last: Int64 = .min
        var episodes = 0

        init(index: Int, seed: UInt64) {
            self.index = index
            var digits = String(index + 1)
            digits = String(repeating: "0", count: max(0, 9 - digits.count)) + digits
            id = "00Q" + digits
            random = DemoRandom(seed: seed, stream: UInt64(index) + 1)
        }
    }

    private mutating func emit(_ lead: inout LeadRun, _ time: Int64, source: String, actor: String?, _ payload: EventPayload) {
        // A lead's events are strictly increasing in time, so the global sort keeps their order.
        let at = max(time, lead.last + 1_000_000)
        let sequence = lead.sequence
        lead.sequence += 1
        lead.last = at
        let event = LeadEvent(
            id: eventID(lead: UInt64(lead.index), sequence: sequence), occurredAt: Timestamp(microseconds: at),
            source: source, actor: actor, lead: lead.id, payload: payload)
        entries.append((at, UInt64(lead.index + 1) << 16 | sequence, event))
    }

    /// A touch or re-assignment: drawn from its own random stream and numbered apart, so the rest of
    /// the history (its times, ids and outcomes) is what it would be without sales activity.
    private mutating func emitActivity(_ lead: inout LeadRun, _ time: Int64, actor: String, _ payload: EventPayload) {
        let at = max(time, lead.last + 1_000_000)
        let sequence = lead.activitySequence
        lead.activitySequence += 1
        lead.last = at
        let event = LeadEvent(
            id: eventID(lead: UInt64(lead.index) | 1 << 32, sequence: sequence), occurredAt: Timestamp(microseconds: at),
            source: Self.sales, actor: actor, lead: lead.id, payload: payload)
        entries.append((at, UInt64(lead.index + 1) << 16 | 0x8000 | sequence, event))
    }

    /// Sales works the episode handed off at `handedOffAt` until `until` (its decision or the end):
    /// sometimes re-assigned within the first hours, usually touched once, sooner by some reps than others.
    private mutating func salesActivity(_ lead: inout LeadRun, handedOffAt: Int64, until: Int64, owner: Int) {
        var s = DemoRandom(seed: seed, stream: 1 << 40 | UInt64(lead.index) << 4 | UInt64(lead.episodes & 0xF))
        var current = owner
        if s.chance(0.08) {
            let at = handedOffAt + Int64(s.int(20...180)) * 60_000_000
            current = (owner + s.int(1...(Self.reps.count - 1))) % Self.reps.count
            guard at + 1_000_000 < until else { return }
            emitActivity(&lead, at, actor: "hubspot:mql-routing", .assigned(EventPayload.Assigned(owner: Self.reps[current])))
            story.reassignments += 1
        }
        guard s.chance(0.92) else { return }
        let delay = Int64(min(24 * 14, s.logNormal(median: Self.repTouchHours[current], sigma: 0.9)) * Double(Self.hour))
        let touchAt = max(handedOffAt + 60_000_000, lead.last + 1_000_000) + delay
        guard touchAt + 1_000_000 < until else { return }
        let activity: SalesActivity = s.chance(0.6) ? .call : s.chance(0.8) ? .email : .meeting
        emitActivity(&lead, touchAt, actor: Self.reps[current], .touched(EventPayload.Touched(activity: activity, by: Self.reps[current])))
        story.touches += 1
    }

    private struct Profile {
        var channel: String
        var campaign: String
        var country: String
        var employees: Int
        var title: String
        var domain: String
        var industry: String
        var score: Double
        var owner: Int
    }

    private mutating func qualifies(_ profile: Profile, at time: Int64) -> Int? {
        let index = definitionIndex(at: time)
        facts.set(slots.score, .number(profile.score))
        facts.set(FieldTable.channelSlot, .string(profile.channel))
        facts.set(FieldTable.campaignSlot, .string(profile.campaign))
        facts.set(slots.country, .string(profile.country))
        facts.set(slots.employees, .number(Double(profile.employees)))
        facts.set(slots.title, .string(profile.title))
        facts.set(slots.domain, .string(profile.domain))
        facts.set(slots.industry, .string(profile.industry))
        return definitions[index].compiled.evaluate(facts) ? index : nil
    }

    private mutating func generateLead(_ lead: inout LeadRun, capture: Int64) {
        var r = lead.random
        defer { lead.random = r }
        let channel = Self.channels.draw(&r)
        let quarter = (capture - start) / (13 * Self.week) + 1
        let campaign = "\(channel)-2025q\(min(quarter, 4))-\(r.int(1...3))"
        let country = Self.countries.draw(&r)
        let employees = Int(min(50_000, max(1, r.logNormal(median: 60, sigma: 1.5))).rounded())
        var title = Self.titles.draw(&r)
        if channel == "webinar" && r.chance(0.1) { title = "Student" }
        let freeMailChance = title == "Student" ? 0.75 : 0.2
        let domain =
            r.chance(freeMailChance)
            ? Self.freeMail[r.int(0...Self.freeMail.count - 1)]
            : companyDomains[r.int(0...companyDomains.count - 1)]
        let industry = Self.industries.draw(&r)
        let served = Self.servedCountries.contains(country)
        let free = Self.freeMail.contains(domain)
        let fit =
            0.25 * (employees >= 50 ? 1 : employees >= 20 ? 0.5 : 0) + 0.25 * (served ? 1 : 0) + 0.2 * (free ? 0 : 1)
            + 0.3 * (Self.seniority[title] ?? 0.5)
        let engagement = (Self.engagement[channel] ?? 0.5) * r.uniform(0.6, 1.4)
        var score = (15 + 35 * fit + 40 * engagement + 9 * r.normal()).rounded()
        score = min(100, max(0, score))
        var profile = Profile(
            channel: channel, campaign: campaign, country: country, employees: employees, title: title, domain: domain,
            industry: industry, score: score, owner: r.int(0...Self.reps.count - 1))

        emit(
            &lead, capture, source: Self.marketing, actor: "hubspot:forms",
            .leadCaptured(
                EventPayload.LeadCaptured(
                    channel: channel, campaign: campaign,
                    attributes: [
                        "country": .string(country), "employees": .number(Double(employees)), "title": .string(title),
                        "email_domain": .string(domain), "industry": .string(industry),
                    ])))
        var time = capture + Int64(r.int(5...120)) * 60_000_000
        emit(&lead, time, source: Self.marketing, actor: "hubspot:scoring", scored(profile.score))

        var firstHandOff: Int64? = nil
        var attempts = 0
        while time < end && attempts < 3 {
            attempts += 1
            let handOffAt = time + Int64(r.int(10...240)) * 60_000_000
            guard handOffAt < end else { break }
            if let index = qualifies(profile, at: handOffAt) {
                if firstHandOff == nil { firstHandOff = handOffAt }
                let outcome = episode(&lead, &r, &profile, handOffAt: handOffAt, definition: index)
                guard let comeBack = outcome else { break }
                time = comeBack
            } else {
                // Engagement grows for some leads: a later re-score may qualify them.
                guard r.chance(0.3) else { break }
                time = handOffAt + Int64(r.int(2...30)) * Self.day
                guard time < end else { break }
                profile.score = min(100, (profile.score + 10 + 8 * r.normal()).rounded())
                emit(&lead, time, source: Self.marketing, actor: "hubspot:scoring", scored(profile.score))
            }
        }

        if let firstHandOff, r.chance(0.02) {
            // A CRM back-fill: known in business time before the hand-off, recorded after everything else.
            let at = capture + (firstHandOff - capture) / 2
            let payload: EventPayload =
                r.chance(0.5)
                ? .attributesObserved(
                    EventPayload.AttributesObserved(attributes: ["phone_verified": .bool(r.chance(0.7))]))
                : scored(min(100, max(0, profile.score + Double(r.int(-3...3)))))
            let sequence = lead.sequence
            lead.sequence += 1
            late.append(
                LeadEvent(
                    id: eventID(lead: UInt64(lead.index), sequence: sequence), occurredAt: Timestamp(microseconds: at),
                    source: Self.marketing, actor: "hubspot:backfill", lead: lead.id, payload: payload))
            if story.lateLead == nil { story.lateLead = lead.id }
        }
    }

    private func scored(_ score: Double) -> EventPayload {
        .leadScored(EventPayload.LeadScored(score: score, model: "hs-score-v3"))
    }

    /// Why sales would reject this lead, each with its probability and code.
    private func rejectionFactors(_ profile: Profile, at time: Int64) -> [(Double, String)] {
        var factors: [(Double, String)] = [(0.1, "")]
        if profile.employees < 20 { factors.append((0.45, "FIT_COMPANY.TOO_SMALL")) }
        if Self.freeMail.contains(profile.domain) { factors.append((0.35, "NOT_A_BUYER.PERSONAL_USE")) }
        if !Self.servedCountries.contains(profile.country) { factors.append((0.5, "FIT_COMPANY.UNSUPPORTED_REGION")) }
        if profile.title == "Student" { factors.append((0.75, "FIT_PERSON.STUDENT")) }
        if profile.channel == "webinar" { factors.append((0.25, "INTENT_TIMING.CONTENT_ONLY")) }
        if profile.score < 65 {
            factors.append((0.2, time < retiredAt ? Self.retiredCode : Self.replacementCode))
        }
        return factors
    }

    /// One episode from hand-off to decision; returns when the lead comes back for another hand-off.
    private mutating func episode(
        _ lead: inout LeadRun, _ r: inout DemoRandom, _ profile: inout Profile, handOffAt: Int64, definition index: Int
    ) -> Int64? {
        let version = definitions[index].change.version
        let owner = Self.reps[profile.owner]
        let withDefinition = !r.chance(0.1)
        emit(
            &lead, handOffAt, source: Self.marketing, actor: "hubspot:mql-routing",
            .handedOff(EventPayload.HandedOff(owner: owner, definition: withDefinition ? version : nil)))
        let handedOffAt = lead.last
        lead.episodes += 1
        story.handOffs += 1
        if !withDefinition { story.handOffsWithoutDefinition += 1 }
        if lead.episodes > 1 {
            story.reMQLEpisodes += 1
            if story.reMQLLead == nil { story.reMQLLead = lead.id }
        }
        rejectionsByVersion[version, default: (0, 0, 0)].handOffs += 1

        let strictness = Self.repStrictness[profile.owner]
        let recycle = lead.episodes == 1 && r.chance(0.06)
        var fired: [(Double, String)] = []
        if !recycle {
            for factor in rejectionFactors(profile, at: handOffAt) where r.chance(min(0.95, factor.0 * strictness)) {
                fired.append(factor)
            }
        }
        let delay = Int64(
            min(20 * 24, max(0.1, r.logNormal(median: fired.isEmpty ? 24 : 16, sigma: 1.0))) * Double(Self.hour))
        let decidedAt = handOffAt + (recycle ? Int64(r.int(1...10)) * Self.day : delay)
        salesActivity(&lead, handedOffAt: handedOffAt, until: min(decidedAt, end), owner: profile.owner)
        guard decidedAt < end else {
            story.pending += 1
            return nil
        }

        if recycle {
            emit(
                &lead, decidedAt, source: Self.sales, actor: owner,
                .recycled(
                    EventPayload.Recycled(
                        reason: r.chance(0.5) ? Self.replacementCode : nil, note: "Not ready; back to nurture")))
            story.recycled += 1
            return reMQL(&lead, &r, &profile, after: decidedAt, probability: 0.6)
        }

        if fired.isEmpty {
            emit(&lead, decidedAt, source: Self.sales, actor: owner, .accepted(EventPayload.Accepted(by: owner)))
            story.accepted += 1
            rejectionsByVersion[version, default: (0, 0, 0)].accepted += 1
            closeDeal(&lead, &r, profile: profile, after: decidedAt, owner: owner)
            return nil
        }

        // The most telling reason is the likeliest to be recorded.
        let weights = Weighted(fired.map { ($0.1, $0.0) })
        var reason = weights.draw(&r)
        if reason.isEmpty { reason = Self.genericReasons.draw(&r) }
        emit(
            &lead, decidedAt, source: Self.sales, actor: owner,
            .rejected(EventPayload.Rejected(reason: reason, by: owner)))
        let rejectionID = eventID(lead: UInt64(lead.index), sequence: lead.sequence - 1)
        story.rejected += 1
        rejectionsByVersion[version, default: (0, 0, 0)].rejected += 1

        if story.corrections == 0 || r.chance(0.005) {
            let correctedAt = decidedAt + Int64(r.int(1...10)) * Self.day
            if correctedAt < end {
                var corrected = fired.map(\.1).first { !$0.isEmpty && $0 != reason } ?? "UNREACHABLE.NO_RESPONSE"
                if corrected == reason { corrected = "DUPLICATE.EXISTING_LEAD" }
                if corrected == Self.retiredCode && correctedAt >= retiredAt { corrected = Self.replacementCode }
                emit(
                    &lead, correctedAt, source: Self.sales, actor: "manager:sam",
                    .rejectionCorrected(
                        EventPayload.RejectionCorrected(
                            event: rejectionID, reason: corrected, note: "Reviewed in the weekly SLA meeting")))
                story.corrections += 1
                if story.correctedLead == nil {
                    story.correctedLead = lead.id
                    story.correctedRejection = rejectionID
                }
            }
        }
        let timing = reason == Self.retiredCode || reason == Self.replacementCode
        return reMQL(&lead, &r, &profile, after: decidedAt, probability: timing ? 0.3 : 0.02)
    }

    /// A lead back in nurture may re-engage: a higher score weeks later, and another chance to qualify.
    private mutating func reMQL(
        _ lead: inout LeadRun, _ r: inout DemoRandom, _ profile: inout Profile, after time: Int64, probability: Double
    ) -> Int64? {
        guard lead.episodes < 3, r.chance(probability) else { return nil }
        let at = lead.last + Int64(r.int(14...90)) * Self.day
        guard at < end else { return nil }
        profile.score = min(100, (profile.score + 12 + 6 * r.normal()).rounded())
        if r.chance(0.3) {
            profile.employees = Int(Double(profile.employees) * r.uniform(1.0, 1.6))
            emit(
                &lead, at - Self.hour, source: Self.marketing, actor: "hubspot:enrichment",
                .attributesObserved(EventPayload.AttributesObserved(attributes: ["employees": .number(Double(profile.employees))])))
        }
        emit(&lead, at, source: Self.marketing, actor: "hubspot:scoring", scored(profile.score))
        return at
    }

    /// Some accepted leads become opportunities; some of those close, won or lost, weeks later.
    private mutating func closeDeal(_ lead: inout LeadRun, _ r: inout DemoRandom, profile: Profile, after time: Int64, owner: String) {
        guard r.chance(0.35) else { return }
        let convertedAt = time + Int64(r.int(3...30)) * Self.day
        guard convertedAt < end else { return }
        let amount = (r.logNormal(median: 12_000 * (profile.employees >= 200 ? 2.5 : 1), sigma: 0.6) / 100).rounded() * 100
        emit(
            &lead, convertedAt, source: Self.sales, actor: owner,
            .converted(EventPayload.Converted(opportunity: "006" + lead.id.dropFirst(3), amount: amount, currency: "USD")))
        story.converted += 1
        let closedAt = convertedAt + Int64(r.int(14...90)) * Self.day
        guard closedAt < end else { return }
        if r.chance(0.3) {
            emit(&lead, closedAt, source: Self.sales, actor: owner, .closed(EventPayload.Closed(won: true, amount: amount)))
            story.won += 1
        } else {
            emit(
                &lead, closedAt, source: Self.sales, actor: owner,
                .closed(EventPayload.Closed(won: false, reason: Self.lostReasons.draw(&r))))
            story.lost += 1
        }
    }
}
