import EventLog
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Integrity")
struct IntegrityTests {
    @Test("verify passes on a sound log and names the position of a flipped byte")
    func flippedByte() async throws {
        let path = temporaryLedgerPath("verify")
        let marker = "MARKER-\(UUID().uuidString)"
        do {
            let log = try EventLog(path: path)
            for i in 1...20 {
                _ = try await log.append(AppendBatch(records: [record(i == 13 ? marker : "payload \(i)")]))
            }
            let report = try log.verify()
            #expect(report.isIntact)
            #expect(report.records == 20)
            #expect(report.head == (try log.head()))
            log.close()
        }
        let file = URL(fileURLWithPath: path + "/data.mdb")
        var data = try Data(contentsOf: file)
        // Copy-on-write leaves stale copies of pages in the file: alter every copy of the record.
        let ranges = data.ranges(of: Data(marker.utf8))
        try #require(!ranges.isEmpty)
        for range in ranges { data[range.lowerBound + 3] ^= 0x01 }
        try data.write(to: file)

        let reopened = try EventLog(path: path)
        let report = try reopened.verify()
        #expect(!report.isIntact)
        #expect(report.problem?.position == 13)
        #expect(report.problem?.message.contains("hash mismatch") == true)
    }

    @Test("a backup taken while appends go on opens and verifies")
    func backupDuringAppends() async throws {
        let log = try EventLog(path: temporaryLedgerPath("live"))
        let writer = Task {
            for i in 0..<200 { _ = try await log.append(AppendBatch(records: [record("event \(i)", stream: "lead-\(i % 7)")])) }
        }
        // Back up once appends are under way (bounded wait: a loaded machine may be slow to start).
        let deadline = ContinuousClock.now + .seconds(10)
        while try log.head().position == 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        let destination = temporaryLedgerPath("backup")
        let copied = try log.backup(to: destination)
        try await writer.value
        #expect(copied.position > 0)
        let backup = try EventLog(path: destination, options: .init(createIfMissing: false))
        let report = try backup.verify()
        #expect(report.isIntact)
        #expect(report.head == copied)
        #expect(try log.head().position == 200)
        #expect(throws: BackupError.self) { try log.backup(to: destination) }
    }

    @Test("subscribe catches up with what is stored, then follows new appends")
    func subscription() async throws {
        let log = try EventLog(path: temporaryLedgerPath("follow"))
        _ = try await log.append(AppendBatch(records: (1...3).map { record("old \($0)") }))
        let reader = Task {
            var seen: [UInt64] = []
            for try await stored in log.subscribe(from: 2) {
                seen.append(stored.position)
                if seen.count == 5 { break }
            }
            return seen
        }
        try await Task.sleep(for: .milliseconds(100))
        for i in 4...6 { _ = try await log.append(AppendBatch(records: [record("new \(i)")])) }
        #expect(try await reader.value == [2, 3, 4, 5, 6])
    }

    @Test("opening a missing ledger without create names the path")
    func missing() throws {
        let path = temporaryLedgerPath("absent")
        #expect(throws: LogOpenError.notFound(path)) { try EventLog(path: path, options: .init(createIfMissing: false)) }
    }

    @Test("a child killed with SIGKILL 20 times never loses an acknowledged batch nor leaves part of one")
    func killedWriter() throws {
        let path = temporaryLedgerPath("crash")
        let child = productsDirectory().appendingPathComponent("eventlog-crash-child")
        try #require(FileManager.default.isExecutableFile(atPath: child.path), "build the package first: \(child.path)")
        let batchSize = 7
        var next = 0
        var acknowledged = Set<Int>()
        var generator = SeededGenerator(seed: 20_260_302)
        for _ in 0..<20 {
            let process = Process()
            process.executableURL = child
            process.arguments = [path, String(next), String(batchSize)]
            let out = Pipe()
            process.standardOutput = out
            try process.run()
            usleep(UInt32.random(in: 60_000...260_000, using: &generator))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let lines = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n")
            for line in lines where line.hasPrefix("ack ") { acknowledged.insert(Int(line.dropFirst(4))!) }

            let log = try EventLog(path: path)
            var present: [Int: Int] = [:]
            try log.scan { view in
                let id = view.idBytes
                present[Int(UInt64(bigEndian: id.loadUnaligned(as: UInt64.self))), default: 0] += 1
                return true
            }
            for batch in acknowledged { #expect(present[batch] == batchSize, "acknowledged batch \(batch) is incomplete") }
            for (batch, count) in present { #expect(count == batchSize, "batch \(batch) is partly stored (\(count) of \(batchSize))") }
            let report = try log.verify()
            #expect(report.isIntact, "\(report.problem?.description ?? "")")
            next = (present.keys.max() ?? -1) + 1
        }
        #expect(acknowledged.count > 20, "the child should have acknowledged batches between kills")
    }
}
