import Crypto
import Foundation
import Ledger
import LeadModel
import NIOHTTP1
import Testing

@testable import LedgerServer

// Fixtures follow the senders' documentation and are signed here with the documented algorithms,
// independently of the server's own code:
// - CloudEvents 1.0 HTTP binding: structured (`application/cloudevents+json`), batched
//   (`application/cloudevents-batch+json`) and binary (`ce-*` headers) modes.
// - Standard Webhooks: `webhook-signature: v1,` + base64(HMAC-SHA256(key, "id.timestamp.body")),
//   the key being the base64 decoding of the secret after `whsec_`.
// - HubSpot v3: base64(HMAC-SHA256(app secret, method + URI + body + timestamp in ms)).

/// `v1,BASE64` as a Standard Webhooks sender computes it.
func standardWebhookSignature(secret: String, id: String, timestamp: Int64, body: [UInt8]) -> String {
    let key = SymmetricKey(data: Data(base64Encoded: String(secret.dropFirst("whsec_".count)))!)
    let mac = HMAC<SHA256>.authenticationCode(for: Data("\(id).\(timestamp).".utf8) + Data(body), using: key)
    return "v1," + Data(mac).base64EncodedString()
}

/// `X-HubSpot-Signature-v3` as HubSpot computes it.
func hubSpotSignature(secret: String, method: String, uri: String, body: [UInt8], timestamp: String) -> String {
    let message = Data((method + uri).utf8) + Data(body) + Data(timestamp.utf8)
    return Data(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Data(secret.utf8)))).base64EncodedString()
}

func nowSeconds() -> Int64 { Int64(Date().timeIntervalSince1970) }
func nowMillis() -> Int64 { Int64(Date().timeIntervalSince1970 * 1000) }

@Suite("CloudEvents at POST /v1/events, over a real socket", .serialized)
struct CloudEventsSocketTests {
    static func captured(id: String, lead: String, source: String = "//forms.example.com/signup") -> String {
        #"{"specversion":"1.0","id":"\#(id)","source":"\#(source)","type":"lead.captured","subject":"\#(lead)","time":"2026-03-02T14:05:00Z","datacontenttype":"application/json","data":{"channel":"web"}}"#
    }

