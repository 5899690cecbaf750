import EventLog
import Foundation
import LeadModel

extension Ledger {
    /// The ledger's signing key, from its directory.
    ///
    /// Throws ``SigningKeyError`` when the ledger has none (ledgers made before keys existed: add
    /// one with `leadledger init --ledger PATH`), or when the key file is readable by others.
    public func signingKey() throws -> LedgerSigningKey {
        guard let key = try LedgerSigningKey.load(ledgerPath: path) else {
            throw SigningKeyError(
                "the ledger at \(path) has no signing key (\(LedgerSigningKey.path(inLedger: path))); create one with `leadledger init --ledger \(path)`"
            )
        }
        return key
    }

    /// Gives the ledger at `path` a signing key: `supplied` (32 raw bytes or 64 hex digits) or a new
    /// one. Returns the public key, hex, or nil when the ledger has a key already and none was supplied.
    @discardableResult
    public static func installSigningKey(ledgerPath: String, supplied: [UInt8]? = nil) throws -> String? {
        if supplied == nil, try LedgerSigningKey.load(ledgerPath: ledgerPath) != nil { return nil }
        let key = try supplied.map { try LedgerSigningKey(contents: $0) } ?? LedgerSigningKey()
        try key.install(ledgerPath: ledgerPath)
        return key.publicKeyHex
    }

    /// A receipt for the current head, signed with the ledger's key.
    public func receipt(time: Date = Date()) throws -> SignedReceipt {
        try log.receipt(signedBy: try signingKey(), time: time)
    }

    /// Checks `receipt` against the ledger and what was appended after it
    /// (``EventLog/verify(since:trustedKey:recordCheck:)``), each record as ``verify()`` checks it:
    /// its event decodes and belongs to the stream the log files it under. A receipt signed by
    /// another key than the ledger's is refused.
    public func verify(since receipt: SignedReceipt) throws -> VerifyReport {
        try log.verify(since: receipt, trustedKey: try signingKey().publicKeyHex, recordCheck: Self.streamMatchesEvent)
    }

    /// The proof that the events of `lead` are part of the current head, under a receipt signed now;
    /// nil when the ledger has no event for the lead.
    public func prove(lead: String, time: Date = Date()) throws -> StreamProof? {
        try log.proof(stream: lead, signedBy: try signingKey(), time: time)
    }
}

extension StreamProof {
    /// What is wrong with this proof of a lead's events, or nil when it holds: the checks of
    /// ``problem(trustedKey:streamName:)``, with each record's event decoded so that its lead must
    /// be the proof's.
    public func leadProblem(trustedKey: String? = nil) -> String? {
        problem(trustedKey: trustedKey) { payload in (try? LeadEvent(binary: payload))?.lead }
    }
}
