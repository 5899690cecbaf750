import Foundation
import LeadModel
import Ledger
import NIOCore
import NIOHTTP1
import Projections
import Synchronization
import Testing

@testable import LedgerServer

/// A server on a free loopback port with `configure` applied to the defaults.
func hardenedServer(_ ledger: Ledger, _ configure: (inout ServerConfiguration) -> Void = { _ in }) -> LedgerHTTPServer {
    var configuration = ServerConfiguration(port: 0)
    configure(&configuration)
    return LedgerHTTPServer(ledger: ledger, configuration: configuration)
}

/// `reason.defined` as a client sends it.
func reasonDefinedEvent(code: String = "FIT_COMPANY.TOO_SMALL", source: String = "crm") -> String {
    #"{"id":"\#(UUID().uuidString.lowercased())","type":"reason.defined","occurredAt":"2026-02-01T00:00:00Z","source":"\#(source)","data":{"code":"\#(code)","label":"Company too small","category":"FIT_COMPANY"}}"#
}

@Suite("Numbers from outside are range-checked", .serialized)
struct RangeCheckTests {
    @Test("after=18446744073709551615 on the list, the stream and Last-Event-ID is a 400 naming the parameter; the server keeps serving")
    func hugePositions() async throws {
        try await withTemporaryLedger { ledger, _ in
            _ = try await ledger.append([LeadEventFixture.captured(lead: "P1")])
            let server = hardenedServer(ledger)
            let keys = try TestKeys(server.keys)
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in
                    let auth = [("Authorization", "Bearer \(keys.read)")]
                    for path in [
                        "/v1/events?after=18446744073709551615", "/v1/events/stream?after=18446744073709551615",
                        "/v1/events?after=9223372036854775808",
                    ] {
                        let reply = try await connection.send(.GET, path, headers: auth)
                        #expect(reply.status == 400, "\(path): \(reply.text)")
                        #expect(reply.text.contains("`after`"), "\(path): \(reply.text)")
                    }
                    let header = try await connection.send(
                        .GET, "/v1/events/stream", headers: auth + [("Last-Event-ID", "18446744073709551615")])
                    #expect(header.status == 400)
                    #expect(header.text.contains("Last-Event-ID"))
                    let limit = try await connection.send(.GET, "/v1/events?limit=99999999999999999999999", headers: auth)
                    #expect(limit.status == 400)
                    // The largest position accepted reads an empty page instead of overflowing.
                    let largest = try await connection.send(.GET, "/v1/events?after=9223372036854775807", headers: auth)
                    #expect(largest.status == 200)
                    #expect(try largest.json()["next"] as? Int == Int.max)
                    let health = try await connection.send(.GET, "/health")
                    #expect(health.status == 200)
                }
            }
        }
    }
}

