import Foundation
import LeadModel

/// What a change of a status-like field means for the lead's episode.
enum StatusSignal: Hashable {
    case handOff
    case accept
    /// A rejection; `code` fixes the reason (e.g. HubSpot's BAD_TIMING), else the reason field decides.
    case reject(code: String?)
    case recycle
    case convert
    case win
    /// A sales activity on the lead (`lead.touched`); needs no episode.
    case touch
    /// A known value that means nothing for the ledger (e.g. a pre-MQL stage).
    case none
}

/// What a field of a property-history export feeds.
enum FieldRole {
    case status([String: StatusSignal])
    case capture
    case owner
    case channel
    case campaign
    case score
    case rejectionReason
    case opportunity
    case attribute(name: String, numeric: Bool)
}

/// A property-history mapping in the form the replay uses: one role per field, keys lower-cased.
struct HistoryRules {
    var format: String
    var source: String
    var roles: [String: FieldRole]
    var channels: [String: String]
    var reasonCodes: [String: String]
    var defaultReason: String
    /// The export's column naming the lead (the record).
    var leadColumn: String
    /// The export's column naming the changed field (property).
    var fieldColumn: String
    /// The name of the column the new value is in, for messages.
    var valueColumn: String
    /// The name of the column the time is in, for messages.
    var timeColumn: String
    var timeExample: String
    /// The optional column naming who made the change.
    var actorColumn: String
    /// Whether a hand-off with no known owner goes to the row's actor (Salesforce's `CreatedById`)
    /// rather than to `unassigned` (HubSpot's `Source` names a system, not a person).
    var ownerFromActor: Bool

    static func key(_ text: String) -> String { text.trimmingCharacters(in: .whitespaces).lowercased() }

    /// The channel id for a source value: the mapped one, else the value in snake case.
    func channel(for value: String) -> String {
        if let mapped = channels[Self.key(value)] { return mapped }
        var out = ""
        var pendingUnderscore = false
        for scalar in value.lowercased().unicodeScalars {
            if CharacterSet.alphanumerics.contains(scalar) {
                if pendingUnderscore && !out.isEmpty { out.append("_") }
                pendingUnderscore = false
                out.unicodeScalars.append(scalar)
            } else {
                pendingUnderscore = true
            }
        }
        return out.isEmpty ? "unknown" : out
    }
}

/// One change of one field of one lead.
struct HistoryRow {
    var lead: String
    var field: String
    var value: String
    var at: Timestamp
    var actor: String?
    var line: Int
}

/// Replays a property-history export lead by lead into events that validate in order.
///
/// Rows of one lead are taken in time order (ties in file order) and grouped by instant. Within an
/// instant, plain field changes apply before status changes: a CRM saves a status and its reason in
/// one transaction, and the rejection must see its reason whatever order the export lists them in.
struct HistoryReplay {
    let rules: HistoryRules
    let file: String
    var report: ReportBuilder
    private var pending: [PendingEvent] = []

    init(rules: HistoryRules, file: String, rowsRead: Int) {
        self.rules = rules
        self.file = file
        report = ReportBuilder(format: rules.format)
        report.read(file: file, rows: rowsRead)
    }

    private struct LeadState {
        var lead: String
        var captured = false
        var lastAt = Timestamp(microseconds: .min)
        var openSince: Timestamp? = nil
        var lastOutcome: EpisodeDecision? = nil
        var converted = false
        var closed = false
        var owner: String? = nil
        var reasonValue: String? = nil
        var opportunity: String? = nil
    }

    mutating func run(_ rows: [HistoryRow]) throws(ImportError) -> ImportResult {
        var seen: [String: Int] = [:]
        var byLead: [String: [HistoryRow]] = [:]
        var leadOrder: [String] = []
        for row in rows {
            let dedupeKey = "\(row.lead)\u{0}\(HistoryRules.key(row.field))\u{0}\(row.at.microseconds)\u{0}\(row.value)"
            if let first = seen[dedupeKey] {
                report.skip(file: file, line: row.line, reason: "repeats line \(first) (same lead, field, time and value)")
                continue
            }
            seen[dedupeKey] = row.line
            if byLead[row.lead] == nil { leadOrder.append(row.lead) }
            byLead[row.lead, default: []].append(row)
        }
        for lead in leadOrder {
            let leadRows = byLead[lead]!.sorted { ($0.at.microseconds, $0.line) < ($1.at.microseconds, $1.line) }
            try replay(lead: lead, rows: leadRows)
        }
        let events = PendingEvent.sorted(pending)
        return ImportResult(events: events, report: report.finish(events: events))
    }