    @Test("structured, batched and binary CloudEvents are appended once; re-deliveries are duplicates; ids that are not UUIDs become UUIDv5 of source and id")
    func threeModes() async throws {
        try await withTemporaryLedger { ledger, _ in
            var configuration = ServerConfiguration(port: 0)
            configuration.cloudEventSources = CloudEventSources(table: ["//forms.example.com/signup": "webform"])
            let server = LedgerHTTPServer(ledger: ledger, configuration: configuration)
            let key = try await server.keys.add(scope: .append).secret
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in
                    let auth = ("Authorization", "Bearer \(key)")
                    let structured = Array(Self.captured(id: "A234-1234-1234", lead: "L1").utf8)
                    var reply = try await connection.send(
                        .POST, "/v1/events", headers: [auth, ("Content-Type", "application/cloudevents+json; charset=utf-8")], body: structured)
                    #expect(reply.status == 201, "\(reply.text)")
                    reply = try await connection.send(
                        .POST, "/v1/events", headers: [auth, ("Content-Type", "application/cloudevents+json")], body: structured)
                    #expect(reply.status == 201)
                    #expect(try reply.json()["duplicates"] as? [Bool] == [true])

                    let batch = Array("[\(Self.captured(id: "b-1", lead: "L2")),\(Self.captured(id: UUID().uuidString, lead: "L3"))]".utf8)
                    reply = try await connection.send(
                        .POST, "/v1/events", headers: [auth, ("Content-Type", "application/cloudevents-batch+json")], body: batch)
                    #expect(reply.status == 201, "\(reply.text)")
                    #expect(try reply.json()["positions"] as? [Int] == [2, 3])

                    let binary: [(String, String)] = [
                        auth, ("Content-Type", "application/json"), ("ce-specversion", "1.0"), ("ce-id", "c-1"),
                        ("ce-source", "%2F%2Fforms.example.com%2Fsignup"), ("ce-type", "lead.scored"), ("ce-subject", "L1"),
                        ("ce-time", "2026-03-03T10:00:00Z"), ("ce-actor", "model%3Av2"),
                    ]
                    reply = try await connection.send(.POST, "/v1/events", headers: binary, body: Array(#"{"score":72}"#.utf8))
                    #expect(reply.status == 201, "\(reply.text)")
                    reply = try await connection.send(.POST, "/v1/events", headers: binary, body: Array(#"{"score":72}"#.utf8))
                    #expect(try reply.json()["duplicates"] as? [Bool] == [true])
                }
            }
            let records = try ledger.log.records(from: 1)
            #expect(records.count == 4)
            let events = try records.map { try LeadEvent(binary: $0.payload) }
            #expect(events.map(\.source) == ["webform", "webform", "webform", "webform"])
            #expect(events[0].id == NameBasedUUID.cloudEventID(source: "//forms.example.com/signup", id: "A234-1234-1234"))
            #expect(events[1].id == NameBasedUUID.cloudEventID(source: "//forms.example.com/signup", id: "b-1"))
            #expect(events[3].type == .leadScored && events[3].lead == "L1" && events[3].actor == "model:v2")
            // The same id from another source is another event.
            #expect(NameBasedUUID.cloudEventID(source: "//other.example.com", id: "b-1") != events[1].id)
        }
    }

    @Test("a refused CloudEvents batch names the item and the CloudEvents attribute, and appends nothing; a bound key cannot claim another source")
    func refusals() async throws {
        try await withTemporaryLedger { ledger, _ in
            var configuration = ServerConfiguration(port: 0)
            configuration.cloudEventSources = CloudEventSources(table: ["//crm.example.com": "salesforce"])
            let server = LedgerHTTPServer(ledger: ledger, configuration: configuration)
            let key = try await server.keys.add(scope: .append).secret
            let bound = try await server.keys.add(scope: .append, source: "webform").secret
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in
                    let noTime = #"{"specversion":"1.0","id":"x-3","source":"//crm.example.com","type":"lead.captured","subject":"L9","data":{"channel":"web"}}"#
                    let body = Array(
                        "[\(Self.captured(id: "x-1", lead: "L7", source: "//crm.example.com")),\(Self.captured(id: "x-2", lead: "L8", source: "//crm.example.com")),\(noTime)]"
                            .utf8)
                    var reply = try await connection.send(
                        .POST, "/v1/events", headers: [("Authorization", "Bearer \(key)"), ("Content-Type", "application/cloudevents-batch+json")],
                        body: body)
                    #expect(reply.status == 400)
                    let problem = (try reply.json()["problems"] as? [[String: Any]])?.first
                    #expect(problem?["item"] as? Int == 2)
                    #expect(problem?["field"] as? String == "time")
                    #expect((problem?["message"] as? String)?.contains("item 2") == true)

                    // Unknown source URI and an unbound key: refused naming `source`.
                    reply = try await connection.send(
                        .POST, "/v1/events", headers: [("Authorization", "Bearer \(key)"), ("Content-Type", "application/cloudevents+json")],
                        body: Array(Self.captured(id: "y", lead: "L1", source: "https://unknown.example.com/x").utf8))
                    #expect(reply.status == 400)
                    #expect((try reply.json()["problems"] as? [[String: Any]])?.first?["field"] as? String == "source")

                    // The table maps this URI to salesforce; the key is bound to webform.
                    reply = try await connection.send(
                        .POST, "/v1/events", headers: [("Authorization", "Bearer \(bound)"), ("Content-Type", "application/cloudevents+json")],
                        body: Array(Self.captured(id: "z", lead: "L1", source: "//crm.example.com").utf8))
                    #expect(reply.status == 403, "\(reply.text)")
                    // An unmapped URI from the bound key takes the key's source.
                    reply = try await connection.send(
                        .POST, "/v1/events", headers: [("Authorization", "Bearer \(bound)"), ("Content-Type", "application/cloudevents+json")],
                        body: Array(Self.captured(id: "w", lead: "L1", source: "https://forms.example.net").utf8))
                    #expect(reply.status == 201, "\(reply.text)")
                }
            }
            let records = try ledger.log.records(from: 1)
            #expect(records.count == 1)
            #expect(try LeadEvent(binary: records[0].payload).source == "webform")
        }
    }
}