@Suite("Anonymous access stays on this machine", .serialized)
struct AnonymousAccessTests {
    @Test("--allow-anonymous with a non-loopback host is refused at start-up even while a key exists")
    func refusedAtStartup() async throws {
        try await withTemporaryLedger { ledger, _ in
            let server = LedgerHTTPServer(ledger: ledger, configuration: .init(host: "0.0.0.0", allowAnonymous: true))
            _ = try await server.keys.add(scope: .admin)
            await #expect(throws: APIKeyError.self) { try await server.checkStartup() }
            for host in ["127.evil.example", "10.0.0.1", "::", "example.com"] {
                #expect(!ServerConfiguration(host: host).isLoopback, "\(host)")
            }
            for host in ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"] {
                #expect(ServerConfiguration(host: host).isLoopback, "\(host)")
            }
        }
    }

    @Test("a server on 0.0.0.0 with --allow-anonymous whose last key is revoked does not open its routes, POST /v1/keys included")
    func revokedKeyDoesNotOpenTheServer() async throws {
        try await withTemporaryLedger { ledger, _ in
            let server = hardenedServer(ledger) {
                $0.host = "0.0.0.0"
                $0.allowAnonymous = true
            }
            let admin = try await server.keys.add(scope: .admin)
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in
                    let revoke = try await connection.send(
                        .DELETE, "/v1/keys/\(admin.id)", headers: [("Authorization", "Bearer \(admin.secret)")])
                    #expect(revoke.status == 204)
                    let create = try await connection.send(
                        .POST, "/v1/keys", headers: [("Content-Type", "application/json")], body: Array(#"{"scope":"admin"}"#.utf8))
                    #expect(create.status == 401, "\(create.text)")
                    let list = try await connection.send(.GET, "/v1/events")
                    #expect(list.status == 401)
                }
            }
            #expect(try await server.keys.list().allSatisfy { !$0.isActive })
        }
    }

    @Test("on loopback, anonymous access opens once the last key is revoked and closes again when a key is added")
    func loopbackFollowsKeys() async throws {
        try await withTemporaryLedger { ledger, _ in
            let server = hardenedServer(ledger) { $0.allowAnonymous = true }
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in
                    #expect(try await connection.send(.GET, "/v1/stats").status == 200)
                    _ = try await server.keys.add(scope: .read)
                    #expect(try await connection.send(.GET, "/v1/stats").status == 401)
                }
            }
        }
    }

    @Test("`leadledger serve --host 0.0.0.0 --allow-anonymous` exits with a usage error although the ledger has a key")
    func commandLineRefuses() async throws {
        try await withTemporaryLedger { ledger, path in
            _ = try APIKeyStore(ledger: ledger).add(scope: .admin)
            ledger.close()
            let process = Process()
            process.executableURL = builtProduct("leadledger")
            process.arguments = ["serve", "--ledger", path, "--port", "0", "--host", "0.0.0.0", "--allow-anonymous"]
            let errors = Pipe()
            process.standardOutput = FileHandle.nullDevice
            process.standardError = errors
            try process.run()
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus != 0)
            #expect(process.terminationReason == .exit)
            #expect(message.contains("loopback"), "\(message)")
        }
    }
}

@Suite("Batches are bounded before they are decoded", .serialized)
struct BatchBoundTests {
    @Test("a 3 MB array of a million {} is refused with a small 413 and the connection closed; nothing is appended")
    func millionEmptyObjects() async throws {
        try await withTemporaryLedger { ledger, _ in
            let server = hardenedServer(ledger)
            let keys = try TestKeys(server.keys)
            let body = "[" + Array(repeating: "{}", count: 1_000_000).joined(separator: ",") + "]"
            try await withRunningServer(server) { port in
                let started = ContinuousClock.now
                try await HTTPConnection.with(port: port) { connection in
                    let reply = try await connection.send(
                        .POST, "/v1/events", headers: [("Authorization", "Bearer \(keys.append)"), ("Content-Type", "application/json")],
                        body: Array(body.utf8))
                    #expect(reply.status == 413)
                    #expect(reply.body.count < 4096, "a \(reply.body.count)-byte error")
                    #expect(reply.text.contains("10000"))
                }
                #expect(ContinuousClock.now - started < .seconds(20))
                // NDJSON counts the same way.
                try await HTTPConnection.with(port: port) { connection in
                    let lines = Array(repeating: "{}", count: 20_000).joined(separator: "\n")
                    let reply = try await connection.send(
                        .POST, "/v1/events",
                        headers: [("Authorization", "Bearer \(keys.append)"), ("Content-Type", "application/x-ndjson")],
                        body: Array(lines.utf8))
                    #expect(reply.status == 413)
                }
            }
            #expect(try ledger.head().position == 0)
        }
    }

    @Test(
        "append bodies share one memory budget: while one holds it, another is a 503 with Retry-After; once it is answered, the budget is free again"
    )
    func sharedBodyBudget() async throws {
        try await withTemporaryLedger { ledger, _ in
            let server = hardenedServer(ledger) { $0.maxBodyBytesInFlight = 1000 }
            let keys = try TestKeys(server.keys)
            let event = capturedEvent(lead: "budget")
            let padded = event + String(repeating: " ", count: 800 - event.utf8.count)
            try await withRunningServer(server) { port in
                let holder = try RawSocket(port: port)
                let head =
                    "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(keys.append)\r\nContent-Type: application/x-ndjson\r\nContent-Length: 800\r\n\r\n"
                holder.send(head + String(padded.prefix(100)))
                try await Task.sleep(for: .milliseconds(300))
                #expect(server.bodies.inUse == 800)
                let second = try RawSocket(port: port)
                second.send(head + padded)
                let refused = second.read(until: "\r\n\r\n", seconds: 5)
                #expect(refused.hasPrefix("HTTP/1.1 503"), "\(refused)")
                #expect(refused.contains("retry-after") || refused.contains("Retry-After"))
                holder.send(String(padded.dropFirst(100)))
                #expect(holder.read(until: "\r\n\r\n", seconds: 5).hasPrefix("HTTP/1.1 201"))
                for _ in 0..<100 where server.bodies.inUse > 0 { try await Task.sleep(for: .milliseconds(10)) }
                #expect(server.bodies.inUse == 0)
            }
        }
    }

