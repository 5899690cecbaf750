import EventLog
import Foundation
import LeadModel

/// What the suggester must respect, and where it splits history.
public struct SuggestionQuery: Sendable, Hashable {
    /// Candidates must hand off at least this many leads a month (kept plus added leads).
    public var minimumHandOffsPerMonth: Double?
    /// Candidates may lose at most this share of the period's wins, in percent.
    public var maximumLostWinsPercent: Double?
    /// The first instant (µs) of the later period, on which candidates are judged; by default the
    /// middle of the ledger's hand-offs.
    public var split: Int64?
    /// Score band width of the estimate, as in a what-if.
    public var scoreBandWidth: Double
    /// How many suggestions to report.
    public var limit: Int
    /// How many of the buyer profile's most telling values become conditions to try.
    public var profileValues: Int

    /// Creates a query.
    public init(
        minimumHandOffsPerMonth: Double? = nil, maximumLostWinsPercent: Double? = nil, split: Int64? = nil, scoreBandWidth: Double = 10,
        limit: Int = 5, profileValues: Int = 6
    ) {
        self.minimumHandOffsPerMonth = minimumHandOffsPerMonth
        self.maximumLostWinsPercent = maximumLostWinsPercent
        self.split = split
        self.scoreBandWidth = scoreBandWidth
        self.limit = limit
        self.profileValues = profileValues
    }
}

/// One candidate over one period: its what-if figures and the constraint figures.
public struct SuggestionPeriodResult: Sendable, Hashable, Codable {
    /// The candidate exactly as a what-if reports it over this period.
    public var whatIf: CandidateResult
    /// Kept plus added leads per month (30.44 days).
    public var handOffsPerMonth: Double
    /// Wins lost as a share of the period's wins (nil when there were none).
    public var lostWinsShare: Double?
    /// Whether both constraints hold over this period.
    public var meetsConstraints: Bool
}

/// A suggested definition: fitted on the earlier period, judged on the later one.
public struct Suggestion: Sendable, Hashable, Codable {
    /// A name saying what changed.
    public var name: String
    /// Its rules.
    public var rules: JSONBox
    /// How it was built from the definition in force.
    public var derivation: String
    /// The earlier period: where it was chosen.
    public var fitted: SuggestionPeriodResult
    /// The later period: where it is judged, not chosen.
    public var judged: SuggestionPeriodResult
    /// Whether its observed rejection rate on the later period is below the current definition's
    /// while the constraints hold there.
    public var beatsCurrent: Bool
}

/// The suggester's report.
public struct SuggestionReport: Sendable, Hashable, Codable {
    /// The replay behind it.
    public var asOf: ReplayStamp
    /// What this report is and is not.
    public var method: String
    /// First day of the earlier period.
    public var fittedFrom: String
    /// Last day of the earlier period.
    public var fittedTo: String
    /// First day of the later period: the split.
    public var judgedFrom: String
    /// Last day of the later period.
    public var judgedTo: String
    /// The constraints, as given.
    public var minimumHandOffsPerMonth: Double?
    /// The constraints, as given.
    public var maximumLostWinsPercent: Double?
    /// The definition in force at the end, the one candidates are derived from and compared with.
    public var currentVersion: Int?
    /// Its figures on both periods.
    public var current: Suggestion?
    /// How many candidates were evaluated on the earlier period.
    public var candidatesTried: Int
    /// The best candidates by the earlier period that meet the constraints there, best first.
    public var suggestions: [Suggestion]
}

/// Searches for definitions that lower the observed rejection rate under constraints, fitting on
/// an earlier period and judging on a later one, every figure computed by ``WhatIf``.
public enum DefinitionSuggester {
    static let month: Double = 30.436_875 * 86_400_000_000

