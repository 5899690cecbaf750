import EventLog
import Foundation
import LeadModel

/// A definition to try: a name and rules, as in `definition.published`.
public struct CandidateDefinition: Sendable {
    /// Its name.
    public var name: String
    /// Its rules.
    public var rules: MQLRule
    /// Creates a candidate.
    public init(name: String, rules: MQLRule) {
        self.name = name
        self.rules = rules
    }
}

/// What-if inputs.
public struct WhatIfQuery: Sendable {
    /// The candidates, evaluated together in one pass.
    public var candidates: [CandidateDefinition]
    /// First business instant included (µs), if bounded.
    public var from: Int64?
    /// First business instant excluded (µs), if bounded.
    public var until: Int64?
    /// The replay's cut.
    public var cut: ReplayCut
    /// Width of the score bands of the back-test and of the estimate.
    public var scoreBandWidth: Double

    /// Creates a query.
    public init(
        candidates: [CandidateDefinition], from: Int64? = nil, until: Int64? = nil, cut: ReplayCut = .everything,
        scoreBandWidth: Double = 10
    ) {
        self.candidates = candidates
        self.from = from
        self.until = until
        self.cut = cut
        self.scoreBandWidth = scoreBandWidth
    }

    func includes(_ t: Int64) -> Bool { (from.map { t >= $0 } ?? true) && (until.map { t < $0 } ?? true) }

    /// The most candidates one pass evaluates: each lead keeps one bit per candidate in a 64-bit word.
    public static let maxCandidates = 64
    /// The score band widths accepted: bands must be wide enough to hold a lead and few enough to count.
    public static let scoreBandWidths: ClosedRange<Double> = 0.001...1_000_000

    /// Refuses a query the analysis cannot answer, naming the offending part.
    public func validate() throws(WhatIfQueryError) {
        guard !candidates.isEmpty else { throw WhatIfQueryError(field: "candidates", message: "expected at least one candidate") }
        guard candidates.count <= Self.maxCandidates else {
            throw WhatIfQueryError(
                field: "candidates", message: "expected at most \(Self.maxCandidates) candidates at once, found \(candidates.count)")
        }
        guard scoreBandWidth.isFinite, Self.scoreBandWidths.contains(scoreBandWidth) else {
            throw WhatIfQueryError(
                field: "bandWidth",
                message: "expected a score band width from \(ScoreBanding.text(Self.scoreBandWidths.lowerBound)) to "
                    + "\(ScoreBanding.text(Self.scoreBandWidths.upperBound)), found \(scoreBandWidth)")
        }
    }
}

/// Why a what-if query was refused: the part of the query, and what was expected of it.
public struct WhatIfQueryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The query part at fault (`candidates`, `bandWidth`).
    public let field: String
    /// What was expected and found.
    public let message: String
    /// `"bandWidth: expected …"`.
    public var description: String { "\(field): \(message)" }
}

/// Score bands of one width: band `k` holds the scores in `[k·width, (k+1)·width)`.
///
/// Every conversion is checked: a ledger written before scores were range-checked may hold any
/// finite score, and banding it must not trap.
struct ScoreBanding {
    let width: Double
    /// Bands past ±2⁴⁰ are merged into the outermost one on their side (no real score lands there).
    static let outermost = 1 << 40
    /// The key of the unscored leads' band, below every real band.
    static let unscored = Int.min

    func index(_ score: Double) -> Int {
        guard !score.isNaN else { return Self.unscored }
        let quotient = (score / width).rounded(.down)
        guard quotient.isFinite else { return quotient < 0 ? -Self.outermost : Self.outermost }
        return Int(max(-Double(Self.outermost), min(Double(Self.outermost), quotient)))
    }

    /// The lowest score of a band.
    func low(_ band: Int) -> Double { Double(band) * width }

    /// `"60–70"`, or `"unscored"`.
    func label(_ band: Int) -> String {
        band == Self.unscored ? "unscored" : "\(Self.text(low(band)))–\(Self.text(low(band) + width))"
    }

    /// Whole numbers without a fraction (`60`), others as Swift prints them (`2.5`).
    static func text(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
    }
}