    @Test("5,000 bad events list the first 100 problems and count the other 4,900")
    func problemsAreCapped() async throws {
        try await withRouter { client, ledger, keys in
            let body = "[" + Array(repeating: "{}", count: 5_000).joined(separator: ",") + "]"
            try await client.execute(
                uri: "/v1/events", method: .post, headers: [.authorization: "Bearer \(keys.append)", .contentType: "application/json"],
                body: ByteBuffer(string: body)
            ) { response in
                #expect(response.status == .badRequest)
                #expect(try problems(response).count == 100)
                let message = try errorMessage(response)
                #expect(message.contains("4900 more"), "\(message)")
            }
            #expect(try ledger.head().position == 0)
        }
    }

    @Test("a bad event in a JSON array is named by its index (item 3), not by line 1")
    func arrayItemIndex() async throws {
        try await withRouter { client, _, keys in
            let good = (0..<3).map { capturedEvent(lead: "I\($0)") }
            let bad =
                #"{"id":"\#(UUID().uuidString)","type":"lead.captured","lead":42,"occurredAt":"2026-03-02T14:05:00Z","source":"web","data":{"channel":"web"}}"#
            let body = "[" + (good + [bad]).joined(separator: ",") + "]"
            try await client.execute(
                uri: "/v1/events", method: .post, headers: [.authorization: "Bearer \(keys.append)", .contentType: "application/json"],
                body: ByteBuffer(string: body)
            ) { response in
                #expect(response.status == .badRequest)
                let found = try problems(response)
                #expect(found.count == 1)
                #expect(found.first?["item"] as? Int == 3)
                #expect(found.first?["line"] == nil)
                let message = found.first?["message"] as? String ?? ""
                #expect(message.hasPrefix("item 3"), "\(message)")
                #expect(!message.contains("line 1"))
            }
        }
    }

    @Test("counting a batch: array elements at the top level only, strings and nesting respected; NDJSON non-blank lines")
    func counting() {
        func count(_ text: String, _ limit: Int = 100) -> Int? { EventDecoder.countBatchItems(Data(text.utf8), upTo: limit) }
        #expect(count("[]") == 0)
        #expect(count(#"[{"a":[1,2,{"b":","}]}, {"c":"]"} ,3]"#) == 3)
        #expect(count(#"[{"a":"\"],["}]"#) == 1)
        #expect(count("{}\n\n  \n{}\r\n{}") == 3)
        #expect(count("[" + Array(repeating: "{}", count: 101).joined(separator: ",") + "]") == nil)
        #expect(count("[[[[[[") == 1)
    }
}

@Suite("Catalog events need the catalog scope", .serialized)
struct CatalogScopeTests {
    @Test("an append key, bound or not, cannot define reasons; a catalog key can, but not lead events; admin can do both")
    func catalogScope() async throws {
        try await withRouter { client, ledger, keys in
            let catalog = try await APIKeyStore(ledger: ledger).add(scope: .catalog).secret
            for key in [keys.append, keys.bound] {
                try await client.execute(
                    uri: "/v1/events", method: .post, headers: ndjsonHeaders(key),
                    body: ByteBuffer(string: reasonDefinedEvent(source: "hubspot"))
                ) { response in
                    #expect(response.status == .forbidden)
                    let message = try problems(response).first?["message"] as? String
                    #expect(message == "line 1: `reason.defined` is a catalog event: it needs a key with scope `catalog` or `admin`")
                }
            }
            try await client.execute(
                uri: "/v1/events", method: .post, headers: ndjsonHeaders(catalog), body: ByteBuffer(string: capturedEvent(lead: "C1"))
            ) {
                #expect($0.status == .forbidden)
            }
            #expect(try ledger.head().position == 0)
            try await client.execute(
                uri: "/v1/events", method: .post, headers: ndjsonHeaders(catalog), body: ByteBuffer(string: reasonDefinedEvent())
            ) {
                #expect($0.status == .created)
            }
            try await client.execute(
                uri: "/v1/events", method: .post, headers: ndjsonHeaders(keys.admin),
                body: ByteBuffer(string: reasonDefinedEvent(code: "DATA.X") + "\n" + capturedEvent(lead: "C2"))
            ) {
                #expect($0.status == .created)
            }
            #expect(try ledger.head().position == 3)
        }
    }
}

