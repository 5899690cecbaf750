/// One step of a compiled definition: plain data, dispatched by `op`.
@usableFromInline
struct Instruction: Sendable {
    @usableFromInline var op: Opcode
    /// The fact slot tested, or the jump target for jumps.
    @usableFromInline var slot: Int32
    /// A string symbol, or a list index.
    @usableFromInline var symbol: Int32
    /// An index into the string constants.
    @usableFromInline var string: Int32
    /// A number operand (bools as 0 / 1).
    @usableFromInline var number: Double

    @usableFromInline
    init(_ op: Opcode, slot: Int32 = 0, symbol: Int32 = -1, string: Int32 = -1, number: Double = 0) {
        self.op = op
        self.slot = slot
        self.symbol = symbol
        self.string = string
        self.number = number
    }
}

@usableFromInline
enum Opcode: UInt8, Sendable {
    case numberEq, numberNe, numberGt, numberGte, numberLt, numberLte
    case stringEq, stringNe, stringGt, stringGte, stringLt, stringLte
    case boolEq, boolNe
    case inList, notInList
    case contains, prefix
    case exists, missing
    case setTrue, setFalse, negate, jumpIfFalse, jumpIfTrue
}

/// The constants of one `in` / `nin` list, split by kind for the evaluator.
@usableFromInline
struct ListConstant: Sendable {
    @usableFromInline var numbers: [Double] = []
    /// Sorted, for a binary search.
    @usableFromInline var symbols: [Int32] = []
    @usableFromInline var strings: [String] = []
    @usableFromInline var hasTrue = false
    @usableFromInline var hasFalse = false

    @usableFromInline init() {}
}

/// A definition's rules compiled once into a flat program over fact slots, for evaluating millions of
/// lead states: no tree walk, no closures, no string hashing while evaluating.
public struct CompiledDefinition: Sendable {
    /// The rules it was compiled from.
    public let rule: MQLRule
    @usableFromInline let program: [Instruction]
    @usableFromInline let strings: [String]
    @usableFromInline let lists: [ListConstant]
    /// The table's symbol generation once this definition's constants were interned.
    @usableFromInline let symbolGeneration: Int
    /// Slot of each comparison, in `rule.comparisons` order, for `explain`.
    let comparisonSlots: [Int]

    /// Compiles `rule` against `table`, interning its fields and string constants.
    public init(_ rule: MQLRule, table: FieldTable) {
        var compiler = RuleCompiler(table: table)
        compiler.emit(rule)
        self.rule = rule
        program = compiler.program
        strings = compiler.strings
        lists = compiler.lists
        symbolGeneration = table.symbolGeneration
        comparisonSlots = rule.comparisons.map { table.slot(for: $0.comparison.field) }
    }

    /// Whether the lead qualifies.
    @inlinable
    public func evaluate(_ facts: LeadFacts) -> Bool {
        facts.cells.withUnsafeBufferPointer { cells in
            facts.strings.withUnsafeBufferPointer { strings in
                evaluate(cells: cells, strings: strings, unresolvedSince: facts.unresolvedSince)
            }
        }
    }

    /// Whether one lead's facts, given as a row of cells and their texts, qualify.
    @inlinable
    func evaluate(cells: UnsafeBufferPointer<FactCell>, strings: UnsafeBufferPointer<String>, unresolvedSince: Int) -> Bool {
        let trustSymbols = unresolvedSince >= symbolGeneration
        return program.withUnsafeBufferPointer { program in
            lists.withUnsafeBufferPointer { lists in
                run(program, cells, lists, strings, trustSymbols: trustSymbols)
            }
        }
    }