/// Leads of one segment and the outcomes of their real episodes in the range.
public struct ObservedSegment: Sendable, Hashable, Codable {
    /// Leads.
    public var leads = 0
    /// Their episodes (hand-offs) in the range.
    public var episodes = 0
    /// Accepted episodes.
    public var accepted = 0
    /// Rejected episodes.
    public var rejected = 0
    /// Recycled episodes.
    public var recycled = 0
    /// Episodes still open.
    public var pending = 0
    /// Leads that won a deal.
    public var won = 0
    /// `rejected / (accepted + rejected)`; `nil` when nothing was decided.
    public var rejectionRate: Double?
    /// Its 95 % Wilson interval.
    public var rejectionRateInterval: Interval?

    mutating func finish() {
        rejectionRate = Statistics.rate(rejected, of: accepted + rejected)
        rejectionRateInterval = Statistics.wilson(rejected, of: accepted + rejected)
    }
}

/// Leads the candidate would have handed off that never were: nothing about them was observed.
public struct AddedSegment: Sendable, Hashable, Codable {
    /// Leads.
    public var leads = 0
    /// Always `"unobserved"`: sales never saw these leads, so no outcome is reported.
    public var outcome = "unobserved"
}

/// The bounds of the candidate's rejection rate over its whole population (observed and added).
public struct RateBounds: Sendable, Hashable, Codable {
    /// If every added lead had been accepted.
    public var low: Double?
    /// If every added lead had been rejected.
    public var high: Double?
}

/// A modelled figure, kept apart from observed ones.
public struct Estimate: Sendable, Hashable, Codable {
    /// Always `"estimate"`.
    public var kind = "estimate"
    /// How it was made.
    public var method: String
    /// Estimated rejections among the added leads.
    public var addedRejections: Double
    /// Estimated rejection rate of the whole candidate population.
    public var rejectionRate: Double?
}

/// One channel's split.
public struct ChannelSplit: Sendable, Hashable, Codable {
    /// The channel.
    public var channel: String
    /// Kept leads.
    public var both: ObservedSegment
    /// Leads the candidate drops.
    public var dropped: ObservedSegment
    /// Leads the candidate adds.
    public var added: AddedSegment
}

/// The result for one candidate.
public struct CandidateResult: Sendable, Hashable, Codable {
    /// The candidate's name.
    public var name: String
    /// What differs from the definition in force at the end of the range, in words.
    public var changes: [String]
    /// Handed off in reality and qualifying under the candidate: outcomes observed.
    public var both: ObservedSegment
    /// Handed off in reality, not qualifying: their outcomes are what the candidate gives up or avoids.
    public var dropped: ObservedSegment
    /// Qualifying, never handed off: unobserved.
    public var added: AddedSegment
    /// Rejections the candidate avoids (rejected episodes among dropped leads).
    public var rejectionsAvoided: Int
    /// Acceptances it loses.
    public var acceptancesLost: Int
    /// Wins it loses.
    public var winsLost: Int
    /// The candidate's rejection rate on observed episodes (the `both` segment).
    public var observedRejectionRate: Double?
    /// Its 95 % Wilson interval.
    public var observedRejectionRateInterval: Interval?
    /// Bounds over the whole candidate population: added leads all accepted … all rejected.
    public var bounds: RateBounds
    /// A modelled figure, labelled as such.
    public var estimate: Estimate
    /// The same split per channel.
    public var byChannel: [ChannelSplit]
}

/// One score band of the back-test.
public struct ScoreBand: Sendable, Hashable, Codable {
    /// Band label, e.g. `"60–70"` or `"unscored"`.
    public var band: String
    /// Lowest score of the band (`nil` for unscored).
    public var low: Double?
    /// Handed-off leads in the band.
    public var leads: Int
    /// Share of all handed-off leads.
    public var shareOfLeads: Double?
    /// Share of all acceptances.
    public var shareOfAcceptances: Double?
    /// Share of all wins.
    public var shareOfWins: Double?
    /// `accepted / (accepted + rejected)` in the band.
    public var acceptanceRate: Double?
}

/// What-if results.
public struct WhatIfReport: Sendable, Hashable, Codable {
    /// The replay behind it.
    public var asOf: ReplayStamp
    /// First day included, when bounded.
    public var from: String?
    /// Last day included, when bounded.
    public var to: String?
    /// One result per candidate, in the order given.
    public var candidates: [CandidateResult]
    /// The score-band back-test of real hand-offs in the range (score at hand-off).
    public var scoreBands: [ScoreBand]
}

