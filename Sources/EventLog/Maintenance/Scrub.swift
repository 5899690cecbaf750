import Foundation
import LMDB

extension EventLog {
    /// Overwrites with zeros the pages LMDB has freed, so bytes a transaction removed (a destroyed
    /// key, say) do not linger in the file until LMDB happens to reuse their page.
    ///
    /// LMDB writes a changed page to a new place and frees the old one; a page freed by transaction
    /// N can be reused from transaction N + 2, once no reader holds an older snapshot. Each round is
    /// one write transaction that takes as many fresh pages as the free list holds, filled with
    /// zeros, from the scratch table `scrub` (the round after empties it again): LMDB hands out
    /// the free pages it may reuse first. Three rounds cover the pages freed just before the first.
    /// A reader holding an old snapshot keeps its pages from reuse until it ends.
    public func scrubFreePages(rounds: Int = 3) throws {
        if isReadOnly { return }
        let scratch: Database = try tableOpening.withLock {
            try env.write { txn in try txn.openDatabase("scrub", flags: [.create, .integerKey]) }
        }
        let pageSize = env.info.pageSize
        // One overflow page per value: a page less its 16-byte header.
        let valueSize = pageSize - 16
        for _ in 0..<rounds {
            // LMDB lets only a read transaction look at its free list: counted just before the round.
            let free = try env.read { txn in try txn.freePageCount() }
            try env.write { txn in
                try txn.empty(scratch)
                for i in 0..<UInt64(free) {
                    var key = i
                    try withUnsafeBytes(of: &key) { keyBytes in
                        try txn.put(reserving: valueSize, forKey: keyBytes, in: scratch, flags: .append) {
                            $0.initializeMemory(as: UInt8.self, repeating: 0)
                        }
                    }
                }
            }
        }
        try env.write { txn in try txn.empty(scratch) }
    }
}
