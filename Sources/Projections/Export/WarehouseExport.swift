import EventLog
import Foundation
import LeadModel

/// The tables of the warehouse export.
public enum WarehouseTable: String, Sendable, CaseIterable, Codable {
    /// One row per episode: its hand-off, dimensions, outcome, times and reason.
    case episodes
    /// The lead history as validity intervals (slowly changing dimension, type 2).
    case history
    /// Per day and channel: episodes open at the day's end and what happened that day.
    case daily
}

/// Writes the warehouse export: the episodes, the lead history and the daily snapshot, from one
/// replay of the log (the same engine and episode rules as every report), as CSV or JSON Lines.
public enum WarehouseExport {
    /// The columns of a table, in order: the documented contract of the export.
    public static func columns(_ table: WarehouseTable) -> [WarehouseColumn] {
        switch table {
        case .episodes: episodeColumns
        case .history: historyColumns
        case .daily: dailyColumns
        }
    }

    static let episodeColumns = [
        WarehouseColumn("lead", "VARCHAR", "the lead's id in the source CRM"),
        WarehouseColumn("episode", "BIGINT", "the episode's number among its lead's episodes, from 1 (as the audit numbers them)"),
        WarehouseColumn("handed_off_at", "TIMESTAMPTZ", "business time of the hand-off"),
        WarehouseColumn("hand_off_position", "BIGINT", "the hand-off event's position in the ledger"),
        WarehouseColumn("owner", "VARCHAR", "the owner the lead was handed to"),
        WarehouseColumn("channel", "VARCHAR", "the lead's channel at hand-off"),
        WarehouseColumn("campaign", "VARCHAR", "the lead's campaign at hand-off"),
        WarehouseColumn("source", "VARCHAR", "the system that sent the hand-off"),
        WarehouseColumn("definition", "BIGINT", "the MQL definition version of the episode"),
        WarehouseColumn("score_at_hand_off", "DOUBLE", "the lead's latest score at hand-off"),
        WarehouseColumn("outcome", "VARCHAR", "pending, accepted, rejected or recycled"),
        WarehouseColumn("decided_at", "TIMESTAMPTZ", "business time of the decision or recycle"),
        WarehouseColumn("hours_to_decision", "DOUBLE", "hours from hand-off to the decision or recycle"),
        WarehouseColumn("reason", "VARCHAR", "the rejection reason code, after corrections"),
        WarehouseColumn("reason_label", "VARCHAR", "its label"),
        WarehouseColumn("reason_category", "VARCHAR", "its category"),
        WarehouseColumn("original_reason", "VARCHAR", "the rejection reason code as first given"),
        WarehouseColumn("reason_corrected", "BOOLEAN", "whether the rejection reason was corrected"),
        WarehouseColumn("first_touch_at", "TIMESTAMPTZ", "the episode's first touch, acceptance or rejection"),
        WarehouseColumn("converted_at", "TIMESTAMPTZ", "the lead's conversion after the hand-off, before its next hand-off"),
        WarehouseColumn("pipeline_amount", "DOUBLE", "the conversion's amount"),
        WarehouseColumn("currency", "VARCHAR", "its currency"),
        WarehouseColumn("closed_at", "TIMESTAMPTZ", "the opportunity's close after the hand-off, before the next hand-off"),
        WarehouseColumn("won", "BOOLEAN", "whether it was won (null while not closed)"),
        WarehouseColumn("won_amount", "DOUBLE", "the amount won"),
        WarehouseColumn("sla_version", "BIGINT", "the service level in force at the hand-off"),
        WarehouseColumn("first_touch_deadline", "TIMESTAMPTZ", "when its first-touch limit fell due"),
        WarehouseColumn("first_touch_status", "VARCHAR", "met, breached, open or withdrawn"),
        WarehouseColumn("decision_deadline", "TIMESTAMPTZ", "when its decision limit fell due"),
        WarehouseColumn("decision_status", "VARCHAR", "met, breached, open or withdrawn"),
        WarehouseColumn("sla_owner", "VARCHAR", "the owner responsible at the first deadline"),
        WarehouseColumn("business_hours_to_first_touch", "DOUBLE", "business hours of the policy's calendar from hand-off to first touch"),
    ]

    static let historyColumns = [
        WarehouseColumn("lead", "VARCHAR", "the lead's id in the source CRM"),
        WarehouseColumn("kind", "VARCHAR", "`state` (stage, owner, channel, campaign, score) or `attribute` (an observed attribute)"),
        WarehouseColumn("name", "VARCHAR", "the state's or the attribute's name"),
        WarehouseColumn("value", "VARCHAR", "its value, as text (numbers in decimal, booleans true/false)"),
        WarehouseColumn("valid_from", "TIMESTAMPTZ", "business time from which the value held"),
        WarehouseColumn("valid_to", "TIMESTAMPTZ", "business time at which it stopped holding; empty while it holds"),
        WarehouseColumn("position", "BIGINT", "the position of the event that set it"),
    ]

