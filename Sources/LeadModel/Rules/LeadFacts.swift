/// Interns field names to dense slots, and rule string constants to symbols, for one replay.
///
/// Every definition compiled for a replay and every `LeadFacts` of that replay share one table, so a
/// field is an array index and a string equality an integer comparison at evaluation time. The table
/// is a class because it is shared and grows; it belongs to one replay and is not synchronised.
public final class FieldTable {
    /// The slot of `score` (the latest `lead.scored`).
    public static let scoreSlot = 0
    /// The slot of `channel` (from `lead.captured`).
    public static let channelSlot = 1
    /// The slot of `campaign` (from `lead.captured`).
    public static let campaignSlot = 2

    private var slotsByName: [String: Int] = ["score": 0, "channel": 1, "campaign": 2]
    private var names: [String] = ["score", "channel", "campaign"]
    private var symbolsByString: [String: Int32] = [:]

    /// Creates a table with the reserved slots.
    public init() {}

    /// How many slots exist.
    public var count: Int { names.count }

    /// How many string constants were interned; it grows as definitions are compiled.
    public var symbolGeneration: Int { symbolsByString.count }

    /// The slot of `name`, created when new.
    public func slot(for name: String) -> Int {
        if let slot = slotsByName[name] { return slot }
        let slot = names.count
        slotsByName[name] = slot
        names.append(name)
        return slot
    }

    /// The slot of `name` when some rule or fact already uses it.
    public func existingSlot(for name: String) -> Int? { slotsByName[name] }

    /// The field name of a slot.
    public func name(ofSlot slot: Int) -> String { names[slot] }

    func internSymbol(_ string: String) -> Int32 {
        if let symbol = symbolsByString[string] { return symbol }
        let symbol = Int32(symbolsByString.count)
        symbolsByString[string] = symbol
        return symbol
    }

    func symbol(of string: String) -> Int32 { symbolsByString[string] ?? -1 }
}

/// One field value in evaluator form: plain data, so the evaluator reads it without reference counting.
@usableFromInline
struct FactCell: Sendable {
    @inlinable static var missing: UInt8 { 0 }
    @inlinable static var number: UInt8 { 1 }
    @inlinable static var string: UInt8 { 2 }
    @inlinable static var bool: UInt8 { 3 }

    @usableFromInline var kind: UInt8
    /// For a string: its symbol, or -1 when no rule constant equals it.
    @usableFromInline var symbol: Int32
    /// For a number: the value; for a bool: 0 or 1.
    @usableFromInline var number: Double

    @inlinable static var empty: FactCell { FactCell(kind: 0, symbol: -1, number: 0) }

    /// The cell and text of a value over `table`; a string no rule constant equals lowers
    /// `unresolvedSince` to the table's current symbol generation.
    static func encode(_ value: AttributeValue?, table: FieldTable, unresolvedSince: inout Int) -> (FactCell, String) {
        switch value {
        case nil, .null?:
            return (.empty, "")
        case .number(let number)?:
            return (FactCell(kind: FactCell.number, symbol: -1, number: number), "")
        case .bool(let flag)?:
            return (FactCell(kind: FactCell.bool, symbol: -1, number: flag ? 1 : 0), "")
        case .string(let text)?:
            let symbol = table.symbol(of: text)
            if symbol < 0 { unresolvedSince = min(unresolvedSince, table.symbolGeneration) }
            return (FactCell(kind: FactCell.string, symbol: symbol, number: 0), text)
        }
    }

    /// The value a cell holds; `text` is read for strings only.
    func value(text: @autoclosure () -> String) -> AttributeValue? {
        switch kind {
        case FactCell.number: .number(number)
        case FactCell.string: .string(text())
        case FactCell.bool: .bool(number != 0)
        default: nil
        }
    }

    @usableFromInline
    init(kind: UInt8, symbol: Int32, number: Double) {
        self.kind = kind
        self.symbol = symbol
        self.number = number
    }
}

/// A lead's state as the rules see it: one value per slot of a `FieldTable`.
public struct LeadFacts {
    @usableFromInline var cells: [FactCell]
    @usableFromInline var strings: [String]
    /// The table generation at the earliest string whose symbol lookup failed; a definition compiled
    /// later may have interned it since, so the evaluator then compares such strings by text.
    @usableFromInline var unresolvedSince: Int = .max
    /// The table the slots belong to.
    public let table: FieldTable

    /// Empty facts (every field missing) over `table`.
    public init(table: FieldTable) {
        self.table = table
        cells = Array(repeating: .empty, count: table.count)
        strings = Array(repeating: "", count: table.count)
    }

    /// Sets a slot; nil or `.null` makes the field missing.
    public mutating func set(_ slot: Int, _ value: AttributeValue?) {
        if slot >= cells.count {
            let grow = max(slot + 1, table.count) - cells.count
            cells.append(contentsOf: repeatElement(.empty, count: grow))
            strings.append(contentsOf: repeatElement("", count: grow))
        }
        let (cell, text) = FactCell.encode(value, table: table, unresolvedSince: &unresolvedSince)
        cells[slot] = cell
        strings[slot] = text
    }

    /// Sets a field by name, creating its slot when new.
    public mutating func set(field name: String, _ value: AttributeValue?) {
        set(table.slot(for: name), value)
    }

    /// Applies attributes as `lead.attributes_observed` does: null removes.
    public mutating func apply(attributes: [String: AttributeValue]) {
        for (name, value) in attributes { set(field: name, value) }
    }

    /// The value of a slot, nil when missing.
    public func value(_ slot: Int) -> AttributeValue? {
        guard slot < cells.count else { return nil }
        return cells[slot].value(text: strings[slot])
    }

    /// The facts by field name, for the reference evaluator and for display.
    public var dictionary: [String: AttributeValue] {
        var out: [String: AttributeValue] = [:]
        for slot in cells.indices {
            if let value = value(slot) { out[table.name(ofSlot: slot)] = value }
        }
        return out
    }
}
