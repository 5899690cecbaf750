import Foundation
import Ledger
import LeadModel
import NIOHTTP1
import Testing

@testable import LedgerServer

/// A notification in the shape of HubSpot's webhooks documentation (`contact.propertyChange`).
func hubSpotNotification(
    eventId: Int, objectId: String, property: String, value: String, occurredAt: Int64, changeSource: String? = "CRM_UI",
    type: String = "contact.propertyChange"
) -> String {
    let source = changeSource.map { #","changeSource":"\#($0)""# } ?? ""
    return #"{"eventId":\#(eventId),"subscriptionId":25,"portalId":33,"appId":1160452,"occurredAt":\#(occurredAt),"subscriptionType":"\#(type)","attemptNumber":0,"objectId":\#(objectId),"propertyName":"\#(property)","propertyValue":"\#(value)"\#(source)}"#
}

@Suite("HubSpot webhooks at POST /v1/hooks/hubspot, over a real socket", .serialized)
struct HubSpotWebhookSocketTests {
    static let secret = "hubspot-app-secret-7f3a"
    static let publicURL = "https://hooks.example.com/leadledger"

    static func server(_ ledger: Ledger, allowV1: Bool = false) -> LedgerHTTPServer {
        var configuration = ServerConfiguration(port: 0)
        configuration.hubSpot = HubSpotWebhookConfiguration(secret: secret, publicURL: publicURL + "/", allowV1: allowV1)
        return LedgerHTTPServer(ledger: ledger, configuration: configuration)
    }

    static func signedHeaders(_ body: [UInt8], secret: String = secret, timestamp: Int64 = nowMillis(), path: String = "/v1/hooks/hubspot")
        -> [(String, String)]
    {
        let stamp = String(timestamp)
        return [
            ("Content-Type", "application/json"), ("X-HubSpot-Request-Timestamp", stamp),
            (
                "X-HubSpot-Signature-v3",
                hubSpotSignature(secret: secret, method: "POST", uri: publicURL + path, body: body, timestamp: stamp)
            ),
        ]
    }

    @Test("a signed webhook is appended once and re-deliveries are duplicates; a tampered body, a wrong secret, a stale timestamp and a replayed signature get 401 and append nothing")
    func signatures() async throws {
        try await withTemporaryLedger { ledger, _ in
            _ = try await ledger.importEvents([], starterTaxonomyWhenMissing: true)
            let before = try ledger.head().position
            let server = Self.server(ledger)
            let t = Int64(1_706_860_800_000)
            let body = Array(
                "[\(hubSpotNotification(eventId: 1, objectId: "501", property: "lifecyclestage", value: "marketingqualifiedlead", occurredAt: t, changeSource: "WORKFLOWS"))]"
                    .utf8)
            let other = Array(
                "[\(hubSpotNotification(eventId: 2, objectId: "502", property: "lifecyclestage", value: "marketingqualifiedlead", occurredAt: t))]".utf8)
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in
                    let headers = Self.signedHeaders(body)
                    var reply = try await connection.send(.POST, "/v1/hooks/hubspot", headers: headers, body: body)
                    #expect(reply.status == 200, "\(reply.text)")
                    #expect(try reply.json()["appended"] as? Int == 2)
                    reply = try await connection.send(.POST, "/v1/hooks/hubspot", headers: Self.signedHeaders(body), body: body)
                    #expect(reply.status == 200)
                    #expect(try reply.json()["appended"] as? Int == 0)
                    #expect(try reply.json()["duplicates"] as? Int == 2)

                    // Tampered: the first body's signature on another body.
                    reply = try await connection.send(.POST, "/v1/hooks/hubspot", headers: headers, body: other)
                    #expect(reply.status == 401)
                    reply = try await connection.send(
                        .POST, "/v1/hooks/hubspot", headers: Self.signedHeaders(other, secret: "not-the-app-secret"), body: other)
                    #expect(reply.status == 401)
                    reply = try await connection.send(
                        .POST, "/v1/hooks/hubspot", headers: Self.signedHeaders(other, timestamp: nowMillis() - 6 * 60 * 1000), body: other)
                    #expect(reply.status == 401)
                    // Replayed: a valid signature with a fresh timestamp no longer matches.
                    var replayed = headers
                    replayed[1] = ("X-HubSpot-Request-Timestamp", String(nowMillis()))
                    reply = try await connection.send(.POST, "/v1/hooks/hubspot", headers: replayed, body: body)
                    #expect(reply.status == 401)
                    // Signed for another URI (a proxy's path is not the public one).
                    reply = try await connection.send(
                        .POST, "/v1/hooks/hubspot", headers: Self.signedHeaders(other, path: "/hooks/hubspot"), body: other)
                    #expect(reply.status == 401)
                    // v1 is refused unless enabled.
                    var v1 = [("Content-Type", "application/json"), ("X-HubSpot-Signature-Version", "v1")]
                    v1.append(("X-HubSpot-Signature", HubSpotSignature.v1(secret: Self.secret, body: Data(other))))
                    reply = try await connection.send(.POST, "/v1/hooks/hubspot", headers: v1, body: other)
                    #expect(reply.status == 401)
                }
            }
            #expect(try ledger.head().position == before + 2)
        }
    }

    @Test("deletions are counted skips; a value that cannot map is refused naming the notification and `propertyValue`, appending nothing")
    func skipsAndRefusals() async throws {
        try await withTemporaryLedger { ledger, _ in
            _ = try await ledger.importEvents([], starterTaxonomyWhenMissing: true)
            let before = try ledger.head().position
            let server = Self.server(ledger)
            let t = Int64(1_706_860_800_000)
            let bad = Array(
                """
                [\(hubSpotNotification(eventId: 1, objectId: "601", property: "lifecyclestage", value: "lead", occurredAt: t)),
                 \(hubSpotNotification(eventId: 2, objectId: "601", property: "country", value: "US", occurredAt: t)),
                 \(hubSpotNotification(eventId: 3, objectId: "601", property: "hubspotscore", value: "high", occurredAt: t + 1000))]
                """.utf8)
            let noName = Array(
                #"[{"eventId":4,"subscriptionId":25,"portalId":33,"occurredAt":\#(t),"subscriptionType":"contact.propertyChange","objectId":601,"propertyValue":"x"}]"#
                    .utf8)
            let deletions = Array(
                """
                [{"eventId":5,"subscriptionId":26,"portalId":33,"occurredAt":\(t),"subscriptionType":"contact.deletion","objectId":601},
                 {"eventId":6,"subscriptionId":27,"portalId":33,"occurredAt":\(t),"subscriptionType":"contact.privacyDeletion","objectId":601},
                 {"eventId":7,"subscriptionId":28,"portalId":33,"occurredAt":\(t),"subscriptionType":"contact.creation","objectId":601}]
                """.utf8)
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in
                    var reply = try await connection.send(.POST, "/v1/hooks/hubspot", headers: Self.signedHeaders(bad), body: bad)
                    #expect(reply.status == 400, "\(reply.text)")
                    var problem = (try reply.json()["problems"] as? [[String: Any]])?.first
                    #expect(problem?["item"] as? Int == 2)
                    #expect(problem?["field"] as? String == "propertyValue")

                    reply = try await connection.send(.POST, "/v1/hooks/hubspot", headers: Self.signedHeaders(noName), body: noName)
                    #expect(reply.status == 400)
                    problem = (try reply.json()["problems"] as? [[String: Any]])?.first
                    #expect(problem?["field"] as? String == "propertyName")

                    reply = try await connection.send(.POST, "/v1/hooks/hubspot", headers: Self.signedHeaders(deletions), body: deletions)
                    #expect(reply.status == 200, "\(reply.text)")
                    #expect((try reply.json()["skipped"] as? [[String: Any]])?.count == 3)
                }
            }
            #expect(try ledger.head().position == before)
        }
    }

    @Test("a contact.privacyDeletion appends lead.forgotten once, drops the contact's kept changes, and never stores a property the mapping ignores")
    func privacyDeletion() async throws {
        try await withTemporaryLedger { ledger, path in
            _ = try await ledger.importEvents([], starterTaxonomyWhenMissing: true)
            let server = Self.server(ledger)
            let t = Int64(1_706_860_800_000)
            let email = "ada.lovelace-7731@example.org"
            let captured = Array(
                """
                [\(hubSpotNotification(eventId: 1, objectId: "701", property: "email", value: email, occurredAt: t)),
                 \(hubSpotNotification(eventId: 2, objectId: "701", property: "lifecyclestage", value: "marketingqualifiedlead", occurredAt: t + 1000)),
                 \(hubSpotNotification(eventId: 3, objectId: "701", property: "country", value: "FR", occurredAt: t + 1000))]
                """.utf8)
            let erased = Array(
                """
                [{"eventId":9,"subscriptionId":31,"portalId":33,"occurredAt":\(t + 5000),"subscriptionType":"contact.privacyDeletion","objectId":701},
                 {"eventId":10,"subscriptionId":31,"portalId":33,"occurredAt":\(t + 5000),"subscriptionType":"contact.privacyDeletion","objectId":999},
                 {"eventId":11,"subscriptionId":31,"portalId":33,"occurredAt":\(t + 6000),"subscriptionType":"contact.privacyDeletion","objectId":701}]
                """.utf8)
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in
                    var reply = try await connection.send(.POST, "/v1/hooks/hubspot", headers: Self.signedHeaders(captured), body: captured)
                    #expect(reply.status == 200, "\(reply.text)")
                    #expect(try ledger.metaValue(HubSpotWebhook.metaKey(lead: "701")) != nil)
                    let versionBefore = try ledger.log.version(ofStream: "701")

                    reply = try await connection.send(.POST, "/v1/hooks/hubspot", headers: Self.signedHeaders(erased), body: erased)
                    #expect(reply.status == 200, "\(reply.text)")
                    #expect(try reply.json()["appended"] as? Int == 1)
                    // One erasure per contact: a second notification for it in the same body is a counted skip.
                    let skipped = try reply.json()["skipped"] as? [[String: Any]]
                    #expect(skipped?.count == 2)
                    #expect(skipped?.first?["item"] as? Int == 1)
                    #expect((skipped?.first?["reason"] as? String)?.contains("contact 999 is not a lead") == true)
                    #expect(skipped?.last?["item"] as? Int == 2)
                    #expect((skipped?.last?["reason"] as? String)?.contains("erased by an earlier notification") == true)
                    let last = try #require(try ledger.log.records(inStream: "701").last)
                    #expect(try LeadEvent(binary: last.payload).type == .leadForgotten)
                    #expect(try ledger.log.version(ofStream: "701") == versionBefore + 1)
                    #expect(try ledger.metaValue(HubSpotWebhook.metaKey(lead: "701")) == nil)

                    // HubSpot re-delivers: the same notification ids make the same event, a duplicate.
                    reply = try await connection.send(.POST, "/v1/hooks/hubspot", headers: Self.signedHeaders(erased), body: erased)
                    #expect(try reply.json()["appended"] as? Int == 0)
                    #expect(try reply.json()["duplicates"] as? Int == 1)
                }
            }
            let file = try Data(contentsOf: URL(fileURLWithPath: path + "/data.mdb"))
            #expect(file.range(of: Data(email.utf8)) == nil, "an ignored property's value reached the ledger file")
        }
    }

    @Test("HubSpot webhooks and a HubSpot export of the same history give identical events with the same ids")
    func webhookMatchesExport() async throws {
        let csvURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../LedgerTests/Fixtures/hubspot_property_history.csv").standardized
        let csv = try String(contentsOf: csvURL, encoding: .utf8)
        // The export, imported as `leadledger import hubspot` does.
        let exported = try await withTemporaryLedger { ledger, _ in
            _ = try await ledger.importEvents(
                [try HubSpotHistoryImporter.importData(Data(csv.utf8), fileName: "history.csv")], starterTaxonomyWhenMissing: true)
            return try ledger.log.records(from: 1).map { ($0.id, $0.payload) }
        }
        // The same rows as HubSpot sends them: the changes of one instant together, instants in order.
        var byInstant: [Int64: [String]] = [:]
        for (index, line) in csv.split(separator: "\n").dropFirst().enumerated() {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            let millis = Int64(cells[3]) ?? Int64((ISO8601DateFormatter().date(from: cells[3])!.timeIntervalSince1970 * 1000).rounded())
            byInstant[millis, default: []].append(
                hubSpotNotification(
                    eventId: 1000 + index, objectId: cells[0], property: cells[1], value: cells[2], occurredAt: millis, changeSource: cells[4]))
        }
        let batches = byInstant
        let received = try await withTemporaryLedger { ledger, _ in
            _ = try await ledger.importEvents([], starterTaxonomyWhenMissing: true)
            let server = Self.server(ledger)
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in
                    for instant in batches.keys.sorted() {
                        let body = Array("[\(batches[instant]!.joined(separator: ","))]".utf8)
                        let reply = try await connection.send(.POST, "/v1/hooks/hubspot", headers: Self.signedHeaders(body), body: body)
                        #expect(reply.status == 200, "\(reply.text)")
                    }
                    // HubSpot retries what it did not see acknowledged: nothing new.
                    let last = Array("[\(batches[batches.keys.max()!]!.joined(separator: ","))]".utf8)
                    let reply = try await connection.send(.POST, "/v1/hooks/hubspot", headers: Self.signedHeaders(last), body: last)
                    #expect(try reply.json()["appended"] as? Int == 0)
                }
            }
            return try ledger.log.records(from: 1).map { ($0.id, $0.payload) }
        }
        #expect(exported.count > 15)
        #expect(received.count == exported.count)
        let exportedByID = Dictionary(exported, uniquingKeysWith: { first, _ in first })
        let receivedByID = Dictionary(received, uniquingKeysWith: { first, _ in first })
        #expect(Set(exportedByID.keys) == Set(receivedByID.keys))
        for (id, payload) in exportedByID {
            #expect(receivedByID[id] == payload, "event \(id) differs")
        }
    }
}
