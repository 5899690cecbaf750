import ArgumentParser
import Foundation
import Ledger

struct Forget: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Erase a lead's personal data: append lead.forgotten and destroy the lead's key.",
        discussion: """
            The lead's personal attribute values (email, name, first_name, last_name, phone unless the
            ledger names others) were stored encrypted under the lead's key. Forgetting destroys the key
            in the transaction that appends lead.forgotten: the values can no longer be read by anyone,
            the lead's events stay and `verify` still passes. Trends, funnel, service levels and the
            buyer profile do not change; a rule that reads a personal attribute (a what-if candidate,
            a definition judged by the impact's stayers or the audit) sees the lead's value as missing
            from then on, as if it had never been given. A later event of the lead gets a new key.
            Backups taken before still hold the old key: see the README.

            Example:
              leadledger forget 00Q5e00000AbCdE --reason "GDPR art. 17 request 2026-031" --ledger ./pipeline.ledger
            """)

    @OptionGroup var options: LedgerOptions
    @Argument(help: "The lead id.")
    var lead: String
    @Option(help: "Why the lead is forgotten (stored in the lead.forgotten event; keep personal data out of it).")
    var reason: String?

    func run() async throws {
        try await runReporting {
            let ledger = try options.open(create: false)
            defer { ledger.close() }
            guard let receipt = try await ledger.forget(lead: lead, reason: reason) else {
                throw CLIError(exitCode: .notFound, "the ledger has no event for lead \(lead)")
            }
            print("forgot lead \(lead): lead.forgotten at position \(receipt.head.position); its key is destroyed")
        }
    }
}
