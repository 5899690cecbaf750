import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ledger
import NIOCore
import Testing

@testable import LedgerServer

/// Keys of every kind for one test ledger.
struct TestKeys: Sendable {
    let admin: String
    let append: String
    let read: String
    let bound: String

    init(_ store: APIKeyStore) throws {
        admin = try store.add(scope: .admin).secret
        append = try store.add(scope: .append).secret
        read = try store.add(scope: .read).secret
        bound = try store.add(scope: .append, source: "hubspot").secret
    }

    /// Keys made in a test server's own store: the ledger's, since tests give it no other.
    init(_ store: any APIKeyStoring) throws {
        guard let own = store as? APIKeyStore else { throw TestFailure("the test server checks keys outside its ledger") }
        try self.init(own)
    }
}

func bearer(_ key: String) -> HTTPFields { [.authorization: "Bearer \(key)"] }

func ndjsonHeaders(_ key: String) -> HTTPFields { [.authorization: "Bearer \(key)", .contentType: "application/x-ndjson"] }

func errorMessage(_ response: TestResponse) throws -> String {
    try json(response)["error"] as? String ?? ""
}

func problems(_ response: TestResponse) throws -> [[String: Any]] {
    try json(response)["problems"] as? [[String: Any]] ?? []
}

func json(_ response: TestResponse) throws -> [String: Any] {
    let data = Data(response.body.readableBytesView)
    guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        throw TestFailure("not a JSON object: \(String(decoding: data, as: UTF8.self))")
    }
    return object
}

/// An in-process server over a fresh ledger with keys of every scope.
func withRouter(
    configuration: ServerConfiguration = ServerConfiguration(),
    _ body: @Sendable (any TestClientProtocol, Ledger, TestKeys) async throws -> Void
) async throws {
    try await withTemporaryLedger { ledger, _ in
        let server = LedgerHTTPServer(ledger: ledger, configuration: configuration)
        let keys = try TestKeys(server.keys)
        let app = Application(router: server.router())
        try await app.test(.router) { client in try await body(client, ledger, keys) }
    }
}

@Suite("HTTP API in process")
struct RouterTests {
    @Test("the bearer token and the media type are read from their headers as HTTP allows them to be written")
    func headerParsing() {
        #expect(Authenticator.bearerToken("Bearer llk_a_b") == "llk_a_b")
        #expect(Authenticator.bearerToken("bearer   llk_a_b \t") == "llk_a_b")
        #expect(Authenticator.bearerToken("BEARER llk_a_b") == "llk_a_b")
        #expect(Authenticator.bearerToken("Basic dXNlcjpwYXNz") == nil)
        #expect(Authenticator.bearerToken("Bearerllk_a_b") == nil)
        #expect(Authenticator.bearerToken("Bearer    ") == nil)
        #expect(Authenticator.bearerToken("Bearer") == nil)
        #expect(LedgerHTTPServer.mediaType("application/x-ndjson") == "application/x-ndjson")
        #expect(LedgerHTTPServer.mediaType(" Application/JSON ; charset=utf-8") == "application/json")
        #expect(LedgerHTTPServer.mediaType("text/plain;charset=utf-8") == "text/plain")
        #expect(LedgerHTTPServer.mediaType("  ") == "")
    }

    @Test("an NDJSON batch is appended atomically and answered with positions, duplicates and the head")
    func appendBatch() async throws {
        try await withRouter { client, ledger, keys in
            let body = [capturedEvent(lead: "A"), capturedEvent(lead: "B")].joined(separator: "\n")
            try await client.execute(uri: "/v1/events", method: .post, headers: ndjsonHeaders(keys.append), body: ByteBuffer(string: body))
            {
                #expect($0.status == .created)
                let reply = try json($0)
                #expect(reply["positions"] as? [Int] == [1, 2])
                #expect(reply["duplicates"] as? [Bool] == [false, false])
                #expect((reply["head"] as? [String: Any])?["position"] as? Int == 2)
            }
            // The same batch again is a success that appends nothing.
            try await client.execute(uri: "/v1/events", method: .post, headers: ndjsonHeaders(keys.append), body: ByteBuffer(string: body))
            {
                #expect($0.status == .created)
                let object = try json($0)
                #expect(object["duplicates"] as? [Bool] == [true, true])
            }
            #expect(try ledger.head().position == 2)
        }
    }