    static let dailyColumns = [
        WarehouseColumn("day", "DATE", "the UTC day"),
        WarehouseColumn("channel", "VARCHAR", "the lead's channel at hand-off (`(none)` when it had none)"),
        WarehouseColumn("open_at_end", "BIGINT", "episodes handed off and neither decided nor recycled at the day's end"),
        WarehouseColumn("handed_off", "BIGINT", "hand-offs that day"),
        WarehouseColumn("accepted", "BIGINT", "acceptances that day"),
        WarehouseColumn("rejected", "BIGINT", "rejections that day"),
        WarehouseColumn("recycled", "BIGINT", "recycles that day"),
        WarehouseColumn("converted", "BIGINT", "episodes converted that day"),
        WarehouseColumn("won", "BIGINT", "episodes won that day"),
    ]

    /// Replays `log` under `cut` and writes `table` in `format`, a line at a time, to `sink`;
    /// service levels are judged at `reportAt` (µs: the business-time cut when there is one, else now).
    public static func write(
        _ table: WarehouseTable, format: WarehouseFormat, log: EventLog, cut: ReplayCut = .everything, reportAt: Int64,
        to sink: @escaping (String) throws -> Void
    ) throws {
        let writer = try WarehouseWriter(columns: columns(table), format: format, sink: sink)
        switch table {
        case .episodes:
            let (state, facts) = try FeedbackLoop.replay(log, cut: cut, collectsAttributes: false)
            try writeEpisodes(state, facts, reportAt: reportAt, names: try leadNames(log, count: state.leadCount), to: writer)
        case .history:
            var history = HistoryObserver()
            let state = try ReplayEngine.replay(log, cut: cut, observer: &history)
            try history.write(names: try leadNames(log, count: state.leadCount), to: writer)
        case .daily:
            let (state, facts) = try FeedbackLoop.replay(log, cut: cut, collectsAttributes: false)
            try writeDaily(state, facts, to: writer)
        }
    }

    /// Every lead's id by its number, read in one short snapshot rather than one per row.
    static func leadNames(_ log: EventLog, count: Int) throws -> [String] {
        try log.withSnapshot { snapshot in
            try (0..<count).map { number in try snapshot.streamName(UInt32(number)) ?? "#\(number)" }
        }
    }

    static func writeEpisodes(
        _ state: ReplayState, _ facts: EpisodeFacts, reportAt: Int64, names: [String], to writer: WarehouseWriter
    ) throws {
        var pipeline = [Double](repeating: 0, count: state.episodes.count), won = pipeline
        for entry in facts.money {
            if entry.won { won[Int(entry.episode)] += entry.amount } else { pipeline[Int(entry.episode)] += entry.amount }
        }
        var evaluator = ServiceLevels.Evaluator(state, facts)
        // Numbered within each lead in the order they were opened, which is business order per lead.
        var counts: [UInt32: Int] = [:]
        for (index, e) in state.episodes.enumerated() where !e.isVoid {
            let number = (counts[e.lead] ?? 0) + 1
            counts[e.lead] = number
            let decided = e.outcome != .pending
            let info = e.reason >= 0 ? state.reasonInfo[e.reason] : nil
            try writer.write([
                .text(Int(e.lead) < names.count ? names[Int(e.lead)] : "#\(e.lead)"), .integer(Int64(number)), .instant(e.handedOffAt),
                .integer(Int64(clamping: e.handOffPosition)), text(state.owners.name(e.owner)), text(state.channels.name(e.channel)),
                text(state.campaigns.name(e.campaign)), text(state.sources.name(e.source)),
                state.definition(of: e).map { .integer(Int64($0)) } ?? .null, .real(e.scoreAtHandOff), .text(e.outcome.name),
                decided ? .instant(e.decidedAt) : .null,
                decided ? .real(Double(e.decidedAt - e.handedOffAt) / 3_600_000_000) : .null,
                text(state.reasons.name(e.reason)), text(info?.label), text(info?.category), text(state.reasons.name(e.originalReason)),
                e.outcome == .rejected ? .bool(e.corrected) : .null,
            ] + factColumns(facts.facts[index], pipeline: pipeline[index], won: won[index], facts: facts)
                + serviceLevelColumns(evaluator.evaluate(index, at: reportAt), evaluator: evaluator))
        }
    }

