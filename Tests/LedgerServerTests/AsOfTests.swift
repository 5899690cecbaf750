import EventLog
import Foundation
import LeadModel
import Ledger
import NIOHTTP1
import Synchronization
import Testing

@testable import LedgerServer

/// A clock the test sets, so each batch gets the `recordedAt` the test chose.
final class ManualLogClock: LogClock {
    private let micros: Atomic<Int64>

    init(_ time: String) { micros = Atomic(Self.instant(time)) }

    func now() -> Int64 { micros.load(ordering: .relaxed) }

    func set(_ time: String) { micros.store(Self.instant(time), ordering: .relaxed) }

    private static func instant(_ time: String) -> Int64 {
        guard let t = Timestamp(rfc3339: time) else { fatalError("bad fixture time \(time)") }
        return t.microseconds
    }
}

/// Two hand-offs the ledger recorded on 5 March (one of them accepted), then a rejection, a new
/// definition and a retired reason code that reached the ledger only on 6 March.
enum AsOfFixture {
    static func line(_ type: String, lead: String? = nil, _ occurredAt: String, _ data: String) -> String {
        let leadField = lead.map { #","lead":"\#($0)""# } ?? ""
        return
            #"{"id":"\#(UUID().uuidString)","type":"\#(type)"\#(leadField),"occurredAt":"\#(occurredAt)","source":"crm","data":\#(data)}"#
    }

    static let recordedOn5March = [
        line(
            "reason.defined", "2026-02-01T00:00:00Z",
            #"{"code":"FIT_COMPANY.TOO_SMALL","label":"Company too small","category":"FIT_COMPANY"}"#),
        line("reason.defined", "2026-02-01T00:00:00Z", #"{"code":"FIT_COMPANY.SIZE","label":"Company size","category":"FIT_COMPANY"}"#),
        line(
            "definition.published", "2026-02-01T00:00:00Z",
            #"{"version":1,"name":"score 50+","rules":{"field":"score","gte":50},"effectiveAt":"2026-02-01T00:00:00Z"}"#),
        line("lead.captured", lead: "A", "2026-03-02T10:00:00Z", #"{"channel":"web"}"#),
        line("lead.scored", lead: "A", "2026-03-02T10:05:00Z", #"{"score":80}"#),
        line("lead.handed_off", lead: "A", "2026-03-02T10:10:00Z", #"{"owner":"rep:a"}"#),
        line("lead.captured", lead: "B", "2026-03-02T11:00:00Z", #"{"channel":"web"}"#),
        line("lead.scored", lead: "B", "2026-03-02T11:05:00Z", #"{"score":70}"#),
        line("lead.handed_off", lead: "B", "2026-03-02T11:10:00Z", #"{"owner":"rep:b"}"#),
        line("lead.accepted", lead: "B", "2026-03-03T09:00:00Z", #"{"by":"rep:b"}"#),
    ].joined(separator: "\n")

    static let recordedOn6March = [
        line("lead.rejected", lead: "A", "2026-03-04T09:00:00Z", #"{"reason":"FIT_COMPANY.TOO_SMALL","by":"rep:a"}"#),
        line(
            "definition.published", "2026-03-02T12:00:00Z",
            #"{"version":2,"name":"score 75+","rules":{"field":"score","gte":75},"effectiveAt":"2026-03-02T12:00:00Z"}"#),
        line("reason.retired", "2026-03-04T10:00:00Z", #"{"code":"FIT_COMPANY.TOO_SMALL","replacedBy":"FIT_COMPANY.SIZE"}"#),
    ].joined(separator: "\n")

    static let candidate = #"{"name":"score 60+","rules":{"field":"score","gte":60}}"#
}

extension HTTPConnection {
    /// Sends a request that must succeed and returns its JSON object.
    mutating func json(_ method: HTTPMethod, _ path: String, key: String, body: String? = nil) async throws -> [String: Any] {
        let reply = try await send(method, path, headers: [("Authorization", "Bearer \(key)")], body: body.map { Array($0.utf8) })
        guard reply.status == 200 else { throw TestFailure("\(method) \(path): \(reply.status) \(reply.text)") }
        return try reply.json()
    }
}

/// The `total` row of a trends report: handedOff, accepted, rejected, pending.
func totals(_ report: [String: Any]) -> [Int] {
    let total = report["total"] as? [String: Any] ?? [:]
    return ["handedOff", "accepted", "rejected", "pending"].map { total[$0] as? Int ?? -1 }
}

/// The `both` segment of the first candidate of a what-if report: leads, accepted, rejected, pending.
func bothSegment(_ report: [String: Any]) -> [Int] {
    let both = (report["candidates"] as? [[String: Any]])?.first?["both"] as? [String: Any] ?? [:]
    return ["leads", "accepted", "rejected", "pending"].map { both[$0] as? Int ?? -1 }
}

@Suite("As-of cuts of the analyses over a real socket", .serialized)
struct AsOfTests {
    /// Runs `body` on a server whose ledger recorded the fixture's first batch on 5 March and the
    /// rest on 6 March at 09:00 UTC, each through `POST /v1/events`.
    func withFixtureServer(_ body: @escaping @Sendable (inout HTTPConnection, TestKeys) async throws -> Void) async throws {
        let clock = ManualLogClock("2026-03-05T12:00:00Z")
        try await withTemporaryLedger(clock: clock) { ledger, _ in
            let server = testServer(ledger)
            let keys = try TestKeys(server.keys)
            try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in
                    // The fixture defines reasons and publishes definitions: catalog events, for an admin key.
                    let headers = [("Authorization", "Bearer \(keys.admin)"), ("Content-Type", "application/x-ndjson")]
                    let first = try await connection.send(
                        .POST, "/v1/events", headers: headers, body: Array(AsOfFixture.recordedOn5March.utf8))
                    try #require(first.status == 201, "\(first.text)")
                    clock.set("2026-03-06T09:00:00Z")
                    let late = try await connection.send(
                        .POST, "/v1/events", headers: headers, body: Array(AsOfFixture.recordedOn6March.utf8))
                    try #require(late.status == 201, "\(late.text)")
                    try await body(&connection, keys)
                }
            }
        }
    }

    @Test("asOfRecorded leaves out what the ledger recorded later, in trends, impact and what-if; without it they count")
    func asOfRecorded() async throws {
        try await withFixtureServer { connection, keys in
            let everything = try await connection.json(.GET, "/v1/trends", key: keys.read)
            #expect(totals(everything) == [2, 1, 1, 0])
            #expect(everything["asOf"].flatMap { ($0 as? [String: Any])?["cut"] as? String } == "everything")
            // The end of 5 March, the same instant written out, and 08:00 UTC on 6 March written with
            // an offset: each is before the rejection was recorded, so A is still pending.
            for cut in ["2026-03-05", "2026-03-05T23:59:59.999999Z", "2026-03-06T10:00:00%2B02:00"] {
                let before = try await connection.json(.GET, "/v1/trends?asOfRecorded=\(cut)", key: keys.read)
                #expect(totals(before) == [2, 1, 0, 1], "asOfRecorded=\(cut)")
                let stamp = (before["asOf"] as? [String: Any])?["cut"] as? String
                #expect(stamp?.hasPrefix("recordedBy 2026-03-0") == true, "asOfRecorded=\(cut): \(stamp ?? "no cut")")
            }
            // The cut includes its own instant: the batch recorded at 09:00 is in.
            let atLate = try await connection.json(.GET, "/v1/trends?asOfRecorded=2026-03-06T09:00:00Z", key: keys.read)
            #expect(totals(atLate) == [2, 1, 1, 0])

            let impactNow = try await connection.json(.GET, "/v1/impact", key: keys.read)
            #expect((impactNow["changes"] as? [Any])?.count == 1)
            let impactThen = try await connection.json(.GET, "/v1/impact?asOfRecorded=2026-03-05", key: keys.read)
            #expect((impactThen["changes"] as? [Any])?.count == 0, "v2 was recorded on 6 March")

            let whatIfNow = try await connection.json(
                .POST, "/v1/what-if", key: keys.read, body: #"{"candidates":[\#(AsOfFixture.candidate)]}"#)
            #expect(bothSegment(whatIfNow) == [2, 1, 1, 0])
            let whatIfThen = try await connection.json(
                .POST, "/v1/what-if", key: keys.read, body: #"{"candidates":[\#(AsOfFixture.candidate)],"asOfRecorded":"2026-03-05"}"#)
            #expect(bothSegment(whatIfThen) == [2, 1, 0, 1])
        }
    }

    @Test("asOfOccurred leaves out what happened later in business time, whenever it was recorded")
    func asOfOccurred() async throws {
        try await withFixtureServer { connection, keys in
            // The whole of 2 March: both hand-offs, neither decision.
            let secondOfMarch = try await connection.json(.GET, "/v1/trends?asOfOccurred=2026-03-02", key: keys.read)
            #expect(totals(secondOfMarch) == [2, 0, 0, 2])
            // Noon on 3 March: B's acceptance, not A's rejection of 4 March (recorded or not).
            let noon = try await connection.json(.GET, "/v1/trends?asOfOccurred=2026-03-03T12:00:00Z", key: keys.read)
            #expect(totals(noon) == [2, 1, 0, 1])

            // v2 takes effect at 12:00 on 2 March: a second earlier there is no change to report.
            let impactBefore = try await connection.json(.GET, "/v1/impact?asOfOccurred=2026-03-02T11:59:59Z", key: keys.read)
            #expect((impactBefore["changes"] as? [Any])?.count == 0)
            let impactAfter = try await connection.json(.GET, "/v1/impact?asOfOccurred=2026-03-02T12:00:00Z", key: keys.read)
            #expect((impactAfter["changes"] as? [Any])?.count == 1)

            let whatIf = try await connection.json(
                .POST, "/v1/what-if", key: keys.read,
                body: #"{"candidates":[\#(AsOfFixture.candidate)],"asOfOccurred":"2026-03-03T12:00:00Z"}"#)
            #expect(bothSegment(whatIf) == [2, 1, 0, 1])
        }
    }

    @Test("impact takes mapRetired: the retired code's share is reported under its replacement")
    func impactMapsRetiredCodes() async throws {
        try await withFixtureServer { connection, keys in
            func falling(_ report: [String: Any]) -> [String] {
                let change = (report["changes"] as? [[String: Any]])?.first
                return (change?["reasonsFalling"] as? [[String: Any]])?.compactMap { $0["code"] as? String } ?? []
            }
            let unmapped = try await connection.json(.GET, "/v1/impact", key: keys.read)
            #expect(falling(unmapped) == ["FIT_COMPANY.TOO_SMALL"])
            let explicitlyUnmapped = try await connection.json(.GET, "/v1/impact?mapRetired=false", key: keys.read)
            #expect(falling(explicitlyUnmapped) == ["FIT_COMPANY.TOO_SMALL"])
            let mapped = try await connection.json(.GET, "/v1/impact?mapRetired=true", key: keys.read)
            #expect(falling(mapped) == ["FIT_COMPANY.SIZE"])
        }
    }

    @Test(
        "both cuts at once, a malformed time or flag, a time of the wrong JSON type: 400 naming the field, what was expected and what was found"
    )
    func refusals() async throws {
        try await withFixtureServer { connection, keys in
            struct Refusal {
                var method: HTTPMethod = .GET
                var path: String
                var body: String? = nil
                var fields: [String]
                var needles: [String]
            }
            let candidates = #""candidates":[\#(AsOfFixture.candidate)]"#
            let both = ["asOfRecorded", "asOfOccurred"]
            let cases: [Refusal] = [
                Refusal(
                    path: "/v1/trends?asOfRecorded=yesterday", fields: ["asOfRecorded"],
                    needles: ["`asOfRecorded`", "2026-03-02T14:05:00Z", "2026-03-02", "`yesterday`"]),
                Refusal(
                    path: "/v1/trends?asOfOccurred=2026-03-02T25:00:00Z", fields: ["asOfOccurred"],
                    needles: ["`asOfOccurred`", "`2026-03-02T25:00:00Z`"]),
                Refusal(path: "/v1/impact?asOfRecorded=2026-3-5", fields: ["asOfRecorded"], needles: ["`asOfRecorded`", "`2026-3-5`"]),
                Refusal(path: "/v1/trends?asOfRecorded=2026-03-05&asOfOccurred=2026-03-05", fields: both, needles: ["not both"]),
                Refusal(path: "/v1/impact?asOfOccurred=2026-03-05&asOfRecorded=2026-03-05", fields: both, needles: ["not both"]),
                Refusal(path: "/v1/impact?mapRetired=yes", fields: ["mapRetired"], needles: ["`mapRetired`", "true or false", "`yes`"]),
                Refusal(path: "/v1/trends?mapRetired=yes", fields: ["mapRetired"], needles: ["`mapRetired`", "true or false", "`yes`"]),
                Refusal(
                    method: .POST, path: "/v1/what-if", body: #"{\#(candidates),"asOfRecorded":"2026-03-05","asOfOccurred":"2026-03-05"}"#,
                    fields: both, needles: ["not both"]),
                Refusal(
                    method: .POST, path: "/v1/what-if", body: #"{\#(candidates),"asOfOccurred":"last week"}"#,
                    fields: ["asOfOccurred"], needles: ["`asOfOccurred`", "2026-03-02T14:05:00Z", "`last week`"]),
                Refusal(
                    method: .POST, path: "/v1/what-if", body: #"{\#(candidates),"asOfRecorded":20260305}"#,
                    fields: ["asOfRecorded"], needles: ["`asOfRecorded`", "a string", "a number"]),
            ]
            for refusal in cases {
                let request = "\(refusal.method) \(refusal.path) \(refusal.body ?? "")"
                let reply = try await connection.send(
                    refusal.method, refusal.path, headers: [("Authorization", "Bearer \(keys.read)")],
                    body: refusal.body.map { Array($0.utf8) })
                #expect(reply.status == 400, "\(request): \(reply.status) \(reply.text)")
                let problems = (try? reply.json())?["problems"] as? [[String: Any]] ?? []
                #expect(problems.compactMap { $0["field"] as? String } == refusal.fields, "\(request): \(reply.text)")
                for needle in refusal.needles {
                    #expect(reply.text.contains(needle), "\(request): `\(needle)` not in \(reply.text)")
                }
            }
        }
    }
}
