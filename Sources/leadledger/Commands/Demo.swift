import ArgumentParser
import Foundation
import LeadModel
import Ledger
import Projections

struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate a realistic year of hand-offs, append it, and show what LeadLedger tells you.",
        discussion: """
            Seeded: the same seed gives the same history. Prints the weekly trend, the impact of each
            definition change, a what-if on a candidate definition and one lead's audit.

            Example:
              leadledger demo --ledger ./demo.ledger --seed 7
            """)

    @OptionGroup var options: LedgerOptions

    @Option(help: "Seed of the generated history.")
    var seed: UInt64 = 2026

    @Option(help: "How many leads to generate.")
    var leads: Int = 60_000

    func run() async throws {
        try await runReporting {
            try await DemoStory(options: options, seed: seed, leads: leads).tell()
        }
    }
}
