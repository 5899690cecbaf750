import Foundation
import LeadModel

/// Which episodes a buyer profile covers, and which values it reports.
public struct ProfileQuery: Sendable, Hashable, Codable {
    /// First business instant included (µs), if bounded.
    public var from: Int64?
    /// First business instant excluded (µs), if bounded.
    public var until: Int64?
    /// The fewest decided episodes a value needs to be reported (and tested).
    public var minimumDecided: Int
    /// Width of the score bands.
    public var scoreBandWidth: Double
    /// Profile each MQL definition version apart.
    public var byDefinition: Bool
    /// Only hand-offs of leads in this channel.
    public var channel: String?
    /// Only hand-offs to this owner.
    public var owner: String?
    /// Only episodes under this MQL definition version.
    public var definition: Int?

    /// The default minimum of decided episodes per value.
    public static let defaultMinimumDecided = 30

    /// An attribute whose values are all numbers, more of them than this, is reported in this many
    /// bands of about equal size instead of value by value (a company size of 135 employees is
    /// not a segment; 100–199 is).
    public static let numericBands = 5

    /// Creates a query; by default unbounded, 30 decided episodes per value, bands of 10 points, all definitions together.
    public init(
        from: Int64? = nil, until: Int64? = nil, minimumDecided: Int = defaultMinimumDecided, scoreBandWidth: Double = 10,
        byDefinition: Bool = false
    ) {
        self.from = from
        self.until = until
        self.minimumDecided = minimumDecided
        self.scoreBandWidth = scoreBandWidth
        self.byDefinition = byDefinition
    }

    func includes(_ t: Int64) -> Bool { (from.map { t >= $0 } ?? true) && (until.map { t < $0 } ?? true) }

    /// The query's range and filters, as every analysis applies them.
    public var filter: EpisodeFilter {
        get { EpisodeFilter(from: from, until: until, channel: channel, owner: owner, definition: definition) }
        set { (from, until, channel, owner, definition) = (newValue.from, newValue.until, newValue.channel, newValue.owner, newValue.definition) }
    }
}

/// A rate compared with the baseline and with the rest.
public struct ProfileRate: Sendable, Hashable, Codable {
    /// The rate among the value's decided episodes, with its interval.
    public var rate: Rate
    /// The rate divided by the baseline's rate (`nil` when the baseline's is 0 or undefined).
    public var lift: Double?
    /// Two-sided p-value of the pooled two-proportion z-test against the other decided episodes.
    public var pValue: Double?
    /// The Benjamini–Hochberg adjusted p-value over every value of the report, for this rate.
    public var qValue: Double?

    enum CodingKeys: String, CodingKey { case rate, lift, pValue, qValue }

    /// Encodes every key, `null` included.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(rate, forKey: .rate)
        try c.encode(lift, forKey: .lift)
        try c.encode(pValue, forKey: .pValue)
        try c.encode(qValue, forKey: .qValue)
    }
}

/// One value held at hand-off, and how its episodes fared.
public struct ProfileRow: Sendable, Hashable, Codable {
    /// The definition version, when profiled by definition.
    public var definition: Int?
    /// `channel`, `campaign`, `scoreBand`, or `attributes.NAME`; never a personal attribute (a value
    /// stored sealed is left out, so a profile never shows one, nor changes when it is erased).
    public var field: String
    /// The value, as text.
    public var value: String
    /// Decided episodes (accepted or rejected) that held the value at hand-off.
    public var decided: Int
    /// Accepted among them: acceptance rate, lift, tests.
    public var acceptance: ProfileRate
    /// Won among them (a won close of the episode): win rate, lift, tests.
    public var win: ProfileRate

    enum CodingKeys: String, CodingKey { case definition, field, value, decided, acceptance, win }

    /// Encodes every key, `null` included.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(definition, forKey: .definition)
        try c.encode(field, forKey: .field)
        try c.encode(value, forKey: .value)
        try c.encode(decided, forKey: .decided)
        try c.encode(acceptance, forKey: .acceptance)
        try c.encode(win, forKey: .win)
    }
}

/// The baseline the profile's values are compared with.
public struct ProfileBaseline: Sendable, Hashable, Codable {
    /// The definition version, when profiled by definition.
    public var definition: Int?
    /// Decided episodes.
    public var decided: Int
    /// Acceptance among them.
    public var acceptance: Rate
    /// Wins among them.
    public var win: Rate

    enum CodingKeys: String, CodingKey { case definition, decided, acceptance, win }

    /// Encodes every key, `null` included.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(definition, forKey: .definition)
        try c.encode(decided, forKey: .decided)
        try c.encode(acceptance, forKey: .acceptance)
        try c.encode(win, forKey: .win)
    }
}

