import EventLog
import Foundation
import LeadModel
import LedgerDemo
import Projections
import Testing

@testable import Ledger

private func temporaryLedger() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-ledger-\(UUID().uuidString)").path
}

private func at(_ text: String) -> Timestamp { Timestamp(rfc3339: text)! }

private func leadEvent(_ lead: String, _ time: String, _ payload: EventPayload, id: UUID = UUID()) -> LeadEvent {
    LeadEvent(id: id, occurredAt: at(time), source: "salesforce", actor: "rep:jo", lead: lead, correlationId: nil, payload: payload)
}

@Suite("Ledger")
struct LedgerTests {
    @Test("of two concurrent hand-offs of one lead, exactly one is accepted")
    func concurrentHandOffs() async throws {
        let ledger = try Ledger(path: temporaryLedger())
        _ = try await ledger.append([leadEvent("00QA", "2026-03-02T09:00:00Z", .leadCaptured(.init(channel: "email")))])
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for owner in ["rep:a", "rep:b", "rep:c", "rep:d"] {
                group.addTask {
                    do {
                        _ = try await ledger.append([leadEvent("00QA", "2026-03-02T10:00:00Z", .handedOff(.init(owner: owner)))])
                        return true
                    } catch {
                        return false
                    }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.count(where: { $0 }) == 1)
        #expect(try ledger.log.version(ofStream: "00QA") == 2)
    }

    @Test("catalog events go to the catalog stream, lead events to their lead's")
    func streams() async throws {
        let ledger = try Ledger(path: temporaryLedger())
        let taxonomy = StarterTaxonomy.events(source: "leadledger", occurredAt: at("2026-01-01T00:00:00Z"), idSeed: "t")
        _ = try await ledger.append(taxonomy + [leadEvent("00QA", "2026-03-02T09:00:00Z", .leadCaptured(.init(channel: "email")))])
        #expect(try ledger.log.version(ofStream: CatalogStream.name) == taxonomy.count)
        #expect(try ledger.log.version(ofStream: "00QA") == 1)
    }

    @Test("refusals name the line: validation issues, conflicts and expected versions; the head stays")
    func refusals() async throws {
        let ledger = try Ledger(path: temporaryLedger())
        let id = UUID()
        _ = try await ledger.append([leadEvent("00QA", "2026-03-02T09:00:00Z", .leadCaptured(.init(channel: "email")), id: id)])
        let head = try ledger.head()
        do {
            _ = try await ledger.append(
                [
                    leadEvent("00QB", "2026-03-02T09:00:00Z", .leadCaptured(.init(channel: "email"))),
                    leadEvent("00QB", "2026-03-02T10:00:00Z", .accepted(.init())),
                ], lines: [7, 9])
            Issue.record("a decision without an open episode was accepted")
        } catch {
            #expect(error.kind == .invalid)
            #expect(error.problems.map(\.line) == [9])
            #expect(error.problems[0].message.hasPrefix("line 9, event "))
        }
        do {
            _ = try await ledger.append([leadEvent("00QA", "2026-03-02T09:00:00Z", .leadCaptured(.init(channel: "social")), id: id)])
            Issue.record("a conflicting re-send was accepted")
        } catch {
            #expect(error.kind == .conflict)
            #expect(error.problems[0].line == 1)
        }
        do {
            _ = try await ledger.append(
                [leadEvent("00QA", "2026-03-02T11:00:00Z", .leadScored(.init(score: 70)))], expectedVersions: ["00QA": 0])
            Issue.record("a stale expected version was accepted")
        } catch {
            #expect(error.kind == .expectedVersionMismatch)
        }
        #expect(try ledger.head() == head)
    }

    @Test("a replay from the stored checkpoint, caught up after more appends (late ones too), equals a full replay")
    func checkpointCatchUp() async throws {
        let path = temporaryLedger()
        let history = DemoHistory.generate(seed: 11, leads: 1_500)
        let split = history.events.count * 2 / 3
        do {
            let ledger = try Ledger(path: path)
            _ = try await ledger.append(Array(history.events[..<split]))
            _ = try ledger.replay()  // writes the checkpoint
            #expect(try ReplayCheckpoint.load(ledger.log)?.position == UInt64(split))
            _ = try await ledger.append(Array(history.events[split...]))
            ledger.close()
        }
        let ledger = try Ledger(path: path)
        let fromCheckpoint = try ledger.replay()
        let full = try ReplayEngine.replay(ledger.log)
        #expect(fromCheckpoint.position == full.position)
        #expect(fromCheckpoint.headHash == full.headHash)
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        for query in [
            TrendsQuery(bucket: .week, groupBy: .channel), TrendsQuery(bucket: .month, groupBy: .definition, mapRetiredReasons: true),
        ] {
            #expect(try encoder.encode(Trends.compute(fromCheckpoint, query)) == (try encoder.encode(Trends.compute(full, query))))
        }
        #expect(try encoder.encode(DefinitionImpact.compute(fromCheckpoint)) == (try encoder.encode(DefinitionImpact.compute(full))))
        #expect(Array(fromCheckpoint.liveEpisodes).count == Array(full.liveEpisodes).count)
    }

    @Test("a checkpoint from another ledger at the same position is not trusted")
    func foreignCheckpoint() async throws {
        let a = try Ledger(path: temporaryLedger()), b = try Ledger(path: temporaryLedger())
        _ = try await a.append([leadEvent("00QA", "2026-03-02T09:00:00Z", .leadCaptured(.init(channel: "email")))])
        _ = try await b.append([leadEvent("00QB", "2026-03-02T09:00:00Z", .leadCaptured(.init(channel: "social")))])
        try ReplayCheckpoint.save(try ReplayEngine.replay(a.log), to: b.log)
        #expect(try ReplayCheckpoint.load(b.log) == nil)
        #expect(try b.replay().channels.names == ["social"])
    }
}

@Suite("Validation state rebuilt from the log")
struct ValidationFoldTests {
    @Test("folding stored records through the record view gives the state a full decode gives")
    func viewFoldEqualsFullDecode() throws {
        let history = DemoHistory.generate(seed: 5, leads: 1_200)
        var viaView = InMemoryLedgerState(), viaEvents = InMemoryLedgerState()
        for event in history.events {
            try event.binary.withUnsafeBytes { try ValidationPolicy.fold($0, into: &viaView) }
            viaEvents.apply(event)
        }
        let leads = Set(history.events.compactMap(\.lead))
        #expect(leads.count > 1_000)
        for lead in leads { #expect(viaView.openEpisode(lead: lead) == viaEvents.openEpisode(lead: lead), "\(lead)") }
        var rejections = 0
        for event in history.events {
            switch event.payload {
            case .rejected, .rejectionCorrected:
                let id: UUID
                if case .rejectionCorrected(let c) = event.payload { id = c.event } else { id = event.id }
                #expect(viaView.storedRejection(id: id) == viaEvents.storedRejection(id: id))
                rejections += 1
            case .reasonDefined(let d):
                #expect(viaView.reason(d.code) == viaEvents.reason(d.code))
            case .definitionPublished(let p):
                #expect(viaView.definition(version: p.version) == viaEvents.definition(version: p.version))
            default:
                break
            }
        }
        #expect(rejections > 100)
        #expect(viaView.latestDefinitionVersion == viaEvents.latestDefinitionVersion)
        #expect(viaView.reason(history.story.retiredCode) == viaEvents.reason(history.story.retiredCode))
        #expect(viaView.reason(history.story.retiredCode)?.retired == true)
    }
}
