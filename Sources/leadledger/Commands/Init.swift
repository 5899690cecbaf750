import ArgumentParser
import EventLog
import Foundation
import LeadModel
import Ledger

struct Init: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create a ledger, optionally with the starter reason codes.",
        discussion: """
            Example:
              leadledger init --ledger ./pipeline.ledger --taxonomy starter
            """)

    enum Taxonomy: String, ExpressibleByArgument { case starter }

    @OptionGroup var options: LedgerOptions

    @Option(help: "Load a reason-code taxonomy: starter (DATA, DUPLICATE, FIT_COMPANY, … OTHER).")
    var taxonomy: Taxonomy?

    @Option(
        help: "The attributes whose values are personal, encrypted per lead and erasable (comma-separated; default email,name,first_name,last_name,phone; \"\" for none)."
    )
    var personalAttributes: String?

    @Option(
        help: "Roles that must approve a proposal before any definition is published (comma-separated, e.g. marketing,sales; \"\" lifts the requirement)."
    )
    var requireApproval: String?

    @Option(help: "Use this Ed25519 signing key (a file of 32 raw bytes or 64 hex digits) instead of creating one.")
    var signingKey: String?

    func run() async throws {
        try await runReporting {
            let ledger = try options.open(create: true)
            defer { ledger.close() }
            if let personalAttributes {
                let names = personalAttributes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                do { try ledger.setPersonalAttributes(names) } catch let error as PersonalDataError {
                    throw CLIError(exitCode: .refused, error.description)
                }
                print("personal attributes: \(names.isEmpty ? "none" : names.joined(separator: ", ")) (takes effect when the ledger is next opened)")
            }
            if let requireApproval {
                let roles = requireApproval.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                do { try ledger.setRequiredApprovals(roles) } catch let error as ApprovalSettingError {
                    throw CLIError(exitCode: .refused, "--require-approval: \(error.description)")
                }
                print("approval before publishing: \(roles.isEmpty ? "not required" : Set(roles).sorted().joined(separator: ", "))")
            }
            var supplied: [UInt8]?
            if let signingKey {
                guard let data = FileManager.default.contents(atPath: signingKey) else {
                    throw CLIError(exitCode: .notFound, "cannot read the signing key \(signingKey)")
                }
                supplied = Array(data)
            }
            do {
                // The key signs receipts; only its public half is ever printed.
                if let publicKey = try Ledger.installSigningKey(ledgerPath: ledger.path, supplied: supplied) {
                    print("signing key created (\(LedgerSigningKey.fileName), mode 0600); public key \(publicKey)")
                }
            } catch let error as SigningKeyError {
                throw CLIError(exitCode: .refused, error.description)
            }
            if taxonomy == .starter {
                let events = StarterTaxonomy.events(source: "leadledger", occurredAt: Timestamp(microseconds: 0), idSeed: "starter")
                let receipt = try await ledger.append(events)
                print("loaded the starter taxonomy: \(receipt.appended) reason codes (\(receipt.duplicates) already there)")
            }
            let head = try ledger.head()
            print("ledger ready at \(ledger.path) — \(Format.count(Int(head.position))) events, head \(head.hash.prefix(16))…")
        }
    }
}
