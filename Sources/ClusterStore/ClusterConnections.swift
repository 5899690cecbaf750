import Foundation
import Logging
import NIOCore
import PostgresNIO

/// Why the cluster could not be reached or used; no batch is ever reported stored with this error.
public struct ClusterError: Error, Sendable, CustomStringConvertible {
    /// What went wrong, naming the server or the step.
    public let description: String

    /// An error.
    public init(_ description: String) { self.description = description }
}

/// One connection to the writable server of the cluster, made again (on whichever server is then
/// writable) once the one in use closes: this is how a node moves on after a failover.
actor WritableConnection {
    private let address: ClusterAddress
    private let logger: Logger
    private var current: PostgresConnection?
    /// `host:port` of the server `current` is connected to.
    private(set) var server: String?
    private var closed = false

    init(address: ClusterAddress, logger: Logger) {
        self.address = address
        self.logger = logger
    }

    /// The open connection to the primary, connecting first when there is none.
    func connection() async throws -> PostgresConnection {
        if closed { throw ClusterError("the store is closed") }
        if let current, !current.isClosed { return current }
        current = nil
        server = nil
        let (connection, host) = try await Self.connectToPrimaryHost(address, logger: logger)
        current = connection
        server = "\(host.name):\(host.port)"
        return connection
    }

    /// Drops the connection after an error that may have left it unusable, so the next use reconnects.
    func discard(_ connection: PostgresConnection) {
        if current === connection { current = nil }
        // Not awaited: closing a connection to a server that stopped answering may take long.
        Task { try? await connection.close() }
    }

    /// Closes the connection in use; a later use opens another.
    func drop() async {
        if let current { try? await current.close() }
        current = nil
    }

    /// Closes the connection for good.
    func close() async {
        closed = true
        if let current { try? await current.close() }
        current = nil
    }

    /// Tries each host in turn and keeps the first that accepts writes, with `synchronous_commit = on`
    /// so a commit returns only once the standbys the server requires hold it.
    static func connectToPrimary(_ address: ClusterAddress, logger: Logger) async throws -> PostgresConnection {
        try await connectToPrimaryHost(address, logger: logger).0
    }

    /// ``connectToPrimary(_:logger:)``, with the host it found writable.
    static func connectToPrimaryHost(_ address: ClusterAddress, logger: Logger) async throws -> (PostgresConnection, ClusterAddress.Host) {
        var problems: [String] = []
        for host in address.hosts {
            let connection: PostgresConnection
            do {
                connection = try await connect(to: host, address: address, logger: logger)
            } catch {
                problems.append("\(host.name):\(host.port): \(describe(error))")
                continue
            }
            do {
                let rows = try await connection.query("SELECT pg_is_in_recovery()", logger: logger)
                var inRecovery = true
                for try await row in rows { inRecovery = try row.decode(Bool.self) }
                if inRecovery {
                    problems.append("\(host.name):\(host.port): a standby (read-only)")
                    try? await connection.close()
                    continue
                }
                try await connection.query("SET synchronous_commit = on", logger: logger)
                return (connection, host)
            } catch {
                problems.append("\(host.name):\(host.port): \(describe(error))")
                try? await connection.close()
            }
        }
        throw ClusterError("no writable PostgreSQL server in \(address): \(problems.joined(separator: "; "))")
    }

    /// A connection to one host, writable or not.
    static func connect(to host: ClusterAddress.Host, address: ClusterAddress, logger: Logger) async throws -> PostgresConnection {
        var configuration = PostgresConnection.Configuration(
            host: host.name, port: host.port, username: address.user, password: address.password, database: address.database,
            tls: .disable)
        configuration.options.connectTimeout = .seconds(5)
        return try await PostgresConnection.connect(configuration: configuration, id: Int.random(in: 1...Int.max), logger: logger)
    }
}

/// A short description of a PostgreSQL client error: the server's message when there is one.
func describe(_ error: any Error) -> String {
    if let error = error as? PSQLError {
        if let message = error.serverInfo?[.message] {
            let state = error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
            return message + state
        }
        return "\(error.code)"
    }
    if let error = error as? PostgresTransactionError {
        return [error.beginError, error.closureError, error.commitError].compactMap { $0 }.map(describe).joined(separator: "; ")
    }
    return "\(error)"
}

/// Whether the error means the connection is gone (the server died, a failover, the network):
/// the server may or may not have finished what was sent.
func isConnectionLoss(_ error: any Error) -> Bool {
    guard let error = error as? PSQLError else { return error is ChannelError || error is IOError }
    switch error.code {
    case .server: return ["57P01", "57P02", "57P03", "08006", "08003", "08000"].contains(error.serverInfo?[.sqlState] ?? "")
    case .serverClosedConnection, .clientClosedConnection, .connectionError, .uncleanShutdown, .messageDecodingFailure,
        .unexpectedBackendMessage:
        return true
    default: return false
    }
}

/// The SQLSTATE of a server error, when the error is one.
func sqlState(_ error: any Error) -> String? { (error as? PSQLError)?.serverInfo?[.sqlState] }
