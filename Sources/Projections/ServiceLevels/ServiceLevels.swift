import Foundation
import LeadModel

/// The two limits a service level can set.
public enum ServiceLevelLimit: String, Sendable, Hashable, Codable, CaseIterable {
    /// `firstTouchWithin`: a touch, an acceptance or a rejection.
    case firstTouch
    /// `decisionWithin`: an acceptance or a rejection.
    case decision
}

/// Met, breached, open and withdrawn episodes of one cohort or owner, for one limit.
public struct ServiceLevelRow: Sendable, Hashable, Codable {
    /// The cohort's first day, `YYYY-MM-DD`; `nil` on owner rows and the total.
    public var start: String?
    /// The owner responsible at the deadline; `nil` on cohort rows and the total.
    public var owner: String?
    /// Touched (or decided) at or before the deadline.
    public var met = 0
    /// After it, or not at all with the deadline passed.
    public var breached = 0
    /// Not yet, deadline ahead.
    public var open = 0
    /// Recycled before the deadline without it.
    public var withdrawn = 0
    /// `met / (met + breached)` with its Wilson interval.
    public var compliance = Rate(0, of: 0)
    /// Episodes with a first touch, over which the median is taken.
    public var touched = 0
    /// Median business hours from hand-off to first touch, in the policy's calendar; `nil` when none.
    public var medianBusinessHoursToFirstTouch: Double?

    enum CodingKeys: String, CodingKey {
        case start, owner, met, breached, open, withdrawn, compliance, touched, medianBusinessHoursToFirstTouch
    }

    /// Encodes every key, `null` included.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(start, forKey: .start)
        try c.encode(owner, forKey: .owner)
        try c.encode(met, forKey: .met)
        try c.encode(breached, forKey: .breached)
        try c.encode(open, forKey: .open)
        try c.encode(withdrawn, forKey: .withdrawn)
        try c.encode(compliance, forKey: .compliance)
        try c.encode(touched, forKey: .touched)
        try c.encode(medianBusinessHoursToFirstTouch, forKey: .medianBusinessHoursToFirstTouch)
    }
}

/// One breached episode, to follow up.
public struct ServiceLevelBreach: Sendable, Hashable, Codable {
    /// The lead id.
    public var lead: String
    /// The hand-off, RFC 3339 UTC.
    public var handedOffAt: String
    /// Position of the hand-off event.
    public var handOffPosition: UInt64
    /// The owner responsible at the deadline.
    public var owner: String
    /// The policy version in force at the hand-off.
    public var policyVersion: Int
    /// The deadline, RFC 3339 UTC.
    public var deadline: String
    /// The late touch or decision, RFC 3339 UTC; `nil` when there was none.
    public var answeredAt: String?

    enum CodingKeys: String, CodingKey { case lead, handedOffAt, handOffPosition, owner, policyVersion, deadline, answeredAt }

    /// Encodes every key, `null` included.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(lead, forKey: .lead)
        try c.encode(handedOffAt, forKey: .handedOffAt)
        try c.encode(handOffPosition, forKey: .handOffPosition)
        try c.encode(owner, forKey: .owner)
        try c.encode(policyVersion, forKey: .policyVersion)
        try c.encode(deadline, forKey: .deadline)
        try c.encode(answeredAt, forKey: .answeredAt)
    }
}

/// Everything about one limit: per cohort, per owner, in total, and the breaches.
public struct ServiceLevelTable: Sendable, Hashable, Codable {
    /// Which limit.
    public var limit: ServiceLevelLimit
    /// Per hand-off cohort, by start.
    public var byCohort: [ServiceLevelRow]
    /// Per owner responsible at the deadline, by owner.
    public var byOwner: [ServiceLevelRow]
    /// All episodes of the range under a policy with this limit.
    public var total: ServiceLevelRow
    /// Breached episodes, earliest deadline first, at most the query's `maximumBreaches`.
    public var breaches: [ServiceLevelBreach]
    /// Whether more breaches exist than are listed (`total.breached` counts them all).
    public var breachesTruncated: Bool
}

