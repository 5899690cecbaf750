import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LeadModel
import Ledger
import LedgerDemo
import NIOCore
import Testing

@testable import LedgerServer

@Suite("/v1/proposals, /v1/suggestions and the proposals page")
struct ProposalRouteTests {
    static let rules = #"{"all":[{"field":"score","gte":70}]}"#

    @Test("a review key proposes and reviews; an unapproved publish is refused naming the missing role; read keys only list")
    func lifecycle() async throws {
        try await withRouter { client, ledger, keys in
            _ = try await ledger.append(DemoHistory.generate(seed: 4, leads: 300).events)
            try ledger.setRequiredApprovals(["marketing", "sales"])
            let review = try await APIKeyStore(ledger: ledger).add(scope: .review).secret
            let body = #"{"proposal":"score-70","name":"Score 70","rules":\#(Self.rules),"rationale":"fewer not-ready","evidence":{"from":"2025-01-01"}}"#
            let byRead = try await client.execute(uri: "/v1/proposals", method: .post, headers: bearer(keys.read), body: ByteBuffer(string: body))
            #expect(byRead.status == .forbidden)
            let byAppend = try await client.execute(uri: "/v1/proposals", method: .post, headers: bearer(keys.append), body: ByteBuffer(string: body))
            #expect(byAppend.status == .forbidden)
            let proposed = try await client.execute(uri: "/v1/proposals", method: .post, headers: bearer(review), body: ByteBuffer(string: body))
            #expect(proposed.status == .created, "\(String(buffer: proposed.body))")
            let again = try await client.execute(uri: "/v1/proposals", method: .post, headers: bearer(review), body: ByteBuffer(string: body))
            #expect(again.status == .badRequest)
            #expect(try problems(again).first?["field"] as? String == "data.proposal")

            for (role, verdict) in [("marketing", "approved"), ("sales", "declined")] {
                let reviewed = try await client.execute(
                    uri: "/v1/proposals/score-70/reviews", method: .post, headers: bearer(review),
                    body: ByteBuffer(string: #"{"verdict":"\#(verdict)","role":"\#(role)"}"#))
                #expect(reviewed.status == .created)
            }
            let publishBody = ByteBuffer(string: #"{"effectiveAt":"2027-01-01T00:00:00Z"}"#)
            // The attack: publish what sales declined.
            let refused = try await client.execute(uri: "/v1/proposals/score-70/publish", method: .post, headers: bearer(review), body: publishBody)
            #expect(refused.status == .badRequest)
            let problem = try problems(refused).first
            #expect(problem?["field"] as? String == "data.proposal")
            #expect((problem?["message"] as? String)?.contains("missing approvals: sales") == true)

            let listed = try await client.execute(uri: "/v1/proposals", method: .get, headers: bearer(keys.read))
            #expect(listed.status == .ok)
            let proposals = try json(listed)["proposals"] as? [[String: Any]]
            #expect(proposals?.first?["status"] as? String == "declined")

            let recheck = try await client.execute(uri: "/v1/proposals/score-70/evidence", method: .get, headers: bearer(keys.read))
            #expect(recheck.status == .ok)
            #expect(try json(recheck)["identical"] as? Bool == true)
            let missing = try await client.execute(uri: "/v1/proposals/nobody/evidence", method: .get, headers: bearer(keys.read))
            #expect(missing.status == .notFound)

            let approve = try await client.execute(
                uri: "/v1/proposals/score-70/reviews", method: .post, headers: bearer(review), body: ByteBuffer(string: #"{"verdict":"approved","role":"sales"}"#))
            #expect(approve.status == .created)
            let published = try await client.execute(uri: "/v1/proposals/score-70/publish", method: .post, headers: bearer(keys.admin), body: publishBody)
            #expect(published.status == .created, "\(String(buffer: published.body))")
            #expect(try ledger.proposals().proposals.first?.status == .published)

            let page = try await client.execute(uri: "/proposals", method: .get, headers: bearer(keys.read))
            #expect(page.status == .ok)
            let html = String(buffer: page.body)
            #expect(html.contains("Score 70"))
            #expect(html.contains("score-70"))
            #expect(html.contains("What-if result"))
            #expect(html.contains("replaced"))
            #expect(try ledger.verify().isIntact)
        }
    }

    @Test("bad bodies and parameters are 400s naming the field, never 5xx")
    func badInput() async throws {
        try await withRouter { client, _, keys in
            for (uri, body, field) in [
                ("/v1/proposals", #"{"proposal":"p","name":"x","rules":{"field":"score","between":[1,2]}}"#, "rules"),
                ("/v1/proposals", #"{"name":"x","rules":{"field":"score","gte":1}}"#, "proposal"),
                ("/v1/proposals", #"{"proposal":"a b","name":"x","rules":{"field":"score","gte":1}}"#, "data.proposal"),
                ("/v1/proposals", #"{"proposal":"p","name":"x","rules":{"field":"score","gte":1},"evidence":{"bandWidth":0}}"#, "evidence.bandWidth"),
                ("/v1/proposals/p/reviews", #"{"verdict":"maybe","role":"sales"}"#, "verdict"),
                ("/v1/proposals/p/reviews", #"{"verdict":"approved","role":"sales"}"#, "data.proposal"),
                ("/v1/proposals/p/publish", #"{"effectiveAt":"tomorrow"}"#, "effectiveAt"),
                ("/v1/proposals/p/publish", #"[1]"#, ""),
            ] {
                let response = try await client.execute(uri: uri, method: .post, headers: bearer(keys.admin), body: ByteBuffer(string: body))
                #expect(response.status == .badRequest || response.status == .notFound, "\(uri) \(body): \(response.status)")
                if !field.isEmpty { #expect(try problems(response).contains { ($0["field"] as? String)?.hasPrefix(field) == true }, "\(uri) \(body): \(String(buffer: response.body))") }
            }
            let empty = try await client.execute(uri: "/v1/suggestions", method: .get, headers: bearer(keys.read))
            #expect(empty.status == .badRequest)
            let badLimit = try await client.execute(uri: "/v1/suggestions?maxLostWinsPercent=300", method: .get, headers: bearer(keys.read))
            #expect(badLimit.status == .badRequest)
            #expect(try problems(badLimit).first?["field"] as? String == "maxLostWinsPercent")
        }
    }

    @Test("the suggestions appear on the proposals page, and its button proposes one with evidence")
    func suggestionButton() async throws {
        try await withRouter { client, ledger, keys in
            _ = try await ledger.append(DemoHistory.generate(seed: 6, leads: 1_200).events)
            let api = try await client.execute(uri: "/v1/suggestions?limit=3", method: .get, headers: bearer(keys.read))
            #expect(api.status == .ok)
            let report = try json(api)
            #expect((report["method"] as? String)?.contains("fitted on") == true)
            let page = try await client.execute(uri: "/proposals?suggest=1&limit=3", method: .get, headers: bearer(keys.read))
            #expect(page.status == .ok)
            let html = String(buffer: page.body)
            #expect(html.contains("Propose this"))
            #expect(html.contains("judged on"))
            let suggestions = try #require(report["suggestions"] as? [[String: Any]])
            let first = try #require(suggestions.first)
            let rules = try JSONSerialization.data(withJSONObject: try #require(first["rules"]))
            func encoded(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "" }
            let form = "proposal=suggested-1&name=\(encoded(first["name"] as? String ?? "x"))&rules=\(encoded(String(decoding: rules, as: UTF8.self)))"
            let readOnly = try await client.execute(
                uri: "/proposals", method: .post, headers: [.authorization: "Bearer \(keys.read)", .contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: form))
            #expect(readOnly.status == .forbidden)
            let button = try await client.execute(
                uri: "/proposals", method: .post, headers: [.authorization: "Bearer \(keys.admin)", .contentType: "application/x-www-form-urlencoded"],
                body: ByteBuffer(string: form))
            #expect(button.status == .seeOther, "\(String(buffer: button.body))")
            let stored = try ledger.proposals().proposals
            #expect(stored.map(\.proposal) == ["suggested-1"])
            #expect(stored.first?.evidence != nil)
            #expect(try ledger.recheckEvidence(proposal: "suggested-1").identical)
        }
    }
}
