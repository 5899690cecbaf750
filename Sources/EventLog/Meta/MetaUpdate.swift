import LMDB

extension EventLog {
    /// Reads, changes and stores one meta value in a single durable write transaction.
    ///
    /// Reading with ``metaValue(_:)`` and then storing with ``setMetaValue(_:for:)`` takes two
    /// transactions: another process (or thread) writing the same key in between has its change
    /// overwritten. Here the read and the write share LMDB's one write transaction, which every
    /// process serialises on, so concurrent updates apply one after the other and none is lost.
    ///
    /// `change` receives the stored bytes (`nil` when absent) and returns the bytes to store, or
    /// `nil` to leave the value as it is. Whatever it throws aborts the transaction unchanged.
    /// Keep `change` quick: every other writer of the ledger waits for it.
    @discardableResult
    public func updateMetaValue<R>(_ key: String, _ change: ([UInt8]?) throws -> (value: [UInt8]?, result: R)) throws -> R {
        let keyBytes = Array(("x:" + key).utf8)
        return try env.write { txn in
            let stored = try keyBytes.withUnsafeBytes { try txn.value(forKey: $0, in: dbs.meta) }
            let (value, result) = try change(stored)
            if let value, value != stored {
                try value.withUnsafeBytes { vb in try keyBytes.withUnsafeBytes { try txn.put(vb, forKey: $0, in: dbs.meta) } }
            }
            return result
        }
    }
}