/// A published service level, as a report names it.
public struct ServiceLevelPolicySummary: Sendable, Hashable, Codable {
    /// Version.
    public var version: Int
    /// Name.
    public var name: String
    /// When it takes effect, RFC 3339 UTC.
    public var effectiveAt: String
    /// The first-touch limit, business hours.
    public var firstTouchWithin: Double?
    /// The decision limit, business hours.
    public var decisionWithin: Double?
    /// The calendar's time zone.
    public var timeZone: String

    enum CodingKeys: String, CodingKey { case version, name, effectiveAt, firstTouchWithin, decisionWithin, timeZone }

    /// Encodes every key, `null` included.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(version, forKey: .version)
        try c.encode(name, forKey: .name)
        try c.encode(effectiveAt, forKey: .effectiveAt)
        try c.encode(firstTouchWithin, forKey: .firstTouchWithin)
        try c.encode(decisionWithin, forKey: .decisionWithin)
        try c.encode(timeZone, forKey: .timeZone)
    }
}

/// Service levels of hand-offs (DESIGN §8.2).
public struct ServiceLevelReport: Sendable, Hashable, Codable {
    /// The replay behind it.
    public var asOf: ReplayStamp
    /// What was asked (`groupBy` does not apply: the report is per cohort and per owner).
    public var query: CohortQuery
    /// The report's instant, RFC 3339: deadlines after it are still open.
    public var reportAt: String
    /// Every published service level, by version.
    public var policies: [ServiceLevelPolicySummary]
    /// Episodes of the range handed off before any service level took effect.
    public var withoutPolicy: Int
    /// The first-touch limit.
    public var firstTouch: ServiceLevelTable
    /// The decision limit.
    public var decision: ServiceLevelTable

    /// This report with the decision table of `other`, a report of the same replay and query
    /// that judged the decision limit.
    public func joined(_ other: ServiceLevelReport) -> ServiceLevelReport {
        var report = self
        report.decision = other.decision
        return report
    }
}

/// What one episode's service level came to, for one limit: the report's unit, also for drill-downs.
public struct EpisodeServiceLevel: Sendable, Hashable {
    /// The episode's index in the state.
    public var episode: Int
    /// The policy version in force at its hand-off.
    public var policyVersion: Int
    /// The limit.
    public var limit: ServiceLevelLimit
    /// The deadline, µs; `nil` when the calendar never reaches it.
    public var deadline: Int64?
    /// The touch or decision that answers the limit, µs.
    public var answeredAt: Int64?
    /// The status.
    public var status: ServiceLevelStatus
    /// The owner responsible at the deadline, by number (``ServiceLevels/Evaluator/ownerName(_:)`` names it; -1 when unknown).
    public var ownerNumber: Int32
    /// Business µs from hand-off to first touch, when touched.
    public var businessToFirstTouch: Int64?
}

/// Computes service levels.
public enum ServiceLevels {
    /// How many breaches a report lists by default.
    public static let defaultMaximumBreaches = 1000