    /// Suggests definitions for the ledger in `log`; `state` is a replay of all of it when the
    /// caller has one at hand (a checkpoint), else one is made.
    ///
    /// `profile` gives the buyer profile of the hand-offs in `[from, until)` (µs); by default a
    /// replay of its own, and a server passes its cached one.
    public static func run(
        _ log: EventLog, _ query: SuggestionQuery, state replayed: ReplayState? = nil,
        profile: ((_ from: Int64, _ until: Int64) throws -> BuyerProfileReport?)? = nil
    ) throws -> SuggestionReport {
        let state = try replayed ?? ReplayEngine.replay(log)
        var first = Int64.max
        var last = Int64.min
        for e in state.liveEpisodes {
            first = min(first, e.handedOffAt)
            last = max(last, e.handedOffAt)
        }
        let day: Int64 = 86_400_000_000
        guard first <= last else { throw SuggestionError("the ledger has no hand-off to learn from") }
        let start = first - ((first % day) + day) % day
        let end = last - ((last % day) + day) % day + day
        let split = query.split ?? (start + (end - start) / 2 / day * day)
        guard split > start, split < end else {
            throw SuggestionError(
                "the split \(Bucket.dayString(split)) must fall inside the hand-offs, \(Bucket.dayString(start)) to \(Bucket.dayString(end - 1))")
        }
        let current = state.definitionInForce(at: end - 1).flatMap { state.definitions[$0] } ?? state.definitions.values.max { $0.version < $1.version }
        let base = current?.rules ?? .all([])

        // The buyer profile of the earlier period only: the later one must not shape the candidates.
        let profile =
            try profile?(start, split)
            ?? FeedbackLoop.run(log, cut: .everything, FeedbackLoopRequest(profile: ProfileQuery(from: start, until: split))).profile
        var candidates = Candidates(base: base)
        candidates.derive(profile: profile?.rows ?? [], values: query.profileValues)

        let fitted = try evaluate(
            log, candidates.list.map { CandidateDefinition(name: $0.name, rules: $0.rules) }, from: start, until: split, query: query)
        let fittedBase = fitted[0]
        var ranked: [(index: Int, result: SuggestionPeriodResult)] = []
        for index in 1..<fitted.count where fitted[index].meetsConstraints {
            guard let rate = fitted[index].whatIf.observedRejectionRate, let baseRate = fittedBase.whatIf.observedRejectionRate,
                rate < baseRate
            else { continue }
            ranked.append((index, fitted[index]))
        }
        ranked.sort {
            ($0.result.whatIf.observedRejectionRate ?? 1, $0.index) < ($1.result.whatIf.observedRejectionRate ?? 1, $1.index)
        }
        let chosen = [0] + ranked.prefix(max(0, min(query.limit, WhatIfQuery.maxCandidates - 1))).map(\.index)
        let judged = try evaluate(
            log, chosen.map { CandidateDefinition(name: candidates.list[$0].name, rules: candidates.list[$0].rules) }, from: split, until: end,
            query: query)
        let currentRate = judged[0].whatIf.observedRejectionRate
        let suggestions = chosen.enumerated().map { position, index in
            let candidate = candidates.list[index]
            let beats = position > 0 && judged[position].meetsConstraints
                && (judged[position].whatIf.observedRejectionRate.map { rate in currentRate.map { rate < $0 } ?? false } ?? false)
            return Suggestion(
                name: candidate.name, rules: JSONBox(candidate.rules.json), derivation: candidate.derivation, fitted: fitted[index],
                judged: judged[position], beatsCurrent: beats)
        }
        return SuggestionReport(
            asOf: ReplayStamp(state),
            method:
                "Candidates are derived from the definition in force and the buyer profile of the earlier period, evaluated there "
                + "(fitted on \(Bucket.dayString(start)) … \(Bucket.dayString(split - 1))), and the best that meet the constraints are "
                + "judged on the later period (\(Bucket.dayString(split)) … \(Bucket.dayString(end - 1))), which played no part in choosing "
                + "them. Every figure is a what-if: observed outcomes of leads handed off in reality, bounds for leads a candidate adds "
                + "(their outcome is unobserved), and a labelled estimate.",
            fittedFrom: Bucket.dayString(start), fittedTo: Bucket.dayString(split - 1), judgedFrom: Bucket.dayString(split),
            judgedTo: Bucket.dayString(end - 1), minimumHandOffsPerMonth: query.minimumHandOffsPerMonth,
            maximumLostWinsPercent: query.maximumLostWinsPercent, currentVersion: current?.version, current: suggestions.first,
            candidatesTried: candidates.list.count - 1, suggestions: Array(suggestions.dropFirst()))
    }

    /// One what-if pass over `[from, until)` and the constraint figures of each candidate.
    static func evaluate(
        _ log: EventLog, _ candidates: [CandidateDefinition], from: Int64, until: Int64, query: SuggestionQuery
    ) throws -> [SuggestionPeriodResult] {
        let report = try WhatIf.run(
            log, WhatIfQuery(candidates: candidates, from: from, until: until, scoreBandWidth: query.scoreBandWidth))
        let months = max(Double(until - from) / month, 1 / 30)
        return report.candidates.map { c in
            let perMonth = Double(c.both.leads + c.added.leads) / months
            let wins = c.both.won + c.dropped.won
            let lost = wins == 0 ? nil : Double(c.winsLost) / Double(wins)
            var meets = true
            if let minimum = query.minimumHandOffsPerMonth, perMonth < minimum { meets = false }
            if let maximum = query.maximumLostWinsPercent, let lost, lost * 100 > maximum { meets = false }
            return SuggestionPeriodResult(whatIf: c, handOffsPerMonth: perMonth, lostWinsShare: lost, meetsConstraints: meets)
        }
    }

    /// The candidates, the definition in force first.
    struct Candidates {
        struct Candidate {
            var name: String
            var rules: MQLRule
            var derivation: String
        }
        let base: MQLRule
        var list: [Candidate]
        var seen: Set<MQLRule>

        init(base: MQLRule) {
            self.base = base
            list = [Candidate(name: "current definition", rules: base, derivation: "the definition in force")]
            seen = [base]
        }

