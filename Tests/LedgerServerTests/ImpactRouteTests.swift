import Foundation
import Ledger
import Testing

@testable import LedgerServer

/// Validates a JSON document (argv 2) against a schema of the OpenAPI document (argv 1, name argv 3).
private let validateAgainstSchema = """
    import json, sys, yaml, jsonschema
    spec = yaml.safe_load(open(sys.argv[1]))
    schema = {"$ref": "#/components/schemas/" + sys.argv[3], "components": spec["components"]}
    jsonschema.validate(json.loads(sys.argv[2]), schema, cls=jsonschema.Draft202012Validator)
    print("valid")
    """

@Suite("GET /v1/impact adjusted for time, over a real socket", .serialized)
struct ImpactRouteTests {
    /// The dashboard fixture: v1 (score ≥ 50) in weeks 0–7, v2 (score ≥ 70) from week 8; before the
    /// change scores run 50…89, so only part of the before side are stayers.
    func withFixtureServer(_ body: @escaping @Sendable (inout HTTPConnection, String) async throws -> Void) async throws {
        try await withTemporaryLedger { ledger, _ in
            _ = try await ledger.append(DashboardFixture.events())
            let server = testServer(ledger)
            let keys = try TestKeys(server.keys)
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in try await body(&connection, keys.read) }
            }
        }
    }

    @Test(
        "the report carries stayers, the weekly series, the reason-mix test, the population check and the detectable effect, as the OpenAPI schema says"
    )
    func adjustedFigures() async throws {
        try await withFixtureServer { connection, key in
            let reply = try await connection.send(.GET, "/v1/impact", headers: [("Authorization", "Bearer \(key)")])
            #expect(reply.status == 200)
            let validation = try runPython(
                validateAgainstSchema, [repositoryRoot.appendingPathComponent("schemas/openapi.yaml").path, reply.text, "ImpactReport"])
            #expect(validation.status == 0 && validation.output.contains("valid"), "\(validation.error)")
            let change = try #require((try reply.json()["changes"] as? [[String: Any]])?.first)
            // Under 30 decided stayers before the change: the honest answer is no number.
            let adjusted = try #require(change["timeAdjusted"] as? [String: Any])
            #expect(adjusted["tooFewStayers"] as? Bool == true)
            #expect(adjusted["estimate"] == nil)
            #expect((adjusted["note"] as? String)?.hasPrefix("too few stayers") == true)
            let stayersAfter = try #require(adjusted["stayersAfter"] as? [String: Any])
            let after = try #require(adjusted["after"] as? [String: Any])
            // Every lead after the change scores 70 or more: all of them satisfy both versions.
            #expect(stayersAfter["decided"] as? Int == after["decided"] as? Int)
            let series = try #require(change["weeklySeries"] as? [String: Any])
            #expect(series["weeksBefore"] as? Int == 8 && series["weeksAfter"] as? Int == 8)
            #expect(series["fit"] is [String: Any])
            #expect((change["reasonMix"] as? [String: Any])?["degreesOfFreedom"] is Int)
            #expect((change["detectable"] as? [String: Any])?["difference"] is Double)
        }
    }

    @Test("a lower minimumStayers gives the estimate; out-of-range parameters are refused with their name")
    func parameters() async throws {
        try await withFixtureServer { connection, key in
            let report = try await connection.json(.GET, "/v1/impact?minimumStayers=5&seriesWeeks=4", key: key)
            #expect(report["minimumStayers"] as? Int == 5 && report["seriesWeeks"] as? Int == 4)
            let change = try #require((report["changes"] as? [[String: Any]])?.first)
            let adjusted = try #require(change["timeAdjusted"] as? [String: Any])
            let estimate = try #require(adjusted["estimate"] as? [String: Any])
            let interval = try #require(estimate["interval"] as? [String: Double])
            let difference = try #require(estimate["difference"] as? Double)
            #expect(interval["low"]! <= difference && difference <= interval["high"]!)
            #expect((change["weeklySeries"] as? [String: Any])?["weeksBefore"] as? Int == 4)
            for query in ["seriesWeeks=0", "seriesWeeks=521", "minimumStayers=0", "seriesWeeks=x"] {
                let name = String(query.prefix { $0 != "=" })
                let refused = try await connection.send(.GET, "/v1/impact?\(query)", headers: [("Authorization", "Bearer \(key)")])
                #expect(refused.status == 400, "\(query)")
                #expect(refused.text.contains(name), "\(query): \(refused.text)")
            }
        }
    }
}