    /// The service-level report of `query` over a replay and the facts observed in it.
    ///
    /// `leadName` names a lead by its number, for the breach list.
    ///
    /// `limits` names the limits to judge; a table of a limit left out is empty. The feedback loop
    /// judges the two limits on two cores and joins the tables (``joined(_:)``).
    public static func compute(
        _ state: ReplayState, _ facts: EpisodeFacts, _ query: CohortQuery, maximumBreaches: Int = defaultMaximumBreaches,
        leadName: (UInt32) -> String?, limits: Set<ServiceLevelLimit> = Set(ServiceLevelLimit.allCases)
    ) -> ServiceLevelReport {
        precondition(facts.count == state.episodes.count, "the facts were not observed in this replay")
        var evaluator = Evaluator(state, facts)
        var withoutPolicy = 0
        var tables = [TableAccumulator(limit: .firstTouch), TableAccumulator(limit: .decision)]
        let matcher = query.filter.matcher(state)
        for (number, e) in state.episodes.enumerated() where !e.isVoid && matcher.admits(e) {
            let found = evaluator.evaluate(number, at: query.at, limits: limits) { level in
                tables[level.limit == .firstTouch ? 0 : 1].add(level, episode: e, bucket: query.bucket)
            }
            if !found { withoutPolicy += 1 }
        }
        for index in tables.indices { tables[index].ownerNames = evaluator.owners }
        let policies = state.serviceLevels.values.sorted { $0.version < $1.version }.map {
            ServiceLevelPolicySummary(
                version: $0.version, name: $0.name, effectiveAt: Timestamp(microseconds: $0.effectiveAt).rfc3339,
                firstTouchWithin: $0.firstTouchWithin.map { Double($0) / 3_600_000_000 },
                decisionWithin: $0.decisionWithin.map { Double($0) / 3_600_000_000 }, timeZone: $0.calendar.timeZone)
        }
        return ServiceLevelReport(
            asOf: ReplayStamp(state), query: query, reportAt: Timestamp(microseconds: query.at).rfc3339, policies: policies,
            withoutPolicy: withoutPolicy,
            firstTouch: tables[0].finish(state, maximumBreaches: maximumBreaches, leadName: leadName),
            decision: tables[1].finish(state, maximumBreaches: maximumBreaches, leadName: leadName))
    }

    /// Works out episodes' service levels, keeping one business clock per policy.
    public struct Evaluator {
        let state: ReplayState
        let facts: EpisodeFacts
        let policies: [ServiceLevelInfo]
        let order: [(effectiveAt: Int64, version: Int)]
        var clocks: [BusinessClock?]
        var owners: Interner
        let assignmentOwners: [Int32]

        /// An evaluator over a replay and its facts.
        public init(_ state: ReplayState, _ facts: EpisodeFacts) {
            self.state = state
            self.facts = facts
            policies = state.serviceLevels.values.sorted { $0.version < $1.version }
            order = policies.map { ($0.effectiveAt, $0.version) }
            clocks = policies.map { BusinessClock($0.calendar) }
            var owners = state.owners
            assignmentOwners = facts.owners.names.map { owners.intern($0) }
            self.owners = owners
        }

        /// The index of the policy in force at `t`.
        func policy(at t: Int64) -> Int? { EpisodeMachine.policyInForce(order, at: t) }

        /// The name of an owner number of an ``EpisodeServiceLevel``.
        public func ownerName(_ number: Int32) -> String? { owners.name(number) }

        /// The number ``EpisodeServiceLevel/ownerNumber`` gives an owner's name; `nil` for a name never seen.
        public func ownerNumber(_ name: String) -> Int32? { owners.lookup(name) }

        /// Episode `number`'s status for each limit its policy sets, judged at `at`.
        public mutating func evaluate(_ number: Int, at: Int64) -> [EpisodeServiceLevel] {
            var levels: [EpisodeServiceLevel] = []
            _ = evaluate(number, at: at) { levels.append($0) }
            return levels
        }

        /// Calls `body` with episode `number`'s status for each limit its policy sets (of `limits`),
        /// judged at `at`; false when no policy was in force at its hand-off.
        public mutating func evaluate(
            _ number: Int, at: Int64, limits: Set<ServiceLevelLimit> = Set(ServiceLevelLimit.allCases), _ body: (EpisodeServiceLevel) -> Void
        ) -> Bool {
            let e = state.episodes[number]
            guard let index = policy(at: e.handedOffAt), var clock = clocks[index] else { return false }
            let policy = policies[index]
            let fact = facts.facts[number]
            let touchedAt: Int64? = fact.firstTouchAt == .min ? nil : fact.firstTouchAt
            let decidedAt: Int64? = e.outcome == .accepted || e.outcome == .rejected ? e.decidedAt : nil
            let recycledAt: Int64? = e.outcome == .recycled ? e.decidedAt : nil
            let toTouch = touchedAt.map { clock.elapsed(from: e.handedOffAt, to: $0) }
            let chain =
                fact.lastAssignment < 0
                ? [] : facts.assignments(of: number).map { (at: $0.at, owner: assignmentOwners[Int($0.owner)]) }
            func judge(_ limit: ServiceLevelLimit, _ within: Int64?, _ answeredAt: Int64?) {
                guard let within, limits.contains(limit) else { return }
                let deadline = clock.deadline(from: e.handedOffAt, adding: within)
                let status = EpisodeMachine.serviceLevelStatus(
                    deadline: deadline, answeredAt: answeredAt, recycledAt: recycledAt, reportAt: at)
                let owner = EpisodeMachine.ownerAtDeadline(handOffOwner: e.owner, assignments: chain, deadline: deadline)
                body(
                    EpisodeServiceLevel(
                        episode: number, policyVersion: policy.version, limit: limit, deadline: deadline, answeredAt: answeredAt,
                        status: status, ownerNumber: owner, businessToFirstTouch: toTouch))
            }
            judge(.firstTouch, policy.firstTouchWithin, touchedAt)
            judge(.decision, policy.decisionWithin, decidedAt)
            clocks[index] = clock
            return true
        }
    }