    private mutating func emit(
        _ state: inout LeadState, _ key: String, _ at: Timestamp, actor: String?, _ payload: EventPayload
    ) {
        let event = LeadEvent(
            id: DeterministicID.make(namespace: rules.format, key: "\(state.lead)|\(key)"), occurredAt: at,
            source: rules.source, actor: actor, lead: state.lead, payload: payload)
        pending.append(PendingEvent(event: event, sequence: pending.count))
        state.lastAt = at
    }

    private func owner(_ state: LeadState, _ row: HistoryRow) -> String {
        state.owner ?? (rules.ownerFromActor ? row.actor : nil) ?? "unassigned"
    }

    private func role(_ row: HistoryRow) -> FieldRole? { rules.roles[HistoryRules.key(row.field)] }

    private func signal(_ row: HistoryRow) -> StatusSignal? {
        guard case .status(let values)? = role(row) else { return nil }
        return values[HistoryRules.key(row.value)]
    }

    private mutating func replay(lead: String, rows: [HistoryRow]) throws(ImportError) {
        var state = LeadState(lead: lead)
        var start = 0
        while start < rows.count {
            var end = start + 1
            while end < rows.count && rows[end].at == rows[start].at { end += 1 }
            try replayInstant(rows[start..<end], state: &state)
            start = end
        }
    }

    private mutating func replayInstant(_ group: ArraySlice<HistoryRow>, state: inout LeadState) throws(ImportError) {
        let at = group.first!.at
        var attributes: [String: AttributeValue] = [:]
        var score: (value: Double, row: HistoryRow)? = nil
        var channel: String? = nil
        var campaign: String? = nil
        var statusRows: [HistoryRow] = []
        var ownerChange: HistoryRow? = nil

        for row in group {
            switch role(row) {
            case nil:
                report.skip(file: file, line: row.line, reason: "field \"\(row.field)\" is not in the mapping")
            case .status:
                statusRows.append(row)
            case .capture:
                break
            case .owner:
                guard !row.value.isEmpty else { break }
                // The first owner is the one a hand-off names; each later change is a re-assignment.
                if let current = state.owner, current != row.value { ownerChange = row }
                state.owner = row.value
            case .rejectionReason:
                state.reasonValue = row.value.isEmpty ? nil : row.value
            case .opportunity:
                if !row.value.isEmpty { state.opportunity = row.value }
            case .channel:
                if row.value.isEmpty { break }
                if state.captured {
                    attributes["source_channel"] = .string(rules.channel(for: row.value))
                    report.special(
                        "channel_changed_after_capture",
                        "the channel is fixed when a lead is captured: a later change is kept as attribute source_channel",
                        file: file, line: row.line)
                } else {
                    channel = rules.channel(for: row.value)
                }
            case .campaign:
                if row.value.isEmpty { break }
                if state.captured {
                    attributes["source_campaign"] = .string(row.value)
                    report.special(
                        "campaign_changed_after_capture",
                        "the campaign is fixed when a lead is captured: a later change is kept as attribute source_campaign",
                        file: file, line: row.line)
                } else {
                    campaign = row.value
                }
            case .score:
                guard !row.value.isEmpty else {
                    report.skip(
                        file: file, line: row.line,
                        reason: "\(row.field) was cleared; the ledger keeps the latest score and has no event for removing it")
                    break
                }
                guard let value = Double(row.value), value.isFinite else {
                    throw ImportError(
                        file: file, line: row.line, column: rules.valueColumn,
                        message: "expected a number for \(row.field), found \"\(row.value)\"")
                }
                score = (value, row)
            case .attribute(let name, let numeric):
                if row.value.isEmpty {
                    attributes[name] = .null
                } else if numeric {
                    guard let value = Double(row.value.replacingOccurrences(of: ",", with: "")), value.isFinite else {
                        throw ImportError(
                            file: file, line: row.line, column: rules.valueColumn,
                            message: "expected a number for \(row.field), found \"\(row.value)\"")
                    }
                    attributes[name] = .number(value)
                } else {
                    attributes[name] = .string(row.value)
                }
            }
        }

        let stamp = String(at.microseconds)
        if !state.captured {
            // A lead first seen through a decision gets its inserted hand-off one second earlier,
            // so the capture goes there too and the lead's story still starts with it.
            let firstDecision = statusRows.contains { row in
                switch signal(row) {
                case .accept?, .reject?: return true
                default: return false
                }
            }
            let captureAt = firstDecision ? at.adding(seconds: -1) : at
            let known = attributes.filter { $0.value != .null }
            emit(
                &state, "captured", captureAt, actor: nil,
                .leadCaptured(
                    EventPayload.LeadCaptured(
                        channel: channel ?? "unknown", campaign: campaign, attributes: known.isEmpty ? nil : known)))
            state.captured = true
            attributes = [:]
        } else if !attributes.isEmpty {
            emit(
                &state, "attributes|\(stamp)", at, actor: group.first?.actor,
                .attributesObserved(EventPayload.AttributesObserved(attributes: attributes)))
        }
        if let score {
            emit(
                &state, "scored|\(stamp)", at, actor: score.row.actor,
                .leadScored(EventPayload.LeadScored(score: score.value, model: score.row.field)))
        }
        if let row = ownerChange {
            emit(
                &state, "assigned|\(stamp)|\(HistoryRules.key(row.field))|\(row.value)", at, actor: row.actor,
                .assigned(EventPayload.Assigned(owner: row.value)))
        }
        for row in statusRows { applyStatus(row, state: &state) }
    }

