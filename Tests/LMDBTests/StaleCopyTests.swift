import Foundation
import LMDB
import Synchronization
import Testing

private func fileContains(_ path: String, _ needle: [UInt8]) throws -> Bool {
    try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb")).range(of: Data(needle)) != nil
}

private func randomBytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255) } }

/// An environment with a secret under `"lead-7"` in table `keys`, rewritten beside other entries
/// over several commits (so old versions of its page are freed with it inside), and a free list of
/// hundreds of pages from a bulk table filled and emptied.
private struct SecretEnvironment {
    let path: String
    let env: Environment
    let keys: Database
    let scratch: Database
    let secret = randomBytes(32)

    init() throws {
        path = try temporaryDirectory("stale-copies")
        env = try Environment(path: path)
        keys = try env.openDatabase("keys", flags: .create)
        scratch = try env.openDatabase("scratch", flags: [.create, .integerKey])
        let bulk = try env.openDatabase("bulk", flags: [.create, .integerKey])
        let secret = self.secret
        let keys = self.keys
        try env.write { txn in try secret.withUnsafeBytes { v in try Array("lead-7".utf8).withUnsafeBytes { try txn.put(v, forKey: $0, in: keys) } } }
        for i in 0..<6 {
            try env.write { txn in
                let value = randomBytes(32)
                try value.withUnsafeBytes { v in try Array("lead-\(100 + i)".utf8).withUnsafeBytes { try txn.put(v, forKey: $0, in: keys) } }
            }
        }
        let filler = [UInt8](repeating: 0xAB, count: 1000)
        try env.write { txn in
            for i in 0..<3000 as Range<UInt64> { try filler.withUnsafeBytes { try txn.put($0, forKey: i, in: bulk) } }
        }
        try env.write { txn in try txn.empty(bulk) }
    }

    /// Destroys the secret as the ledger does: zeros first, then the entry.
    func destroy() throws {
        let keys = self.keys
        try env.write { txn in
            try Array("lead-7".utf8).withUnsafeBytes { name in
                try [UInt8](repeating: 0, count: 32).withUnsafeBytes { try txn.put($0, forKey: name, in: keys) }
                _ = try txn.delete(key: name, in: keys)
            }
        }
    }

    func erase(rounds: Int = 4) throws -> StaleCopyReport {
        let scratch = self.scratch
        return try env.overwriteStaleCopies(of: [secret], rounds: rounds) { txn in
            try [UInt8](repeating: 1, count: 8).withUnsafeBytes { try txn.put($0, forKey: 0 as UInt64, in: scratch) }
        }
    }
}

@Suite("Overwriting the copies LMDB leaves of removed bytes")
struct StaleCopyTests {
    @Test("a destroyed secret lingers in freed pages; the overwrite finds and zeros only those pages, and the file stays whole")
    func overwritesOnlyTheCopies() throws {
        let setup = try SecretEnvironment()
        try setup.destroy()
        // The bytes outlive their deletion in the old versions of the table's page.
        #expect(try fileContains(setup.path, setup.secret))
        let freeBefore = try setup.env.read { try $0.freePageCount() }
        #expect(freeBefore > 300)

        let report = try setup.erase()
        #expect(try !fileContains(setup.path, setup.secret))
        #expect(report.remaining.isEmpty)
        #expect(report.pagesFound >= 1)
        #expect(report.pagesOverwritten >= report.pagesFound)
        // Targeted: a few pages, not the free list.
        #expect(report.pagesOverwritten < 20)
        #expect(report.bytesSearched == UInt64(try FileManager.default.attributesOfItem(atPath: setup.path + "/data.mdb")[.size] as! Int))

        // Nothing live was touched: the structure checks out and every other entry reads back.
        _ = try setup.env.checkStructure()
        let keys = setup.keys
        let left = try setup.env.read { txn in
            try (0..<6).map { i in try Array("lead-\(100 + i)".utf8).withUnsafeBytes { try txn.value(forKey: $0, in: keys)?.count } }
        }
        #expect(left == Array(repeating: 32, count: 6))
        let gone = try setup.env.read { txn in try Array("lead-7".utf8).withUnsafeBytes { try txn.value(forKey: $0, in: keys) } }
        #expect(gone == nil)
    }

    @Test("a reader holding a snapshot with the secret keeps it readable and is reported; once it ends, the copy goes")
    func readersKeepTheirSnapshot() throws {
        let setup = try SecretEnvironment()
        let keys = setup.keys
        let env = setup.env
        let release = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)
        let seen = Mutex<[[UInt8]?]>([])
        let reader = Thread {
            _ = try? env.read { txn in
                let first = try Array("lead-7".utf8).withUnsafeBytes { try txn.value(forKey: $0, in: keys) }
                started.signal()
                release.wait()
                let second = try Array("lead-7".utf8).withUnsafeBytes { try txn.value(forKey: $0, in: keys) }
                seen.withLock { $0 = [first, second] }
            }
            started.signal()
        }
        reader.start()
        started.wait()
        try setup.destroy()

        let held = try setup.erase(rounds: 2)
        #expect(!held.remaining.isEmpty)
        #expect(held.remaining.allSatisfy { $0.contains("reader") })

        release.signal()
        started.wait()
        // The reader's snapshot was not overwritten under it.
        #expect(seen.withLock { $0 } == [setup.secret, setup.secret])

        let after = try setup.erase()
        #expect(after.remaining.isEmpty)
        #expect(try !fileContains(setup.path, setup.secret))
        _ = try setup.env.checkStructure()
    }
}
