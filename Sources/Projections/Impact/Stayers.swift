import EventLog
import Foundation
import LeadModel

/// Which hand-offs near each definition change were made of a lead state that satisfies both the
/// version replaced and the version published: the **stayers** of DESIGN §8.3, the episodes the
/// change did not touch.
public struct Stayers: Sendable, Hashable {
    /// One verdict: the hand-off at `position` satisfies both sides of the change from `from`.
    struct Key: Sendable, Hashable {
        var position: UInt64
        var from: Int
    }
    var keys: Set<Key> = []
    /// The changes (by the version they replace) whose hand-offs were judged.
    public internal(set) var judged: Set<Int> = []

    /// Whether the hand-off at `position` satisfies both sides of the change from version `from`;
    /// `nil` when that change was not judged (it was published after the verdicts were taken).
    public func isStayer(handOffPosition position: UInt64, change from: Int) -> Bool? {
        judged.contains(from) ? keys.contains(Key(position: position, from: from)) : nil
    }

    /// Replays `log` under `cut`, judging every hand-off within `windowDays` of a change between the
    /// definitions `definitions` holds (the published ones, by version) against both of its sides.
    public static func judge(_ log: EventLog, cut: ReplayCut, definitions: [Int: DefinitionInfo], windowDays: Int) throws -> Stayers {
        var observer = StayerObserver(definitions: definitions, windowDays: windowDays, log: log)
        _ = try ReplayEngine.replay(log, cut: cut, observer: &observer)
        if let failure = observer.read.failure { throw failure }
        return observer.finish()
    }
}

/// Keeps each lead's rule-visible state, in business-time order, and judges each hand-off near a
/// change against the change's two definitions, exactly as the audit judges a hand-off.
struct StayerObserver: ReplayObserver {
    struct Change {
        var from: Int
        var at: Int64
        /// `[from, to]`, compiled over the observer's table.
        var pair: [CompiledDefinition]
    }
    let changes: [Change]
    let window: Int64
    var facts: FactStore
    /// The fields a definition reads: the others are not kept.
    var read: ReadFields
    /// Per lead, how many times it was reset: verdicts taken before the last reset are void.
    var generation: [UInt32] = []
    var verdicts: [(lead: UInt32, generation: UInt32, key: Stayers.Key)] = []

    /// An observer judging the changes between `definitions`; personal values they read are opened
    /// with the keys in `log`.
    init(definitions: [Int: DefinitionInfo], windowDays: Int, log: EventLog?) {
        let table = FieldTable()
        let versions = definitions.keys.sorted()
        changes = zip(versions, versions.dropFirst()).compactMap { old, new in
            guard let a = definitions[old], let b = definitions[new] else { return nil }
            return Change(
                from: old, at: b.effectiveAt, pair: [CompiledDefinition(a.rules, table: table), CompiledDefinition(b.rules, table: table)])
        }
        facts = FactStore(table: table)
        read = ReadFields(definitions.values.map(\.rules), table: table, log: log)
        // A window wider than the calendar is as good as the whole calendar.
        let (days, overflow) = Int64(clamping: windowDays).multipliedReportingOverflow(by: 86_400_000_000)
        window = overflow ? .max / 4 : days
    }

    func finish() -> Stayers {
        var stayers = Stayers()
        stayers.judged = Set(changes.map(\.from))
        for v in verdicts where generation[Int(v.lead)] == v.generation { stayers.keys.insert(v.key) }
        return stayers
    }

    mutating func resetLead(_ lead: UInt32) {
        let i = Int(lead)
        guard i < generation.count else { return }
        generation[i] &+= 1
        facts.clearRow(i)
    }

    mutating func observe(lead: UInt32, event: EventRecordView, position: UInt64) {
        let i = Int(lead)
        if i >= generation.count {
            generation.append(contentsOf: repeatElement(0, count: i + 1 - generation.count))
            facts.ensureRow(i)
        }
        switch event.type {
        case .leadCaptured:
            if read[FieldTable.channelSlot], let channel = event.channel {
                facts.set(i, FieldTable.channelSlot, .string(String(decoding: channel, as: UTF8.self)))
            }
            if read[FieldTable.campaignSlot], let campaign = event.campaign {
                facts.set(i, FieldTable.campaignSlot, .string(String(decoding: campaign, as: UTF8.self)))
            }
            read.apply(event, lead: i, to: &facts)
        case .leadAttributesObserved:
            read.apply(event, lead: i, to: &facts)
        case .leadScored:
            facts.set(i, FieldTable.scoreSlot, event.score.map { .number($0) })
        case .leadHandedOff:
            // A hand-off that opens no episode has no episode to find it by position: judging it is harmless.
            let t = event.occurredAt
            for change in changes {
                let (low, lowOverflow) = change.at.subtractingReportingOverflow(window)
                let (high, highOverflow) = change.at.addingReportingOverflow(window)
                guard lowOverflow || t >= low, highOverflow || t < high else { continue }
                if facts.qualifying(change.pair, lead: i, among: 0b11) == 0b11 {
                    verdicts.append((lead, generation[i], Stayers.Key(position: position, from: change.from)))
                }
            }
        default:
            return
        }
    }

}