    /// An episode's first touch, conversion, close and amounts.
    static func factColumns(_ fact: EpisodeFacts.Fact, pipeline: Double, won: Double, facts: EpisodeFacts) -> [WarehouseValue] {
        func instant(_ t: Int64) -> WarehouseValue { t == .min ? .null : .instant(t) }
        let converted = fact.convertedAt != .min, closed = fact.closedAt != .min
        return [
            instant(fact.firstTouchAt), instant(fact.convertedAt), converted ? .real(pipeline) : .null,
            text(facts.currencies.name(fact.currency)), instant(fact.closedAt), closed ? .bool(fact.won) : .null,
            closed && fact.won ? .real(won) : .null,
        ]
    }

    /// An episode's service level: its policy, each limit's deadline and status, the owner at the first deadline.
    static func serviceLevelColumns(_ levels: [EpisodeServiceLevel], evaluator: ServiceLevels.Evaluator) -> [WarehouseValue] {
        let touch = levels.first { $0.limit == .firstTouch }, decision = levels.first { $0.limit == .decision }
        return [
            levels.first.map { .integer(Int64($0.policyVersion)) } ?? .null,
            touch?.deadline.map(WarehouseValue.instant) ?? .null, text(touch?.status.rawValue),
            decision?.deadline.map(WarehouseValue.instant) ?? .null, text(decision?.status.rawValue),
            text(levels.first.flatMap { evaluator.ownerName($0.ownerNumber) }),
            (touch ?? decision)?.businessToFirstTouch.map { .real(Double($0) / 3_600_000_000) } ?? .null,
        ]
    }

    static func text(_ value: String?) -> WarehouseValue { value.map(WarehouseValue.text) ?? .null }

    static func writeDaily(_ state: ReplayState, _ facts: EpisodeFacts, to writer: WarehouseWriter) throws {
        let day = Bucket.microsPerDay
        var first = Int64.max, last = Int64.min
        for (index, e) in state.episodes.enumerated() where !e.isVoid {
            for t in [facts.facts[index].convertedAt, facts.facts[index].closedAt] where t != .min {
                first = min(first, Bucket.floorDiv(t, day))
                last = max(last, Bucket.floorDiv(t, day))
            }
            first = min(first, Bucket.floorDiv(e.handedOffAt, day))
            last = max(last, Bucket.floorDiv(e.handedOffAt, day))
            // A log written without validation may date a decision before its hand-off.
            if e.outcome != .pending {
                first = min(first, Bucket.floorDiv(e.decidedAt, day))
                last = max(last, Bucket.floorDiv(e.decidedAt, day))
            }
        }
        guard first <= last else { return }
        let days = Int(last - first + 1)
        // Per channel (slot 0 for none), per day: hand-offs, decisions by outcome, and closings;
        // the open count at a day's end is hand-offs so far less closings so far.
        struct Counts {
            var handedOff, accepted, rejected, recycled, closed, converted, won: [Int]
            init(_ days: Int) {
                let zero = [Int](repeating: 0, count: days)
                (handedOff, accepted, rejected, recycled, closed, converted, won) = (zero, zero, zero, zero, zero, zero, zero)
            }
        }
        var channels: [Int: Counts] = [:]
        for (index, e) in state.episodes.enumerated() where !e.isVoid {
            let slot = Int(e.channel) + 1
            if channels[slot] == nil { channels[slot] = Counts(days) }
            channels[slot]!.handedOff[Int(Bucket.floorDiv(e.handedOffAt, day) - first)] += 1
            let fact = facts.facts[index]
            if fact.convertedAt != .min { channels[slot]!.converted[Int(Bucket.floorDiv(fact.convertedAt, day) - first)] += 1 }
            if fact.closedAt != .min, fact.won { channels[slot]!.won[Int(Bucket.floorDiv(fact.closedAt, day) - first)] += 1 }
            guard e.outcome != .pending else { continue }
            let closedOn = Int(Bucket.floorDiv(e.decidedAt, day) - first)
            channels[slot]!.closed[closedOn] += 1
            switch e.outcome {
            case .accepted: channels[slot]!.accepted[closedOn] += 1
            case .rejected: channels[slot]!.rejected[closedOn] += 1
            case .recycled: channels[slot]!.recycled[closedOn] += 1
            case .pending: break
            }
        }
        let ordered = channels.map { slot, counts in (name: slot == 0 ? "(none)" : state.channels.name(Int32(slot - 1)) ?? "(none)", counts) }
            .sorted { $0.name < $1.name }
        var open = [Int](repeating: 0, count: ordered.count)
        for index in 0..<days {
            for (column, (name, counts)) in ordered.enumerated() {
                open[column] += counts.handedOff[index] - counts.closed[index]
                try writer.write([
                    .day((first + Int64(index)) * day), .text(name), .integer(Int64(open[column])), .integer(Int64(counts.handedOff[index])),
                    .integer(Int64(counts.accepted[index])), .integer(Int64(counts.rejected[index])),
                    .integer(Int64(counts.recycled[index])), .integer(Int64(counts.converted[index])), .integer(Int64(counts.won[index])),
                ])
            }
        }
    }
}

