import CLMDB

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// What ``Environment/overwriteStaleCopies(of:rounds:touch:)`` did.
public struct StaleCopyReport: Sendable, Hashable {
    /// Bytes of the data file searched.
    public var bytesSearched: UInt64 = 0
    /// Pages found holding one of the byte strings.
    public var pagesFound: Int = 0
    /// Pages overwritten: free pages no snapshot can read, and the unused middle of pages in use.
    public var pagesOverwritten: Int = 0
    /// Where a copy is still readable, one line each: a free page an open reader's snapshot still
    /// holds, or a copy inside the used part of a page in use.
    public var remaining: [String] = []

    /// An empty report: nothing searched, nothing found.
    public init() {}
}

extension Environment {
    /// Overwrites with zeros every copy of `secrets` that LMDB left in the data file outside the
    /// live data: in free pages (the old versions of pages a transaction changed) and in the unused
    /// middle of pages in use (LMDB writes a page from a reused buffer and copies only the page's
    /// used parts into it, so the gap can carry bytes of another page).
    ///
    /// The search reads the whole file once without holding the write lock, so appends go on; only
    /// the pages found are then overwritten, each re-read and re-checked in a write transaction. A
    /// page freed by transaction N can be overwritten once it is in no snapshot a reader may still
    /// open: from transaction N + 2, and only while no reader holds a snapshot from before N. Each
    /// round therefore commits `touch`'s small change to move the transaction id on; a page still
    /// held after `rounds` rounds is reported in ``StaleCopyReport/remaining``.
    ///
    /// Pages are read and written with `pread`/`pwrite` on LMDB's own descriptor and flushed with
    /// `fdatasync` before the round's commit. Pages are parsed as LMDB 0.9 writes them on 64-bit
    /// little-endian machines (as ``checkStructure()`` reads them).
    public func overwriteStaleCopies(
        of secrets: [[UInt8]], rounds: Int = 4, touch: (borrowing Transaction) throws -> Void
    ) throws -> StaleCopyReport {
        var report = StaleCopyReport()
        let needles = secrets.filter { !$0.isEmpty }
        guard !needles.isEmpty else { return report }
        let pageSize = info.pageSize
        var candidates = try pagesHolding(needles, pageSize: pageSize, searched: &report.bytesSearched)
        report.pagesFound = candidates.count
        var round = 0
        while !candidates.isEmpty && round < max(1, rounds) {
            if round >= 2 {
                // A reader holds an old snapshot: give it a moment to end.
                usleep(useconds_t(min(200_000, 20_000 * round)))
            }
            round += 1
            let pass = try write { txn in
                let pass = try overwriteRound(candidates, needles: needles, pageSize: pageSize, txn: txn)
                // A change, so that this commit moves the transaction id past the pages freed before.
                try touch(txn)
                return pass
            }
            report.pagesOverwritten += pass.overwritten
            candidates = pass.held
            report.remaining = pass.inUse
            if !pass.inUse.isEmpty { break }
        }
        report.remaining += candidates.sorted().map { "page \($0) is free but an open reader's snapshot still holds it" }
        return report
    }

