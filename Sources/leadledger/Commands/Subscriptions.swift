import ArgumentParser
import Foundation
import Ledger

/// `leadledger subscriptions`: outbound deliveries of new events to URLs, run by `serve`.
struct Subscriptions: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage outbound subscriptions: new events delivered to a URL, signed with Standard Webhooks.",
        discussion: """
            A running `leadledger serve` delivers them: at least once, in position order, batched
            when behind, retried with back-off, parked after the last attempt. The cursor lives in
            the ledger, so a restart resumes where delivery stopped.
              leadledger subscriptions add https://hooks.example.com/ledger --types lead.rejected,definition.published
              leadledger subscriptions list
              leadledger subscriptions parked 3f9a0c1b2d4e
              leadledger subscriptions redeliver 3f9a0c1b2d4e
            """,
        subcommands: [Add.self, List.self, Pause.self, Resume.self, Remove.self, Parked.self, Redeliver.self])

    /// Runs `body` with the ledger's subscriptions, turning their refusals into usage errors.
    static func withStore<T>(_ options: LedgerOptions, _ body: (SubscriptionStore) throws -> T) throws -> T {
        let ledger = try options.open(create: false)
        defer { ledger.close() }
        do {
            return try body(SubscriptionStore(ledger: ledger))
        } catch let error as SubscriptionError {
            throw CLIError(exitCode: error.description.hasPrefix("no subscription") ? .notFound : .usage, error.description)
        }
    }

    /// `subscriptions add`.
    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a subscription; prints its id, then its signing secret (shown only now).")

        @OptionGroup var options: LedgerOptions

        @Argument(help: "The receiver's URL (http or https).")
        var url: String

        @Option(help: "Comma-separated event types to deliver, e.g. lead.rejected,definition.published.")
        var types: String

        @Option(help: "Deliver the events after this position (default: the head, so only new events).")
        var from: UInt64?

        func run() async throws {
            try await runReporting {
                let types = self.types.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                let subscription = try Subscriptions.withStore(options) { try $0.add(url: url, types: types, from: from) }
                FileHandle.standardError.write(
                    Data("added subscription \(subscription.id) to \(subscription.url); its id, then its signing secret:\n".utf8))
                print(subscription.id)
                print(subscription.secret)
            }
        }
    }

    /// One line of `list`.
    struct Listed: Encodable {
        var id: String
        var url: String
        var types: [String]
        var paused: Bool
        var cursor: UInt64
        var delivered: Int
        var failures: Int
        var lastStatus: Int?
        var parked: Int
        var redeliveries: Int
    }

    /// `subscriptions list`.
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List subscriptions and where their delivery stands (never secrets).")

        @OptionGroup var options: LedgerOptions

        @Option(help: "table or json.")
        var format: OutputFormat = .table

        func run() async throws {
            try await runReporting {
                let listed = try Subscriptions.withStore(options) { store in
                    try store.list().map { subscription in
                        let state = try store.state(subscription.id)
                        return Listed(
                            id: subscription.id, url: subscription.url, types: subscription.types, paused: subscription.paused,
                            cursor: state.cursor, delivered: state.delivered, failures: state.failures, lastStatus: state.lastStatus,
                            parked: state.parked.count, redeliveries: state.redeliveries.count)
                    }
                }
                switch format {
                case .json:
                    try printJSON(listed)
                case .table, .csv:
                    let separator = format == .csv ? "," : "  "
                    print(["id", "url", "types", "state", "cursor", "delivered", "failures", "parked"].joined(separator: separator))
                    for line in listed {
                        print(
                            [
                                line.id, line.url, line.types.joined(separator: "+"), line.paused ? "paused" : "active", String(line.cursor),
                                String(line.delivered), String(line.failures), String(line.parked),
                            ].joined(separator: separator))
                    }
                }
            }
        }
    }

    /// `subscriptions pause`.
    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Pause delivery; the cursor stays where it is.")
        @OptionGroup var options: LedgerOptions
        @Argument(help: "The subscription's id.") var id: String

        func run() async throws {
            try await runReporting {
                try Subscriptions.withStore(options) { try $0.setPaused(id, true) }
                print("paused \(id)")
            }
        }
    }

    /// `subscriptions resume`.
    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resume delivery from the stored cursor.")
        @OptionGroup var options: LedgerOptions
        @Argument(help: "The subscription's id.") var id: String

        func run() async throws {
            try await runReporting {
                try Subscriptions.withStore(options) { try $0.setPaused(id, false) }
                print("resumed \(id)")
            }
        }
    }

    /// `subscriptions remove`.
    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove a subscription and its delivery state.")
        @OptionGroup var options: LedgerOptions
        @Argument(help: "The subscription's id.") var id: String

        func run() async throws {
            try await runReporting {
                try Subscriptions.withStore(options) { try $0.remove(id) }
                print("removed \(id)")
            }
        }
    }

    /// `subscriptions parked`.
    struct Parked: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The batches that failed every attempt, with the last response seen (JSON).")
        @OptionGroup var options: LedgerOptions
        @Argument(help: "The subscription's id.") var id: String

        func run() async throws {
            try await runReporting {
                try printJSON(try Subscriptions.withStore(options) { try $0.state(id).parked })
            }
        }
    }

    /// `subscriptions redeliver`.
    struct Redeliver: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Put every parked batch back for delivery, before anything new.")
        @OptionGroup var options: LedgerOptions
        @Argument(help: "The subscription's id.") var id: String

        func run() async throws {
            try await runReporting {
                let count = try Subscriptions.withStore(options) { try $0.redeliver(id) }
                print("queued \(count) parked batches of \(id) for redelivery")
            }
        }
    }
}
