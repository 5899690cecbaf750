import Foundation
import Ledger
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

@testable import LedgerServer

@Suite("HTTP API over a real socket", .serialized)
struct SocketTests {
    @Test("64 keep-alive clients posting 1,000 single-event requests each: every acknowledged event is stored once, positions gapless")
    func concurrentAppends() async throws {
        try await withTemporaryLedger { ledger, _ in
            let server = testServer(ledger)
            let key = try await server.keys.add(scope: .append).secret
            let clients = 64
            let perClient = 1_000
            let acknowledged = try await withRunningServer(server) { port in
                try await withTimeout(seconds: 240) {
                    try await withThrowingTaskGroup(of: [(UUID, Int)].self) { group in
                        for client in 0..<clients {
                            group.addTask {
                                try await HTTPConnection.with(port: port) { connection in
                                    var acks: [(UUID, Int)] = []
                                    acks.reserveCapacity(perClient)
                                    let headers = [("Authorization", "Bearer \(key)"), ("Content-Type", "application/x-ndjson")]
                                    for index in 0..<perClient {
                                        let id = UUID()
                                        let reply = try await connection.send(
                                            .POST, "/v1/events", headers: headers,
                                            body: Array(capturedEvent(id: id, lead: "C\(client)-\(index)").utf8))
                                        guard reply.status == 201, let position = (try reply.json()["positions"] as? [Int])?.first else {
                                            throw TestFailure("request \(client)/\(index): \(reply.status) \(reply.text)")
                                        }
                                        acks.append((id, position))
                                    }
                                    return acks
                                }
                            }
                        }
                        var all: [(UUID, Int)] = []
                        for try await acks in group { all += acks }
                        return all
                    }
                }
            }
            #expect(acknowledged.count == clients * perClient)
            let records = try ledger.log.records(from: 1)
            #expect(records.count == clients * perClient)
            #expect(records.map(\.position) == (1...UInt64(clients * perClient)).map { $0 })
            let stored = Dictionary(records.map { ($0.id, $0.position) }, uniquingKeysWith: { first, _ in first })
            #expect(stored.count == records.count)
            let mismatched = acknowledged.filter { stored[$0.0].map(Int.init) != $0.1 }
            #expect(mismatched.isEmpty, "acknowledged events missing or at another position: \(mismatched.prefix(5))")
        }
    }

