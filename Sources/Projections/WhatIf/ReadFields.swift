import EventLog
import LeadModel

/// The fields some definitions read, and a lead's attributes applied to its facts only where one of
/// them reads it: the what-if and the impact's stayers keep lead facts alike, so an event that
/// touches no field a definition reads costs no more than a lookup.
///
/// A personal value sealed in the record is opened here, through ``PersonalValues``, when a
/// definition reads its field: it counts while the lead's key exists and is missing after the lead
/// was forgotten. Definitions that read no attribute never look at sealed values.
struct ReadFields {
    /// Per slot of the field table, whether a definition reads it.
    let read: [Bool]
    /// Whether a definition reads an attribute (a slot past score, channel and campaign).
    let readsAttributes: Bool
    /// Per interned attribute name, its slot when a definition reads it, else -1.
    private var attributeSlots: [Int32] = []
    private var attributeNames = Interner()
    /// Opens the sealed values of the fields read; nil: they read as missing.
    private var personal: PersonalValues?

    /// The fields `rules` read, in `table`; sealed values are opened with the keys `log` holds.
    init(_ rules: [MQLRule], table: FieldTable, log: EventLog?) {
        var read = [Bool](repeating: false, count: table.count)
        for rule in rules {
            for (_, comparison) in rule.comparisons { read[table.slot(for: comparison.field)] = true }
        }
        self.read = read
        readsAttributes = read.indices.contains { $0 > FieldTable.campaignSlot && read[$0] }
        personal = log.map(PersonalValues.init(log:))
    }

    /// A failure met by the other half of a partitioned replay.
    private var absorbedFailure: (any Error)?

    /// The first personal key that could not be read, if any: the analysis must fail with it.
    var failure: (any Error)? { personal?.failure ?? absorbedFailure }

    /// Keeps the failure of the fields another partition of the replay kept, when this one has none.
    mutating func absorbFailure(of other: ReadFields) {
        if failure == nil { absorbedFailure = other.failure }
    }

    /// Whether a definition reads `slot`.
    subscript(slot: Int) -> Bool { read[slot] }

    /// Sets lead `i`'s facts from the attributes of `event` (of lead `i`), sealed ones included,
    /// those a definition reads only; returns whether any of them was present.
    @discardableResult
    mutating func apply(_ event: EventRecordView, lead i: Int, to facts: inout FactStore) -> Bool {
        var changed = apply(event.attributes, lead: i, to: &facts)
        guard readsAttributes, personal != nil else { return changed }
        for (name, sealed) in event.sealedAttributes {
            let slot = slot(of: name, in: facts.table)
            guard slot >= 0 else { continue }
            changed = true
            facts.set(i, slot, personal?.open(sealed, name: name, event: event, lead: UInt32(i)))
        }
        return changed
    }

    /// The slot of an attribute a definition reads, else -1.
    private mutating func slot(of name: UnsafeRawBufferPointer, in table: FieldTable) -> Int {
        let number = Int(attributeNames.intern(name))
        if number >= attributeSlots.count {
            let slot = table.existingSlot(for: String(decoding: name, as: UTF8.self)) ?? -1
            attributeSlots.append(Int32(slot >= 0 && read[slot] ? slot : -1))
        }
        return Int(attributeSlots[number])
    }

    /// Sets lead `i`'s facts from `attributes`, those a definition reads only; returns whether any of
    /// them was present.
    @discardableResult
    private mutating func apply(_ attributes: RawAttributes, lead i: Int, to facts: inout FactStore) -> Bool {
        var changed = false
        for (name, value) in attributes {
            let slot = slot(of: name, in: facts.table)
            // Fields no definition names cannot change a verdict.
            guard slot >= 0 else { continue }
            changed = true
            switch value {
            case .null: facts.set(i, slot, nil)
            case .bool(let b): facts.set(i, slot, .bool(b))
            case .number(let n): facts.set(i, slot, .number(n))
            case .string(let s): facts.set(i, slot, .string(String(decoding: s, as: UTF8.self)))
            }
        }
        return changed
    }
}
