/// A rule of the MQL definition language (DESIGN §4): combinators over field comparisons.
public indirect enum MQLRule: Sendable, Hashable {
    /// True when every rule is true (true when empty).
    case all([MQLRule])
    /// True when some rule is true (false when empty).
    case any([MQLRule])
    /// True when the rule is false.
    case not(MQLRule)
    /// A test of one field of the lead's state.
    case comparison(RuleComparison)
}

/// One field test, e.g. `{"field": "score", "gte": 60}`.
public struct RuleComparison: Sendable, Hashable {
    /// `score`, `channel`, `campaign` or an attribute name.
    public var field: String
    /// The operator and its operand.
    public var test: RuleTest

    /// Creates a comparison.
    public init(field: String, _ test: RuleTest) {
        self.field = field
        self.test = test
    }
}

/// An operator with its operand.
///
/// On a missing field every test is false except `exists(false)`; that includes `ne` and `nin`,
/// so "country is not FR" does not qualify a lead whose country is unknown. A value of another kind
/// than the operand (a string where a number is expected) also makes the test false, for `ne` and
/// `nin` too.
public enum RuleTest: Sendable, Hashable {
    /// Equal, of the same kind.
    case eq(AttributeValue)
    /// Present, of the same kind, and different.
    case ne(AttributeValue)
    /// Greater than (numbers numerically, strings by Unicode order).
    case gt(AttributeValue)
    /// Greater than or equal.
    case gte(AttributeValue)
    /// Less than.
    case lt(AttributeValue)
    /// Less than or equal.
    case lte(AttributeValue)
    /// Equal to one of the values.
    case `in`([AttributeValue])
    /// Present, of the kind of some listed value, and equal to none.
    case nin([AttributeValue])
    /// A string containing the text (byte-wise UTF-8, case-sensitive).
    case contains(String)
    /// A string starting with the text (byte-wise UTF-8, case-sensitive).
    case prefix(String)
    /// Present (`true`) or missing (`false`).
    case exists(Bool)

    /// The operator's name in the rule language.
    public var operatorName: String {
        switch self {
        case .eq: "eq"
        case .ne: "ne"
        case .gt: "gt"
        case .gte: "gte"
        case .lt: "lt"
        case .lte: "lte"
        case .in: "in"
        case .nin: "nin"
        case .contains: "contains"
        case .prefix: "prefix"
        case .exists: "exists"
        }
    }

    /// The operand as JSON.
    public var operandJSON: JSONValue {
        switch self {
        case .eq(let value), .ne(let value), .gt(let value), .gte(let value), .lt(let value), .lte(let value):
            value.json
        case .in(let values), .nin(let values): .array(values.map(\.json))
        case .contains(let text), .prefix(let text): .string(text)
        case .exists(let flag): .bool(flag)
        }
    }
}

extension MQLRule {
    /// The rule in the JSON rule language, in canonical member order.
    public var json: JSONValue {
        switch self {
        case .all(let rules): .object([JSONMember("all", .array(rules.map(\.json)))])
        case .any(let rules): .object([JSONMember("any", .array(rules.map(\.json)))])
        case .not(let rule): .object([JSONMember("not", rule.json)])
        case .comparison(let comparison):
            .object([
                JSONMember("field", .string(comparison.field)),
                JSONMember(comparison.test.operatorName, comparison.test.operandJSON),
            ])
        }
    }

    /// Every comparison with its JSON Pointer, depth first in written order.
    public var comparisons: [(pointer: String, comparison: RuleComparison)] {
        var out: [(pointer: String, comparison: RuleComparison)] = []
        collectComparisons(pointer: "", into: &out)
        return out
    }

    private func collectComparisons(pointer: String, into out: inout [(pointer: String, comparison: RuleComparison)]) {
        switch self {
        case .all(let rules):
            for (index, rule) in rules.enumerated() { rule.collectComparisons(pointer: "\(pointer)/all/\(index)", into: &out) }
        case .any(let rules):
            for (index, rule) in rules.enumerated() { rule.collectComparisons(pointer: "\(pointer)/any/\(index)", into: &out) }
        case .not(let rule): rule.collectComparisons(pointer: "\(pointer)/not", into: &out)
        case .comparison(let comparison): out.append((pointer, comparison))
        }
    }
}