/// What the leads that sales accepts and that become customers look like (DESIGN §8.2).
public struct BuyerProfileReport: Sendable, Hashable, Codable {
    /// The replay behind it.
    public var asOf: ReplayStamp
    /// What was asked.
    public var query: ProfileQuery
    /// All decided episodes of the range (one per definition when profiled by definition).
    public var baselines: [ProfileBaseline]
    /// Values with at least `minimumDecided` decided episodes, by definition, field, then value.
    public var rows: [ProfileRow]
    /// How many values were tested (two tests each), the count the q-values adjust for.
    public var valuesTested: Int
}

/// Computes the buyer profile.
public enum BuyerProfile {
    /// The profile of `query` over a replay and the facts observed in it with attributes collected.
    public static func compute(_ state: ReplayState, _ facts: EpisodeFacts, _ query: ProfileQuery) -> BuyerProfileReport {
        precondition(facts.count == state.episodes.count, "the facts were not observed in this replay")
        let banding = ScoreBanding(width: query.scoreBandWidth)
        /// A value by numbers: which field (0 channel, 1 campaign, 2 score band, 3 + attribute name
        /// number) and which value (interned number or band index), under which definition.
        struct Key: Hashable {
            var definition: Int
            var field: Int
            var value: Int
        }
        struct Counts {
            var decided = 0, accepted = 0, won = 0
            mutating func add(accepted a: Bool, won w: Bool) {
                decided += 1
                if a { accepted += 1 }
                if w { won += 1 }
            }
        }
        /// Counts by field and value number in arrays, bands (any integer) in a dictionary: no
        /// hashing per value of each episode.
        struct Tables {
            var fields: [[Counts]] = []
            var bands: [Int: Counts] = [:]

            mutating func add(field: Int, value: Int, accepted: Bool, won: Bool) {
                if field >= fields.count { fields.append(contentsOf: repeatElement([], count: field + 1 - fields.count)) }
                let slot = value + 1
                if slot >= fields[field].count {
                    fields[field].append(contentsOf: repeatElement(Counts(), count: slot + 1 - fields[field].count))
                }
                fields[field][slot].add(accepted: accepted, won: won)
            }
        }
        var tables: [Int: Tables] = [:]
        var baselines: [Int: Counts] = [:]
        let matcher = query.filter.matcher(state)
        for (number, e) in state.episodes.enumerated() where !e.isVoid && matcher.admits(e) {
            guard e.outcome == .accepted || e.outcome == .rejected else { continue }
            let accepted = e.outcome == .accepted
            let fact = facts.facts[number]
            let definition = query.byDefinition ? (state.definition(of: e) ?? -1) : Int.min
            baselines[definition, default: Counts()].add(accepted: accepted, won: fact.won)
            var table = tables.removeValue(forKey: definition) ?? Tables()
            table.add(field: 0, value: Int(e.channel), accepted: accepted, won: fact.won)
            table.add(field: 1, value: Int(e.campaign), accepted: accepted, won: fact.won)
            table.bands[banding.index(e.scoreAtHandOff), default: Counts()].add(accepted: accepted, won: fact.won)
            var slot = Int(fact.attributesStart)
            for _ in 0..<Int(fact.attributesCount) {
                table.add(
                    field: 3 + Int(facts.handOffAttributes[slot]), value: Int(facts.handOffAttributes[slot + 1]), accepted: accepted,
                    won: fact.won)
                slot += 2
            }
            tables[definition] = table
        }
        var values: [(key: Key, value: Counts)] = []
        for (definition, table) in tables {
            for (field, slots) in table.fields.enumerated() {
                for (slot, counts) in slots.enumerated() where counts.decided > 0 {
                    values.append((Key(definition: definition, field: field, value: slot - 1), counts))
                }
            }
            for (band, counts) in table.bands { values.append((Key(definition: definition, field: 2, value: band), counts)) }
        }
        let numeric = Self.numericBands(values.map { (field: $0.key.field, value: $0.key.value, decided: $0.value.decided) }, facts)
        if !numeric.isEmpty {
            var merged: [Key: Counts] = [:]
            for (key, counts) in values {
                var target = key
                if let bands = numeric[key.field] { target.value = bands.band[key.value] ?? key.value }
                var sum = merged[target] ?? Counts()
                sum.decided += counts.decided
                sum.accepted += counts.accepted
                sum.won += counts.won
                merged[target] = sum
            }
            values = merged.map { ($0.key, $0.value) }
        }
        func names(_ key: Key) -> (field: String, value: String) {
            switch key.field {
            case 0: ("channel", state.channels.name(Int32(key.value)) ?? "(none)")
            case 1: ("campaign", state.campaigns.name(Int32(key.value)) ?? "(none)")
            case 2: ("scoreBand", banding.label(key.value))
            default:
                (
                    "attributes." + (facts.attributeNames.name(Int32(key.field - 3)) ?? ""),
                    numeric[key.field].map { $0.labels[key.value] } ?? facts.attributeValues.name(Int32(key.value)) ?? ""
                )
            }
        }
        var rows: [ProfileRow] = []
        for (key, counts) in values where counts.decided >= max(1, query.minimumDecided) {
            let base = baselines[key.definition] ?? Counts()
            func compare(_ successes: Int, _ baseSuccesses: Int) -> ProfileRate {
                let rate = Rate(successes, of: counts.decided)
                let baseRate = Statistics.rate(baseSuccesses, of: base.decided)
                let lift = rate.rate.flatMap { r in baseRate.flatMap { $0 > 0 ? r / $0 : nil } }
                let rest = Statistics.twoProportions(
                    baseSuccesses - successes, base.decided - counts.decided, successes, counts.decided)
                return ProfileRate(rate: rate, lift: lift, pValue: rest?.pValue, qValue: nil)
            }
            let (field, value) = names(key)
            rows.append(
                ProfileRow(
                    definition: key.definition == Int.min ? nil : key.definition, field: field, value: value,
                    decided: counts.decided, acceptance: compare(counts.accepted, base.accepted), win: compare(counts.won, base.won)))
        }
        rows.sort { ($0.definition ?? .min, $0.field, $0.value) < ($1.definition ?? .min, $1.field, $1.value) }
        let acceptanceQ = Statistics.benjaminiHochberg(rows.map(\.acceptance.pValue))
        let winQ = Statistics.benjaminiHochberg(rows.map(\.win.pValue))
        for index in rows.indices {
            rows[index].acceptance.qValue = acceptanceQ[index]
            rows[index].win.qValue = winQ[index]
        }
        let baselineRows = baselines.sorted { $0.key < $1.key }.map { definition, counts in
            ProfileBaseline(
                definition: definition == Int.min ? nil : definition, decided: counts.decided,
                acceptance: Rate(counts.accepted, of: counts.decided), win: Rate(counts.won, of: counts.decided))
        }
        return BuyerProfileReport(asOf: ReplayStamp(state), query: query, baselines: baselineRows, rows: rows, valuesTested: rows.count)
    }
}

