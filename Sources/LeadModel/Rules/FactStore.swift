/// The rule-visible state of many leads over one `FieldTable`, kept in flat arrays: lead `n`'s facts
/// are row `n`, so holding a million leads' states costs no allocation per lead, and evaluating one
/// reads its row in place, without copying or reference counting.
///
/// The row width is the table's slot count when the store is made: compile every definition the store
/// is evaluated with first. Setting a slot the table gained later is a programming error.
public struct FactStore {
    /// The table the slots belong to.
    public let table: FieldTable
    /// Slots per lead.
    public let width: Int
    @usableFromInline var cells: [FactCell] = []
    @usableFromInline var strings: [String] = []
    /// As `LeadFacts.unresolvedSince`, for the whole store.
    @usableFromInline var unresolvedSince: Int = .max

    /// An empty store over `table`.
    public init(table: FieldTable) {
        self.table = table
        width = table.count
    }

    /// How many leads have a row.
    public var leads: Int { width == 0 ? 0 : cells.count / width }

    /// Makes sure `lead` has a row; new rows have every field missing.
    public mutating func ensureRow(_ lead: Int) {
        guard lead >= leads else { return }
        let grow = (lead + 1 - leads) * width
        cells.append(contentsOf: repeatElement(.empty, count: grow))
        strings.append(contentsOf: repeatElement("", count: grow))
    }

    /// Makes every field of `lead` missing.
    public mutating func clearRow(_ lead: Int) {
        guard lead < leads else { return }
        for index in lead * width..<(lead + 1) * width {
            cells[index] = .empty
            strings[index] = ""
        }
    }

    /// Sets one field of a lead with a row; nil or `.null` makes it missing.
    public mutating func set(_ lead: Int, _ slot: Int, _ value: AttributeValue?) {
        precondition(slot < width, "slot \(slot) was added to the table after the store was made")
        let (cell, text) = FactCell.encode(value, table: table, unresolvedSince: &unresolvedSince)
        cells[lead * width + slot] = cell
        strings[lead * width + slot] = text
    }

    /// One field of a lead, nil when missing.
    public func value(_ lead: Int, _ slot: Int) -> AttributeValue? {
        guard lead < leads, slot < width else { return nil }
        return cells[lead * width + slot].value(text: strings[lead * width + slot])
    }

    /// The number in one field of a lead, nil when missing or not a number.
    @inlinable
    public func number(_ lead: Int, _ slot: Int) -> Double? {
        let cell = cells[lead * width + slot]
        return cell.kind == FactCell.number ? cell.number : nil
    }

    /// Which of `definitions` (compiled over this store's table) a lead with a row qualifies under,
    /// as bit `i` for `definitions[i]`, judging only those whose bit is set in `among`.
    @inlinable
    public func qualifying(_ definitions: [CompiledDefinition], lead: Int, among: UInt64) -> UInt64 {
        let row = lead * width..<(lead + 1) * width
        var result: UInt64 = 0
        // One borrow of everything per lead: indexing the array per definition would copy each one.
        definitions.withUnsafeBufferPointer { definitions in
            cells.withUnsafeBufferPointer { cells in
                strings.withUnsafeBufferPointer { strings in
                    let cells = UnsafeBufferPointer(rebasing: cells[row])
                    let strings = UnsafeBufferPointer(rebasing: strings[row])
                    for index in definitions.indices where among & (1 << UInt64(index)) != 0 {
                        if definitions[index].evaluate(cells: cells, strings: strings, unresolvedSince: unresolvedSince) {
                            result |= 1 << UInt64(index)
                        }
                    }
                }
            }
        }
        return result
    }
}
