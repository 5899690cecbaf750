import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ledger
import NIOCore
import Testing

@testable import LedgerServer

@Suite("POST /v1/leads/{lead}/forget")
struct ForgetRouteTests {
    @Test("an admin erases a lead's personal values; the audit shows them erased; other scopes, unknown leads and bad bodies are refused")
    func forget() async throws {
        try await withRouter { client, ledger, keys in
            let email = "erase.\(UUID().uuidString.lowercased())@example.com"
            let captured =
                #"{"id":"\#(UUID().uuidString.lowercased())","type":"lead.captured","lead":"00QF","occurredAt":"2026-03-02T14:05:00Z","source":"webform","data":{"channel":"web","attributes":{"email":"\#(email)","country":"FR"}}}"#
            let appended = try await client.execute(
                uri: "/v1/events", method: .post, headers: ndjsonHeaders(keys.append), body: ByteBuffer(string: captured))
            #expect(appended.status == .created)
            let before = try await client.execute(uri: "/v1/leads/00QF", method: .get, headers: bearer(keys.read))
            #expect(String(buffer: before.body).contains(email))

            let forbidden = try await client.execute(uri: "/v1/leads/00QF/forget", method: .post, headers: bearer(keys.append))
            #expect(forbidden.status == .forbidden)
            let unknown = try await client.execute(uri: "/v1/leads/00QNOBODY/forget", method: .post, headers: bearer(keys.admin))
            #expect(unknown.status == .notFound)
            let bad = try await client.execute(
                uri: "/v1/leads/00QF/forget", method: .post, headers: bearer(keys.admin), body: ByteBuffer(string: #"{"reason":7,"why":1}"#))
            #expect(bad.status == .badRequest)
            #expect(try problems(bad).count == 2)

            let forgotten = try await client.execute(
                uri: "/v1/leads/00QF/forget", method: .post, headers: bearer(keys.admin), body: ByteBuffer(string: #"{"reason":"request 31"}"#))
            #expect(forgotten.status == .ok)
            #expect(try json(forgotten)["positions"] as? [Int] == [2])
            let after = try await client.execute(uri: "/v1/leads/00QF", method: .get, headers: bearer(keys.read))
            let text = String(buffer: after.body)
            #expect(!text.contains(email))
            #expect(text.contains(PersonalData.erasedMarker))
            #expect(text.contains("FR"))
            #expect(try ledger.verify().isIntact)
        }
    }
}

@Suite("lead.forgotten through POST /v1/events")
struct ForgottenEventScopeTests {
    @Test("an append key cannot erase a lead by sending lead.forgotten; an admin key can")
    func appendKeyCannotErase() async throws {
        try await withRouter { client, ledger, keys in
            let captured =
                #"{"id":"\#(UUID().uuidString.lowercased())","type":"lead.captured","lead":"00QG","occurredAt":"2026-03-02T14:05:00Z","source":"webform","data":{"channel":"web","attributes":{"email":"g@example.com"}}}"#
            #expect(
                try await client.execute(uri: "/v1/events", method: .post, headers: ndjsonHeaders(keys.append), body: ByteBuffer(string: captured))
                    .status == .created)
            let forgotten =
                #"{"id":"\#(UUID().uuidString.lowercased())","type":"lead.forgotten","lead":"00QG","occurredAt":"2026-03-03T14:05:00Z","source":"webform"}"#
            let refused = try await client.execute(
                uri: "/v1/events", method: .post, headers: ndjsonHeaders(keys.append), body: ByteBuffer(string: forgotten))
            #expect(refused.status == .forbidden)
            #expect((try problems(refused).first?["message"] as? String)?.contains("scope `admin`") == true)
            #expect(try ledger.log.version(ofStream: "00QG") == 1)
            let admitted = try await client.execute(
                uri: "/v1/events", method: .post, headers: ndjsonHeaders(keys.admin), body: ByteBuffer(string: forgotten))
            #expect(admitted.status == .created)
            let audit = try await client.execute(uri: "/v1/leads/00QG", method: .get, headers: bearer(keys.read))
            #expect(!String(buffer: audit.body).contains("g@example.com"))
        }
    }
}
