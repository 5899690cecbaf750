import ArgumentParser
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

    func run() async throws {
        try await runReporting {
            let ledger = try options.open(create: true)
            defer { ledger.close() }
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
