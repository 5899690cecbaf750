import EventLog
import LeadModel

/// What the front ends read of the store, through the ledger rather than its log.
extension Ledger {
    /// How many leads the ledger holds: its streams less the catalog's, which holds the MQL
    /// definitions and reason codes rather than a lead. Every front end shows this number.
    public func leadCount() throws -> Int {
        try log.withSnapshot { snapshot in
            try snapshot.streamCount() - (try snapshot.streamNumber(CatalogStream.name) == nil ? 0 : 1)
        }
    }

    /// Up to `limit` stored records after position `after`, with the head they were read at, in one snapshot.
    public func records(after: UInt64, limit: Int) throws -> (records: [StoredRecord], head: LogHead) {
        try log.withSnapshot { snapshot in
            let (next, overflow) = after.addingReportingOverflow(1)
            let records = try overflow ? [] : snapshot.records(from: next, limit: limit)
            return (records, try snapshot.head())
        }
    }

    /// Records from `position` on, as the writer commits them.
    public func subscribe(from position: UInt64) -> LogSubscription { log.subscribe(from: position) }

    /// The value stored under `key` in the ledger's own metadata (API keys, say), if any.
    public func metaValue(_ key: String) throws -> [UInt8]? { try log.metaValue(key) }

    /// Reads and replaces the metadata value under `key` in one write transaction.
    public func updateMetaValue<R>(_ key: String, _ change: ([UInt8]?) throws -> (value: [UInt8]?, result: R)) throws -> R {
        try log.updateMetaValue(key, change)
    }

    /// Removes the metadata value under `key`; `false` when there was none.
    @discardableResult
    public func removeMetaValue(_ key: String) throws -> Bool { try log.removeMetaValue(key) }
}