extension CatalogScopeTests {
    @Test("`leadledger keys add --scope catalog` creates a catalog key; an unknown scope names the four scopes")
    func commandLineCatalogScope() async throws {
        try await withTemporaryLedger { ledger, path in
            ledger.close()
            func keys(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
                let process = Process()
                process.executableURL = builtProduct("leadledger")
                process.arguments = ["keys"] + arguments
                let output = Pipe()
                let error = Pipe()
                process.standardOutput = output
                process.standardError = error
                try process.run()
                let out = output.fileHandleForReading.readDataToEndOfFile()
                let err = error.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
            }
            let added = try keys(["add", "--ledger", path, "--scope", "catalog"])
            #expect(added.status == 0, "\(added.error)")
            #expect(added.output.hasPrefix("llk_"))
            let listed = try keys(["list", "--ledger", path, "--format", "json"])
            #expect(listed.output.contains(#""scope":"catalog""#) || listed.output.contains(#""scope" : "catalog""#), "\(listed.output)")
            let refused = try keys(["add", "--ledger", path, "--scope", "owner"])
            #expect(refused.status != 0)
            #expect(refused.error.contains("append, read, admin, catalog"), "\(refused.error)")
        }
    }
}

@Suite("Analyses are bounded, queued and cancelled", .serialized)
struct AnalysisBoundTests {
    /// Holds the executor's slots until released.
    final class Gate: Sendable {
        private let semaphore = DispatchSemaphore(value: 0)
        func wait() { semaphore.wait() }
        func open(_ count: Int) { for _ in 0..<count { semaphore.signal() } }
    }

    @Test("with every slot taken, what-ifs queue, the next is a 503 with Retry-After, and /health answers while they wait")
    func healthWhileQueued() async throws {
        try await withTemporaryLedger { ledger, _ in
            _ = try await ledger.append(DashboardFixture.events(weeks: 2))
            let server = hardenedServer(ledger) {
                $0.analysisWidth = 1
                $0.analysisQueueLength = 2
            }
            let keys = try TestKeys(server.keys)
            let gate = Gate()
            try await withRunningServer(server) { port in
                let blocker = Task { try await server.analyses.run { gate.wait() } }
                while server.analyses.load.running < 1 { try await Task.sleep(for: .milliseconds(10)) }
                let body = Array(#"{"candidates":[{"name":"s","rules":{"field":"score","gte":60}}]}"#.utf8)
                let headers = [("Authorization", "Bearer \(keys.read)"), ("Content-Type", "application/json")]
                let queued = (0..<2).map { _ in
                    Task {
                        try await HTTPConnection.with(port: port) { try await $0.send(.POST, "/v1/what-if", headers: headers, body: body) }
                    }
                }
                while server.analyses.load.waiting < 2 { try await Task.sleep(for: .milliseconds(10)) }
                try await HTTPConnection.with(port: port) { connection in
                    let refused = try await connection.send(.POST, "/v1/what-if", headers: headers, body: body)
                    #expect(refused.status == 503)
                    #expect(refused.headers["Retry-After"].first != nil)
                    let health = try await connection.send(.GET, "/health")
                    #expect(health.status == 200)
                    // Answered while the analyses still wait: health does not queue behind them.
                    #expect(server.analyses.load.waiting == 2)
                    let metrics = try await connection.send(.GET, "/metrics", headers: [("Authorization", "Bearer \(keys.read)")])
                    #expect(metrics.text.contains("leadledger_analyses_running 1"), "\(metrics.text)")
                    #expect(metrics.text.contains("leadledger_analyses_waiting 2"))
                    #expect(metrics.text.contains("leadledger_analyses_refused_total 1"))
                    let append = try await connection.send(
                        .POST, "/v1/events",
                        headers: [("Authorization", "Bearer \(keys.append)"), ("Content-Type", "application/x-ndjson")],
                        body: Array(capturedEvent(lead: "during").utf8))
                    #expect(append.status == 201)
                }
                gate.open(1)
                try await blocker.value
                for task in queued { #expect(try await task.value.status == 200) }
            }
        }
    }

    @Test("a what-if whose client disconnects while it waits leaves the queue")
    func disconnectLeavesQueue() async throws {
        try await withTemporaryLedger { ledger, _ in
            let server = hardenedServer(ledger) {
                $0.analysisWidth = 1
                $0.analysisQueueLength = 4
            }
            let keys = try TestKeys(server.keys)
            let gate = Gate()
            try await withRunningServer(server) { port in
                let blocker = Task { try await server.analyses.run { gate.wait() } }
                while server.analyses.load.running < 1 { try await Task.sleep(for: .milliseconds(10)) }
                let body = #"{"candidates":[{"name":"s","rules":{"field":"score","gte":60}}]}"#
                do {
                    let socket = try RawSocket(port: port)
                    socket.send(
                        "POST /v1/what-if HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(keys.read)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
                    )
                    for _ in 0..<500 where server.analyses.load.waiting < 1 { try await Task.sleep(for: .milliseconds(10)) }
                    #expect(server.analyses.load.waiting == 1)
                }
                // The socket is closed: the server notices and drops the waiting analysis.
                for _ in 0..<500 where server.analyses.load.waiting > 0 { try await Task.sleep(for: .milliseconds(10)) }
                #expect(server.analyses.load.waiting == 0)
                gate.open(1)
                try await blocker.value
            }
        }
    }

    @Test("a replay whose progress is cancelled stops with CancellationError instead of running to the end")
    func replayStopsWhenCancelled() async throws {
        try await withTemporaryLedger { ledger, _ in
            _ = try await ledger.append((0..<10_000).map { LeadEventFixture.captured(lead: "R\($0)") })
            let progress = ReplayProgress()
            progress.cancel()
            #expect(throws: CancellationError.self) {
                try ReplayProgress.$current.withValue(progress) { try ledger.trends(cut: .recordedBy(.max)) }
            }
            #expect(throws: CancellationError.self) {
                try ReplayProgress.$current.withValue(progress) {
                    try ledger.whatIf(WhatIfQuery(candidates: [CandidateDefinition(name: "all", rules: .all([]))]))
                }
            }
        }
    }