    @Test("a JSON array is accepted as well as NDJSON")
    func appendArray() async throws {
        try await withRouter { client, ledger, keys in
            let body = "[\(capturedEvent(lead: "A")),\n\(capturedEvent(lead: "B"))]"
            try await client.execute(
                uri: "/v1/events", method: .post,
                headers: [.authorization: "Bearer \(keys.admin)", .contentType: "application/json; charset=utf-8"],
                body: ByteBuffer(string: body)
            ) { #expect($0.status == .created) }
            #expect(try ledger.head().position == 2)
        }
    }

    @Test("a batch with bad lines is refused with one problem per bad line and nothing appended")
    func malformedLines() async throws {
        try await withRouter { client, ledger, keys in
            let good = capturedEvent(lead: "A")
            let wrongType =
                #"{"id":"\#(UUID().uuidString)","type":"lead.scored","lead":"A","occurredAt":"2026-03-02T14:05:00Z","source":"web","data":{"score":"high"}}"#
            let body = [good, "{not json", good.replacingOccurrences(of: "lead.captured", with: "lead.teleported"), wrongType].joined(
                separator: "\n")
            try await client.execute(uri: "/v1/events", method: .post, headers: ndjsonHeaders(keys.append), body: ByteBuffer(string: body))
            {
                #expect($0.status == .badRequest)
                let reply = try json($0)
                let lines = try #require(reply["problems"] as? [[String: Any]])
                #expect(lines.compactMap { $0["line"] as? Int } == [2, 3, 4])
                #expect(lines.last?["field"] as? String == "data.score")
                #expect((reply["error"] as? String)?.contains("nothing was appended") == true)
            }
            #expect(try ledger.head().position == 0)
        }
    }

    @Test("a rule violation from the ledger is a 400 naming the line, event and field")
    func validationRefusal() async throws {
        try await withRouter { client, ledger, keys in
            let id = UUID()
            let rejected =
                #"{"id":"\#(id.uuidString)","type":"lead.rejected","lead":"A","occurredAt":"2026-03-02T14:05:00Z","source":"crm","data":{"reason":"FIT_COMPANY.TOO_SMALL"}}"#
            try await client.execute(
                uri: "/v1/events", method: .post, headers: ndjsonHeaders(keys.append),
                body: ByteBuffer(string: capturedEvent(lead: "A") + "\n" + rejected)
            ) {
                #expect($0.status == .badRequest)
                let problem = try #require(try problems($0).first)
                #expect(problem["line"] as? Int == 2)
                #expect(problem["eventId"] as? String == id.uuidString.lowercased())
            }
            #expect(try ledger.head().position == 0)
        }
    }

    @Test("the same id with other content is a 409 conflict")
    func conflict() async throws {
        try await withRouter { client, ledger, keys in
            let id = UUID()
            try await client.execute(
                uri: "/v1/events", method: .post, headers: ndjsonHeaders(keys.append),
                body: ByteBuffer(string: capturedEvent(id: id, lead: "A"))
            ) { #expect($0.status == .created) }
            try await client.execute(
                uri: "/v1/events", method: .post, headers: ndjsonHeaders(keys.append),
                body: ByteBuffer(string: capturedEvent(id: id, lead: "A", channel: "other"))
            ) {
                #expect($0.status == .conflict)
                let found = try problems($0)
                #expect(found.first?["eventId"] as? String == id.uuidString.lowercased())
            }
            #expect(try ledger.head().position == 1)
        }
    }

    @Test("expected versions in the header refuse the whole batch on a mismatch")
    func expectedVersions() async throws {
        try await withRouter { client, ledger, keys in
            var headers = ndjsonHeaders(keys.append)
            headers[.expectedVersions] = "A=0"
            try await client.execute(uri: "/v1/events", method: .post, headers: headers, body: ByteBuffer(string: capturedEvent(lead: "A")))
            {
                #expect($0.status == .created)
            }
            // A is at version 1 now; expecting 0 again must fail.
            try await client.execute(
                uri: "/v1/events", method: .post, headers: headers,
                body: ByteBuffer(string: capturedEvent(lead: "B") + "\n" + capturedEvent(lead: "A"))
            ) {
                #expect($0.status == .conflict)
                let found = try problems($0)
                #expect(found.first?["field"] as? String == "expectedVersion")
            }
            headers[.expectedVersions] = "A=x"
            try await client.execute(uri: "/v1/events", method: .post, headers: headers, body: ByteBuffer(string: capturedEvent(lead: "C")))
            {
                #expect($0.status == .badRequest)
            }
            #expect(try ledger.head().position == 1)
            #expect(try LedgerHTTPServer.expectedVersions("a%2Cb=3, c%3D=0") == ["a,b": 3, "c=": 0])
        }
    }

    @Test("keys: none is 401 with a Bearer challenge, a read key cannot append, a bound key cannot spoof a source")
    func authorization() async throws {
        try await withRouter { client, ledger, keys in
            let body = ByteBuffer(string: capturedEvent(lead: "A", source: "salesforce"))
            try await client.execute(uri: "/v1/events", method: .post, headers: [.contentType: "application/x-ndjson"], body: body) {
                #expect($0.status == .unauthorized)
                #expect($0.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
            }
            try await client.execute(uri: "/v1/events", method: .post, headers: ndjsonHeaders("llk_000000000000_nope"), body: body) {
                #expect($0.status == .unauthorized)
            }
            // A real key's id with a secret that is not its own: altered, cut short, extended, or bare.
            let secret = keys.append
            let id = secret.split(separator: "_")[1]
            let last = secret.last == "0" ? "1" : "0"
            for forged in [String(secret.dropLast()) + last, String(secret.dropLast()), secret + "0", "llk_\(id)_", "llk_\(id)"] {
                try await client.execute(uri: "/v1/events", method: .post, headers: ndjsonHeaders(forged), body: body) {
                    #expect($0.status == .unauthorized, "\(forged)")
                }
            }
            try await client.execute(uri: "/v1/events", method: .post, headers: ndjsonHeaders(keys.read), body: body) {
                #expect($0.status == .forbidden)
                let message = try errorMessage($0)
                #expect(message.contains("append"), "\(message)")
            }
            try await client.execute(uri: "/v1/events", method: .get, headers: bearer(keys.append)) { #expect($0.status == .forbidden) }
            try await client.execute(
                uri: "/v1/events", method: .post, headers: ndjsonHeaders(keys.bound),
                body: ByteBuffer(
                    string: capturedEvent(lead: "B", source: "hubspot") + "\n" + capturedEvent(lead: "A", source: "salesforce"))
            ) {
                #expect($0.status == .forbidden)
                let problem = try #require(try problems($0).first)
                #expect(problem["line"] as? Int == 2)
                #expect((problem["message"] as? String)?.contains("salesforce") == true)
            }
            #expect(try ledger.head().position == 0)
            try await client.execute(
                uri: "/v1/events", method: .post, headers: ndjsonHeaders(keys.bound),
                body: ByteBuffer(string: capturedEvent(lead: "B", source: "hubspot"))
            ) { #expect($0.status == .created) }
        }
    }

    @Test("a revoked key is refused from the next request on")
    func revocation() async throws {
        try await withTemporaryLedger { ledger, _ in
            let server = LedgerHTTPServer(ledger: ledger)
            let (id, secret) = try await server.keys.add(scope: .read)
            let app = Application(router: server.router())
            try await app.test(.router) { client in
                try await client.execute(uri: "/v1/events", method: .get, headers: bearer(secret)) { #expect($0.status == .ok) }
                #expect(try await server.keys.revoke(id))
                try await client.execute(uri: "/v1/events", method: .get, headers: bearer(secret)) { #expect($0.status == .unauthorized) }
            }
            #expect(try await server.keys.list().first?.revokedAt != nil)
            // Only the hash is stored.
            let stored = try #require(try ledger.log.metaValue("server.api-keys"))
            #expect(!String(decoding: stored, as: UTF8.self).contains(secret))
        }
    }

    @Test("other media types are 415, bodies over the limit 413, unknown routes 404 — all in the JSON error shape")
    func protocolErrors() async throws {
        try await withRouter(configuration: ServerConfiguration(maxBodySize: 1024)) { client, ledger, keys in
            try await client.execute(
                uri: "/v1/events", method: .post, headers: [.authorization: "Bearer \(keys.append)", .contentType: "text/plain"],
                body: ByteBuffer(string: capturedEvent(lead: "A"))
            ) {
                #expect($0.status == .unsupportedMediaType)
                let message = try errorMessage($0)
                #expect(!message.isEmpty)
            }
            let big = (0..<20).map { _ in capturedEvent(lead: "A") }.joined(separator: "\n")
            try await client.execute(uri: "/v1/events", method: .post, headers: ndjsonHeaders(keys.append), body: ByteBuffer(string: big)) {
                #expect($0.status == .contentTooLarge)
                let message = try errorMessage($0)
                #expect(message.contains("1024"), "\(message)")
            }
            try await client.execute(uri: "/v1/nowhere", method: .get, headers: bearer(keys.read)) {
                #expect($0.status == .notFound)
                let message = try errorMessage($0)
                #expect(message.contains("/v1/nowhere"), "\(message)")
            }
            try await client.execute(
                uri: "/v1/events", method: .post, headers: ndjsonHeaders(keys.append), body: ByteBuffer(string: "\n \n")
            ) {
                #expect($0.status == .badRequest)
            }
            #expect(try ledger.head().position == 0)
        }
    }

    @Test("GET /v1/events pages by position and returns the stored JSON with position, recordedAt and hash")
    func readEvents() async throws {
        try await withRouter { client, _, keys in
            let body = (0..<5).map { capturedEvent(lead: "L\($0)") }.joined(separator: "\n")
            try await client.execute(uri: "/v1/events", method: .post, headers: ndjsonHeaders(keys.append), body: ByteBuffer(string: body))
            try await client.execute(uri: "/v1/events?after=2&limit=2", method: .get, headers: bearer(keys.read)) {
                #expect($0.status == .ok)
                let reply = try json($0)
                let events = try #require(reply["events"] as? [[String: Any]])
                #expect(events.map { $0["position"] as? Int } == [3, 4])
                #expect(events.first?["lead"] as? String == "L2")
                #expect((events.first?["hash"] as? String)?.count == 64)
                #expect((events.first?["recordedAt"] as? String)?.hasSuffix("Z") == true)
                #expect(reply["next"] as? Int == 4)
            }
            try await client.execute(uri: "/v1/events?limit=10001", method: .get, headers: bearer(keys.read)) {
                #expect($0.status == .badRequest)
            }
            try await client.execute(uri: "/v1/events?after=-1", method: .get, headers: bearer(keys.read)) {
                #expect($0.status == .badRequest)
            }
        }
    }

    @Test("analyses answer with the command line's JSON; an unknown lead is 404; bad parameters are 400")
    func analyses() async throws {
        try await withRouter { client, ledger, keys in
            let events = try ledger.log.records(from: 1).count
            #expect(events == 0)
            try await client.execute(
                uri: "/v1/events", method: .post, headers: ndjsonHeaders(keys.append), body: ByteBuffer(string: capturedEvent(lead: "A")))
            try await client.execute(uri: "/v1/leads/A", method: .get, headers: bearer(keys.read)) {
                #expect($0.status == .ok)
                let object = try json($0)
                #expect(object["lead"] as? String == "A")
            }
            try await client.execute(uri: "/v1/leads/nobody", method: .get, headers: bearer(keys.read)) { #expect($0.status == .notFound) }
            try await client.execute(
                uri: "/v1/trends?bucket=month&by=channel&from=2026-01-01&to=2026-12-31", method: .get, headers: bearer(keys.read)
            ) {
                #expect($0.status == .ok)
                let query = try #require(try json($0)["query"] as? [String: Any])
                #expect(query["bucket"] as? String == "month")
            }
            try await client.execute(uri: "/v1/trends?bucket=year", method: .get, headers: bearer(keys.read)) {
                #expect($0.status == .badRequest)
            }
            try await client.execute(uri: "/v1/trends?from=2026-13-01", method: .get, headers: bearer(keys.read)) {
                #expect($0.status == .badRequest)
            }
            try await client.execute(uri: "/v1/impact?window=14", method: .get, headers: bearer(keys.read)) {
                #expect($0.status == .ok)
                let object = try json($0)
                #expect(object["windowDays"] as? Int == 14)
            }
            let candidate = #"{"candidates":[{"name":"hot","rules":{"field":"score","gte":60}}],"from":"2026-01-01","to":"2026-12-31"}"#
            try await client.execute(uri: "/v1/what-if", method: .post, headers: bearer(keys.read), body: ByteBuffer(string: candidate)) {
                #expect($0.status == .ok)
                let candidates = try json($0)["candidates"] as? [[String: Any]]
                #expect(candidates?.first?["name"] as? String == "hot")
            }
            let bad = #"{"candidates":[{"name":"bad","rules":{"field":"score","above":60}}]}"#
            try await client.execute(uri: "/v1/what-if", method: .post, headers: bearer(keys.read), body: ByteBuffer(string: bad)) {
                #expect($0.status == .badRequest)
                let found = try problems($0)
                #expect(found.first?["field"] as? String == "/candidates/0/rules/above")
            }
        }
    }

    @Test("metrics count appends, duplicates and refusals; health is open")
    func metricsAndHealth() async throws {
        try await withRouter { client, _, keys in
            let body = ByteBuffer(string: capturedEvent(lead: "A"))
            try await client.execute(uri: "/v1/events", method: .post, headers: ndjsonHeaders(keys.append), body: body)
            try await client.execute(uri: "/v1/events", method: .post, headers: ndjsonHeaders(keys.append), body: body)
            try await client.execute(uri: "/v1/events", method: .post, headers: ndjsonHeaders(keys.append), body: ByteBuffer(string: "{"))
            try await client.execute(uri: "/metrics", method: .get) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/metrics", method: .get, headers: bearer(keys.read)) {
                #expect($0.status == .ok)
                let text = String(buffer: $0.body)
                #expect(text.contains("leadledger_events_appended_total 1"))
                #expect(text.contains("leadledger_events_duplicate_total 1"))
                #expect(text.contains(#"leadledger_append_refusals_total{kind="malformed"} 1"#))
                #expect(text.contains("leadledger_append_duration_seconds_bucket"))
                #expect(text.contains("leadledger_append_batch_events_count 2"))
                #expect(text.contains("leadledger_map_used_bytes"))
            }
            try await client.execute(uri: "/health", method: .get) {
                #expect($0.status == .ok)
                let object = try json($0)
                #expect(object["head"] as? Int == 1)
            }
        }
    }

    @Test("admin keys manage keys over the API; other scopes cannot")
    func keyRoutes() async throws {
        try await withRouter { client, _, keys in
            try await client.execute(uri: "/v1/keys", method: .get, headers: bearer(keys.read)) { #expect($0.status == .forbidden) }
            let secret: String = try await client.execute(
                uri: "/v1/keys", method: .post, headers: bearer(keys.admin), body: ByteBuffer(string: #"{"scope":"read"}"#)
            ) {
                #expect($0.status == .created)
                return try json($0)["secret"] as? String ?? ""
            }
            try await client.execute(uri: "/v1/trends", method: .get, headers: bearer(secret)) { #expect($0.status == .ok) }
            let id = String(secret.split(separator: "_")[1])
            try await client.execute(uri: "/v1/keys/\(id)", method: .delete, headers: bearer(keys.admin)) {
                #expect($0.status == .noContent)
            }
            try await client.execute(uri: "/v1/keys/\(id)", method: .delete, headers: bearer(keys.admin)) {
                #expect($0.status == .notFound)
            }
            try await client.execute(uri: "/v1/trends", method: .get, headers: bearer(secret)) { #expect($0.status == .unauthorized) }
            try await client.execute(
                uri: "/v1/keys", method: .post, headers: bearer(keys.admin), body: ByteBuffer(string: #"{"scope":"root"}"#)
            ) {
                #expect($0.status == .badRequest)
            }
        }
    }

    @Test("the server refuses to start without keys unless anonymous access on loopback was asked for")
    func startupPolicy() async throws {
        try await withTemporaryLedger { ledger, _ in
            await #expect(throws: APIKeyError.self) { try await LedgerHTTPServer(ledger: ledger).checkStartup() }
            await #expect(throws: APIKeyError.self) {
                try await LedgerHTTPServer(ledger: ledger, configuration: .init(host: "0.0.0.0", allowAnonymous: true)).checkStartup()
            }
            let open = LedgerHTTPServer(ledger: ledger, configuration: .init(allowAnonymous: true))
            try await open.checkStartup()
            let app = Application(router: open.router())
            try await app.test(.router) { client in
                try await client.execute(
                    uri: "/v1/events", method: .post, headers: [.contentType: "application/x-ndjson"],
                    body: ByteBuffer(string: capturedEvent(lead: "A"))
                ) {
                    #expect($0.status == .created)
                }
            }
            // Once a key exists, anonymous access ends.
            _ = try await open.keys.add(scope: .read)
            try await app.test(.router) { client in
                try await client.execute(uri: "/v1/events", method: .get) { #expect($0.status == .unauthorized) }
            }
        }
    }
}
