import ArgumentParser

@main
struct LeadLedgerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "leadledger",
        abstract: "An event-sourced ledger of lead hand-offs between marketing and sales.",
        discussion: """
            The ledger lives in a directory: --ledger PATH, else $LEADLEDGER_PATH, else ./leadledger.ledger.

            Exit codes: 0 success; 1 refused input (the ledger is unchanged); 64 usage error;
            3 ledger not found or unreadable; 4 verification found damage; 5 storage error.

            Start with:  leadledger demo
            """,
        subcommands: [
            Init.self, Append.self, Import.self, TrendsCommand.self, FunnelCommand.self, ServiceLevelCommand.self, ProfileCommand.self,
            Impact.self, WhatIfCommand.self, Audit.self, Export.self,
            Verify.self, Backup.self, Stats.self, Demo.self, ReceiptCommand.self, Prove.self, CheckProof.self, Forget.self,
            Cluster.self,
        ] + ServerCommands.all + ProposalCommands.all
    )
}