    @Test("a rule tree over the node limit is refused naming the limit; 65 candidates are refused; a 5.9 MB candidate is a 413")
    func ruleTreeLimits() async throws {
        let wide = JSONValue.object([
            JSONMember("any", .array((0..<10_001).map { _ in .object([JSONMember("field", "score"), JSONMember("gte", .number(1))]) }))
        ])
        #expect(throws: RuleError.self) { try RuleParser().parse(wide) }
        do {
            _ = try RuleParser().parse(wide)
        } catch {
            #expect(error.description.contains("10000 nodes"))
        }
        try await withRouter { client, _, keys in
            let values = (0..<20_000).map { "\"v\($0)\"" }.joined(separator: ",")
            let big = #"{"candidates":[{"name":"big","rules":{"field":"country","in":[\#(values)]}}]}"#
            try await client.execute(uri: "/v1/what-if", method: .post, headers: bearer(keys.read), body: ByteBuffer(string: big)) {
                response in
                #expect(response.status == .badRequest)
                #expect(String(buffer: response.body).contains("10000 nodes"))
            }
            let many =
                #"{"candidates":["# + Array(repeating: #"{"rules":{"field":"score","gte":1}}"#, count: 65).joined(separator: ",") + "]}"
            try await client.execute(uri: "/v1/what-if", method: .post, headers: bearer(keys.read), body: ByteBuffer(string: many)) {
                response in
                #expect(response.status == .badRequest)
                let message = try errorMessage(response)
                #expect(message.contains("64 candidates"), "\(message)")
            }
            let huge =
                #"{"candidates":[{"name":"huge","rules":{"field":"country","in":["# + String(repeating: "\"xxxxxxxxxx\",", count: 540_000)
                + #""x"]}}]}"#
            try await client.execute(uri: "/v1/what-if", method: .post, headers: bearer(keys.read), body: ByteBuffer(string: huge)) {
                response in
                #expect(response.status == .contentTooLarge)
            }
        }
    }
}