/// Follows each lead's states and attributes as the replay applies its events in business-time
/// order, and keeps each value's validity interval.
struct HistoryObserver: ReplayObserver {
    struct Row {
        var lead: UInt32
        var isAttribute: Bool
        var name: String
        var value: String
        var validFrom: Int64
        var validTo: Int64?
        var position: UInt64
        var isVoid = false
    }

    private(set) var rows: [Row] = []
    /// Per lead: the rows it wrote, the row holding each name now, and whether an episode is open.
    private var leads: [UInt32: (rows: [Int], current: [String: Int], phase: EpisodePhase)] = [:]

    mutating func resetLead(_ lead: UInt32) {
        for index in leads[lead]?.rows ?? [] { rows[index].isVoid = true }
        leads[lead] = nil
    }

    mutating func observe(lead: UInt32, event: EventRecordView, position: UInt64) {
        let at = event.occurredAt
        func string(_ bytes: UnsafeRawBufferPointer?) -> String? { bytes.map { String(decoding: $0, as: UTF8.self) } }
        func set(_ name: String, _ value: String?, attribute: Bool = false) {
            var entry = leads[lead] ?? ([], [:], .idle)
            let key = attribute ? "attribute:" + name : name
            if let index = entry.current[key] {
                if rows[index].value == value { return }
                rows[index].validTo = at
                entry.current[key] = nil
            }
            if let value {
                entry.current[key] = rows.count
                entry.rows.append(rows.count)
                rows.append(Row(lead: lead, isAttribute: attribute, name: name, value: value, validFrom: at, position: position))
            }
            leads[lead] = entry
        }
        var attributes = event.attributes
        while let (name, value) = attributes.next() {
            let text: String? =
                switch value {
                case .null: nil
                case .bool(let flag): flag ? "true" : "false"
                case .number(let number): String(number)
                case .string(let bytes): String(decoding: bytes, as: UTF8.self)
                }
            set(String(decoding: name, as: UTF8.self), text, attribute: true)
        }
        // The one episode machine says whether a decision closed an episode; a stray one changes no stage.
        let phase = leads[lead]?.phase ?? .idle
        let transition = EpisodeMachine.transition(of: event, from: phase)
        switch transition {
        case .open:
            set("stage", "handed_off")
            if let owner = string(event.owner) { set("owner", owner) }
        case .close(.accepted): set("stage", "accepted")
        case .close(.rejected): set("stage", "rejected")
        case .close(.recycled): set("stage", "recycled")
        case .none, .closeWithoutEpisode, .correctRejection:
            switch event.type {
            case .leadCaptured:
                if leads[lead]?.current["stage"] == nil { set("stage", "captured") }
                if let channel = string(event.channel) { set("channel", channel) }
                if let campaign = string(event.campaign) { set("campaign", campaign) }
            case .leadScored:
                if let score = event.score { set("score", String(score)) }
            case .leadAssigned:
                if let owner = string(event.owner) { set("owner", owner) }
            case .leadConverted: set("stage", "converted")
            case .leadClosed: set("stage", event.won == true ? "won" : "lost")
            default: break
            }
        }
        if var entry = leads[lead] {
            entry.phase = transition.phase(from: phase)
            leads[lead] = entry
        } else {
            leads[lead] = ([], [:], transition.phase(from: phase))
        }
    }

    /// Writes the rows that stand, by lead, then by when they began.
    func write(names: [String], to writer: WarehouseWriter) throws {
        let order = rows.indices.filter { !rows[$0].isVoid }.sorted { a, b in
            (rows[a].lead, rows[a].validFrom, rows[a].position, a) < (rows[b].lead, rows[b].validFrom, rows[b].position, b)
        }
        for index in order {
            let row = rows[index]
            try writer.write([
                .text(Int(row.lead) < names.count ? names[Int(row.lead)] : "#\(row.lead)"), .text(row.isAttribute ? "attribute" : "state"),
                .text(row.name), .text(row.value), .instant(row.validFrom), row.validTo.map(WarehouseValue.instant) ?? .null,
                .integer(Int64(clamping: row.position)),
            ])
        }
    }
}