    /// What an event of `type` would do to the lead's episode now: the ledger's own episode rules,
    /// so the events emitted validate in order.
    private func transition(_ type: EventType, _ state: LeadState) -> EpisodeTransition {
        EpisodeMachine.transition(type, from: EpisodePhase(isOpen: state.openSince != nil))
    }

    private mutating func openIfNeeded(
        _ row: HistoryRow, _ type: EventType, state: inout LeadState, kind: String, reason: String
    ) {
        guard case .closeWithoutEpisode = transition(type, state) else { return }
        let handOffAt = max(row.at.adding(seconds: -1), state.lastAt)
        report.special(kind, reason, file: file, line: row.line)
        emit(
            &state, "handed_off-inserted|\(row.at.microseconds)|\(HistoryRules.key(row.field))|\(row.value)", handOffAt,
            actor: row.actor,
            .handedOff(EventPayload.HandedOff(owner: owner(state, row))))
        state.openSince = handOffAt
    }

    private mutating func applyStatus(_ row: HistoryRow, state: inout LeadState) {
        let key = "\(row.at.microseconds)|\(HistoryRules.key(row.field))|\(row.value)"
        guard let signal = signal(row) else {
            report.skip(
                file: file, line: row.line, reason: "\(row.field) value \"\(row.value)\" is not in the mapping")
            return
        }
        switch signal {
        case .touch:
            emit(
                &state, "touched|\(key)", row.at, actor: row.actor,
                .touched(EventPayload.Touched(activity: .other, by: row.actor)))
        case .none:
            report.special(
                "status_without_event", "a status value the mapping lists as carrying no ledger event (e.g. a pre-MQL stage)",
                file: file, line: row.line)
        case .handOff:
            if case .open(replacing: true) = transition(.leadHandedOff, state) {
                report.special(
                    "hand_off_while_open",
                    "a hand-off status while the lead's episode is still open: the open episode is kept (a re-assignment is not a new hand-off)",
                    file: file, line: row.line)
                return
            }
            emit(
                &state, "handed_off|\(key)", row.at, actor: row.actor,
                .handedOff(EventPayload.HandedOff(owner: owner(state, row))))
            state.openSince = row.at
        case .accept:
            if case .closeWithoutEpisode = transition(.leadAccepted, state), state.lastOutcome == .accepted {
                report.special(
                    "accepted_again", "an acceptance status on an episode already accepted: no new event",
                    file: file, line: row.line)
                return
            }
            openIfNeeded(
                row, .leadAccepted, state: &state, kind: "decision_without_hand_off",
                reason: "a decision status with no open episode: a hand-off is inserted one second before it")
            emit(&state, "accepted|\(key)", row.at, actor: row.actor, .accepted(EventPayload.Accepted(by: row.actor)))
            state.openSince = nil
            state.lastOutcome = .accepted
        case .reject(let fixedCode):
            if case .closeWithoutEpisode = transition(.leadRejected, state), state.lastOutcome == .accepted {
                report.skip(
                    file: file, line: row.line,
                    reason:
                        "\(row.field) \"\(row.value)\" after the episode was accepted: an episode has one decision, the acceptance stands")
                return
            }
            openIfNeeded(
                row, .leadRejected, state: &state, kind: "decision_without_hand_off",
                reason: "a decision status with no open episode: a hand-off is inserted one second before it")
            var code = fixedCode
            var note: String? = nil
            if code == nil, let value = state.reasonValue {
                code = rules.reasonCodes[HistoryRules.key(value)]
                if code == nil {
                    note = value
                    report.special(
                        "unmapped_rejection_reason",
                        "a rejection reason the mapping does not list: rejected with the default code, the source's reason kept as the note",
                        file: file, line: row.line)
                }
            } else if code == nil {
                note = "no reason recorded in the \(rules.source) export"
                report.special(
                    "rejection_without_reason", "a rejection with no reason value: rejected with the default code",
                    file: file, line: row.line)
            }
            emit(
                &state, "rejected|\(key)", row.at, actor: row.actor,
                .rejected(EventPayload.Rejected(reason: code ?? rules.defaultReason, note: note, by: row.actor)))
            state.openSince = nil
            state.lastOutcome = .rejected
            state.reasonValue = nil
        case .recycle:
            guard case .close = transition(.leadRecycled, state) else {
                report.skip(
                    file: file, line: row.line,
                    reason: "\(row.field) \"\(row.value)\" with no open episode: there is nothing to recycle")
                return
            }
            emit(&state, "recycled|\(key)", row.at, actor: row.actor, .recycled(EventPayload.Recycled()))
            state.openSince = nil
            state.lastOutcome = .recycled
        case .convert, .win:
            if case .close = transition(.leadAccepted, state) {
                report.special(
                    "closed_with_open_episode",
                    "a conversion or win while the episode is open: the episode is accepted at that instant",
                    file: file, line: row.line)
                emit(
                    &state, "accepted-implied|\(key)", row.at, actor: row.actor,
                    .accepted(EventPayload.Accepted(by: row.actor)))
                state.openSince = nil
                state.lastOutcome = .accepted
            }
            if signal == .convert {
                if state.converted {
                    report.special(
                        "converted_again", "a conversion status on a lead already converted: no new event",
                        file: file, line: row.line)
                    return
                }
                emit(
                    &state, "converted|\(key)", row.at, actor: row.actor,
                    .converted(EventPayload.Converted(opportunity: state.opportunity ?? state.lead)))
                state.converted = true
                return
            }
            if state.closed {
                report.special(
                    "closed_again", "a won status on a lead already closed: no new event", file: file, line: row.line)
                return
            }
            emit(&state, "closed|\(key)", row.at, actor: row.actor, .closed(EventPayload.Closed(won: true)))
            state.closed = true
        }
    }
}