@Suite("Connections are bounded in time and number", .serialized)
struct ConnectionBoundTests {
    @Test("an idle connection, a slow-header one and an idle keep-alive one are all closed by the server")
    func timeouts() async throws {
        try await withTemporaryLedger { ledger, _ in
            let server = hardenedServer(ledger) {
                $0.headerTimeoutSeconds = 0.5
                $0.idleTimeoutSeconds = 1
            }
            try await withRunningServer(server) { port in
                let idle = try RawSocket(port: port)
                #expect(idle.readUntilClosed(seconds: 5).closed)

                let slow = try RawSocket(port: port)
                slow.send("GET /health HTTP/1.1\r\nHost: x\r\n")
                let started = Date()
                var open = true
                for _ in 0..<40 where open {
                    open = slow.send("X-Slow: y\r\n")
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(slow.readUntilClosed(seconds: 5).closed)
                #expect(Date().timeIntervalSince(started) < 6)

                let keepAlive = try RawSocket(port: port)
                keepAlive.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                let (bytes, closed) = keepAlive.readUntilClosed(seconds: 5)
                #expect(String(decoding: bytes, as: UTF8.self).hasPrefix("HTTP/1.1 200"))
                #expect(closed)
            }
        }
    }

    @Test("a client that trickles a body steadily, byte after byte, is disconnected once the body timeout passes")
    func slowBody() async throws {
        try await withTemporaryLedger { ledger, _ in
            let server = hardenedServer(ledger) {
                $0.idleTimeoutSeconds = 5
                $0.bodyTimeoutSeconds = 1
            }
            let keys = try TestKeys(server.keys)
            try await withRunningServer(server) { port in
                let socket = try RawSocket(port: port)
                socket.send(
                    "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(keys.append)\r\nContent-Type: application/x-ndjson\r\nContent-Length: 1000\r\n\r\n"
                )
                let started = Date()
                var open = true
                for _ in 0..<50 where open {
                    open = socket.send(" ")
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(socket.readUntilClosed(seconds: 5).closed)
                #expect(Date().timeIntervalSince(started) < 7)
            }
            #expect(try ledger.head().position == 0)
        }
    }

    @Test("a body refused early (413) gets Connection: close and the connection really closes; a plain client does not hang")
    func earlyRefusalCloses() async throws {
        try await withTemporaryLedger { ledger, _ in
            let server = hardenedServer(ledger) { $0.maxBodySize = 1024 }
            let keys = try TestKeys(server.keys)
            try await withRunningServer(server) { port in
                let socket = try RawSocket(port: port)
                socket.send(
                    "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(keys.append)\r\nContent-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\n"
                )
                socket.send(String(repeating: " ", count: 2000))
                let (bytes, closed) = socket.readUntilClosed(seconds: 5)
                let text = String(decoding: bytes, as: UTF8.self)
                #expect(text.hasPrefix("HTTP/1.1 413"), "\(text)")
                #expect(text.lowercased().contains("connection: close"))
                #expect(closed, "the server left the connection open after its 413")
            }
        }
    }

    @Test("a key may hold only its share of event streams (429), and the server only its total (503)")
    func streamCaps() async throws {
        try await withTemporaryLedger { ledger, _ in
            let server = hardenedServer(ledger) {
                $0.maxStreamsPerKey = 2
                $0.maxStreams = 3
            }
            let keys = try TestKeys(server.keys)
            try await withRunningServer(server) { port in
                func openStream(_ key: String) throws -> (RawSocket, String) {
                    let socket = try RawSocket(port: port)
                    socket.send("GET /v1/events/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(key)\r\n\r\n")
                    return (socket, socket.read(until: "\r\n\r\n", seconds: 5))
                }
                let first = try openStream(keys.read)
                let second = try openStream(keys.read)
                #expect(first.1.hasPrefix("HTTP/1.1 200") && second.1.hasPrefix("HTTP/1.1 200"))
                let third = try openStream(keys.read)
                #expect(third.1.hasPrefix("HTTP/1.1 429"), "\(third.1)")
                let other = try openStream(keys.admin)
                #expect(other.1.hasPrefix("HTTP/1.1 200"))
                let fourth = try openStream(keys.admin)
                #expect(fourth.1.hasPrefix("HTTP/1.1 503"), "\(fourth.1)")
                #expect(server.streams.count == 3)
                _ = (first.0, second.0, other.0)
            }
        }
    }

    @Test("on shutdown, a stream whose client reads nothing ends within seconds instead of holding the server up")
    func shutdownWithStalledStream() async throws {
        try await withTemporaryLedger { ledger, _ in
            for batch in 0..<20 {
                _ = try await ledger.append((0..<1_000).map { LeadEventFixture.captured(lead: "B\(batch)-\($0)") })
            }
            let server = hardenedServer(ledger)
            let keys = try TestKeys(server.keys)
            let (started, stalled) = try await withTimeout(seconds: 60) {
                try await withRunningServer(server) { port in
                    let stalled = try RawSocket(port: port)
                    stalled.send("GET /v1/events/stream HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(keys.read)\r\n\r\n")
                    // Let the stream fill the socket buffers: from here on its writes wait for a reader that never comes.
                    try await Task.sleep(for: .seconds(2))
                    // Returned, so the socket stays open while the server shuts down.
                    return (ContinuousClock.now, stalled)
                }
            }
            #expect(ContinuousClock.now - started < .seconds(10))
            withExtendedLifetime(stalled) {}
        }
    }

    @Test("past the connection cap, a new client waits until another leaves")
    func connectionCap() async throws {
        try await withTemporaryLedger { ledger, _ in
            let server = hardenedServer(ledger) { $0.maxConnections = 2 }
            try await withRunningServer(server) { port in
                var first: RawSocket? = try RawSocket(port: port)
                let second = try RawSocket(port: port)
                for socket in [first!, second] {
                    socket.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                    #expect(socket.read(until: "\"status\"", seconds: 5).hasPrefix("HTTP/1.1 200"))
                }
                var third: RawSocket? = try RawSocket(port: port)
                third?.send("GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                #expect(third?.read(until: "\"status\"", seconds: 1) == "")
                first = nil
                #expect(third?.read(until: "\"status\"", seconds: 5).hasPrefix("HTTP/1.1 200") == true)
                third = nil
                _ = second
            }
        }
    }
}

@Suite("Dashboard sessions", .serialized)
struct DashboardSessionTests {
    @Test(
        "sign-in sets an opaque session cookie, not the key; ?key= no longer signs in; forms need the CSRF token; revoking the key ends the session"
    )
    func sessions() async throws {
        try await withTemporaryLedger { ledger, _ in
            _ = try await ledger.append(DashboardFixture.events(weeks: 2))
            let server = hardenedServer(ledger) { $0.servedOverTLS = true }
            let keys = try TestKeys(server.keys)
            let reader = try await server.keys.add(scope: .read)
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in
                    let byQuery = try await connection.send(.GET, "/?key=\(reader.secret)")
                    #expect(byQuery.status == 401)

                    let signIn = try await connection.send(
                        .POST, "/login", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                        body: Array("key=\(reader.secret)".utf8))
                    #expect(signIn.status == 303)
                    let cookie = try #require(signIn.headers["Set-Cookie"].first)
                    #expect(cookie.hasPrefix("leadledger_session="))
                    #expect(!cookie.contains(reader.secret) && !cookie.contains(reader.id))
                    for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Max-Age="] {
                        #expect(cookie.contains(attribute), "\(attribute)")
                    }
                    let session = [("Cookie", String(cookie.split(separator: ";")[0]))]

                    let page = try await connection.send(.GET, "/", headers: session)
                    #expect(page.status == 200)
                    #expect(page.headers["Referrer-Policy"].first == "no-referrer")
                    #expect(!page.text.contains(reader.secret))
                    let csrf = try #require(page.text.firstMatch(of: /name="csrf" value="([0-9a-f]+)"/)?.1)

                    let form = "candidate=" + #"{"field":"score","gte":80}"#.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
                    let formHeaders = session + [("Content-Type", "application/x-www-form-urlencoded")]
                    let forged = try await connection.send(.POST, "/what-if", headers: formHeaders, body: Array(form.utf8))
                    #expect(forged.status == 403)
                    let wrong = try await connection.send(.POST, "/what-if", headers: formHeaders, body: Array((form + "&csrf=00").utf8))
                    #expect(wrong.status == 403)
                    let real = try await connection.send(
                        .POST, "/what-if", headers: formHeaders, body: Array((form + "&csrf=\(csrf)").utf8))
                    #expect(real.status == 200)

                    #expect(try await server.keys.revoke(reader.id))
                    let afterRevoke = try await connection.send(.GET, "/", headers: session)
                    #expect(afterRevoke.status == 401)
                    _ = keys
                }
            }
        }
    }

    @Test("sign-out ends the session on the server: the old cookie no longer opens a page")
    func signOut() async throws {
        try await withTemporaryLedger { ledger, _ in
            let server = hardenedServer(ledger)
            let reader = try await server.keys.add(scope: .read)
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in
                    let signIn = try await connection.send(
                        .POST, "/login", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                        body: Array("key=\(reader.secret)".utf8))
                    let cookie = try #require(signIn.headers["Set-Cookie"].first)
                    #expect(!cookie.contains("Secure"))
                    let session = [("Cookie", String(cookie.split(separator: ";")[0]))]
                    let page = try await connection.send(.GET, "/leads?lead=x", headers: session)
                    let csrf = try #require(page.text.firstMatch(of: /name="csrf" value="([0-9a-f]+)"/)?.1)
                    let noToken = try await connection.send(
                        .POST, "/logout", headers: session + [("Content-Type", "application/x-www-form-urlencoded")], body: [])
                    #expect(noToken.status == 403)
                    let out = try await connection.send(
                        .POST, "/logout", headers: session + [("Content-Type", "application/x-www-form-urlencoded")],
                        body: Array("csrf=\(csrf)".utf8))
                    #expect(out.status == 303)
                    #expect(try await connection.send(.GET, "/", headers: session).status == 401)
                }
            }
        }
    }
}