    @inlinable
    func run(
        _ program: UnsafeBufferPointer<Instruction>, _ cells: UnsafeBufferPointer<FactCell>,
        _ lists: UnsafeBufferPointer<ListConstant>, _ factStrings: UnsafeBufferPointer<String>, trustSymbols: Bool
    ) -> Bool {
        var result = false
        var pc = 0
        let end = program.count
        while pc < end {
            let instruction = program[pc]
            pc += 1
            let slot = Int(instruction.slot)
            // Slots added to the table after these facts were made read as missing.
            let cell = slot < cells.count ? cells[slot] : FactCell(kind: 0, symbol: -1, number: 0)
            switch instruction.op {
            case .numberEq: result = cell.kind == FactCell.number && cell.number == instruction.number
            case .numberNe: result = cell.kind == FactCell.number && cell.number != instruction.number
            case .numberGt: result = cell.kind == FactCell.number && cell.number > instruction.number
            case .numberGte: result = cell.kind == FactCell.number && cell.number >= instruction.number
            case .numberLt: result = cell.kind == FactCell.number && cell.number < instruction.number
            case .numberLte: result = cell.kind == FactCell.number && cell.number <= instruction.number
            case .boolEq: result = cell.kind == FactCell.bool && cell.number == instruction.number
            case .boolNe: result = cell.kind == FactCell.bool && cell.number != instruction.number
            case .stringEq, .stringNe:
                let wantEqual: Bool = if case .stringEq = instruction.op { true } else { false }
                var equal = false
                if cell.kind == FactCell.string {
                    if cell.symbol >= 0 || trustSymbols {
                        equal = cell.symbol == instruction.symbol
                    } else {
                        equal = factStrings[slot] == strings[Int(instruction.string)]
                    }
                    result = equal == wantEqual
                } else {
                    result = false
                }
            case .stringGt, .stringGte, .stringLt, .stringLte:
                if cell.kind == FactCell.string {
                    let value = factStrings[slot]
                    let operand = strings[Int(instruction.string)]
                    switch instruction.op {
                    case .stringGt: result = value > operand
                    case .stringGte: result = value >= operand
                    case .stringLt: result = value < operand
                    default: result = value <= operand
                    }
                } else {
                    result = false
                }
            case .inList, .notInList:
                let isIn: Bool = if case .inList = instruction.op { true } else { false }
                let list = lists.baseAddress.unsafelyUnwrapped + Int(instruction.symbol)
                var sameKind = false
                var found = false
                switch cell.kind {
                case FactCell.number:
                    sameKind = !list.pointee.numbers.isEmpty
                    found = list.pointee.numbers.contains(cell.number)
                case FactCell.bool:
                    sameKind = list.pointee.hasTrue || list.pointee.hasFalse
                    found = cell.number != 0 ? list.pointee.hasTrue : list.pointee.hasFalse
                case FactCell.string:
                    sameKind = !list.pointee.symbols.isEmpty
                    if cell.symbol >= 0 {
                        found = list.pointee.symbols.withUnsafeBufferPointer { Self.sortedContains($0, cell.symbol) }
                    } else if !trustSymbols {
                        found = list.pointee.strings.contains(factStrings[slot])
                    }
                default:
                    break
                }
                result = isIn ? found : (sameKind && !found)
            case .contains:
                result = cell.kind == FactCell.string && UTF8Search.contains(factStrings[slot], strings[Int(instruction.string)])
            case .prefix:
                result = cell.kind == FactCell.string && UTF8Search.hasPrefix(factStrings[slot], strings[Int(instruction.string)])
            case .exists: result = cell.kind != FactCell.missing
            case .missing: result = cell.kind == FactCell.missing
            case .setTrue: result = true
            case .setFalse: result = false
            case .negate: result = !result
            case .jumpIfFalse: if !result { pc = slot }
            case .jumpIfTrue: if result { pc = slot }
            }
        }
        return result
    }

    @inlinable
    static func sortedContains(_ symbols: UnsafeBufferPointer<Int32>, _ symbol: Int32) -> Bool {
        var low = 0
        var high = symbols.count
        while low < high {
            let middle = (low + high) >> 1
            let value = symbols[middle]
            if value == symbol { return true }
            if value < symbol { low = middle + 1 } else { high = middle }
        }
        return false
    }

    /// Every comparison with its verdict and the value it saw, in written order, for audits.
    public func explain(_ facts: LeadFacts) -> [RuleVerdict] {
        zip(rule.comparisons, comparisonSlots).map { entry, slot in
            let seen = facts.value(slot)
            return RuleVerdict(
                pointer: entry.pointer, comparison: entry.comparison, text: entry.comparison.text,
                passed: entry.comparison.test.matches(seen), seen: seen)
        }
    }
}

