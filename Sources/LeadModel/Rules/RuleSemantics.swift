extension RuleTest {
    /// Whether a field value passes this test; nil and `.null` both mean the field is missing.
    ///
    /// This is the reference semantics: the compiled evaluator must agree with it on every input.
    public func matches(_ value: AttributeValue?) -> Bool {
        let present: AttributeValue? = value == .null ? nil : value
        if case .exists(let flag) = self { return (present != nil) == flag }
        guard let present else { return false }
        switch self {
        case .eq(let operand): return Self.equal(present, operand)
        case .ne(let operand): return Self.sameKind(present, operand) && !Self.equal(present, operand)
        case .gt(let operand): return Self.order(present, operand).map { $0 > 0 } ?? false
        case .gte(let operand): return Self.order(present, operand).map { $0 >= 0 } ?? false
        case .lt(let operand): return Self.order(present, operand).map { $0 < 0 } ?? false
        case .lte(let operand): return Self.order(present, operand).map { $0 <= 0 } ?? false
        case .in(let operands): return operands.contains { Self.equal(present, $0) }
        case .nin(let operands):
            return operands.contains { Self.sameKind(present, $0) } && !operands.contains { Self.equal(present, $0) }
        case .contains(let text):
            if case .string(let string) = present { return UTF8Search.contains(string, text) }
            return false
        case .prefix(let text):
            if case .string(let string) = present { return UTF8Search.hasPrefix(string, text) }
            return false
        case .exists: return false
        }
    }

    static func sameKind(_ a: AttributeValue, _ b: AttributeValue) -> Bool {
        switch (a, b) {
        case (.string, .string), (.number, .number), (.bool, .bool): true
        default: false
        }
    }

    static func equal(_ a: AttributeValue, _ b: AttributeValue) -> Bool {
        switch (a, b) {
        case (.string(let x), .string(let y)): x == y
        case (.number(let x), .number(let y)): x == y
        case (.bool(let x), .bool(let y)): x == y
        default: false
        }
    }

    /// -1, 0 or 1 for two numbers or two strings; nil for any other pair.
    static func order(_ a: AttributeValue, _ b: AttributeValue) -> Int? {
        switch (a, b) {
        case (.string(let x), .string(let y)): x < y ? -1 : (x == y ? 0 : 1)
        case (.number(let x), .number(let y)): x < y ? -1 : (x == y ? 0 : 1)
        default: nil
        }
    }
}

extension MQLRule {
    /// Evaluates the rule by walking the tree, looking fields up by name (`score`, `channel`, `campaign`
    /// or attributes): slow, but plainly right, as a reference for the compiled evaluator.
    public func evaluateNaively(on facts: [String: AttributeValue]) -> Bool {
        switch self {
        case .all(let rules): rules.allSatisfy { $0.evaluateNaively(on: facts) }
        case .any(let rules): rules.contains { $0.evaluateNaively(on: facts) }
        case .not(let rule): !rule.evaluateNaively(on: facts)
        case .comparison(let comparison): comparison.test.matches(facts[comparison.field])
        }
    }
}

extension RuleComparison {
    /// Readable text, e.g. `score ≥ 60`, `country in [US, CA]`, `title contains "VP"`.
    public var text: String {
        switch test {
        case .eq(let value): "\(field) = \(value.jsonText)"
        case .ne(let value): "\(field) ≠ \(value.jsonText)"
        case .gt(let value): "\(field) > \(value.jsonText)"
        case .gte(let value): "\(field) ≥ \(value.jsonText)"
        case .lt(let value): "\(field) < \(value.jsonText)"
        case .lte(let value): "\(field) ≤ \(value.jsonText)"
        case .in(let values): "\(field) in [\(values.map(\.listText).joined(separator: ", "))]"
        case .nin(let values): "\(field) not in [\(values.map(\.listText).joined(separator: ", "))]"
        case .contains(let text): "\(field) contains \(AttributeValue.string(text).jsonText)"
        case .prefix(let text): "\(field) starts with \(AttributeValue.string(text).jsonText)"
        case .exists(let flag): flag ? "\(field) is present" : "\(field) is missing"
        }
    }
}

extension MQLRule {
    /// Readable text of the whole rule, e.g. `all of (score ≥ 60; not (country in [FR]))`.
    public var text: String {
        switch self {
        case .all(let rules): "all of (\(rules.map(\.text).joined(separator: "; ")))"
        case .any(let rules): "any of (\(rules.map(\.text).joined(separator: "; ")))"
        case .not(let rule): "not (\(rule.text))"
        case .comparison(let comparison): comparison.text
        }
    }
}

extension AttributeValue {
    /// A list element as people write it: plain words bare, other strings quoted.
    var listText: String {
        if case .string(let text) = self, !text.isEmpty,
            text.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic || ("0"..."9").contains($0) || "_.@+-".unicodeScalars.contains($0) }
            )
        {
            return text
        }
        return jsonText
    }
}

/// Byte-wise UTF-8 search used by `contains` and `prefix`: exact, case-sensitive, no Unicode
/// normalisation, and several times faster than `String`'s character-aware search on the hot path.
@usableFromInline
enum UTF8Search {
    @inlinable
    static func contains(_ haystack: String, _ needle: String) -> Bool {
        let result = haystack.utf8.withContiguousStorageIfAvailable { hay in
            needle.utf8.withContiguousStorageIfAvailable { pin in contains(hay, pin) }
        }
        if let result, let found = result { return found }
        let hay = Array(haystack.utf8)
        let pin = Array(needle.utf8)
        return hay.withUnsafeBufferPointer { hay in pin.withUnsafeBufferPointer { pin in contains(hay, pin) } }
    }

    @inlinable
    static func hasPrefix(_ string: String, _ prefix: String) -> Bool {
        string.utf8.starts(with: prefix.utf8)
    }

    @inlinable
    static func contains(_ hay: UnsafeBufferPointer<UInt8>, _ pin: UnsafeBufferPointer<UInt8>) -> Bool {
        let count = pin.count
        guard count > 0 else { return true }
        guard hay.count >= count else { return false }
        let first = pin[0]
        var index = 0
        let last = hay.count - count
        while index <= last {
            if hay[index] == first {
                var offset = 1
                while offset < count && hay[index + offset] == pin[offset] { offset += 1 }
                if offset == count { return true }
            }
            index += 1
        }
        return false
    }
}
