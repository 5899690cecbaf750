/// Why a rules document is not a valid rule, pointing at the bad node.
public struct RuleError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A JSON Pointer (RFC 6901) to the bad node, empty for the top level.
    public var pointer: String
    /// What was expected there.
    public var expected: String
    /// What was found, as shown to the user.
    public var found: String

    /// Creates a rule error.
    public init(pointer: String, expected: String, found: String) {
        self.pointer = pointer
        self.expected = expected
        self.found = found
    }

    /// `/all/2/in: expected an array, found "US"`.
    public var description: String {
        "\(pointer.isEmpty ? "top level" : pointer): expected \(expected), found \(found)"
    }
}

/// Parses the JSON rule language into `MQLRule`.
public struct RuleParser: Sendable {
    /// The deepest nesting of combinators accepted.
    public var maximumDepth = 32
    /// The most nodes a rule tree may have (rules, comparisons and `in`/`nin` values together):
    /// evaluation costs grow with the tree, for every lead of every replay.
    public var maximumNodes = 10_000

    /// Creates a parser.
    public init() {}

    /// Parses a rules document, or names the first bad node in written order.
    public func parse(_ json: JSONValue) throws(RuleError) -> MQLRule {
        var nodes = 0
        return try parse(json, pointer: "", depth: 0, nodes: &nodes)
    }

    /// Counts one more node, refusing the tree once it outgrows `maximumNodes`.
    private func count(_ added: Int, _ nodes: inout Int, pointer: String) throws(RuleError) {
        nodes += added
        guard nodes <= maximumNodes else {
            throw RuleError(
                pointer: pointer, expected: "a rule tree of at most \(maximumNodes) nodes (rules, comparisons and listed values)",
                found: "a larger tree")
        }
    }

    private static let operators: Set<String> = [
        "eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "contains", "prefix", "exists",
    ]
    private static let operatorList = "eq, ne, gt, gte, lt, lte, in, nin, contains, prefix or exists"

    private func parse(_ json: JSONValue, pointer: String, depth: Int, nodes: inout Int) throws(RuleError) -> MQLRule {
        try count(1, &nodes, pointer: pointer)
        guard depth <= maximumDepth else {
            throw RuleError(pointer: pointer, expected: "rules nested at most \(maximumDepth) deep", found: "deeper nesting")
        }
        guard case .object(let members) = json else {
            throw RuleError(
                pointer: pointer, expected: "a rule object (all, any, not or field)", found: json.shortDescription)
        }
        guard let first = members.first(where: { ["all", "any", "not", "field"].contains($0.key) }) else {
            let found = members.first.map { "member \"\($0.key)\"" } ?? "an empty object"
            throw RuleError(pointer: pointer, expected: "a rule object with all, any, not or field", found: found)
        }
        if first.key != "field" {
            if let extra = members.first(where: { $0.key != first.key }) {
                throw RuleError(
                    pointer: pointer + "/" + Self.escape(extra.key),
                    expected: "no other member beside \"\(first.key)\"", found: "member \"\(extra.key)\"")
            }
            let childPointer = pointer + "/" + first.key
            if first.key == "not" {
                return .not(try parse(first.value, pointer: childPointer, depth: depth + 1, nodes: &nodes))
            }
            guard case .array(let elements) = first.value else {
                throw RuleError(pointer: childPointer, expected: "an array of rules", found: first.value.shortDescription)
            }
            var rules: [MQLRule] = []
            rules.reserveCapacity(elements.count)
            for (index, element) in elements.enumerated() {
                rules.append(try parse(element, pointer: "\(childPointer)/\(index)", depth: depth + 1, nodes: &nodes))
            }
            return first.key == "all" ? .all(rules) : .any(rules)
        }
        guard case .string(let field) = first.value, !field.isEmpty else {
            throw RuleError(pointer: pointer + "/field", expected: "a field name", found: first.value.shortDescription)
        }
        var test: RuleTest?
        for member in members where member.key != "field" {
            let memberPointer = pointer + "/" + Self.escape(member.key)
            guard Self.operators.contains(member.key) else {
                throw RuleError(
                    pointer: memberPointer, expected: "an operator (\(Self.operatorList))",
                    found: "\"\(member.key)\"")
            }
            guard test == nil else {
                throw RuleError(pointer: memberPointer, expected: "a single operator per comparison", found: "a second operator")
            }
            if case .array(let values) = member.value { try count(values.count, &nodes, pointer: memberPointer) }
            test = try parseTest(member.key, member.value, pointer: memberPointer)
        }
        guard let test else {
            throw RuleError(
                pointer: pointer, expected: "an operator (\(Self.operatorList)) beside \"field\"", found: "none")
        }
        return .comparison(RuleComparison(field: field, test))
    }

    private func parseTest(_ name: String, _ operand: JSONValue, pointer: String) throws(RuleError) -> RuleTest {
        switch name {
        case "eq", "ne":
            let value = try scalar(operand, pointer: pointer, allowBool: true)
            return name == "eq" ? .eq(value) : .ne(value)
        case "gt", "gte", "lt", "lte":
            let value = try scalar(operand, pointer: pointer, allowBool: false)
            switch name {
            case "gt": return .gt(value)
            case "gte": return .gte(value)
            case "lt": return .lt(value)
            default: return .lte(value)
            }
        case "in", "nin":
            guard case .array(let elements) = operand else {
                throw RuleError(pointer: pointer, expected: "an array", found: operand.shortDescription)
            }
            var values: [AttributeValue] = []
            for (index, element) in elements.enumerated() {
                values.append(try scalar(element, pointer: "\(pointer)/\(index)", allowBool: true))
            }
            return name == "in" ? .in(values) : .nin(values)
        case "contains", "prefix":
            guard case .string(let text) = operand else {
                throw RuleError(pointer: pointer, expected: "a string", found: operand.shortDescription)
            }
            return name == "contains" ? .contains(text) : .prefix(text)
        default:
            guard case .bool(let flag) = operand else {
                throw RuleError(pointer: pointer, expected: "true or false", found: operand.shortDescription)
            }
            return .exists(flag)
        }
    }

    private func scalar(_ json: JSONValue, pointer: String, allowBool: Bool) throws(RuleError) -> AttributeValue {
        switch json {
        case .string(let text): return .string(text)
        case .number(let number): return .number(number)
        case .bool(let flag) where allowBool: return .bool(flag)
        default:
            throw RuleError(
                pointer: pointer, expected: allowBool ? "a string, a number or a boolean" : "a number or a string",
                found: json.shortDescription)
        }
    }

    /// Escapes a member name for a JSON Pointer (RFC 6901 §3).
    static func escape(_ key: String) -> String {
        key.replacing("~", with: "~0").replacing("/", with: "~1")
    }
}