        mutating func add(_ name: String, _ rules: MQLRule, _ derivation: String) {
            guard list.count < WhatIfQuery.maxCandidates, !seen.contains(rules) else { return }
            seen.insert(rules)
            list.append(Candidate(name: name, rules: rules, derivation: derivation))
        }

        /// Thresholds of the definition's own comparisons moved, then the profile's telling values
        /// excluded (or required), then the best of both together.
        mutating func derive(profile: [ProfileRow], values: Int) {
            var thresholdRules: [(name: String, rules: MQLRule)] = []
            for (pointer, comparison) in base.comparisons {
                for moved in Self.moves(comparison.test) {
                    let rules = Self.replacing(base, at: pointer, with: .comparison(RuleComparison(field: comparison.field, moved)))
                    let name = "\(comparison.field) \(moved.operatorName) \(moved.operandJSON.jsonText) (at \(pointer))"
                    add(name, rules, "the threshold of \(comparison.field) at \(pointer) moved")
                    thresholdRules.append((name, rules))
                }
            }
            // The values sales accepts least often, most telling first; channel and attributes only
            // (a score band is already a threshold of score).
            let telling = profile.filter { $0.definition == nil && ($0.field == "channel" || $0.field.hasPrefix("attributes.")) }
                .filter { ($0.acceptance.lift ?? 1) < 1 }
                .sorted { ($0.acceptance.qValue ?? 1, $0.acceptance.lift ?? 1) < ($1.acceptance.qValue ?? 1, $1.acceptance.lift ?? 1) }
                .prefix(values)
            var exclusions: [(name: String, rule: MQLRule)] = []
            for row in telling {
                let field = row.field.hasPrefix("attributes.") ? String(row.field.dropFirst("attributes.".count)) : row.field
                let value = Self.attributeValue(row.value)
                let exclusion = MQLRule.not(.comparison(RuleComparison(field: field, .eq(value))))
                let name = "exclude \(field) = \(value.json.jsonText)"
                exclusions.append((name, exclusion))
                add(name, Self.adding(exclusion, to: base), "a value the profile finds least accepted, excluded")
            }
            if exclusions.count > 1 {
                add(
                    "exclude the \(exclusions.count) least accepted values", Self.adding(.all(exclusions.map(\.rule)), to: base),
                    "every excluded value together")
            }
            for threshold in thresholdRules {
                for exclusion in exclusions.prefix(2) {
                    add(
                        "\(threshold.name), and \(exclusion.name)", Self.adding(exclusion.rule, to: threshold.rules),
                        "a moved threshold and an excluded value")
                }
            }
        }

        /// Stricter and looser versions of a numeric threshold.
        static func moves(_ test: RuleTest) -> [RuleTest] {
            func steps(_ value: Double) -> [Double] {
                let step = max(1, (abs(value) / 10).rounded())
                return [-1, 1, 2].map { value + $0 * step }
            }
            switch test {
            case .gte(.number(let v)): return steps(v).map { .gte(.number($0)) }
            case .gt(.number(let v)): return steps(v).map { .gt(.number($0)) }
            case .lte(.number(let v)): return steps(v).map { .lte(.number($0)) }
            case .lt(.number(let v)): return steps(v).map { .lt(.number($0)) }
            default: return []
            }
        }

        static func attributeValue(_ text: String) -> AttributeValue {
            if text == "true" { return .bool(true) }
            if text == "false" { return .bool(false) }
            if let number = Double(text), number.isFinite { return .number(number) }
            return .string(text)
        }

        /// `rule` with one more condition that must also hold.
        static func adding(_ condition: MQLRule, to rule: MQLRule) -> MQLRule {
            if case .all(let rules) = rule { return .all(rules + [condition]) }
            return .all([rule, condition])
        }

        /// `rule` with the node at `pointer` (as ``MQLRule/comparisons`` names it) replaced.
        static func replacing(_ rule: MQLRule, at pointer: String, with replacement: MQLRule) -> MQLRule {
            var parts = pointer.split(separator: "/").map(String.init)[...]
            func walk(_ rule: MQLRule) -> MQLRule {
                guard let head = parts.popFirst() else { return replacement }
                switch (head, rule) {
                case ("all", .all(var rules)):
                    guard let index = parts.popFirst().flatMap({ Int($0) }), rules.indices.contains(index) else { return rule }
                    rules[index] = walk(rules[index])
                    return .all(rules)
                case ("any", .any(var rules)):
                    guard let index = parts.popFirst().flatMap({ Int($0) }), rules.indices.contains(index) else { return rule }
                    rules[index] = walk(rules[index])
                    return .any(rules)
                case ("not", .not(let inner)): return .not(walk(inner))
                default: return rule
                }
            }
            return walk(rule)
        }
    }
}

/// A suggestion that cannot be made.
public struct SuggestionError: Error, Sendable, CustomStringConvertible {
    /// What is wrong.
    public let description: String
    init(_ description: String) { self.description = description }
}
