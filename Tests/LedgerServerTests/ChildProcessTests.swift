import Foundation
import LeadModel
import Ledger
import NIOHTTP1
import Synchronization
import Testing

@testable import LedgerServer

/// A `leadledger serve` child process on a free port.
///
/// Unchecked: after launch, `Process` is only read (running state, pid, exit status), which it allows from any thread.
final class ServeProcess: @unchecked Sendable {
    let process: Process
    let port: Int

    init(ledger path: String) throws {
        let process = Process()
        process.executableURL = builtProduct("leadledger")
        process.arguments = ["serve", "--ledger", path, "--port", "0"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The first line names the port; read it byte by byte so nothing after it is consumed.
        var line: [UInt8] = []
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline, line.last != 0x0A {
            guard let byte = try output.fileHandleForReading.read(upToCount: 1), !byte.isEmpty else { break }
            line += byte
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let port = text.split(separator: ":").last.flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) else {
            process.terminate()
            throw TestFailure("serve did not report its address: \(text.debugDescription)")
        }
        self.process = process
        self.port = port
    }

    /// Waits for the exit, at most `seconds`; true when it exited.
    func waitForExit(seconds: Double) async -> Bool {
        for _ in 0..<Int(seconds * 20) {
            if !process.isRunning { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return !process.isRunning
    }
}

/// Counts acknowledgements as they arrive, for whoever waits on the load.
final class AckCounter: Sendable {
    private let count = Atomic<Int>(0)
    func add() { count.add(1, ordering: .relaxed) }
    var value: Int { count.load(ordering: .relaxed) }
}

/// Posts single events from `clients` connections until the server goes away or `stop` is set;
/// returns every acknowledged (id, position).
func appendUntilGone(
    port: Int, key: String, clients: Int, counter: AckCounter? = nil, stop: @escaping @Sendable () -> Bool
) async -> [(UUID, Int)] {
    await withTaskGroup(of: [(UUID, Int)].self) { group in
        for client in 0..<clients {
            group.addTask {
                var acks: [(UUID, Int)] = []
                _ = try? await HTTPConnection.with(port: port) { connection in
                    let headers = [("Authorization", "Bearer \(key)"), ("Content-Type", "application/x-ndjson")]
                    // Bounded: a child that never dies still ends the loop.
                    for index in 0..<50_000 where !stop() {
                        let id = UUID()
                        let reply = try await connection.send(
                            .POST, "/v1/events", headers: headers, body: Array(capturedEvent(id: id, lead: "K\(client)-\(index)").utf8))
                        guard reply.status == 201, let position = (try reply.json()["positions"] as? [Int])?.first else { return }
                        acks.append((id, position))
                        counter?.add()
                    }
                }
                return acks
            }
        }
        var all: [(UUID, Int)] = []
        for await acks in group { all += acks }
        return all
    }
}

/// Every acknowledged id is stored at its acknowledged position, and positions are gapless.
func checkAcknowledged(_ acks: [(UUID, Int)], in path: String) throws {
    let ledger = try Ledger(path: path, options: .init(createIfMissing: false, mapSize: 1 << 30))
    defer { ledger.close() }
    let records = try ledger.log.records(from: 1)
    #expect(records.map(\.position) == (0..<UInt64(records.count)).map { $0 + 1 })
    let stored = Dictionary(records.map { ($0.id, Int($0.position)) }, uniquingKeysWith: { first, _ in first })
    #expect(stored.count == records.count, "an id stored twice")
    let lost = acks.filter { stored[$0.0] != $0.1 }
    #expect(lost.isEmpty, "\(lost.count) acknowledged events lost or moved, e.g. \(lost.prefix(3))")
    #expect(records.count >= acks.count)
    #expect(try ledger.verify().isIntact)
}

@Suite("leadledger serve as a child process", .serialized)
struct ChildProcessTests {
    func prepareLedger(scope: APIScope = .append, events: [LeadEvent] = []) async throws -> (path: String, key: String) {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-serve-\(UUID().uuidString)").path
        let ledger = try Ledger(path: path, options: .init(mapSize: 1 << 30))
        defer { ledger.close() }
        if !events.isEmpty { _ = try await ledger.append(events) }
        return (path, try await APIKeyStore(ledger: ledger).add(scope: scope).secret)
    }

    @Test("SIGKILL under load loses no acknowledged event")
    func killDuringLoad() async throws {
        let (path, key) = try await prepareLedger()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let server = try ServeProcess(ledger: path)
        let started = Date()
        let killed = Atomic<Bool>(false)
        let counter = AckCounter()
        let killer = Task {
            // Kill once the load is well under way (a loaded machine may take longer to get there),
            // then a little later, so requests are in flight.
            let deadline = Date().addingTimeInterval(20)
            while counter.value < 500, Date() < deadline { try? await Task.sleep(for: .milliseconds(20)) }
            try? await Task.sleep(for: .milliseconds(300))
            kill(server.process.processIdentifier, SIGKILL)
            killed.store(true, ordering: .relaxed)
        }
        let acks = await appendUntilGone(port: server.port, key: key, clients: 64, counter: counter) {
            Date().timeIntervalSince(started) > 30
        }
        await killer.value
        let didKill = killed.load(ordering: .relaxed)
        #expect(didKill)
        #expect(await server.waitForExit(seconds: 10))
        #expect(server.process.terminationReason == .uncaughtSignal)
        #expect(acks.count > 100, "the load did not get going before the kill")
        try checkAcknowledged(acks, in: path)
    }

    @Test("SIGTERM drains requests in flight, closes the ledger and exits cleanly")
    func gracefulShutdown() async throws {
        let (path, key) = try await prepareLedger()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let server = try ServeProcess(ledger: path)
        let started = Date()
        let terminator = Task {
            try? await Task.sleep(for: .milliseconds(800))
            server.process.terminate()
        }
        let acks = await appendUntilGone(port: server.port, key: key, clients: 16) { Date().timeIntervalSince(started) > 30 }
        await terminator.value
        #expect(await server.waitForExit(seconds: 20))
        #expect(server.process.terminationReason == .exit)
        #expect(server.process.terminationStatus == 0)
        #expect(acks.count > 50)
        try checkAcknowledged(acks, in: path)
    }

    @Test("SIGTERM while an event stream is open ends the stream, exits 0 promptly and leaves the ledger intact")
    func shutdownWithOpenStream() async throws {
        let events = (0..<3).map { LeadEventFixture.captured(lead: "T\($0)") }
        let (path, key) = try await prepareLedger(scope: .read, events: events)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let server = try ServeProcess(ledger: path)
        defer { if server.process.isRunning { kill(server.process.processIdentifier, SIGKILL) } }
        // Bounded well above a clean shutdown's few milliseconds: this catches a hang, it times nothing.
        let (received, ended) = try await withTimeout(seconds: 30) {
            try await HTTPConnection.with(port: server.port) { connection in
                try await connection.write(.GET, "/v1/events/stream", headers: [("Authorization", "Bearer \(key)")])
                let (status, _) = try await connection.readHead()
                try #require(status == 200)
                var text = ""
                while !text.contains("id: 3\n") {
                    guard let chunk = try await connection.nextChunk() else {
                        throw TestFailure("the stream ended before catching up: \(text)")
                    }
                    text += String(decoding: chunk, as: UTF8.self)
                }
                server.process.terminate()
                let signalled = Date()
                // The stream must end, not merely go quiet: read until the end of the body or the connection.
                while try await connection.nextChunk() != nil {}
                return (text, Date().timeIntervalSince(signalled))
            }
        }
        #expect(received.contains(#""lead":"T0""#))
        #expect(ended < 10, "the stream ended \(ended) s after SIGTERM")
        #expect(await server.waitForExit(seconds: 10), "the server still runs 10 s after SIGTERM with a stream open")
        #expect(server.process.terminationReason == .exit)
        #expect(server.process.terminationStatus == 0)

        let ledger = try Ledger(path: path, options: .init(createIfMissing: false, mapSize: 1 << 30))
        defer { ledger.close() }
        #expect(try ledger.verify().isIntact)
        #expect(try ledger.log.records(from: 1).map(\.id) == events.map(\.id))
    }
}