    /// The pages of the data file holding any of `needles`.
    private func pagesHolding(_ needles: [[UInt8]], pageSize: Int, searched: inout UInt64) throws -> Set<UInt64> {
        let dataPath = flags.contains(.noSubdirectory) ? path : path + "/data.mdb"
        let fd = open(dataPath, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw systemError("open(\(dataPath))") }
        defer { close(fd) }
        // Whole pages per read: a value never straddles two pages of a leaf, nor a copy of one a gap.
        let chunkPages = max(1, (1 << 20) / pageSize)
        var chunk = [UInt8](repeating: 0, count: chunkPages * pageSize)
        var found: Set<UInt64> = []
        var offset: off_t = 0
        while true {
            let n = chunk.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, offset) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw systemError("pread(\(dataPath))") }
            if n == 0 { break }
            chunk.withUnsafeBytes { bytes in
                for needle in needles {
                    needle.withUnsafeBytes { pattern in
                        forEachOccurrence(of: pattern, in: UnsafeRawBufferPointer(rebasing: bytes[..<n])) { at in
                            found.insert(UInt64(offset) / UInt64(pageSize) + UInt64(at / pageSize))
                        }
                    }
                }
            }
            searched += UInt64(n)
            offset += off_t(n)
        }
        return found
    }

    private struct RoundResult {
        var overwritten = 0
        /// Free pages a snapshot may still read.
        var held: Set<UInt64> = []
        /// Copies in the used part of a page in use.
        var inUse: [String] = []
    }

    /// One round inside the write transaction `txn`, which holds the write lock: no page changes
    /// hands while it runs.
    private func overwriteRound(
        _ candidates: Set<UInt64>, needles: [[UInt8]], pageSize: Int, txn: borrowing Transaction
    ) throws -> RoundResult {
        var result = RoundResult()
        let writeTxn = UInt64(mdb_txn_id(txn.handle))
        // Pages freed by transaction N are reusable, as LMDB reuses them, when N is older than
        // every reader's snapshot and than the last commit.
        var oldest = writeTxn - 1
        for reader in try readerSnapshots() { oldest = min(oldest, reader) }
        let (freedBy, lastPage) = try freeList(of: candidates)
        var fd: Int32 = -1
        try check(mdb_env_get_fd(handle, &fd), "mdb_env_get_fd")
        var wrote = false
        var page = [UInt8](repeating: 0, count: pageSize)
        for number in candidates.sorted() where number >= 2 {
            let offset = off_t(number) * off_t(pageSize)
            guard try readFully(fd, &page, at: offset) else { continue }
            let hits = needles.flatMap { occurrences(of: $0, in: page) }
            if hits.isEmpty { continue }
            let range: Range<Int>
            if let freed = freedBy[number] {
                guard freed < oldest else {
                    result.held.insert(number)
                    continue
                }
                range = 16..<pageSize
            } else if number > lastPage {
                // Beyond the last page of the last commit: in no tree and no snapshot.
                range = 16..<pageSize
            } else {
                let flags = page.u16(10), lower = Int(page.u16(12)), upper = Int(page.u16(14))
                let isNodePage = flags == 0x01 || flags == 0x02
                guard page.u64(0) == number, isNodePage, 16 <= lower, lower <= upper, upper <= pageSize,
                    hits.allSatisfy({ lower <= $0.lowerBound && $0.upperBound <= upper })
                else {
                    result.inUse.append("page \(number) holds a copy in its used part")
                    continue
                }
                range = lower..<upper
            }
            for i in range { page[i] = 0 }
            let written = page.withUnsafeBytes { bytes in
                pwrite(fd, bytes.baseAddress! + range.lowerBound, range.count, offset + off_t(range.lowerBound))
            }
            guard written == range.count else {
                throw written < 0 ? systemError("pwrite(page \(number))") : LMDBError(.init(rawValue: EIO), operation: "pwrite(page \(number)): short write")
            }
            wrote = true
            result.overwritten += 1
        }
        if wrote && fdatasync(fd) != 0 {
            throw systemError("fdatasync")
        }
        return result
    }

    /// The snapshot (transaction id) of every reader slot in use, this process's and others'.
    private func readerSnapshots() throws -> [UInt64] {
        final class Lines { var text = "" }
        let lines = Lines()
        let rc = withExtendedLifetime(lines) {
            mdb_reader_list(
                handle,
                { message, context in
                    guard let message, let context else { return 0 }
                    Unmanaged<Lines>.fromOpaque(context).takeUnretainedValue().text += String(cString: message)
                    return 0
                }, Unmanaged.passUnretained(lines).toOpaque())
        }
        try check(rc, "mdb_reader_list")
        // "pid thread txnid" per slot; an idle slot shows "-" for its transaction.
        return lines.text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            return fields.count == 3 ? UInt64(fields[2]) : nil
        }
    }

    /// For each of `pages` that is free in the last commit, the transaction that freed it; and the
    /// last page of that commit.
    private func freeList(of pages: Set<UInt64>) throws -> (freedBy: [UInt64: UInt64], lastPage: UInt64) {
        // LMDB opens its free database only in a read transaction: one of the last commit, which
        // is the write transaction's starting point (read transactions are not tied to a thread).
        try read { txn in
            var cursor: OpaquePointer?
            try check(mdb_cursor_open(txn.handle, 0, &cursor), "mdb_cursor_open(free pages)")
            defer { mdb_cursor_close(cursor) }
            var freedBy: [UInt64: UInt64] = [:]
            var k = MDB_val(), v = MDB_val()
            let word = MemoryLayout<UInt>.size
            var rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST)
            while rc == MDB_SUCCESS {
                if let key = k.mv_data, k.mv_size == word, let data = v.mv_data, v.mv_size >= word {
                    let txnid = UInt64(key.loadUnaligned(as: UInt.self))
                    let count = Int(bitPattern: UInt(data.loadUnaligned(as: UInt.self)))
                    if count >= 0, count <= v.mv_size / word - 1 {
                        for i in 1...max(1, count) where count > 0 {
                            let page = UInt64(data.loadUnaligned(fromByteOffset: i * word, as: UInt.self))
                            if pages.contains(page) { freedBy[page] = txnid }
                        }
                    }
                }
                rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)
            }
            if rc != MDB_NOTFOUND { try check(rc, "mdb_cursor_get(free pages)") }
            var info = MDB_envinfo()
            mdb_env_info(handle, &info)
            return (freedBy, UInt64(info.me_last_pgno))
        }
    }

    private func readFully(_ fd: Int32, _ page: inout [UInt8], at offset: off_t) throws -> Bool {
        var done = 0
        while done < page.count {
            let n = page.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, $0.count - done, offset + off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw systemError("pread") }
            if n == 0 { return false }
            done += n
        }
        return true
    }

    private func occurrences(of needle: [UInt8], in page: [UInt8]) -> [Range<Int>] {
        guard needle.count <= page.count else { return [] }
        var ranges: [Range<Int>] = []
        for start in 0...(page.count - needle.count) where page[start] == needle[0] {
            if page[start..<(start + needle.count)].elementsEqual(needle) { ranges.append(start..<(start + needle.count)) }
        }
        return ranges
    }
}

/// The error of a failed system call, from `errno`.
private func systemError(_ operation: String) -> LMDBError {
    LMDBError(.init(rawValue: errno), operation: operation)
}

/// Calls `body` with the offset of each occurrence of `pattern` in `bytes`.
private func forEachOccurrence(of pattern: UnsafeRawBufferPointer, in bytes: UnsafeRawBufferPointer, _ body: (Int) -> Void) {
    guard let first = pattern.first, let base = bytes.baseAddress, let needle = pattern.baseAddress, pattern.count <= bytes.count else {
        return
    }
    var start = 0
    while start + pattern.count <= bytes.count {
        guard let hit = memchr(base + start, Int32(first), bytes.count - pattern.count + 1 - start) else { return }
        let at = base.distance(to: UnsafeRawPointer(hit))
        if memcmp(base + at, needle, pattern.count) == 0 { body(at) }
        start = at + 1
    }
}
