import Foundation
import LeadModel
import Projections
import Testing

@testable import Ledger

private func temporaryLedger() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-input-\(UUID().uuidString)").path
}

private func line(_ type: String, lead: String?, _ occurredAt: String, _ data: String, id: UUID = UUID()) -> String {
    let leadField = lead.map { #","lead":"\#($0)""# } ?? ""
    return
        #"{"id":"\#(id.uuidString.lowercased())","type":"\#(type)"\#(leadField),"occurredAt":"\#(occurredAt)","source":"crm","data":\#(data)}"#
}

private let captured = line("lead.captured", lead: "00QA", "2026-03-02T09:00:00Z", #"{"channel":"web"}"#)
private let acceptedWithoutHandOff = line("lead.accepted", lead: "00QB", "2026-03-02T10:00:00Z", "{}")

@Suite("One way in: bodies, ranges, cuts, candidates and counts read by the library")
struct LedgerInputTests {
    @Test("NDJSON: a decoding problem and a validation problem name the same text line, blank lines counted")
    func ndjsonLines() async throws {
        let ledger = try Ledger(path: temporaryLedger())
        defer { ledger.close() }
        let broken = EventBody(decoding: Data("\n\(captured)\n\n{\"id\":\"x\"}\n".utf8))
        #expect(broken.layout == .ndjson)
        #expect(broken.problems.map(\.line) == [4])
        #expect(broken.problems.first?.message.hasPrefix("line 4") == true)

        let body = EventBody(decoding: Data("\n\(captured)\n\n\(acceptedWithoutHandOff)\n".utf8))
        #expect(body.problems.isEmpty)
        #expect(body.place(of: 1) == "line 4")
        let head = try ledger.head()
        do throws(LedgerError) {
            _ = try await ledger.append(body)
            Issue.record("an acceptance without a hand-off was appended")
        } catch {
            let problems = body.problems(of: error)
            #expect(problems.map(\.line) == [4])
            #expect(problems.allSatisfy { $0.item == nil && $0.message.hasPrefix("line 4") }, "\(problems)")
        }
        #expect(try ledger.head() == head)
    }

    @Test("JSON array: decoding and validation problems both name the item, from 0")
    func arrayItems() async throws {
        let ledger = try Ledger(path: temporaryLedger())
        defer { ledger.close() }
        let broken = EventBody(decoding: Data("[\n\(captured),\n{\"id\":\"x\"}\n]".utf8))
        #expect(broken.layout == .array)
        #expect(broken.problems.map(\.item) == [1])
        #expect(broken.problems.allSatisfy { $0.line == nil && $0.message.hasPrefix("item 1") }, "\(broken.problems)")

        let body = EventBody(decoding: Data("[\n\(captured),\n\(acceptedWithoutHandOff)\n]".utf8))
        #expect(body.problems.isEmpty)
        do throws(LedgerError) {
            _ = try await ledger.append(body)
            Issue.record("an acceptance without a hand-off was appended")
        } catch {
            let problems = body.problems(of: error)
            #expect(problems.map(\.item) == [1])
            #expect(problems.allSatisfy { $0.line == nil && $0.message.hasPrefix("item 1") }, "\(problems)")
        }
        #expect(body.problem(at: 0, field: "source", "not yours").message == "item 0: not yours")
    }

    @Test("ranges and cuts: one parser, each refusal naming its input")
    func rangesAndCuts() throws {
        #expect(try QueryInput.dayRange(from: "2026-03-02", to: "2026-03-02") == (1_772_409_600_000_000, 1_772_496_000_000_000))
        #expect(throws: QueryInputError.toBeforeFrom) { try QueryInput.dayRange(from: "2026-03-02", to: "2026-03-01") }
        #expect(throws: QueryInputError.notADay(field: "to", found: "2026-13-01")) { try QueryInput.dayRange(from: nil, to: "2026-13-01") }
        #expect(throws: QueryInputError.bothCuts) { try QueryInput.cut(asOfRecorded: "2026-03-02", asOfOccurred: "2026-03-02") }
        #expect(throws: QueryInputError.notAnInstant(field: "asOfOccurred", found: "soon")) {
            try QueryInput.cut(asOfRecorded: nil, asOfOccurred: "soon")
        }
        #expect(try QueryInput.cut(asOfRecorded: nil, asOfOccurred: nil) == .everything)
        #expect(try QueryInput.cut(asOfRecorded: "2026-03-02", asOfOccurred: nil) == .recordedBy(1_772_496_000_000_000 - 1))
    }

    @Test("an unnamed candidate is named by its place, everywhere; a bad rule names its pointer")
    func candidates() throws {
        let unnamed = try CandidateDefinition(parsing: try JSONValue.parse(#"{"rules":{"field":"score","gte":80}}"#), index: 1)
        #expect(unnamed.name == "candidate 2")
        let named = try CandidateDefinition(
            parsing: try JSONValue.parse(#"{"name":"strict","rules":{"field":"score","gte":80}}"#), index: 0)
        #expect(named.name == "strict")
        let noRules = try JSONValue.parse(#"{"name":"x"}"#)
        let badRule = try JSONValue.parse(#"{"rules":{"all":[{"field":"score","between":3}]}}"#)
        do throws(CandidateInputError) {
            _ = try CandidateDefinition(parsing: noRules, index: 0)
            Issue.record("a candidate without rules was accepted")
        } catch {
            #expect(error.rules == nil && error.pointer == "/rules" && error.description == "candidate `x` has no rules")
        }
        do throws(CandidateInputError) {
            _ = try CandidateDefinition(parsing: badRule, index: 0)
            Issue.record("a malformed rule was accepted")
        } catch {
            #expect(error.pointer.hasPrefix("/rules/all/0"), "\(error.pointer)")
            #expect(error.description.hasPrefix("candidate `candidate 1`: "))
        }
    }

    @Test("the lead count leaves out the catalog stream, which the store counts as one more stream")
    func leadCount() async throws {
        let ledger = try Ledger(path: temporaryLedger())
        defer { ledger.close() }
        #expect(try ledger.leadCount() == 0)
        let taxonomy = StarterTaxonomy.events(source: "leadledger", occurredAt: Timestamp(rfc3339: "2026-01-01T00:00:00Z")!, idSeed: "t")
        _ = try await ledger.append(taxonomy)
        #expect(try ledger.leadCount() == 0)
        _ = try await ledger.append(
            EventBody(
                decoding: Data("\(captured)\n\(line("lead.captured", lead: "00QC", "2026-03-02T09:00:00Z", #"{"channel":"web"}"#))".utf8)))
        #expect(try ledger.statistics().streams == 3)
        #expect(try ledger.leadCount() == 2)
    }

    @Test("the shared replay catches up with appends made through another handle, and reports as a fresh replay does")
    func currentReplay() async throws {
        let path = temporaryLedger()
        let ledger = try Ledger(path: path)
        defer { ledger.close() }
        _ = try await ledger.append(EventBody(decoding: Data(captured.utf8)))
        let replay = CurrentReplay(ledger: ledger, saveAfter: 1)
        #expect(try replay.state().position == 1)
        let handOff = line("lead.handed_off", lead: "00QA", "2026-03-02T10:00:00Z", #"{"owner":"rep:a"}"#)
        let rejected = line("lead.rejected", lead: "00QA", "2026-03-02T11:00:00Z", #"{"reason":"DATA.INVALID_EMAIL","by":"rep:a"}"#)
        let taxonomy = StarterTaxonomy.events(source: "leadledger", occurredAt: Timestamp(rfc3339: "2026-01-01T00:00:00Z")!, idSeed: "t")
        _ = try await ledger.append(taxonomy)
        _ = try await ledger.append(EventBody(decoding: Data("\(handOff)\n\(rejected)".utf8)))
        let state = try replay.state()
        #expect(state.position == (try ledger.head().position))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        #expect(try encoder.encode(replay.trends()) == encoder.encode(Trends.compute(try ReplayEngine.replay(ledger.log), TrendsQuery())))
        #expect(try encoder.encode(replay.impact()) == encoder.encode(ledger.impact()))
        #expect(try replay.trends().total.rejected == 1)
        // It saved a checkpoint as it moved on: a new process starts from there.
        #expect(try ReplayCheckpoint.load(ledger.log)?.position == state.position)
    }
}
