import LeadModel

/// The fields some definitions read, and a lead's attributes applied to its facts only where one of
/// them reads it: the what-if and the impact's stayers keep lead facts alike, so an event that
/// touches no field a definition reads costs no more than a lookup.
struct ReadFields {
    /// Per slot of the field table, whether a definition reads it.
    let read: [Bool]
    /// Per interned attribute name, its slot when a definition reads it, else -1.
    private var attributeSlots: [Int32] = []
    private var attributeNames = Interner()

    /// The fields `rules` read, in `table`.
    init(_ rules: [MQLRule], table: FieldTable) {
        var read = [Bool](repeating: false, count: table.count)
        for rule in rules {
            for (_, comparison) in rule.comparisons { read[table.slot(for: comparison.field)] = true }
        }
        self.read = read
    }

    /// Whether a definition reads `slot`.
    subscript(slot: Int) -> Bool { read[slot] }

    /// Sets lead `i`'s facts from `attributes`, those a definition reads only; returns whether any of
    /// them was present.
    @discardableResult
    mutating func apply(_ attributes: RawAttributes, lead i: Int, to facts: inout FactStore) -> Bool {
        var changed = false
        for (name, value) in attributes {
            let number = Int(attributeNames.intern(name))
            if number >= attributeSlots.count {
                let slot = facts.table.existingSlot(for: String(decoding: name, as: UTF8.self)) ?? -1
                attributeSlots.append(Int32(slot >= 0 && read[slot] ? slot : -1))
            }
            let slot = Int(attributeSlots[number])
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
