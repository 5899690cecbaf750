import ArgumentParser
import EventLog
import Foundation
import Ledger

struct ReceiptCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "receipt",
        abstract: "Print a receipt for the head, signed with the ledger's key.",
        discussion: """
            The receipt signs (position, head hash, Merkle root, time) with the ledger's Ed25519 key.
            Keep it: `verify --since RECEIPT` later checks that its head is still in the chain and
            only what came after it.

            Example:
              leadledger receipt --ledger ./pipeline.ledger > receipt-2026-03-02.json
            """)

    @OptionGroup var options: LedgerOptions

    func run() async throws {
        try await runReporting {
            let ledger = try options.openForReading()
            defer { ledger.close() }
            do { try printJSON(try ledger.receipt()) } catch let error as SigningKeyError {
                throw CLIError(exitCode: .refused, error.description)
            }
        }
    }
}

struct Prove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a proof that a lead's events are part of the signed head.",
        discussion: """
            The proof holds a signed receipt and, for each of the lead's events, its stored record and
            its Merkle inclusion path. `leadledger check-proof` or scripts/check-proof.py check it
            offline, without the ledger; it reveals nothing of other leads but hashes.

            Example:
              leadledger prove 00Q5e00000AbCdE --ledger ./pipeline.ledger --output lead-proof.json
            """)

    @OptionGroup var options: LedgerOptions
    @Argument(help: "The lead id.")
    var lead: String
    @Option(help: "Write the proof to this file instead of standard output.")
    var output: String?

    func run() async throws {
        try await runReporting {
            let ledger = try options.openForReading()
            defer { ledger.close() }
            let proof: StreamProof?
            do { proof = try ledger.prove(lead: lead) } catch let error as SigningKeyError {
                throw CLIError(exitCode: .refused, error.description)
            }
            guard let proof else { throw CLIError(exitCode: .notFound, "the ledger has no event for lead \(lead)") }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let data = try encoder.encode(proof) + Data("\n".utf8)
            if let output {
                guard FileManager.default.createFile(atPath: output, contents: data) else {
                    throw CLIError(exitCode: .storage, "cannot write \(output)")
                }
                FileHandle.standardError.write(
                    Data("wrote the proof of \(proof.records.count) events of \(lead) at position \(proof.receipt.position) to \(output)\n".utf8))
            } else {
                FileHandle.standardOutput.write(data)
            }
        }
    }
}

struct CheckProof: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-proof",
        abstract: "Check a proof written by `prove`, offline, without the ledger.",
        discussion: """
            Recomputes each record's hash, its path to the receipt's Merkle root and the receipt's
            signature. Pass the ledger's public key (as `receipt` prints it) to check who signed it;
            without it, only the proof's integrity is shown. Exit code 4 when the proof fails.

            Example:
              leadledger check-proof lead-proof.json --public-key 3b6a27bc…
            """)

    @Argument(help: "The proof file (JSON).")
    var proofFile: String
    @Option(help: "The ledger's Ed25519 public key, hex: the proof must be signed by it.")
    var publicKey: String?

    func run() async throws {
        try await runReporting {
            guard let data = FileManager.default.contents(atPath: proofFile) else {
                throw CLIError(exitCode: .notFound, "cannot read \(proofFile)")
            }
            let proof: StreamProof
            do { proof = try StreamProof.decode(data) } catch { throw CLIError(exitCode: .refused, "\(proofFile): \(error)") }
            if let problem = proof.leadProblem(trustedKey: publicKey) {
                throw CLIError(exitCode: .damaged, "the proof does not hold: \(problem)")
            }
            let signer = publicKey == nil ? "its own key \(proof.receipt.publicKey) (pass --public-key to check who signed it)" : "the given key"
            print(
                "proof holds: \(proof.records.count) events of \(proof.stream) are part of the head at position \(proof.receipt.position) (\(proof.receipt.headHash)), signed \(proof.receipt.time) by \(signer)"
            )
        }
    }
}