    struct RowAccumulator {
        var row = ServiceLevelRow()
        var hours: [Double] = []

        mutating func add(_ level: EpisodeServiceLevel) {
            switch level.status {
            case .met: row.met += 1
            case .breached: row.breached += 1
            case .open: row.open += 1
            case .withdrawn: row.withdrawn += 1
            }
            if let business = level.businessToFirstTouch { hours.append(Double(business) / 3_600_000_000) }
        }

        func finish() -> ServiceLevelRow {
            var row = self.row
            row.compliance = Rate(row.met, of: row.met + row.breached)
            row.touched = hours.count
            var values = hours
            row.medianBusinessHoursToFirstTouch = Statistics.quantiles(selecting: &values, [0.5])[0]
            return row
        }
    }

    struct TableAccumulator {
        let limit: ServiceLevelLimit
        var cohorts: [Int64: RowAccumulator] = [:]
        var owners: [Int32: RowAccumulator] = [:]
        var ownerNames = Interner()
        var total = RowAccumulator()
        var breaches: [(level: EpisodeServiceLevel, episode: Episode)] = []

        init(limit: ServiceLevelLimit) { self.limit = limit }

        mutating func add(_ level: EpisodeServiceLevel, episode e: Episode, bucket: Bucket) {
            cohorts[bucket.start(of: e.handedOffAt), default: RowAccumulator()].add(level)
            owners[level.ownerNumber, default: RowAccumulator()].add(level)
            total.add(level)
            if level.status == .breached { breaches.append((level, e)) }
        }

        func finish(_ state: ReplayState, maximumBreaches: Int, leadName: (UInt32) -> String?) -> ServiceLevelTable {
            let byCohort = cohorts.sorted { $0.key < $1.key }.map { key, acc in
                var row = acc.finish()
                row.start = Bucket.dayString(key)
                return row
            }
            let byOwner = owners.map { (name: ownerNames.name($0.key) ?? "(none)", acc: $0.value) }.sorted { $0.name < $1.name }.map {
                var row = $0.acc.finish()
                row.owner = $0.name
                return row
            }
            let listed = breaches.sorted {
                ($0.level.deadline ?? .max, $0.episode.handOffPosition) < ($1.level.deadline ?? .max, $1.episode.handOffPosition)
            }.prefix(max(0, maximumBreaches))
            let list = listed.map { level, e in
                ServiceLevelBreach(
                    lead: leadName(e.lead) ?? "#\(e.lead)", handedOffAt: Timestamp(microseconds: e.handedOffAt).rfc3339,
                    handOffPosition: e.handOffPosition, owner: ownerNames.name(level.ownerNumber) ?? "(none)", policyVersion: level.policyVersion,
                    deadline: level.deadline.map { Timestamp(microseconds: $0).rfc3339 } ?? "",
                    answeredAt: level.answeredAt.map { Timestamp(microseconds: $0).rfc3339 })
            }
            return ServiceLevelTable(
                limit: limit, byCohort: byCohort, byOwner: byOwner, total: total.finish(), breaches: list,
                breachesTruncated: breaches.count > list.count)
        }
    }
}