extension BuyerProfile {
    /// The bands of each numeric attribute (by field number, from 3) that has more than
    /// ``ProfileQuery/numericBands`` values: band of each value number, and each band's label.
    ///
    /// A value goes to band ⌊bands · (decided episodes with a smaller value) / (decided episodes
    /// with a value)⌋, so bands hold about equal numbers of episodes and a value is never split;
    /// each band is labelled by its smallest and largest value (`100–199`). Bands are drawn over
    /// all definitions together, so a profile per definition compares like with like.
    static func numericBands(_ counts: [(field: Int, value: Int, decided: Int)], _ facts: EpisodeFacts) -> [Int: (
        band: [Int: Int], labels: [String]
    )] {
        var totals: [Int: [Int: Int]] = [:]
        for entry in counts where entry.field >= 3 { totals[entry.field, default: [:]][entry.value, default: 0] += entry.decided }
        var result: [Int: (band: [Int: Int], labels: [String])] = [:]
        for (field, values) in totals where values.count > ProfileQuery.numericBands {
            var numbers: [(number: Double, text: String, value: Int, decided: Int)] = []
            for (value, decided) in values {
                guard let text = facts.attributeValues.name(Int32(value)), let number = Double(text), number.isFinite else {
                    numbers = []
                    break
                }
                numbers.append((number, text, value, decided))
            }
            guard !numbers.isEmpty else { continue }
            numbers.sort { ($0.number, $0.text) < ($1.number, $1.text) }
            let total = numbers.reduce(0) { $0 + $1.decided }
            var band: [Int: Int] = [:]
            var ranges: [(low: Double, high: Double)] = []
            var smaller = 0
            for entry in numbers {
                let index = total > 0 ? min(ProfileQuery.numericBands - 1, ProfileQuery.numericBands * smaller / total) : 0
                smaller += entry.decided
                while ranges.count <= index { ranges.append((entry.number, entry.number)) }
                ranges[index].high = entry.number
                band[entry.value] = index
            }
            // A band skipped (one value holding more than a fifth) gets a label no value points at.
            let labels = ranges.map { range in
                range.low == range.high
                    ? ProfileValues.text(range.low) : ProfileValues.text(range.low) + "–" + ProfileValues.text(range.high)
            }
            result[field] = (band, labels)
        }
        return result
    }
}

extension Statistics {
    /// Benjamini–Hochberg adjusted p-values (q-values), in the order given; `nil` p-values (no test
    /// possible) are left out of the count and stay `nil`.
    public static func benjaminiHochberg(_ pValues: [Double?]) -> [Double?] {
        let tested = pValues.enumerated().compactMap { index, p in p.map { (index, $0) } }.sorted { ($0.1, $0.0) < ($1.1, $1.0) }
        var q = [Double?](repeating: nil, count: pValues.count)
        let m = Double(tested.count)
        var running = 1.0
        for rank in stride(from: tested.count, through: 1, by: -1) {
            let (index, p) = tested[rank - 1]
            running = min(running, p * m / Double(rank))
            q[index] = running
        }
        return q
    }
}
