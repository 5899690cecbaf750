import CLMDB
import Foundation
import LMDB
import Synchronization
import Testing

@Suite("LMDB guards: file checks, read-only environments, the write lock")
struct GuardTests {
    @Test("a write waits for another holder of the data file's flock, whatever lock file it uses")
    func writesHoldTheDataFileLock() throws {
        let path = try temporaryDirectory("flock")
        let env = try Environment(path: path)
        let db = try env.openDatabase("t", flags: .create)
        // Another open file description, as another process would have.
        let other = open(path + "/data.mdb", O_RDONLY)
        defer { close(other) }
        #expect(flock(other, LOCK_EX) == 0)
        let done = Mutex(false)
        let thread = Thread {
            _ = try? env.write { txn in try txn.put(UnsafeRawBufferPointer(start: nil, count: 0), forKey: 1 as UInt64, in: db) }
            done.withLock { $0 = true }
        }
        thread.start()
        usleep(300_000)
        let early = done.withLock { $0 }
        #expect(!early, "the write went ahead while another holder had the lock")
        flock(other, LOCK_UN)
        let deadline = Date().addingTimeInterval(5)
        while !done.withLock({ $0 }), Date() < deadline { usleep(10_000) }
        let finished = done.withLock { $0 }
        #expect(finished)
    }

    @Test("a replaced lock file stops writes with lockFileLost and is reported")
    func replacedLockFile() throws {
        let path = try temporaryDirectory("lock-replaced")
        let env = try Environment(path: path)
        let db = try env.openDatabase("t", flags: .create)
        #expect(env.writeProblem == nil)
        try FileManager.default.removeItem(atPath: path + "/lock.mdb")
        #expect(FileManager.default.createFile(atPath: path + "/lock.mdb", contents: Data()))
        #expect(env.writeProblem?.contains("replaced") == true)
        #expect(throws: LMDBError.self) {
            try env.write { txn in try txn.put(UnsafeRawBufferPointer(start: nil, count: 0), forKey: 1 as UInt64, in: db) }
        }
    }

    @Test("a read-only environment opens with MDB_RDONLY, refuses writes, and opens existing tables only")
    func readOnly() throws {
        let path = try temporaryDirectory("read-only")
        do {
            let env = try Environment(path: path)
            _ = try env.openDatabase("t", flags: .create)
        }
        let env = try Environment(path: path, options: .init(flags: .readOnly))
        #expect(env.isReadOnly)
        #expect(env.existedBefore)
        #expect(throws: LMDBError.self) { try env.write { _ in } }
        _ = try env.openExistingDatabase("t")
        do {
            _ = try env.openExistingDatabase("missing")
            Issue.record("a missing table opened")
        } catch let error as LMDBError {
            #expect(error.code == .notFound)
        }
        let report = try env.checkStructure()
        #expect(report.entries == ["t": 0])
    }

    @Test("the structure walk counts what LMDB counts, across branch pages, duplicates and overflow values")
    func structureCounts() throws {
        let path = try temporaryDirectory("walk")
        let env = try Environment(path: path)
        let plain = try env.openDatabase("plain", flags: [.create, .integerKey])
        let dups = try env.openDatabase("dups", flags: [.create, .integerKey, .duplicateSort, .duplicateFixed, .integerDuplicate])
        try env.write { txn in
            for i in 1...5_000 as ClosedRange<UInt64> {
                let size = i % 500 == 0 ? 9_000 : 40
                try [UInt8](repeating: UInt8(i & 0xff), count: size).withUnsafeBytes { try txn.put($0, forKey: i, in: plain) }
                var v = i
                try withUnsafeBytes(of: &v) { try txn.put($0, forKey: UInt32(i % (i < 4_000 ? 3 : 900)), in: dups) }
            }
        }
        let report = try env.checkStructure()
        let counted = try env.read { txn in (try txn.statistics(of: plain).entries, try txn.statistics(of: dups).entries) }
        #expect(report.entries["plain"] == UInt64(counted.0))
        #expect(report.entries["dups"] == UInt64(counted.1))
        #expect(report.pages > 50)
    }
}