/// Evaluates candidates at each moment a lead's state changes, in business-time order.
struct WhatIfObserver: PartitionedReplayObserver {
    let compiled: [CompiledDefinition]
    let query: WhatIfQuery
    /// Every lead's facts, one row each.
    var facts: FactStore
    /// Per lead, whether its facts exist (its empty state was evaluated).
    var known: [Bool] = []
    /// Per lead, bit i: candidate i qualified within the range.
    var qualified: [UInt64] = []
    /// Per lead, whether its verdicts were taken at a moment inside the range.
    var evaluatedInRange: [Bool] = []
    /// Per lead and candidate, the score when the lead first qualified (NaN when unscored or never).
    var scoreAtQualifying: [Double] = []
    /// The fields any candidate reads: an event that changes none of these cannot change a verdict.
    var read: ReadFields
    let all: UInt64

    /// An observer for `query`; personal values a candidate reads are opened with the keys in `log`.
    init(query: WhatIfQuery, log: EventLog?) {
        let table = FieldTable()
        compiled = query.candidates.map { CompiledDefinition($0.rules, table: table) }
        facts = FactStore(table: table)
        self.query = query
        read = ReadFields(query.candidates.map(\.rules), table: table, log: log)
        all = compiled.count == 64 ? .max : (1 << UInt64(compiled.count)) - 1
    }

    /// The score at which `lead` first qualified under candidate `c`; NaN when it never did or was unscored.
    func scoreAtQualifying(_ lead: Int, _ c: Int) -> Double {
        lead < known.count ? scoreAtQualifying[lead * compiled.count + c] : .nan
    }

    /// Takes the verdicts of the other partition's leads; their facts are not needed after the replay.
    mutating func absorb(_ other: consuming WhatIfObserver, partition: (index: UInt32, count: UInt32)) {
        let n = compiled.count
        read.absorbFailure(of: other.read)
        growVerdicts(to: other.known.count)
        for i in stride(from: Int(partition.index), to: other.known.count, by: Int(partition.count)) {
            known[i] = other.known[i]
            qualified[i] = other.qualified[i]
            evaluatedInRange[i] = other.evaluatedInRange[i]
            for c in 0..<n { scoreAtQualifying[i * n + c] = other.scoreAtQualifying[i * n + c] }
        }
    }

    /// Makes room for the verdicts of leads below `count`; new leads are unknown and unqualified.
    private mutating func growVerdicts(to count: Int) {
        guard count > known.count else { return }
        let grow = count - known.count
        known.append(contentsOf: repeatElement(false, count: grow))
        qualified.append(contentsOf: repeatElement(0, count: grow))
        evaluatedInRange.append(contentsOf: repeatElement(false, count: grow))
        scoreAtQualifying.append(contentsOf: repeatElement(.nan, count: grow * compiled.count))
    }

    mutating func resetLead(_ lead: UInt32) {
        let i = Int(lead)
        guard i < known.count else { return }
        known[i] = false
        facts.clearRow(i)
        qualified[i] = 0
        evaluatedInRange[i] = false
        for c in compiled.indices { scoreAtQualifying[i * compiled.count + c] = .nan }
    }

    mutating func observe(lead: UInt32, event: EventRecordView, position: UInt64) {
        let i = Int(lead)
        if i >= known.count {
            growVerdicts(to: i + 1)
            facts.ensureRow(i)
        }
        if !known[i] {
            known[i] = true
            evaluate(i, at: event.occurredAt)  // the initial, empty state
        }
        var changed = false
        switch event.type {
        case .leadCaptured:
            if let channel = event.channel, read[FieldTable.channelSlot] {
                facts.set(i, FieldTable.channelSlot, .string(String(decoding: channel, as: UTF8.self)))
                changed = true
            }
            if let campaign = event.campaign, read[FieldTable.campaignSlot] {
                facts.set(i, FieldTable.campaignSlot, .string(String(decoding: campaign, as: UTF8.self)))
                changed = true
            }
            changed = read.apply(event, lead: i, to: &facts) || changed
        case .leadAttributesObserved:
            changed = read.apply(event, lead: i, to: &facts)
        case .leadScored:
            facts.set(i, FieldTable.scoreSlot, event.score.map { .number($0) })
            changed = read[FieldTable.scoreSlot]
        default:
            return
        }
        // Unchanged facts give the verdicts already recorded, unless none was taken in the range yet.
        if changed || !evaluatedInRange[i] { evaluate(i, at: event.occurredAt) }
    }


