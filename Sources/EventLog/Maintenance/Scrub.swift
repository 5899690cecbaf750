import Foundation
import LMDB

extension EventLog {
    /// Overwrites with zeros every copy of `secrets` (a destroyed key, say) that LMDB left in the
    /// file outside the live data, so removed bytes do not linger until LMDB happens to reuse their
    /// page.
    ///
    /// LMDB writes a changed page to a new place and frees the old one, which keeps its bytes; and
    /// it writes pages from reused buffers, copying only a page's used parts, so the unused middle
    /// of a page in use can carry bytes of another. The file is searched once for `secrets` without
    /// the write lock (appends go on); only the pages found are overwritten, in two or three small
    /// commits (a page freed by the transaction just committed is readable in the previous snapshot
    /// until the next one). Returns where copies remain: a reader holding an old snapshot keeps its
    /// pages, and a copy inside live data is not LMDB's to give up.
    public func eraseCopies(of secrets: [[UInt8]]) throws -> StaleCopyReport {
        if isReadOnly { return StaleCopyReport() }
        let scratch: Database = try tableOpening.withLock {
            try env.write { txn in try txn.openDatabase("scrub", flags: [.create, .integerKey]) }
        }
        return try env.overwriteStaleCopies(of: secrets) { txn in
            // The smallest change that commits: the scratch table's one entry, rewritten.
            var stamp = UInt64(Date().timeIntervalSince1970 * 1_000_000)
            try withUnsafeBytes(of: &stamp) { value in try txn.put(value, forKey: UInt64(0), in: scratch) }
        }
    }
}