/// One comparison of a definition judged on one lead state.
public struct RuleVerdict: Sendable, Hashable {
    /// JSON Pointer of the comparison in the rules, e.g. `/all/0`.
    public var pointer: String
    /// The comparison.
    public var comparison: RuleComparison
    /// Readable rule text, e.g. `score ≥ 60`.
    public var text: String
    /// Whether the comparison held (its own verdict, before any enclosing `not`).
    public var passed: Bool
    /// The value seen, nil when the field was missing.
    public var seen: AttributeValue?

    /// The seen value as shown to people: JSON text, or `missing`.
    public var seenText: String { seen.map(\.jsonText) ?? "missing" }

    /// Creates a verdict.
    public init(pointer: String, comparison: RuleComparison, text: String, passed: Bool, seen: AttributeValue?) {
        self.pointer = pointer
        self.comparison = comparison
        self.text = text
        self.passed = passed
        self.seen = seen
    }
}

/// Flattens a rule tree into jumps: each combinator short-circuits to its end with the result register set.
struct RuleCompiler {
    let table: FieldTable
    var program: [Instruction] = []
    var strings: [String] = []
    var lists: [ListConstant] = []

    init(table: FieldTable) {
        self.table = table
    }

    mutating func emit(_ rule: MQLRule) {
        switch rule {
        case .all(let rules): emitJunction(rules, jump: .jumpIfFalse, empty: .setTrue)
        case .any(let rules): emitJunction(rules, jump: .jumpIfTrue, empty: .setFalse)
        case .not(let inner):
            emit(inner)
            program.append(Instruction(.negate))
        case .comparison(let comparison): emitComparison(comparison)
        }
    }

    private mutating func emitJunction(_ rules: [MQLRule], jump: Opcode, empty: Opcode) {
        guard !rules.isEmpty else {
            program.append(Instruction(empty))
            return
        }
        var pending: [Int] = []
        for (index, rule) in rules.enumerated() {
            emit(rule)
            if index < rules.count - 1 {
                pending.append(program.count)
                program.append(Instruction(jump))
            }
        }
        for position in pending { program[position].slot = Int32(program.count) }
    }

    private mutating func addString(_ text: String) -> Int32 {
        strings.append(text)
        return Int32(strings.count - 1)
    }

    private mutating func emitComparison(_ comparison: RuleComparison) {
        let slot = Int32(table.slot(for: comparison.field))
        func scalar(_ value: AttributeValue, number: Opcode, string: Opcode, bool: Opcode?) -> Instruction {
            switch value {
            case .number(let operand): return Instruction(number, slot: slot, number: operand)
            case .string(let operand):
                return Instruction(string, slot: slot, symbol: table.internSymbol(operand), string: addString(operand))
            case .bool(let operand):
                guard let bool else { return Instruction(.setFalse) }
                return Instruction(bool, slot: slot, number: operand ? 1 : 0)
            case .null: return Instruction(.setFalse)
            }
        }
        switch comparison.test {
        case .eq(let value): program.append(scalar(value, number: .numberEq, string: .stringEq, bool: .boolEq))
        case .ne(let value): program.append(scalar(value, number: .numberNe, string: .stringNe, bool: .boolNe))
        case .gt(let value): program.append(scalar(value, number: .numberGt, string: .stringGt, bool: nil))
        case .gte(let value): program.append(scalar(value, number: .numberGte, string: .stringGte, bool: nil))
        case .lt(let value): program.append(scalar(value, number: .numberLt, string: .stringLt, bool: nil))
        case .lte(let value): program.append(scalar(value, number: .numberLte, string: .stringLte, bool: nil))
        case .in(let values), .nin(let values):
            var list = ListConstant()
            for value in values {
                switch value {
                case .number(let number): list.numbers.append(number)
                case .string(let text):
                    list.symbols.append(table.internSymbol(text))
                    list.strings.append(text)
                case .bool(let flag): if flag { list.hasTrue = true } else { list.hasFalse = true }
                case .null: break
                }
            }
            list.symbols.sort()
            lists.append(list)
            let op: Opcode = if case .in = comparison.test { .inList } else { .notInList }
            program.append(Instruction(op, slot: slot, symbol: Int32(lists.count - 1)))
        case .contains(let text): program.append(Instruction(.contains, slot: slot, string: addString(text)))
        case .prefix(let text): program.append(Instruction(.prefix, slot: slot, string: addString(text)))
        case .exists(let flag): program.append(Instruction(flag ? .exists : .missing, slot: slot))
        }
    }
}
