import EventLog
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Ledger
import NIOCore
import Testing

@testable import LedgerServer

@Suite("GET /v1/receipt")
struct ReceiptRouteTests {
    @Test("the receipt of the head verifies under the ledger's key and carries no private key; without a key it is a 404")
    func receipt() async throws {
        try await withRouter { client, ledger, keys in
            let missing = try await client.execute(uri: "/v1/receipt", method: .get, headers: bearer(keys.read))
            #expect(missing.status == .notFound)
            #expect(try errorMessage(missing).contains("no signing key"))
            #expect(!(try errorMessage(missing)).contains(ledger.path))

            try Ledger.installSigningKey(ledgerPath: ledger.path)
            let key = try ledger.signingKey()
            let appended = try await client.execute(
                uri: "/v1/events", method: .post, headers: ndjsonHeaders(keys.append), body: ByteBuffer(string: capturedEvent(lead: "00QR")))
            #expect(appended.status == .ok || appended.status == .created)
            let response = try await client.execute(uri: "/v1/receipt", method: .get, headers: bearer(keys.read))
            #expect(response.status == .ok)
            let receipt = try SignedReceipt.decode(Data(response.body.readableBytesView))
            #expect(receipt.position == 1)
            #expect(receipt.problem(trustedKey: key.publicKeyHex) == nil)
            #expect(try ledger.verify(since: receipt).isIntact)
            let secret = try String(contentsOfFile: LedgerSigningKey.path(inLedger: ledger.path), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(!String(decoding: Data(response.body.readableBytesView), as: UTF8.self).contains(secret))

            let anonymous = try await client.execute(uri: "/v1/receipt", method: .get)
            #expect(anonymous.status == .unauthorized)
        }
    }
}
