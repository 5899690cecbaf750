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
