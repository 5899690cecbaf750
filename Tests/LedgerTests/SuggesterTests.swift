import EventLog
import Foundation
import LeadModel
import LedgerDemo
import Projections
import Testing

@testable import Ledger

@Suite("The definition suggester")
struct SuggesterTests {
    @Test("on the demo ledger it finds a candidate that beats the final definition on the later period, and its what-if agrees with its report")
    func beatsTheDemoDefinition() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-suggest-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let ledger = try Ledger(path: path)
        defer { ledger.close() }
        _ = try await ledger.append(DemoHistory.generate(seed: 2026, leads: 6_000).events)

        let unconstrained = try ledger.suggest(SuggestionQuery())
        let currentPerMonth = try #require(unconstrained.current).judged.handOffsPerMonth
        #expect(unconstrained.currentVersion == 5)
        // The constraints: keep at least 80 % of today's monthly hand-offs, lose at most 20 % of the wins.
        let minimum = (currentPerMonth * 0.8).rounded(.down)
        let report = try ledger.suggest(SuggestionQuery(minimumHandOffsPerMonth: minimum, maximumLostWinsPercent: 20))
        let current = try #require(report.current)
        #expect(report.candidatesTried > 10)
        #expect(report.method.contains("fitted on \(report.fittedFrom)"))
        #expect(report.method.contains("judged on the later period (\(report.judgedFrom)"))
        #expect(report.fittedTo < report.judgedFrom)
        // Every suggestion was chosen on the earlier period: it met the constraints there.
        #expect(report.suggestions.allSatisfy { $0.fitted.meetsConstraints })
        let best = try #require(report.suggestions.first { $0.beatsCurrent }, "no suggestion beats the final definition")
        let bestRate = try #require(best.judged.whatIf.observedRejectionRate)
        let currentRate = try #require(current.judged.whatIf.observedRejectionRate)
        #expect(bestRate < currentRate)
        #expect(best.judged.meetsConstraints)
        #expect(best.judged.handOffsPerMonth >= minimum)
        #expect((best.judged.lostWinsShare ?? 0) <= 0.2)

        // The what-if of that candidate over the later period is exactly its reported figures.
        let rules = try RuleParser().parse(best.rules.value)
        let until = try QueryInput.day(report.judgedTo, field: "to") + 86_400_000_000
        let whatIf = try ledger.whatIf(
            WhatIfQuery(
                candidates: [CandidateDefinition(name: best.name, rules: rules)], from: try QueryInput.day(report.judgedFrom, field: "from"),
                until: until))
        #expect(whatIf.candidates.first == best.judged.whatIf)
        // And over the earlier period, its fitted figures.
        let fitted = try ledger.whatIf(
            WhatIfQuery(
                candidates: [CandidateDefinition(name: best.name, rules: rules)],
                from: try QueryInput.day(report.fittedFrom, field: "from"), until: try QueryInput.day(report.judgedFrom, field: "from")))
        #expect(fitted.candidates.first == best.fitted.whatIf)
    }

    @Test("a split outside the hand-offs is refused, naming the range")
    func splitOutsideRefused() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-suggest-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let ledger = try Ledger(path: path)
        defer { ledger.close() }
        #expect(throws: SuggestionError.self) { try ledger.suggest(SuggestionQuery()) }
        _ = try await ledger.append(DemoHistory.generate(seed: 3, leads: 300).events)
        do {
            _ = try ledger.suggest(SuggestionQuery(split: 0))
            Issue.record("a split in 1970 was accepted")
        } catch let error as SuggestionError {
            #expect(error.description.contains("1970-01-01"))
            #expect(error.description.contains("must fall inside the hand-offs"))
        }
    }
}
