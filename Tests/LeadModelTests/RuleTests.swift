import Foundation
import LeadModel
import Testing

@Suite("MQL rules")
struct RuleTests {
    static let designExample: JSONValue = try! JSONValue.parse(
        #"{"all":[{"field":"score","gte":60},{"field":"country","in":["US","CA","GB"]},{"not":{"field":"email_domain","in":["gmail.com","yahoo.com"]}},{"any":[{"field":"employees","gte":50},{"field":"title","contains":"VP"}]}]}"#
    )

    @Test("the design's example parses to the expected tree and back to the same JSON")
    func parsesExample() throws {
        let rule = try RuleParser().parse(Self.designExample)
        #expect(
            rule
                == .all([
                    .comparison(RuleComparison(field: "score", .gte(.number(60)))),
                    .comparison(RuleComparison(field: "country", .in([.string("US"), .string("CA"), .string("GB")]))),
                    .not(.comparison(RuleComparison(field: "email_domain", .in([.string("gmail.com"), .string("yahoo.com")])))),
                    .any([
                        .comparison(RuleComparison(field: "employees", .gte(.number(50)))),
                        .comparison(RuleComparison(field: "title", .contains("VP"))),
                    ]),
                ]))
        #expect(rule.json == Self.designExample)
        #expect(rule.comparisons.map(\.pointer) == ["/all/0", "/all/1", "/all/2/not", "/all/3/any/0", "/all/3/any/1"])
    }

    static let parseErrors: [(json: String, message: String)] = [
        (
            #"{"all":[{"field":"a","eq":1},{"field":"b","eq":1},{"field":"country","in":"US"}]}"#,
            #"/all/2/in: expected an array, found "US""#
        ),
        (#"[1]"#, "top level: expected a rule object (all, any, not or field), found an array"),
        (#"{}"#, "top level: expected a rule object with all, any, not or field, found an empty object"),
        (#"{"every":[]}"#, #"top level: expected a rule object with all, any, not or field, found member "every""#),
        (#"{"all":{"field":"a","eq":1}}"#, "/all: expected an array of rules, found an object"),
        (#"{"all":[],"any":[]}"#, #"/any: expected no other member beside "all", found member "any""#),
        (
            #"{"not":{"field":"score","greater":5}}"#,
            #"/not/greater: expected an operator (eq, ne, gt, gte, lt, lte, in, nin, contains, prefix or exists), found "greater""#
        ),
        (
            #"{"field":"score"}"#,
            #"top level: expected an operator (eq, ne, gt, gte, lt, lte, in, nin, contains, prefix or exists) beside "field", found none"#
        ),
        (#"{"field":"score","gt":1,"lt":5}"#, "/lt: expected a single operator per comparison, found a second operator"),
        (#"{"field":"","eq":1}"#, #"/field: expected a field name, found """#),
        (#"{"field":"score","gte":true}"#, "/gte: expected a number or a string, found true"),
        (#"{"field":"x","eq":null}"#, "/eq: expected a string, a number or a boolean, found null"),
        (#"{"field":"x","in":["a",["b"]]}"#, "/in/1: expected a string, a number or a boolean, found an array"),
        (#"{"field":"x","contains":3}"#, "/contains: expected a string, found 3"),
        (#"{"field":"x","exists":"yes"}"#, #"/exists: expected true or false, found "yes""#),
        (
            #"{"any":[{"all":[{"field":"a/b","eq":1,"x~":2}]}]}"#,
            #"/any/0/all/0/x~0: expected an operator (eq, ne, gt, gte, lt, lte, in, nin, contains, prefix or exists), found "x~""#
        ),
    ]

    @Test("bad rules are refused with a JSON Pointer to the bad node", arguments: 0..<parseErrors.count)
    func parseError(index: Int) throws {
        let (json, message) = Self.parseErrors[index]
        let value = try JSONValue.parse(json)
        let error = #expect(throws: RuleError.self) { try RuleParser().parse(value) }
        #expect(error?.description == message)
    }

    @Test("a comparison on a missing field is false, except exists:false")
    func missingFields() {
        let missing: [String: AttributeValue] = ["other": .string("x"), "nulled": .null]
        for field in ["absent", "nulled"] {
            for test in [
                RuleTest.eq(.string("US")), .ne(.string("US")), .gt(.number(1)), .lte(.number(1)),
                .in([.string("US")]), .nin([.string("US")]), .contains(""), .prefix(""), .exists(true),
            ] {
                #expect(!MQLRule.comparison(RuleComparison(field: field, test)).evaluateNaively(on: missing), "\(test)")
            }
            #expect(MQLRule.comparison(RuleComparison(field: field, .exists(false))).evaluateNaively(on: missing))
        }
    }

    @Test("numbers compare numerically, strings as strings, and a kind mismatch is false")
    func kinds() {
        let facts: [String: AttributeValue] = ["employees": .number(9), "country": .string("US"), "vip": .bool(true)]
        func holds(_ field: String, _ test: RuleTest) -> Bool {
            MQLRule.comparison(RuleComparison(field: field, test)).evaluateNaively(on: facts)
        }
        #expect(holds("employees", .lt(.number(10))))
        #expect(!holds("employees", .lt(.string("10"))))
        #expect(holds("country", .gt(.string("CA"))))
        #expect(!holds("country", .ne(.number(3))), "ne across kinds is a mismatch, so false")
        #expect(holds("country", .ne(.string("FR"))))
        #expect(!holds("country", .nin([.number(1)])))
        #expect(holds("country", .nin([.string("FR"), .number(1)])))
        #expect(holds("vip", .eq(.bool(true))))
        #expect(holds("vip", .in([.bool(true), .string("x")])))
        #expect(!holds("employees", .contains("9")))
        #expect(MQLRule.all([]).evaluateNaively(on: facts))
        #expect(!MQLRule.any([]).evaluateNaively(on: facts))
    }

    @Test("the compiled evaluator agrees with the naive interpreter on random rules and states")
    func compiledMatchesNaive() throws {
        var rng = SplitMix64(seed: 0x5EED)
        let fields = ["score", "channel", "campaign", "country", "employees", "title", "vip"]
        let strings = ["US", "CA", "GB", "FR", "VP Sales", "vp", "m", "", "paid_search", "webinar", "Zed"]
        func scalar() -> AttributeValue {
            switch Int.random(in: 0...2, using: &rng) {
            case 0: .string(strings.randomElement(using: &rng)!)
            case 1: .number(Double(Int.random(in: -2...100, using: &rng)))
            default: .bool(Bool.random(using: &rng))
            }
        }
        func orderable() -> AttributeValue {
            Bool.random(using: &rng)
                ? .string(strings.randomElement(using: &rng)!) : .number(Double(Int.random(in: -2...100, using: &rng)))
        }
        func rule(_ depth: Int) -> MQLRule {
            let choice = depth >= 3 ? 3 : Int.random(in: 0...5, using: &rng)
            switch choice {
            case 0: return .all((0..<Int.random(in: 0...4, using: &rng)).map { _ in rule(depth + 1) })
            case 1: return .any((0..<Int.random(in: 0...4, using: &rng)).map { _ in rule(depth + 1) })
            case 2: return .not(rule(depth + 1))
            default:
                let field = fields.randomElement(using: &rng)!
                let test: RuleTest
                switch Int.random(in: 0...10, using: &rng) {
                case 0: test = .eq(scalar())
                case 1: test = .ne(scalar())
                case 2: test = .gt(orderable())
                case 3: test = .gte(orderable())
                case 4: test = .lt(orderable())
                case 5: test = .lte(orderable())
                case 6: test = .in((0..<Int.random(in: 0...4, using: &rng)).map { _ in scalar() })
                case 7: test = .nin((0..<Int.random(in: 0...4, using: &rng)).map { _ in scalar() })
                case 8: test = .contains(strings.randomElement(using: &rng)!)
                case 9: test = .prefix(strings.randomElement(using: &rng)!)
                default: test = .exists(Bool.random(using: &rng))
                }
                return .comparison(RuleComparison(field: field, test))
            }
        }
        func state() -> [String: AttributeValue] {
            var out: [String: AttributeValue] = [:]
            for field in fields where Int.random(in: 0...3, using: &rng) > 0 {
                out[field] = Int.random(in: 0...9, using: &rng) == 0 ? .null : scalar()
            }
            // Strings no rule mentions exercise the unresolved-symbol path.
            if Bool.random(using: &rng) { out["country"] = .string("Q\(Int.random(in: 0...3, using: &rng))") }
            return out
        }
        var checked = 0
        for round in 0..<300 {
            let table = FieldTable()
            // Half the rounds set facts before compiling, so constants are interned after the facts' lookups.
            let early = round % 2 == 0
            let states = (0..<10).map { _ in state() }
            var earlyFacts: [LeadFacts] = []
            if early {
                for values in states {
                    var facts = LeadFacts(table: table)
                    for (name, value) in values { facts.set(field: name, value) }
                    earlyFacts.append(facts)
                }
            }
            let rules = (0..<3).map { _ in rule(0) }
            let compiled = rules.map { CompiledDefinition($0, table: table) }
            // The flat store of many leads must judge every row as the naive evaluation does.
            var store = FactStore(table: table)
            for (lead, values) in states.enumerated() {
                store.ensureRow(lead)
                for (name, value) in values {
                    if let slot = table.existingSlot(for: name), slot < store.width { store.set(lead, slot, value) }
                }
                var expected: UInt64 = 0
                for (index, rule) in rules.enumerated() where rule.evaluateNaively(on: values) { expected |= 1 << UInt64(index) }
                #expect(store.qualifying(compiled, lead: lead, among: 0b111) == expected, "row \(lead): \(values)")
                #expect(store.qualifying(compiled, lead: lead, among: 0b010) == expected & 0b010)
            }
            store.clearRow(0)
            #expect((0..<store.width).allSatisfy { store.value(0, $0) == nil })
            for (index, values) in states.enumerated() {
                var facts: LeadFacts
                if early {
                    facts = earlyFacts[index]
                } else {
                    facts = LeadFacts(table: table)
                    for (name, value) in values { facts.set(field: name, value) }
                }
                for (rule, definition) in zip(rules, compiled) {
                    let expected = rule.evaluateNaively(on: values)
                    #expect(definition.evaluate(facts) == expected, "\(rule.text) on \(values)")
                    checked += 1
                }
            }
        }
        #expect(checked == 9000)
    }

    @Test("facts: the reserved slots, removal by null, and the dictionary view")
    func facts() {
        let table = FieldTable()
        #expect(table.slot(for: "score") == FieldTable.scoreSlot)
        #expect(table.slot(for: "channel") == FieldTable.channelSlot)
        #expect(table.slot(for: "campaign") == FieldTable.campaignSlot)
        var facts = LeadFacts(table: table)
        facts.set(FieldTable.scoreSlot, .number(70))
        facts.apply(attributes: ["country": .string("US"), "title": .string("VP")])
        facts.apply(attributes: ["title": .null])
        #expect(facts.dictionary == ["score": .number(70), "country": .string("US")])
        let definition = CompiledDefinition(try! RuleParser().parse(Self.designExample), table: table)
        #expect(!definition.evaluate(facts), "employees and title are missing")
        facts.set(field: "employees", .number(50))
        #expect(definition.evaluate(facts))
        facts.set(field: "email_domain", .string("gmail.com"))
        #expect(!definition.evaluate(facts))
    }

    @Test("explain lists every comparison with its pointer, text, verdict and the value seen")
    func explain() throws {
        let table = FieldTable()
        let definition = CompiledDefinition(try RuleParser().parse(Self.designExample), table: table)
        var facts = LeadFacts(table: table)
        facts.set(FieldTable.scoreSlot, .number(55))
        facts.set(field: "country", .string("US"))
        facts.set(field: "title", .string("VP Marketing"))
        let verdicts = definition.explain(facts)
        #expect(verdicts.map(\.pointer) == ["/all/0", "/all/1", "/all/2/not", "/all/3/any/0", "/all/3/any/1"])
        #expect(
            verdicts.map(\.text) == [
                "score ≥ 60", "country in [US, CA, GB]", "email_domain in [gmail.com, yahoo.com]", "employees ≥ 50",
                #"title contains "VP""#,
            ])
        #expect(verdicts.map(\.passed) == [false, true, false, false, true])
        #expect(verdicts.map(\.seenText) == ["55", #""US""#, "missing", "missing", #""VP Marketing""#])
        #expect(!definition.evaluate(facts))
    }

    @Test("definition changes are described in a marketer's words")
    func diff() throws {
        let old = try RuleParser().parse(
            JSONValue.parse(
                #"{"all":[{"field":"score","gte":50},{"field":"country","in":["US","FR"]},{"field":"employees","gte":50},{"not":{"field":"email_domain","in":["gmail.com"]}}]}"#
            ))
        let new = try RuleParser().parse(
            JSONValue.parse(
                #"{"all":[{"field":"score","gte":60},{"field":"country","in":["US","GB"]},{"not":{"field":"email_domain","in":["gmail.com","yahoo.com"]}},{"field":"title","contains":"VP"}]}"#
            ))
        #expect(
            describeChanges(from: old, to: new) == [
                "score threshold raised 50 → 60",
                "country list: added GB; removed FR",
                "email_domain exclusion list: added yahoo.com",
                #"new rule: title contains "VP""#,
                "rule removed: employees ≥ 50",
            ])
        #expect(describeChanges(from: new, to: new).isEmpty)
    }

    @Test("diff: lowered thresholds, operator changes, and a rule made optional")
    func diffDetails() throws {
        let old = MQLRule.all([
            .comparison(RuleComparison(field: "score", .gt(.number(70)))),
            .comparison(RuleComparison(field: "employees", .lte(.number(500)))),
            .comparison(RuleComparison(field: "channel", .eq(.string("webinar")))),
        ])
        let new = MQLRule.all([
            .comparison(RuleComparison(field: "score", .gte(.number(65)))),
            .comparison(RuleComparison(field: "employees", .lte(.number(1000)))),
            .any([
                .comparison(RuleComparison(field: "channel", .eq(.string("paid_search")))),
                .comparison(RuleComparison(field: "campaign", .exists(true))),
            ]),
        ])
        #expect(
            DefinitionDiff.describeChanges(from: old, to: new) == [
                "score threshold lowered > 70 → ≥ 65",
                "employees upper limit raised 500 → 1000",
                #"channel required value changed "webinar" → "paid_search""#,
                #"channel = "paid_search" is now one of several alternatives"#,
                "new rule: campaign is present",
            ])
    }
}

@Suite("Rule text search")
struct RuleTextSearchTests {
    @Test("contains and prefix are exact, case-sensitive byte searches")
    func search() {
        func contains(_ value: String, _ text: String) -> Bool {
            MQLRule.comparison(RuleComparison(field: "t", .contains(text))).evaluateNaively(on: ["t": .string(value)])
        }
        func prefix(_ value: String, _ text: String) -> Bool {
            MQLRule.comparison(RuleComparison(field: "t", .prefix(text))).evaluateNaively(on: ["t": .string(value)])
        }
        #expect(contains("Senior VP Sales", "VP"))
        #expect(!contains("Senior vp Sales", "VP"))
        #expect(contains("abc", ""))
        #expect(!contains("ab", "abc"))
        #expect(contains("aaab", "aab"))
        #expect(contains("Zürich office", "rich"))
        #expect(prefix("VP Sales", "VP"))
        #expect(!prefix("The VP", "VP"))
        #expect(prefix("x", ""))
    }
}
