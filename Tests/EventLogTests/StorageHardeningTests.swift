import Foundation
import LMDB
import Testing

@testable import EventLog

/// The bytes of a file, and when it was last modified.
struct FileState: Equatable {
    let bytes: Data
    let modified: Date

    init(_ path: String) throws {
        bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        modified = try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as! Date
    }
}

/// Writes `value` at `offset` of the file at `path`, returning the byte that was there.
@discardableResult
func poke(_ path: String, at offset: UInt64, _ value: UInt8) throws -> UInt8 {
    let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    try handle.seek(toOffset: offset)
    let old = try handle.read(upToCount: 1)?.first ?? 0
    try handle.seek(toOffset: offset)
    try handle.write(contentsOf: [value])
    return old
}

/// A closed log of `count` records in `streams` streams.
func filledLog(_ name: String, count: Int = 60, streams: Int = 7) async throws -> String {
    let path = temporaryLedgerPath(name)
    let log = try EventLog(path: path)
    for start in stride(from: 0, to: count, by: 10) {
        let batch = (start..<min(count, start + 10)).map { i in
            record("payload \(i) " + String(repeating: "x", count: i % 40), stream: "lead-\(i % streams)")
        }
        _ = try await log.append(AppendBatch(records: batch))
    }
    log.close()
    return path
}

