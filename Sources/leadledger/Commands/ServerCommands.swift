import ArgumentParser

/// The subcommands of the HTTP server (`serve`, `keys`, `subscriptions`), registered here.
enum ServerCommands {
    static let all: [any ParsableCommand.Type] = [Serve.self, Keys.self, Subscriptions.self]
}
