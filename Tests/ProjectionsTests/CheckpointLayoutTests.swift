import EventLog
import Foundation
import Testing

@testable import Projections

@Suite("Checkpoint layout fingerprint")
struct CheckpointLayoutTests {
    @Test("the fingerprint holds the offset of every stored field of an episode and a lead, so a reordered field changes it")
    func everyFieldHasItsOffset() throws {
        let episode = Episode(
            lead: 1, handedOffAt: 0, handOffPosition: 1, namedDefinition: -1, owner: -1, channel: -1, campaign: -1, source: -1,
            previous: -1, scoreAtHandOff: .nan)
        // A field added to either struct and not to the fingerprint's list fails here.
        #expect(Mirror(reflecting: episode).children.count == ReplayCheckpoint.episodeFields.count)
        #expect(Mirror(reflecting: LeadState()).children.count == ReplayCheckpoint.leadFields.count)

        let episodeOffsets = ReplayCheckpoint.episodeFields.map { MemoryLayout<Episode>.offset(of: $0) }
        let leadOffsets = ReplayCheckpoint.leadFields.map { MemoryLayout<LeadState>.offset(of: $0) }
        #expect(!episodeOffsets.contains(nil) && Set(episodeOffsets).count == episodeOffsets.count)
        #expect(!leadOffsets.contains(nil) && Set(leadOffsets).count == leadOffsets.count)

        // Two fields swapped keep the stride but not the fingerprint.
        let layout = ReplayCheckpoint.layout
        #expect(layout.contains("@" + episodeOffsets.map { String($0!) }.joined(separator: ",") + "/"))
        #expect(layout.contains("@" + leadOffsets.map { String($0!) }.joined(separator: ",") + "/"))
        var swapped = episodeOffsets.map { String($0!) }
        swapped.swapAt(4, 5)
        #expect(!layout.contains("@" + swapped.joined(separator: ",") + "/"))
    }
}

@Suite("Checkpoint from another build")
struct CheckpointFromAnotherBuildTests {
    @Test("a sound checkpoint with another build's layout is not used, is not damage for verify, and is replaced by the next replay")
    func anotherBuildsCheckpoint() async throws {
        var f = EventFactory(seed: 60)
        let ledger = try TestLedger()
        let t = at("2026-03-02T09:00:00Z")
        try await ledger.append([f.captured("A", t, channel: "email"), f.handedOff("A", t + microsPerHour)], recordedAt: t)
        let state = try ReplayEngine.replay(ledger.log)
        try ReplayCheckpoint.save(state, to: ledger.log)
        // The same checkpoint as a build with another field order would seal it.
        let stored = try #require(try ledger.log.metaValue(ReplayCheckpoint.key))
        let body = Array(stored.dropLast(ReplayCheckpoint.digestSize))
        let length = Int(UInt32(littleEndian: body.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }))
        var header = try JSONDecoder().decode(ReplayCheckpoint.Header.self, from: Data(body[4..<(4 + length)]))
        header.layout = "episode:0@0/lead:0@0/format:1"
        let headerBytes = Array(try JSONEncoder().encode(header))
        var rewritten = withUnsafeBytes(of: UInt32(headerBytes.count).littleEndian, Array.init) + headerBytes + body[(4 + length)...]
        rewritten += rewritten.withUnsafeBytes { LogDigest.sha256($0) }
        try ledger.log.setMetaValue(rewritten, for: ReplayCheckpoint.key)

        #expect(try ReplayCheckpoint.load(ledger.log) == nil)
        #expect(try ReplayCheckpoint.problem(ledger.log) == nil, "another build's checkpoint is not damage")
        #expect(try ReplayCheckpoint.audit(ledger.log) == nil)
        _ = try ReplayCheckpoint.currentState(ledger.log, saveAfter: 0)
        #expect(try ReplayCheckpoint.load(ledger.log) != nil, "the next replay saves one this build uses")
    }
}