@Suite("What the fuzzer found")
struct FuzzFindingTests {
    @Test("a method no route of a known path takes is a 405 naming the methods in Allow; an unknown path stays a 404")
    func undeclaredMethod() async throws {
        try await withRouter { client, _, keys in
            try await client.execute(uri: "/v1/events", method: .init("TRACE")!, headers: bearer(keys.admin)) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "POST, GET, HEAD")
            }
            try await client.execute(uri: "/v1/keys/abc", method: .put, headers: bearer(keys.admin)) { response in
                #expect(response.status == .methodNotAllowed)
                #expect(response.headers[.allow] == "DELETE")
            }
            try await client.execute(uri: "/v1/nothing", method: .put, headers: bearer(keys.admin)) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test("POST /v1/keys refuses a null source, an unknown scope and unknown members, naming each field; nothing is created")
    func newKeyBody() async throws {
        try await withRouter { client, ledger, keys in
            let before = try APIKeyStore(ledger: ledger).list().count
            for (body, field) in [
                (#"{"scope":"read","source":null}"#, "source"), (#"{"scope":"root"}"#, "scope"), (#"{"scope":"read","extra":1}"#, "extra"),
                ("[]", nil),
            ] {
                try await client.execute(uri: "/v1/keys", method: .post, headers: bearer(keys.admin), body: ByteBuffer(string: body)) {
                    response in
                    #expect(response.status == .badRequest, "\(body)")
                    let named = try problems(response).first?["field"] as? String
                    if let field { #expect(named == field, "\(body)") }
                }
            }
            try await client.execute(
                uri: "/v1/keys", method: .post, headers: bearer(keys.admin), body: ByteBuffer(string: #"{"scope":"catalog"}"#)
            ) { response in
                #expect(response.status == .created)
            }
            #expect(try APIKeyStore(ledger: ledger).list().count == before + 1)
        }
    }
}

@Suite("Health reports the storage's own state", .serialized)
struct StorageHealthTests {
    @Test("after lock.mdb is deleted under the server, /health answers 503 unhealthy naming the lock file, and appends are refused")
    func lockFileDeleted() async throws {
        try await withTemporaryLedger { ledger, path in
            let server = hardenedServer(ledger)
            let keys = try TestKeys(server.keys)
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in
                    #expect(try await connection.send(.GET, "/health").status == 200)
                    try FileManager.default.removeItem(atPath: path + "/lock.mdb")
                    let health = try await connection.send(.GET, "/health")
                    #expect(health.status == 503)
                    #expect(try health.json()["status"] as? String == "unhealthy")
                    #expect(health.text.contains("lock.mdb"), "\(health.text)")
                    let append = try await connection.send(
                        .POST, "/v1/events",
                        headers: [("Authorization", "Bearer \(keys.append)"), ("Content-Type", "application/x-ndjson")],
                        body: Array(capturedEvent(lead: "H1").utf8))
                    #expect(append.status != 201, "\(append.text)")
                }
            }
        }
    }
}
