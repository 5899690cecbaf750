import Foundation
import LeadModel
import Projections

/// How an import reached the ledger, for the report a user reads and the JSON a script reads.
public struct ImportOutcome: Sendable, Codable, Hashable {
    /// How the import's events were committed.
    public enum Delivery: String, Sendable, Codable, Hashable {
        /// In one batch: either every event of the import was appended or none was.
        case atomic
        /// In several batches, in order: an interrupted import has appended a prefix of its events,
        /// and running the same import again appends the rest (event ids derive from the source rows,
        /// so what is already stored counts as a duplicate, never twice).
        case resumable
    }

    /// Atomic or resumable.
    public var delivery: Delivery
    /// Batches committed.
    public var batches: Int
    /// Events appended.
    public var appended: Int
    /// Events already in the ledger (an earlier run of the same import).
    public var duplicates: Int
    /// Reason codes of the starter taxonomy loaded first because the ledger had none (0 when it had some).
    public var starterTaxonomyCodes: Int
    /// One report per source file (or Olist folder).
    public var reports: [ImportReport]
}

extension Ledger {
    /// The most events an import commits in one transaction. An import up to this size is atomic;
    /// a larger one is committed in batches of this size and is resumable. One LMDB transaction can
    /// hold far more, but a smaller batch keeps the writer's memory and other appenders' waits short.
    public static let importBatchLimit = 50_000

    /// Appends the events of an import: the starter taxonomy first when `starterTaxonomyWhenMissing`
    /// and the ledger has no reason codes, then every file's events in order.
    ///
    /// Up to ``importBatchLimit`` events (taxonomy included) go in one atomic batch; more go in
    /// batches of that size, which makes the import resumable rather than atomic, and the outcome says
    /// which. `progress` receives (events done, events in all) after each batch.
    public func importEvents(
        _ results: [ImportResult], starterTaxonomyWhenMissing: Bool, batchLimit: Int = Ledger.importBatchLimit,
        progress: ((Int, Int) -> Void)? = nil
    ) async throws -> ImportOutcome {
        var events: [LeadEvent] = []
        var starterCodes = 0
        if starterTaxonomyWhenMissing {
            let starter = StarterTaxonomy.events(source: "leadledger", occurredAt: Timestamp(microseconds: 0), idSeed: "starter")
            if try log.version(ofStream: CatalogStream.name) == 0 {
                starterCodes = starter.count
                events += starter
            } else if let first = starter.first, try log.record(id: first.id) != nil {
                // An earlier run of an import loaded the taxonomy, perhaps only in part: send it again
                // so that a resumed import finishes it (what is stored counts as duplicates).
                events += starter
            }
        }
        for result in results { events += result.events }

        var outcome = try await appendInBatches(events, batchLimit: batchLimit, progress: progress)
        outcome.starterTaxonomyCodes = starterCodes
        outcome.reports = results.map(\.report)
        return outcome
    }

    /// Appends `events` in order: in one atomic batch when they fit ``importBatchLimit``, else in
    /// batches of that size (resumable: events already stored count as duplicates on a second run).
    public func appendInBatches(
        _ events: [LeadEvent], batchLimit: Int = Ledger.importBatchLimit, progress: ((Int, Int) -> Void)? = nil
    ) async throws -> ImportOutcome {
        let limit = max(1, batchLimit)
        let batchCount = max(1, (events.count + limit - 1) / limit)
        var outcome = ImportOutcome(
            delivery: batchCount == 1 ? .atomic : .resumable, batches: 0, appended: 0, duplicates: 0, starterTaxonomyCodes: 0,
            reports: [])
        for start in stride(from: 0, to: events.count, by: limit) {
            let batch = Array(events[start..<min(start + limit, events.count)])
            let receipt = try await append(batch)
            outcome.batches += 1
            outcome.appended += receipt.appended
            outcome.duplicates += receipt.duplicates
            progress?(start + batch.count, events.count)
        }
        return outcome
    }
}
