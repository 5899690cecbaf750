/// Describes what changed between two versions of an MQL definition, in words a marketer reads.
public enum DefinitionDiff {
    /// Sentences such as `score threshold raised 50 → 60`, `country list: added GB; removed FR`,
    /// `new rule: title contains "VP"`, `rule removed: employees ≥ 50`; empty when nothing changed.
    ///
    /// Comparisons are matched across the trees by field, operator family (`gt`/`gte` are one family,
    /// `lt`/`lte` another) and whether they sit under a `not`; changes and new rules come in the new
    /// definition's order, then removals in the old one's.
    public static func describeChanges(from old: MQLRule, to new: MQLRule) -> [String] {
        let before = collect(old)
        let after = collect(new)
        var unmatchedBefore = Array(before.indices)
        var pairs: [Int: Int] = [:]
        // Identical comparisons pair first, so a reordered list of rules reads as unchanged.
        for (newIndex, entry) in after.enumerated() {
            if let position = unmatchedBefore.firstIndex(where: {
                before[$0].comparison == entry.comparison && before[$0].negated == entry.negated
            }) {
                pairs[newIndex] = unmatchedBefore.remove(at: position)
            }
        }
        for (newIndex, entry) in after.enumerated() where pairs[newIndex] == nil {
            if let position = unmatchedBefore.firstIndex(where: { before[$0].key == entry.key }) {
                pairs[newIndex] = unmatchedBefore.remove(at: position)
            }
        }
        var sentences: [String] = []
        for (newIndex, entry) in after.enumerated() {
            guard let oldIndex = pairs[newIndex] else {
                sentences.append("new rule: \(entry.text)")
                continue
            }
            let previous = before[oldIndex]
            if previous.comparison != entry.comparison {
                sentences.append(describe(from: previous, to: entry))
            }
            if previous.required != entry.required {
                sentences.append(
                    entry.required
                        ? "\(entry.text) is now required" : "\(entry.text) is now one of several alternatives")
            }
        }
        for oldIndex in unmatchedBefore {
            sentences.append("rule removed: \(before[oldIndex].text)")
        }
        return sentences
    }

    private struct Entry {
        var comparison: RuleComparison
        var negated: Bool
        /// No `any` above it: the lead must pass it (or fail it, under `not`) to qualify.
        var required: Bool

        var family: String {
            switch comparison.test {
            case .gt, .gte: "minimum"
            case .lt, .lte: "maximum"
            default: comparison.test.operatorName
            }
        }

        var key: String { "\(comparison.field)\u{0}\(family)\u{0}\(negated)" }

        var text: String { negated ? "not (\(comparison.text))" : comparison.text }
    }

    private static func collect(_ rule: MQLRule) -> [Entry] {
        var entries: [Entry] = []
        func walk(_ rule: MQLRule, negated: Bool, required: Bool) {
            switch rule {
            case .all(let rules): for child in rules { walk(child, negated: negated, required: required) }
            case .any(let rules):
                // A single-element `any` is a plain requirement.
                for child in rules { walk(child, negated: negated, required: required && rules.count == 1) }
            case .not(let inner): walk(inner, negated: !negated, required: required)
            case .comparison(let comparison):
                entries.append(Entry(comparison: comparison, negated: negated, required: required))
            }
        }
        walk(rule, negated: false, required: true)
        return entries
    }

    private static func describe(from old: Entry, to new: Entry) -> String {
        let field = new.comparison.field
        let not = new.negated ? "excluded " : ""
        switch (old.comparison.test, new.comparison.test) {
        case (.gt(let a), .gt(let b)), (.gte(let a), .gte(let b)):
            return "\(field) \(not)threshold \(direction(a, b)) \(a.listText) → \(b.listText)"
        case (.gt(let a), .gte(let b)), (.gte(let a), .gt(let b)):
            return
                "\(field) \(not)threshold \(direction(a, b)) \(symbol(old.comparison.test)) \(a.listText) → \(symbol(new.comparison.test)) \(b.listText)"
        case (.lt(let a), .lt(let b)), (.lte(let a), .lte(let b)):
            return "\(field) \(not)upper limit \(direction(a, b)) \(a.listText) → \(b.listText)"
        case (.lt(let a), .lte(let b)), (.lte(let a), .lt(let b)):
            return
                "\(field) \(not)upper limit \(direction(a, b)) \(symbol(old.comparison.test)) \(a.listText) → \(symbol(new.comparison.test)) \(b.listText)"
        case (.in(let a), .in(let b)), (.nin(let a), .nin(let b)):
            let excluded = new.negated != { if case .nin = new.comparison.test { true } else { false } }()
            let added = b.filter { !a.contains($0) }.map(\.listText)
            let removed = a.filter { !b.contains($0) }.map(\.listText)
            var parts: [String] = []
            if !added.isEmpty { parts.append("added \(added.joined(separator: ", "))") }
            if !removed.isEmpty { parts.append("removed \(removed.joined(separator: ", "))") }
            if parts.isEmpty { parts.append("reordered") }
            return "\(field) \(excluded ? "exclusion list" : "list"): \(parts.joined(separator: "; "))"
        case (.eq(let a), .eq(let b)):
            return "\(field) \(new.negated ? "excluded value" : "required value") changed \(a.jsonText) → \(b.jsonText)"
        case (.ne(let a), .ne(let b)):
            return "\(field) \(new.negated ? "required value" : "excluded value") changed \(a.jsonText) → \(b.jsonText)"
        case (.contains(let a), .contains(let b)):
            return "\(field) \(not)text to contain changed \(AttributeValue.string(a).jsonText) → \(AttributeValue.string(b).jsonText)"
        case (.prefix(let a), .prefix(let b)):
            return "\(field) \(not)prefix changed \(AttributeValue.string(a).jsonText) → \(AttributeValue.string(b).jsonText)"
        default:
            return "rule changed: \(old.text) → \(new.text)"
        }
    }

    private static func direction(_ a: AttributeValue, _ b: AttributeValue) -> String {
        let order: Int? = RuleTest.order(b, a)
        if order == 1 { return "raised" }
        if order == -1 { return "lowered" }
        return "changed"
    }

    private static func symbol(_ test: RuleTest) -> String {
        switch test {
        case .gt: ">"
        case .gte: "≥"
        case .lt: "<"
        case .lte: "≤"
        default: test.operatorName
        }
    }
}

/// Describes what changed between two versions of an MQL definition (see `DefinitionDiff`).
public func describeChanges(from old: MQLRule, to new: MQLRule) -> [String] {
    DefinitionDiff.describeChanges(from: old, to: new)
}
