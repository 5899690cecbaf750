import Foundation
import LMDB
import LeadModel
import LedgerDemo
import Testing

@testable import EventLog
@testable import Ledger
@testable import Projections

/// A byte of data.mdb that a read uses, located through LMDB: its address in the map minus the map's base.
struct StoredByte: Hashable {
    let table: String
    let offset: UInt64
}

/// Every byte of every key and value of the log's tables, the format entry and the replay checkpoint.
func storedBytes(_ log: EventLog) throws -> [StoredByte] {
    let base = log.env.mapBaseAddress!
    var out = Set<StoredByte>()
    try log.env.read { txn in
        let tables: [(String, Database)] = [
            ("events", log.dbs.events), ("ids", log.dbs.ids), ("streams", log.dbs.streamIndex),
            ("stream-names", log.dbs.streamNames), ("stream-numbers", log.dbs.streamNumbers),
        ]
        func add(_ table: String, _ bytes: UnsafeRawBufferPointer) {
            let start = UInt64(UInt(bitPattern: bytes.baseAddress!) - base)
            for i in 0..<UInt64(bytes.count) { out.insert(StoredByte(table: table, offset: start + i)) }
        }
        for (name, db) in tables {
            try txn.withCursor(on: db) { cursor in
                try cursor.forEach { entry in
                    add(name + " key", entry.key)
                    add(name + " value", entry.value)
                    return true
                }
            }
        }
        for key in ["format", "x:" + ReplayCheckpoint.key] {
            try Array(key.utf8).withUnsafeBytes { k in
                try txn.withValue(forKey: k, in: log.dbs.meta) { value in if let value { add("meta " + key, value) } }
            }
        }
    }
    return out.sorted { $0.offset < $1.offset }
}

/// A small ledger from the demo history, with a replay checkpoint saved; returns its path.
func demoLedger(_ name: String, leads: Int = 60) throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-\(name)-\(UUID().uuidString)").path
    let ledger = try Ledger(path: path)
    _ = try ledger.appendAndWait(DemoHistory.generate(seed: 11, leads: leads).events)
    _ = try ledger.trends()
    #expect(try ledger.log.metaValue(ReplayCheckpoint.key) != nil, "trends should have saved a checkpoint")
    ledger.close()
    return path
}

/// Flips one byte of a file in place (XOR), and back.
struct Flipper {
    let handle: FileHandle
    init(_ path: String) throws { handle = try FileHandle(forUpdating: URL(fileURLWithPath: path)) }
    func xor(_ offset: UInt64, _ mask: UInt8) throws {
        try handle.seek(toOffset: offset)
        let old = try handle.read(upToCount: 1)!.first!
        try handle.seek(toOffset: offset)
        try handle.write(contentsOf: [old ^ mask])
    }
}

@Suite("Storage damage: every stored byte a read uses is covered by verify", .serialized)
struct StorageDamageTests {
    @Test("1,000 random single-byte flips in records, indexes, stream tables and the checkpoint: verify reports every one")
    func thousandFlips() throws {
        let path = try demoLedger("flips")
        let ledger = try Ledger(path: path, options: .init(createIfMissing: false, readOnly: true))
        defer { ledger.close() }
        #expect(try ledger.verify().isIntact)
        let bytes = try storedBytes(ledger.log)
        let tables = Set(bytes.map { $0.table.split(separator: " ").first! })
        #expect(tables == ["events", "ids", "streams", "stream-names", "stream-numbers", "meta"])
        let flipper = try Flipper(path + "/data.mdb")
        var generator = SeededGenerator(seed: 1_000)
        var missed: [String] = []
        var named: [String: Int] = [:]
        for _ in 0..<1_000 {
            let byte = bytes.randomElement(using: &generator)!
            let mask = UInt8.random(in: 1...255, using: &generator)
            try flipper.xor(byte.offset, mask)
            defer { try? flipper.xor(byte.offset, mask) }
            let report: VerifyReport
            do { report = try ledger.verify() } catch {
                missed.append("\(byte.table) byte \(byte.offset): verify threw \(error)")
                continue
            }
            if let problem = report.problem {
                named[byte.table, default: 0] += 1
                #expect(!problem.message.isEmpty)
            } else {
                missed.append("\(byte.table) byte \(byte.offset) ^ \(mask)")
            }
        }
        #expect(missed.isEmpty, "\(missed.count) flips not reported: \(missed.prefix(10))")
        #expect(named.values.reduce(0, +) == 1_000 - missed.count)
        #expect(try ledger.verify().isIntact, "every flip should have been undone")
    }

    @Test("a flipped checkpoint byte is rebuilt, never trusted: trends are unchanged after each of 40 flips")
    func checkpointFlips() throws {
        let path = try demoLedger("checkpoint-flips")
        let reference = try Ledger(path: path, options: .init(createIfMissing: false, readOnly: true))
        let expected = try reference.trends()
        let checkpoint = try storedBytes(reference.log).filter { $0.table.hasPrefix("meta x:") }
        reference.close()
        #expect(checkpoint.count > 100)
        let flipper = try Flipper(path + "/data.mdb")
        var generator = SeededGenerator(seed: 12)
        for _ in 0..<40 {
            let byte = checkpoint.randomElement(using: &generator)!
            let mask = UInt8.random(in: 1...255, using: &generator)
            try flipper.xor(byte.offset, mask)
            let ledger = try Ledger(path: path, options: .init(createIfMissing: false, readOnly: true))
            #expect(try ledger.trends() == expected, "byte \(byte.offset) ^ \(mask) changed the trends")
            #expect(try ReplayCheckpoint.load(ledger.log) == nil)
            #expect(try ledger.verify().problem?.message.contains("checkpoint") == true)
            ledger.close()
            try flipper.xor(byte.offset, mask)
        }
    }