@Suite("Standard Webhooks on POST /v1/events, over a real socket", .serialized)
struct StandardWebhooksSocketTests {
    @Test("a signed message is appended once, re-deliveries are duplicates; a tampered body, a wrong secret, a stale timestamp and a replayed signature get 401 and append nothing")
    func verification() async throws {
        try await withTemporaryLedger { ledger, _ in
            let server = testServer(ledger)
            let (keyID, _, secret) = try await server.keys.add(scope: .append, signing: true)
            let signingSecret = try #require(secret)
            let path = "/v1/events?key=\(keyID)"
            @Sendable func headers(id: String, timestamp: Int64, signature: String) -> [(String, String)] {
                [
                    ("Content-Type", "application/x-ndjson"), ("webhook-id", id), ("webhook-timestamp", String(timestamp)),
                    ("webhook-signature", signature),
                ]
            }
            let body = Array(capturedEvent(lead: "SW1").utf8)
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in
                    let now = nowSeconds()
                    let signature = standardWebhookSignature(secret: signingSecret, id: "msg_1", timestamp: now, body: body)
                    var reply = try await connection.send(.POST, path, headers: headers(id: "msg_1", timestamp: now, signature: signature), body: body)
                    #expect(reply.status == 201, "\(reply.text)")
                    reply = try await connection.send(.POST, path, headers: headers(id: "msg_1", timestamp: now, signature: signature), body: body)
                    #expect(reply.status == 201)
                    #expect(try reply.json()["duplicates"] as? [Bool] == [true])

                    let other = Array(capturedEvent(lead: "SW2").utf8)
                    // Tampered body: the signature of the first body on another.
                    reply = try await connection.send(.POST, path, headers: headers(id: "msg_1", timestamp: now, signature: signature), body: other)
                    #expect(reply.status == 401)
                    // Wrong secret.
                    let stranger = "whsec_" + Data((0..<24).map { UInt8($0) }).base64EncodedString()
                    reply = try await connection.send(
                        .POST, path,
                        headers: headers(id: "msg_2", timestamp: now, signature: standardWebhookSignature(secret: stranger, id: "msg_2", timestamp: now, body: other)),
                        body: other)
                    #expect(reply.status == 401)
                    // Stale: signed correctly, ten minutes ago.
                    let stale = now - 600
                    reply = try await connection.send(
                        .POST, path,
                        headers: headers(id: "msg_3", timestamp: stale, signature: standardWebhookSignature(secret: signingSecret, id: "msg_3", timestamp: stale, body: other)),
                        body: other)
                    #expect(reply.status == 401)
                    #expect(try reply.json()["error"] as? String ?? "" != "")
                    // Replayed: the first message's signature under a fresh id and timestamp.
                    reply = try await connection.send(.POST, path, headers: headers(id: "msg_4", timestamp: now + 1, signature: signature), body: body)
                    #expect(reply.status == 401)
                    // No key named at all.
                    reply = try await connection.send(.POST, "/v1/events", headers: headers(id: "msg_1", timestamp: now, signature: signature), body: body)
                    #expect(reply.status == 401)
                }
            }
            #expect(try ledger.head().position == 1)
        }
    }

    @Test("an admin creates a signing key over HTTP: its secret is shown once, and a message signed with it is appended")
    func signingKeyOverHTTP() async throws {
        try await withTemporaryLedger { ledger, _ in
            let server = testServer(ledger)
            let (_, admin, _) = try await server.keys.add(scope: .admin, signing: false)
            let body = Array(capturedEvent(lead: "SW9").utf8)
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in
                    let auth = [("Authorization", "Bearer \(admin)"), ("Content-Type", "application/json")]
                    var reply = try await connection.send(.POST, "/v1/keys", headers: auth, body: Array(#"{"scope":"append","signing":true}"#.utf8))
                    #expect(reply.status == 201, "\(reply.text)")
                    let created = try reply.json()
                    let keyID = try #require(created["id"] as? String)
                    let secret = try #require(created["signingSecret"] as? String)
                    #expect(secret.hasPrefix("whsec_"))
                    // Listed with its count of secrets, never the secret itself.
                    reply = try await connection.send(.GET, "/v1/keys", headers: auth)
                    #expect(!reply.text.contains(secret))
                    #expect(reply.text.contains(#""signingSecrets":1"#))

                    let now = nowSeconds()
                    let signature = standardWebhookSignature(secret: secret, id: "msg_http", timestamp: now, body: body)
                    reply = try await connection.send(
                        .POST, "/v1/events?key=\(keyID)",
                        headers: [
                            ("Content-Type", "application/x-ndjson"), ("webhook-id", "msg_http"), ("webhook-timestamp", String(now)),
                            ("webhook-signature", signature),
                        ], body: body)
                    #expect(reply.status == 201, "\(reply.text)")

                    // Without `signing` there is no secret; a non-boolean is refused by name.
                    reply = try await connection.send(.POST, "/v1/keys", headers: auth, body: Array(#"{"scope":"read"}"#.utf8))
                    #expect(try reply.json()["signingSecret"] == nil)
                    reply = try await connection.send(.POST, "/v1/keys", headers: auth, body: Array(#"{"scope":"read","signing":"yes"}"#.utf8))
                    #expect(reply.status == 400)
                    #expect((try reply.json()["problems"] as? [[String: Any]])?.first?["field"] as? String == "signing")
                }
            }
            #expect(try ledger.head().position == 1)
        }
    }

    @Test("during a rotation the previous and the new signing secret both verify; once the previous is dropped it is refused")
    func rotation() async throws {
        try await withTemporaryLedger { ledger, _ in
            let server = testServer(ledger)
            let (keyID, _, first) = try await server.keys.add(scope: .append, signing: true)
            let old = try #require(first)
            let new = try await server.keys.rotateSigningSecret(keyID)
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in
                    func post(_ secret: String, lead: String) async throws -> Int {
                        let body = Array(capturedEvent(lead: lead).utf8)
                        let now = nowSeconds()
                        return try await connection.send(
                            .POST, "/v1/events?key=\(keyID)",
                            headers: [
                                ("Content-Type", "application/x-ndjson"), ("webhook-id", "m-\(lead)"), ("webhook-timestamp", String(now)),
                                ("webhook-signature", standardWebhookSignature(secret: secret, id: "m-\(lead)", timestamp: now, body: body)),
                            ], body: body
                        ).status
                    }
                    #expect(try await post(old, lead: "R1") == 201)
                    #expect(try await post(new, lead: "R2") == 201)
                    _ = try await server.keys.rotateSigningSecret(keyID, dropPrevious: true)
                    #expect(try await post(new, lead: "R3") == 401)
                    #expect(try await post(old, lead: "R4") == 401)
                }
            }
            #expect(try ledger.head().position == 2)
        }
    }

    @Test("events sent without an id take one from `webhook-id`: a re-delivered message is a duplicate, a new message a new event")
    func webhookIDIsTheIdempotencyKey() async throws {
        try await withTemporaryLedger { ledger, _ in
            let server = testServer(ledger)
            let (keyID, _, secret) = try await server.keys.add(scope: .append, signing: true)
            let signingSecret = try #require(secret)
            let body = Array(
                #"{"type":"lead.captured","lead":"N1","occurredAt":"2026-03-02T14:05:00Z","source":"webform","data":{"channel":"web"}}"#.utf8)
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in
                    func post(messageID: String) async throws -> HTTPReply {
                        let now = nowSeconds()
                        return try await connection.send(
                            .POST, "/v1/events?key=\(keyID)",
                            headers: [
                                ("Content-Type", "application/x-ndjson"), ("webhook-id", messageID), ("webhook-timestamp", String(now)),
                                ("webhook-signature", standardWebhookSignature(secret: signingSecret, id: messageID, timestamp: now, body: body)),
                            ], body: body)
                    }
                    var reply = try await post(messageID: "msg_a")
                    #expect(reply.status == 201, "\(reply.text)")
                    reply = try await post(messageID: "msg_a")
                    #expect(try reply.json()["duplicates"] as? [Bool] == [true])
                    reply = try await post(messageID: "msg_b")
                    #expect(try reply.json()["duplicates"] as? [Bool] == [false])
                }
            }
            #expect(try ledger.head().position == 2)
        }
    }
}