@Suite("Storage hardening: opening, verifying and guarding the log")
struct StorageHardeningTests {
    @Test("a flipped meta-page byte is refused at open, writable or not, and the file stays byte-identical")
    func damagedMeta() async throws {
        let path = try await filledLog("meta")
        let data = path + "/data.mdb"
        // Magic, txnid, last page, main root, a byte LMDB never writes, the page header: each in both meta pages.
        for base in [0, 4096] as [UInt64] {
            for offset in [16, 160, 152, 144, 128, 200, 4000, 10] as [UInt64] {
                let old = try poke(data, at: base + offset, 0)
                try poke(data, at: base + offset, old ^ 0x5a)
                let before = try FileState(data)
                for readOnly in [false, true] {
                    #expect(throws: LogOpenError.self, "byte \(base + offset)") {
                        try EventLog(path: path, options: .init(createIfMissing: false, readOnly: readOnly))
                    }
                }
                #expect(try FileState(data) == before, "opening wrote to a damaged ledger (byte \(base + offset))")
                try poke(data, at: base + offset, old)
            }
        }
        let log = try EventLog(path: path, options: .init(readOnly: true))
        #expect(try log.verify().isIntact)
    }

    @Test("a truncated data file is refused as damaged, never mapped")
    func truncated() async throws {
        let path = try await filledLog("truncated", count: 300)
        let data = path + "/data.mdb"
        let size = try FileState(data).bytes.count
        for keep in [0, 100, 4096, 8192 + 17, size - 4096] {
            let handle = try FileHandle(forUpdating: URL(fileURLWithPath: data))
            try handle.truncate(atOffset: UInt64(keep))
            try handle.close()
            do {
                _ = try EventLog(path: path, options: .init(createIfMissing: false, readOnly: true))
                Issue.record("a data file cut to \(keep) of \(size) bytes opened")
            } catch let error as LogOpenError {
                guard case .damaged(_, let why) = error else { Issue.record("\(error)"); continue }
                #expect(why.contains("truncated") || why.contains("shorter"), "\(why)")
            }
            #expect(try FileState(data).bytes.count == keep, "the open grew the file back")
        }
    }

    @Test("a read-only open writes nothing, starts no writer and refuses appends and meta writes")
    func readOnlyWritesNothing() async throws {
        let path = try await filledLog("readonly")
        let data = path + "/data.mdb"
        let before = try FileState(data)
        let log = try EventLog(path: path, options: .init(readOnly: true))
        #expect(log.env.flags.contains(.readOnly))
        #expect(log.health == LogHealth(problem: nil, writable: false))
        #expect(try log.verify().isIntact)
        #expect(try log.records().count == 60)
        #expect(throws: AppendError.self) { try log.appendAndWait(AppendBatch(records: [record("no")])) }
        #expect(throws: (any Error).self) { try log.setMetaValue([1], for: "checkpoint") }
        _ = try log.backup(to: temporaryLedgerPath("readonly-backup"))
        log.close()
        #expect(try FileState(data) == before)
    }

    @Test("a ledger whose tables are missing is damage, and opening it creates nothing")
    func missingTables() async throws {
        let path = temporaryLedgerPath("no-tables")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        // An LMDB environment that is not a ledger: one table of another name.
        let env = try Environment(path: path)
        _ = try env.openDatabase("other", flags: .create)
        let before = try FileState(path + "/data.mdb")
        do {
            _ = try EventLog(path: path, options: .init(createIfMissing: false))
            Issue.record("a file without the log's tables opened")
        } catch let error as LogOpenError {
            #expect(error.description.contains("events table is missing"), "\(error)")
        }
        #expect(try FileState(path + "/data.mdb") == before)
    }

    @Test("a file in which nothing was ever committed (a creation cut short) is created again by a writable open only")
    func creationCutShort() throws {
        let path = temporaryLedgerPath("cut-short")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        _ = try Environment(path: path)  // LMDB writes its meta pages at open; no transaction follows
        #expect(throws: LogOpenError.self) { try EventLog(path: path, options: .init(readOnly: true)) }
        let log = try EventLog(path: path, options: .init(createIfMissing: true))
        #expect(try log.verify().isIntact)
    }

    @Test("files are the owner's only: directory 0700, data and lock files 0600, backups too")
    func permissions() async throws {
        let path = try await filledLog("modes", count: 5)
        func mode(_ p: String) throws -> Int {
            (try FileManager.default.attributesOfItem(atPath: p)[.posixPermissions] as! NSNumber).intValue & 0o777
        }
        #expect(try mode(path) == 0o700)
        #expect(try mode(path + "/data.mdb") == 0o600)
        #expect(try mode(path + "/lock.mdb") == 0o600)
        let backup = temporaryLedgerPath("modes-backup")
        let log = try EventLog(path: path, options: .init(readOnly: true))
        try log.backup(to: backup)
        #expect(try mode(backup) == 0o700)
        #expect(try mode(backup + "/data.mdb") == 0o600)
    }

    @Test("copying one stream's name bytes onto another's is found by verify, from either table")
    func streamNameCopy() async throws {
        let path = try await filledLog("stream-names")
        // The attack: in the file, overwrite lead-2's name with lead-1's (same length) in one table.
        for table in ["stream-numbers", "stream-names"] {
            let log = try EventLog(path: path, options: .init(readOnly: true))
            let (offset, length) = try log.withSnapshot { _ in
                try log.env.read { txn in
                    let db = table == "stream-numbers" ? log.dbs.streamNumbers : log.dbs.streamNames
                    return try txn.withCursor(on: db) { cursor in
                        var found: (UInt64, Int) = (0, 0)
                        try cursor.forEach { entry in
                            let name = table == "stream-numbers" ? entry.value : entry.key
                            if String(decoding: name, as: UTF8.self) == "lead-2" {
                                found = (UInt64(UInt(bitPattern: name.baseAddress!) - log.env.mapBaseAddress!), name.count)
                                return false
                            }
                            return true
                        }
                        return found
                    }
                }
            }
            log.close()
            #expect(length == 6)
            #expect(offset < UInt64(try FileState(path + "/data.mdb").bytes.count), "\(table) offset \(offset)")
            var saved: [UInt8] = []
            for (i, byte) in Array("lead-1".utf8).enumerated() { saved.append(try poke(path + "/data.mdb", at: offset + UInt64(i), byte)) }
            let damaged = try EventLog(path: path, options: .init(readOnly: true))
            let report = try damaged.verify()
            #expect(!report.isIntact, "\(table)")
            #expect(report.problem?.description.contains("stream") == true, "\(report.problem?.description ?? "")")
            damaged.close()
            for (i, byte) in saved.enumerated() { try poke(path + "/data.mdb", at: offset + UInt64(i), byte) }
        }
        #expect(try EventLog(path: path, options: .init(readOnly: true)).verify().isIntact)
    }

    @Test("verify walks the pages itself: a branch pointer beyond the file is damage, not a SIGBUS")
    func branchBeyondFile() async throws {
        let path = try await filledLog("branch", count: 2_000)
        let data = path + "/data.mdb"
        let bytes = try Data(contentsOf: URL(fileURLWithPath: data))
        // Point the first child of every branch page (live ones and freed ones alike) far past the end.
        var branches = 0
        for page in stride(from: 2 * 4096, to: bytes.count, by: 4096) where bytes[page + 10] == 0x01 && bytes[page + 11] == 0 {
            let node = Int(bytes[page + 16]) | Int(bytes[page + 17]) << 8
            try poke(data, at: UInt64(page + node + 2), 0x7f)
            branches += 1
        }
        #expect(branches > 0, "no branch page in \(bytes.count) bytes")
        let log = try EventLog(path: path, options: .init(readOnly: true))
        let report = try log.verify()
        #expect(report.problem?.message.contains("outside the file") == true, "\(report.problem?.description ?? "intact")")
    }

    @Test("a deleted lock file: this process stops writing and reports unhealthy; another process's appends are not lost")
    func lockFileDeleted() async throws {
        let path = try await filledLog("lock", count: 10)
        let log = try EventLog(path: path)
        #expect(log.health.isHealthy)
        try FileManager.default.removeItem(atPath: path + "/lock.mdb")
        #expect(log.health.problem?.contains("deleted") == true)
        do {
            _ = try await log.append(AppendBatch(records: [record("after")]))
            Issue.record("an append went through a lost lock file")
        } catch {
            #expect(error.code == .storage)
            #expect(error.message.contains("lock file"), "\(error.message)")
        }
        log.close()
    }

    @Test("two real processes, the lock file deleted between them: one stops, every acknowledged batch survives")
    func twoProcessesLockDeleted() throws {
        let path = temporaryLedgerPath("two-writers")
        let child = productsDirectory().appendingPathComponent("eventlog-crash-child")
        try #require(FileManager.default.isExecutableFile(atPath: child.path))
        func start(_ first: Int) throws -> (Process, Pipe) {
            let process = Process()
            process.executableURL = child
            process.arguments = [path, String(first), "5"]
            let out = Pipe()
            process.standardOutput = out
            try process.run()
            return (process, out)
        }
        var acknowledged = Set<Int>()
        var stopped = 0
        for trial in 0..<5 {
            let (a, outA) = try start(trial * 2_000_000)
            usleep(150_000)
            try? FileManager.default.removeItem(atPath: path + "/lock.mdb")
            let (b, outB) = try start(trial * 2_000_000 + 1_000_000)
            usleep(300_000)
            for p in [a, b] where p.isRunning { kill(p.processIdentifier, SIGKILL) }
            a.waitUntilExit()
            b.waitUntilExit()
            for out in [outA, outB] {
                let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                for line in text.split(separator: "\n") {
                    if line.hasPrefix("ack ") { acknowledged.insert(Int(line.dropFirst(4))!) }
                    if line.hasPrefix("refused: ") {
                        #expect(line.contains("lock file"), "\(line)")
                        stopped += 1
                    }
                }
            }
            #expect(a.terminationReason == .exit || a.terminationStatus == SIGKILL)
        }
        let log = try EventLog(path: path, options: .init(readOnly: true))
        let report = try log.verify()
        #expect(report.isIntact, "\(report.problem?.description ?? "")")
        var present: [Int: Int] = [:]
        try log.scan { view in
            present[Int(UInt64(bigEndian: view.idBytes.loadUnaligned(as: UInt64.self))), default: 0] += 1
            return true
        }
        for batch in acknowledged { #expect(present[batch] == 5, "acknowledged batch \(batch) was lost") }
        #expect(stopped >= 1, "the first process should have stopped writing")
        #expect(acknowledged.count > 10)
    }

    @Test("--map-size's default fits the address space the process may use")
    func defaultMapSize() {
        #expect(Environment.defaultMapSize <= 32 << 30)
        #expect(Environment.defaultMapSize >= 1 << 16)
        #expect(EventLog.Options().mapSize == Environment.defaultMapSize)
    }
}