    private mutating func evaluate(_ i: Int, at t: Int64) {
        guard query.includes(t) else { return }
        evaluatedInRange[i] = true
        let open = all & ~qualified[i]
        guard open != 0 else { return }
        let newly = facts.qualifying(compiled, lead: i, among: open)
        guard newly != 0 else { return }
        qualified[i] |= newly
        let score = facts.number(i, FieldTable.scoreSlot) ?? .nan
        for c in compiled.indices where newly & (1 << UInt64(c)) != 0 { scoreAtQualifying[i * compiled.count + c] = score }
    }
}

/// Answers "had our definition been this candidate…" without inventing unobserved outcomes.
public enum WhatIf {
    /// Replays the log once with every candidate, and sorts leads into both / dropped / added.
    public static func run(_ log: EventLog, _ query: WhatIfQuery) throws -> WhatIfReport {
        try query.validate()
        let (state, observer) = try ReplayEngine.replay(log, cut: query.cut) { WhatIfObserver(query: query, log: log) }
        if let failure = observer.read.failure { throw failure }
        return report(state, observer, query)
    }

    /// A lead's real hand-offs in the range, counted: one fixed-size value per lead, in an array.
    struct LeadTally {
        var episodes: Int32 = 0, accepted: Int32 = 0, rejected: Int32 = 0, recycled: Int32 = 0, pending: Int32 = 0
        /// Channel and score at the lead's first hand-off in the range.
        var channel: Int32 = -1
        var firstHandOffAt: Int64 = .max
        var firstScore: Double = .nan
        var isReal: Bool { episodes > 0 }
    }

    static func report(_ state: ReplayState, _ observer: WhatIfObserver, _ query: WhatIfQuery) -> WhatIfReport {
        let banding = ScoreBanding(width: query.scoreBandWidth)
        func bandIndex(_ score: Double) -> Int { banding.index(score) }

        // Real hand-offs in the range, per lead; and the observed rejection rate per score band, for
        // the labelled estimate.
        var tallies = [LeadTally](repeating: LeadTally(), count: state.leads.count)
        var bandDecided: [Int: (rejected: Int, decided: Int)] = [:]
        var overall = (rejected: 0, decided: 0)
        for e in state.liveEpisodes where query.includes(e.handedOffAt) {
            var t = tallies[Int(e.lead)]
            t.episodes += 1
            switch e.outcome {
            case .accepted: t.accepted += 1
            case .rejected: t.rejected += 1
            case .recycled: t.recycled += 1
            case .pending: t.pending += 1
            }
            if e.handedOffAt < t.firstHandOffAt {
                t.firstHandOffAt = e.handedOffAt
                t.channel = e.channel
                t.firstScore = e.scoreAtHandOff
            }
            tallies[Int(e.lead)] = t
            if e.outcome == .accepted || e.outcome == .rejected {
                let rejected = e.outcome == .rejected ? 1 : 0
                bandDecided[bandIndex(e.scoreAtHandOff), default: (0, 0)].decided += 1
                bandDecided[bandIndex(e.scoreAtHandOff), default: (0, 0)].rejected += rejected
                overall.decided += 1
                overall.rejected += rejected
            }
        }
        let overallRate = Statistics.rate(overall.rejected, of: overall.decided) ?? 0
        let bandRates = bandDecided.mapValues { Statistics.rate($0.rejected, of: $0.decided) ?? overallRate }

        let inForce = query.until.map { state.definitionInForce(at: $0 - 1) } ?? state.definitions.keys.max()
        let channelCount = state.channels.count + 1  // slot 0: no channel
        var results: [CandidateResult] = []
        for (c, candidate) in query.candidates.enumerated() {
            let bit: UInt64 = 1 << UInt64(c)
            var both = ObservedSegment(), dropped = ObservedSegment(), added = AddedSegment()
            var channelBoth = [ObservedSegment](repeating: .init(), count: channelCount)
            var channelDropped = channelBoth
            var channelAdded = [AddedSegment](repeating: .init(), count: channelCount)
            var estimatedAddedRejections = 0.0
            for lead in 0..<tallies.count {
                let qualifies = lead < observer.qualified.count && observer.qualified[lead] & bit != 0
                let t = tallies[lead]
                if t.isReal {
                    let won = state.leadWon(UInt32(lead))
                    if qualifies {
                        add(t, won: won, to: &both)
                        add(t, won: won, to: &channelBoth[Int(t.channel) + 1])
                    } else {
                        add(t, won: won, to: &dropped)
                        add(t, won: won, to: &channelDropped[Int(t.channel) + 1])
                    }
                } else if qualifies {
                    added.leads += 1
                    channelAdded[Int(state.leads[lead].channel) + 1].leads += 1
                    let score = observer.scoreAtQualifying(lead, c)
                    estimatedAddedRejections += bandRates[bandIndex(score)] ?? overallRate
                }
            }
            both.finish()
            dropped.finish()
            let decided = both.accepted + both.rejected
            let population = decided + added.leads
            var byChannel: [ChannelSplit] = []
            for slot in 0..<channelCount where channelBoth[slot].leads + channelDropped[slot].leads + channelAdded[slot].leads > 0 {
                var b = channelBoth[slot], d = channelDropped[slot]
                b.finish()
                d.finish()
                byChannel.append(
                    ChannelSplit(channel: state.channels.name(Int32(slot - 1)) ?? "(none)", both: b, dropped: d, added: channelAdded[slot]))
            }
            results.append(
                CandidateResult(
                    name: candidate.name,
                    changes: inForce.flatMap { state.definitions[$0] }.map {
                        DefinitionDiff.describeChanges(from: $0.rules, to: candidate.rules)
                    } ?? [],
                    both: both, dropped: dropped, added: added,
                    rejectionsAvoided: dropped.rejected, acceptancesLost: dropped.accepted, winsLost: dropped.won,
                    observedRejectionRate: both.rejectionRate, observedRejectionRateInterval: both.rejectionRateInterval,
                    bounds: RateBounds(
                        low: Statistics.rate(both.rejected, of: population),
                        high: Statistics.rate(both.rejected + added.leads, of: population)),
                    estimate: Estimate(
                        method:
                            "added leads rejected at the observed rejection rate of real hand-offs in the same score band (width \(ScoreBanding.text(banding.width)))",
                        addedRejections: estimatedAddedRejections,
                        rejectionRate: population == 0 ? nil : (Double(both.rejected) + estimatedAddedRejections) / Double(population)),
                    byChannel: byChannel.sorted { $0.channel < $1.channel }))
        }
        return WhatIfReport(
            asOf: ReplayStamp(state), from: query.from.map(Bucket.dayString), to: query.until.map { Bucket.dayString($0 - 1) },
            candidates: results, scoreBands: scoreBands(tallies, state: state, banding: banding))
    }