extension HistoryRules {
    /// Reads every row of an export in this mapping's column names and replays them into events.
    func importTable(_ table: CSVTable) throws(ImportError) -> ImportResult {
        let leadIndex = try table.column(leadColumn)
        let fieldIndex = try table.column(fieldColumn)
        let valueIndex = try table.column(valueColumn)
        let timeIndex = try table.column(timeColumn)
        let actorIndex = table.optionalColumn(actorColumn)
        var rows: [HistoryRow] = []
        rows.reserveCapacity(table.rows.count)
        for row in table.rows {
            rows.append(
                try HistoryRow(
                    table: table, row: row, lead: leadIndex, field: fieldIndex, value: valueIndex, time: timeIndex,
                    actor: actorIndex, timeExample: timeExample))
        }
        var replay = HistoryReplay(rules: self, file: table.file, rowsRead: table.rows.count)
        return try replay.run(rows)
    }
}

extension HistoryRow {
    /// Reads one CSV row, refusing an empty lead or field and an unreadable time.
    init(
        table: CSVTable, row: CSVRow, lead: Int, field: Int, value: Int, time: Int, actor: Int?, timeExample: String
    ) throws(ImportError) {
        let leadText = row.fields[lead].trimmingCharacters(in: .whitespaces)
        guard !leadText.isEmpty, leadText.utf8.count <= EventDecoder.Limits.leadBytes else {
            throw ImportError(
                file: table.file, line: row.line, column: table.header[lead],
                message: leadText.isEmpty
                    ? "expected a lead id, found an empty cell"
                    : "expected a lead id of at most \(EventDecoder.Limits.leadBytes) bytes, found \(leadText.utf8.count) bytes")
        }
        let fieldText = row.fields[field].trimmingCharacters(in: .whitespaces)
        guard !fieldText.isEmpty else {
            throw ImportError(
                file: table.file, line: row.line, column: table.header[field],
                message: "expected a field name, found an empty cell")
        }
        guard let at = ImportDate.parse(row.fields[time]) else {
            throw ImportError(
                file: table.file, line: row.line, column: table.header[time],
                message: "expected a date like \(timeExample), found \"\(row.fields[time])\"")
        }
        let actorText = actor.map { row.fields[$0].trimmingCharacters(in: .whitespaces) } ?? ""
        self.init(
            lead: leadText, field: fieldText, value: row.fields[value].trimmingCharacters(in: .whitespacesAndNewlines),
            at: at, actor: actorText.isEmpty ? nil : actorText, line: row.line)
    }
}
