// Appends numbered batches to a ledger forever, printing "ack N" once batch N is durable.
// The crash tests kill it with SIGKILL at random moments and check what survived; the lock-file
// tests run two of them at once and expect one to stop with "refused: …" and exit code 5.
import EventLog
import Foundation

let arguments = CommandLine.arguments
guard arguments.count == 4, let first = Int(arguments[2]), let size = Int(arguments[3]) else {
    FileHandle.standardError.write(Data("usage: eventlog-crash-child LEDGER FIRST-BATCH BATCH-SIZE\n".utf8))
    exit(64)
}
let log: EventLog
do {
    log = try EventLog(path: arguments[1])
} catch {
    FileHandle.standardOutput.write(Data("refused: \(error)\n".utf8))
    exit(3)
}
var batch = first
while true {
    let records = (0..<size).map { i in
        NewRecord(
            id: crashTestID(batch: batch, index: i), stream: "lead-\((batch * 7 + i) % 97)",
            payload: Array(repeating: UInt8(truncatingIfNeeded: batch &+ i), count: 80 + (batch + i) % 120))
    }
    do {
        _ = try log.appendAndWait(AppendBatch(records: records))
    } catch {
        FileHandle.standardOutput.write(Data("refused: \(error)\n".utf8))
        exit(5)
    }
    FileHandle.standardOutput.write(Data("ack \(batch)\n".utf8))
    batch += 1
}

/// The id of record `index` of batch `batch`: the two numbers, big-endian.
func crashTestID(batch: Int, index: Int) -> UUID {
    let a = UInt64(batch).bigEndian, b = UInt64(index).bigEndian
    var bytes = [UInt8](repeating: 0, count: 16)
    withUnsafeBytes(of: a) { bytes.replaceSubrange(0..<8, with: $0) }
    withUnsafeBytes(of: b) { bytes.replaceSubrange(8..<16, with: $0) }
    return UUID(
        uuid: (
            bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
            bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
        ))
}