    private static func add(_ t: LeadTally, won: Bool, to segment: inout ObservedSegment) {
        segment.leads += 1
        if won { segment.won += 1 }
        segment.episodes += Int(t.episodes)
        segment.accepted += Int(t.accepted)
        segment.rejected += Int(t.rejected)
        segment.recycled += Int(t.recycled)
        segment.pending += Int(t.pending)
    }

    /// Per score band (score at the lead's first hand-off in the range): shares of leads, acceptances and wins.
    static func scoreBands(_ tallies: [LeadTally], state: ReplayState, banding: ScoreBanding) -> [ScoreBand] {
        var bands: [Int: (leads: Int, accepted: Int, rejected: Int, won: Int)] = [:]
        var totals = (leads: 0, accepted: 0, won: 0)
        for (lead, t) in tallies.enumerated() where t.isReal {
            let band = banding.index(t.firstScore)
            let won = state.leadWon(UInt32(lead))
            var cell = bands[band, default: (0, 0, 0, 0)]
            cell.leads += 1
            cell.accepted += Int(t.accepted)
            cell.rejected += Int(t.rejected)
            if won { cell.won += 1 }
            bands[band] = cell
            totals.leads += 1
            totals.accepted += Int(t.accepted)
            if won { totals.won += 1 }
        }
        return bands.sorted { $0.key < $1.key }.map { band, cell in
            return ScoreBand(
                band: banding.label(band), low: band == ScoreBanding.unscored ? nil : banding.low(band), leads: cell.leads,
                shareOfLeads: Statistics.rate(cell.leads, of: totals.leads),
                shareOfAcceptances: Statistics.rate(cell.accepted, of: totals.accepted),
                shareOfWins: Statistics.rate(cell.won, of: totals.won),
                acceptanceRate: Statistics.rate(cell.accepted, of: cell.accepted + cell.rejected))
        }
    }
}