    @Test("bad requests over the socket get the right status and a useful message, and append nothing")
    func badRequests() async throws {
        try await withTemporaryLedger { ledger, _ in
            let server = testServer(ledger)
            let keys = try TestKeys(server.keys)
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in
                    let ok = try await connection.send(
                        .POST, "/v1/events",
                        headers: [("Authorization", "Bearer \(keys.append)"), ("Content-Type", "application/x-ndjson")],
                        body: Array(capturedEvent(lead: "seed").utf8))
                    #expect(ok.status == 201)
                }
                let head = try ledger.head()
                let wrongType =
                    #"{"id":"\#(UUID().uuidString)","type":"lead.captured","lead":42,"occurredAt":"2026-03-02T14:05:00Z","source":"web","data":{"channel":"web"}}"#
                let cases: [(String, String?, String, [UInt8], Int, String)] = [
                    ("malformed JSON", keys.append, "application/json", Array("[{\"id\":".utf8), 400, "malformed"),
                    ("wrong types", keys.append, "application/x-ndjson", Array(wrongType.utf8), 400, "lead"),
                    ("no key", nil, "application/x-ndjson", Array(capturedEvent(lead: "x").utf8), 401, "Authorization"),
                    ("unknown key", "llk_0123456789ab_0000", "application/x-ndjson", Array(capturedEvent(lead: "x").utf8), 401, "unknown"),
                    ("read key appending", keys.read, "application/x-ndjson", Array(capturedEvent(lead: "x").utf8), 403, "append"),
                    (
                        "spoofed source", keys.bound, "application/x-ndjson", Array(capturedEvent(lead: "x", source: "salesforce").utf8),
                        403, "salesforce"
                    ),
                    ("form body", keys.append, "application/x-www-form-urlencoded", Array("a=b".utf8), 415, "application/x-ndjson"),
                ]
                for (name, key, type, body, status, needle) in cases {
                    try await HTTPConnection.with(port: port) { connection in
                        var headers = [("Content-Type", type)]
                        if let key { headers.append(("Authorization", "Bearer \(key)")) }
                        let reply = try await connection.send(.POST, "/v1/events", headers: headers, body: body)
                        #expect(reply.status == status, "\(name): \(reply.text)")
                        #expect(reply.text.contains(needle), "\(name): \(reply.text)")
                        #expect((try? reply.json())?["error"] is String, "\(name): \(reply.text)")
                    }
                }
                // A body over the 8 MiB default: refused from its Content-Length, before it is read.
                try await HTTPConnection.with(port: port) { connection in
                    let huge = [UInt8](repeating: UInt8(ascii: " "), count: 9 << 20)
                    let reply = try await connection.send(
                        .POST, "/v1/events",
                        headers: [("Authorization", "Bearer \(keys.append)"), ("Content-Type", "application/x-ndjson")], body: huge)
                    #expect(reply.status == 413)
                    #expect(reply.text.contains("8388608"))
                }
                try await HTTPConnection.with(port: port) { connection in
                    let reply = try await connection.send(.GET, "/v1/unknown", headers: [("Authorization", "Bearer \(keys.read)")])
                    #expect(reply.status == 404)
                    #expect(reply.text.contains("/v1/unknown"))
                }
                #expect(try ledger.head() == head)
            }
        }
    }

    @Test("the event stream catches up, follows new appends and resumes from Last-Event-ID")
    func eventStream() async throws {
        try await withTemporaryLedger { ledger, _ in
            let server = testServer(ledger)
            let keys = try TestKeys(server.keys)
            let events = (0..<5).map { LeadEventFixture.captured(lead: "S\($0)") }
            _ = try await ledger.append(events)
            try await withRunningServer(server) { port in
                try await withTimeout(seconds: 30) {
                    try await HTTPConnection.with(port: port) { connection in
                        try await connection.write(
                            .GET, "/v1/events/stream", headers: [("Authorization", "Bearer \(keys.read)"), ("Last-Event-ID", "2")])
                        let (status, headers) = try await connection.readHead()
                        #expect(status == 200)
                        #expect(headers["Content-Type"].first?.hasPrefix("text/event-stream") == true)
                        var text = ""
                        func ids(_ text: String) -> [Int] {
                            text.split(separator: "\n").filter { $0.hasPrefix("id: ") }.compactMap { Int($0.dropFirst(4)) }
                        }
                        for _ in 0..<100 where ids(text).count < 3 {
                            guard let chunk = try await connection.nextChunk() else { break }
                            text += String(decoding: chunk, as: UTF8.self)
                        }
                        #expect(ids(text) == [3, 4, 5])
                        #expect(text.contains(#""lead":"S2""#))
                        #expect(text.contains(#""position":3"#))
                        // Follows: an append made now arrives on the open stream.
                        _ = try await ledger.append([LeadEventFixture.captured(lead: "late")])
                        for _ in 0..<100 where ids(text).count < 4 {
                            guard let chunk = try await connection.nextChunk() else { break }
                            text += String(decoding: chunk, as: UTF8.self)
                        }
                        #expect(ids(text) == [3, 4, 5, 6])
                        #expect(text.contains(#""lead":"late""#))
                    }
                }
            }
        }
    }

    @Test("the dashboard over a socket: HTML with inline SVG charts and no external URL; the login form without a key")
    func dashboard() async throws {
        try await withTemporaryLedger { ledger, _ in
            _ = try await ledger.append(DashboardFixture.events())
            let server = testServer(ledger)
            let keys = try TestKeys(server.keys)
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in
                    let login = try await connection.send(.GET, "/")
                    #expect(login.status == 401)
                    #expect(login.text.contains("<form method=\"post\" action=\"/login\""))

                    let page = try await connection.send(.GET, "/", headers: [("Authorization", "Bearer \(keys.read)")])
                    #expect(page.status == 200)
                    #expect(page.headers["Content-Type"].first == "text/html; charset=utf-8")
                    #expect(page.headers["Content-Security-Policy"].first?.contains("default-src 'none'") == true)
                    #expect(page.text.contains("<svg class=\"chart rates\""))
                    #expect(page.text.contains("<svg class=\"chart reasons\""))
                    #expect(page.text.contains("class=\"band\""), "Wilson bands")
                    #expect(page.text.contains("class=\"marker\""), "a definition-change marker")
                    #expect(page.text.contains("v1 → v2"), "the impact table")
                    #expect(page.text.contains("action=\"/what-if"))
                    #expect(page.text.contains("action=\"/leads\""))
                    for external in ["http://", "https://", "//cdn", "<script", "<link", "src=", "url("] {
                        #expect(!page.text.contains(external), "external reference \(external)")
                    }

                    let wrongScope = try await connection.send(.GET, "/", headers: [("Authorization", "Bearer \(keys.append)")])
                    #expect(wrongScope.status == 403)

                    let signIn = try await connection.send(
                        .POST, "/login", headers: [("Content-Type", "application/x-www-form-urlencoded")],
                        body: Array("key=\(keys.read)".utf8))
                    #expect(signIn.status == 303)
                    let cookie = try #require(signIn.headers["Set-Cookie"].first)
                    #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"))
                    let cookieHeader = String(cookie.split(separator: ";")[0])

                    let lead = try await connection.send(.GET, "/leads?lead=D1", headers: [("Cookie", cookieHeader)])
                    #expect(lead.status == 200)
                    let csrf = try #require(lead.text.firstMatch(of: /name="csrf" value="([0-9a-f]+)"/)?.1)
                    #expect(lead.text.contains("FIT_COMPANY.TOO_SMALL"))
                    let unknown = try await connection.send(.GET, "/leads?lead=nobody", headers: [("Cookie", cookieHeader)])
                    #expect(unknown.status == 404)

                    let form =
                        "csrf=\(csrf)&candidate=" + #"{"name":"strict","rules":{"field":"score","gte":80}}"#.addingPercentEncoding(
                            withAllowedCharacters: .alphanumerics)!
                    let whatIf = try await connection.send(
                        .POST, "/what-if", headers: [("Cookie", cookieHeader), ("Content-Type", "application/x-www-form-urlencoded")],
                        body: Array(form.utf8))
                    #expect(whatIf.status == 200)
                    #expect(whatIf.text.contains("What-if result"))
                    #expect(whatIf.text.contains("strict"))
                }
            }
        }
    }
}
