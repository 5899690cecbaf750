import ArgumentParser

@main
struct LeadLedgerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "leadledger", abstract: "An event-sourced ledger of lead hand-offs.")
}
