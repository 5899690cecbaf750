import EventLog
import Foundation
import LeadModel
import Testing

@testable import Ledger

private func at(_ text: String) -> Timestamp { Timestamp(rfc3339: text)! }

@Suite("verify --since checks each record as a full verify does", .serialized)
struct VerifySinceTests {
    /// A record after the receipt whose hash chain is sound but whose event is not the stream's it
    /// is filed under, or is not an event at all: written by a process that bypassed the ledger.
    @Test("a record after the receipt filed under another lead, or undecodable, is reported by verify --since as by a full verify")
    func domainChecksAfterTheReceipt() async throws {
        for damage in ["another lead", "not an event"] {
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-since-\(UUID().uuidString)").path
            var ledger = try Ledger(path: path)
            try Ledger.installSigningKey(ledgerPath: path)
            let captured = LeadEvent(
                id: UUID(), occurredAt: at("2026-03-02T09:00:00Z"), source: "hubspot", actor: nil, lead: "00QV", correlationId: nil,
                payload: .leadCaptured(.init(channel: "email")))
            _ = try await ledger.append([captured])
            let receipt = try ledger.receipt()
            ledger.close()

            // The log alone, without the ledger's policy: it files what it is given.
            let raw = try EventLog(path: path)
            let stranger = LeadEvent(
                id: UUID(), occurredAt: at("2026-03-03T09:00:00Z"), source: "hubspot", actor: nil, lead: "00QW", correlationId: nil,
                payload: .leadCaptured(.init(channel: "webinar")))
            let payload = damage == "another lead" ? stranger.binary : [0x01, 0xEE, 0x00, 0x00]
            let written = try await raw.append(AppendBatch(records: [NewRecord(id: stranger.id, stream: "00QV", payload: payload)]))
            let position = written.head.position
            raw.close()

            ledger = try Ledger(path: path)
            let full = try ledger.verify()
            let since = try ledger.verify(since: receipt)
            #expect(full.problem?.position == position, "\(damage)")
            #expect(since.problem?.position == position, "\(damage)")
            #expect(since.problem?.message == full.problem?.message, "\(damage)")
            #expect(since.problem?.message.contains(damage == "another lead" ? "00QW" : "cannot be decoded") == true, "\(damage): \(String(describing: since.problem))")
            ledger.close()
        }
    }

    @Test("verify --since passes over sound appends and counts only them")
    func soundAppends() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-since-\(UUID().uuidString)").path
        let ledger = try Ledger(path: path)
        try Ledger.installSigningKey(ledgerPath: path)
        _ = try await ledger.append([
            LeadEvent(
                id: UUID(), occurredAt: at("2026-03-02T09:00:00Z"), source: "hubspot", actor: nil, lead: "00QV", correlationId: nil,
                payload: .leadCaptured(.init(channel: "email", attributes: ["email": .string("v@example.com")])))
        ])
        let receipt = try ledger.receipt()
        for i in 0..<5 {
            _ = try await ledger.append([
                LeadEvent(
                    id: UUID(), occurredAt: at("2026-03-0\(3 + i)T09:00:00Z"), source: "hubspot", actor: nil, lead: "00QX\(i)", correlationId: nil,
                    payload: .leadCaptured(.init(channel: "email")))
            ])
        }
        _ = try await ledger.forget(lead: "00QV")
        let report = try ledger.verify(since: receipt)
        #expect(report.isIntact, "\(String(describing: report.problem))")
        #expect(report.records == 6)
        ledger.close()
    }
}