    /// The saved checkpoint's bytes with `edit` applied to its episode array, re-sealed with a correct digest.
    func crafted(_ path: String, _ edit: (inout [UInt8], Int) -> Void) throws {
        let ledger = try Ledger(path: path, options: .init(createIfMissing: false))
        var bytes = try #require(try ledger.log.metaValue(ReplayCheckpoint.key))
        bytes.removeLast(ReplayCheckpoint.digestSize)
        let length = Int(bytes[0]) | Int(bytes[1]) << 8 | Int(bytes[2]) << 16 | Int(bytes[3]) << 24
        edit(&bytes, 4 + length)
        bytes += bytes.withUnsafeBytes { LogDigest.sha256($0) }
        try ledger.log.setMetaValue(bytes, for: ReplayCheckpoint.key)
        ledger.close()
    }

    @Test("a crafted checkpoint with a correct digest: out-of-range numbers are refused, wrong ones are found by verify")
    func craftedCheckpoint() throws {
        let path = try demoLedger("crafted")
        let stride = MemoryLayout<Episode>.stride
        let edits: [(String, (inout [UInt8], Int) -> Void)] = [
            (
                "owner 1,000,000",
                { b, s in Self.store(Int32(1_000_000), in: &b, at: s + MemoryLayout<Episode>.offset(of: \Episode.owner)!) }
            ),
            ("reason -7", { b, s in Self.store(Int32(-7), in: &b, at: s + stride + MemoryLayout<Episode>.offset(of: \Episode.reason)!) }),
            (
                "lead 4,000,000,000",
                { b, s in Self.store(UInt32(4_000_000_000), in: &b, at: s + MemoryLayout<Episode>.offset(of: \Episode.lead)!) }
            ),
            ("outcome byte 9", { b, s in b[s + MemoryLayout<Episode>.offset(of: \Episode.outcome)!] = 9 }),
            ("void flag byte 2", { b, s in b[s + MemoryLayout<Episode>.offset(of: \Episode.isVoid)!] = 2 }),
            (
                "previous episode 99,999",
                { b, s in Self.store(Int32(99_999), in: &b, at: s + MemoryLayout<Episode>.offset(of: \Episode.previous)!) }
            ),
            (
                "hand-off at Int64.max",
                { b, s in Self.store(Int64.max, in: &b, at: s + MemoryLayout<Episode>.offset(of: \Episode.handedOffAt)!) }
            ),
        ]
        for (name, edit) in edits {
            let fresh = try demoLedger("crafted-\(name.prefix(5))")
            let expected = try Ledger(path: fresh, options: .init(createIfMissing: false, readOnly: true)).trends()
            try crafted(fresh, edit)
            let ledger = try Ledger(path: fresh, options: .init(createIfMissing: false, readOnly: true))
            #expect(throws: (any Error).self, "\(name) was not refused") { try ReplayCheckpoint.decodeForTesting(ledger.log) }
            #expect(try ledger.trends() == expected, "\(name) changed the trends")
            #expect(try ledger.verify().problem?.message.contains("checkpoint") == true, "\(name)")
            ledger.close()
        }
        // In range but wrong: an accepted episode made rejected. Readers cannot tell; verify does.
        try crafted(path) { b, s in
            let outcome = MemoryLayout<Episode>.offset(of: \Episode.outcome)!
            for i in 0..<((b.count - s) / stride) where b[s + i * stride + outcome] == EpisodeOutcome.accepted.rawValue {
                b[s + i * stride + outcome] = EpisodeOutcome.recycled.rawValue
                break
            }
        }
        let ledger = try Ledger(path: path, options: .init(createIfMissing: false, readOnly: true))
        let problem = try ledger.verify().problem
        #expect(problem?.message.contains("disagrees with a fresh replay") == true, "\(problem?.description ?? "intact")")
    }

    static func store<T: FixedWidthInteger>(_ value: T, in bytes: inout [UInt8], at offset: Int) {
        withUnsafeBytes(of: value.littleEndian) { for (i, b) in $0.enumerated() { bytes[offset + i] = b } }
    }

    @Test("a read-only ledger computes trends without saving a checkpoint, and writes nothing")
    func readOnlyNoCheckpoint() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-ro-\(UUID().uuidString)").path
        let writer = try Ledger(path: path)
        _ = try writer.appendAndWait(DemoHistory.generate(seed: 3, leads: 30).events)
        writer.close()
        let data = path + "/data.mdb"
        let before = try Data(contentsOf: URL(fileURLWithPath: data))
        let modified = try FileManager.default.attributesOfItem(atPath: data)[.modificationDate] as! Date
        let ledger = try Ledger(path: path, options: .init(createIfMissing: false, readOnly: true))
        _ = try ledger.trends()
        _ = try ledger.impact()
        _ = try ledger.verify()
        _ = try ledger.statistics()
        #expect(try ledger.log.metaValue(ReplayCheckpoint.key) == nil)
        ledger.close()
        #expect(try Data(contentsOf: URL(fileURLWithPath: data)) == before)
        #expect(try FileManager.default.attributesOfItem(atPath: data)[.modificationDate] as! Date == modified)
    }
}

/// A deterministic generator (SplitMix64), so failures reproduce.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
