import EventLog
import Foundation
import Logging
import PostgresNIO

/// What `leadledger cluster status` reports: each server's role, the primary's synchronous
/// replication (which standbys confirm commits, and how far each is behind), and every tenant's head.
public struct ClusterStatus: Sendable, Codable {
    /// One server of the address.
    public struct Server: Sendable, Codable {
        /// `host:port`.
        public var server: String
        /// `primary`, `standby` or `unreachable`.
        public var role: String
        /// Why it is unreachable.
        public var error: String?
    }

    /// One standby as the primary sees it (`pg_stat_replication`).
    public struct Standby: Sendable, Codable {
        /// Its `application_name`.
        public var name: String
        /// `streaming`, `catchup`…
        public var state: String
        /// `sync`, `quorum`, `potential` or `async`.
        public var syncState: String
        /// Bytes of WAL the primary wrote that the standby has not replayed yet.
        public var replayLagBytes: Int64
    }

    /// Every server named by the address.
    public var servers: [Server]
    /// The primary's `synchronous_standby_names` (empty: commits wait for no standby).
    public var synchronousStandbyNames: String?
    /// The standbys streaming from the primary, as it sees them.
    public var standbys: [Standby]
    /// Each tenant's head.
    public var tenants: [Tenant]

    /// One tenant (one ledger) of the cluster.
    public struct Tenant: Sendable, Codable {
        /// Its name.
        public var tenant: String
        /// Its head.
        public var head: LogHead
    }

    /// Reads the status; unreachable servers are reported, not thrown.
    public static func read(_ address: ClusterAddress, logger: Logger = Logger(label: "leadledger.cluster")) async -> ClusterStatus {
        var status = ClusterStatus(servers: [], synchronousStandbyNames: nil, standbys: [], tenants: [])
        for host in address.hosts {
            let name = "\(host.name):\(host.port)"
            do {
                let connection = try await WritableConnection.connect(to: host, address: address, logger: logger)
                defer { Task { try? await connection.close() } }
                var inRecovery = true
                for try await value in try await connection.query("SELECT pg_is_in_recovery()", logger: logger).decode(Bool.self) {
                    inRecovery = value
                }
                status.servers.append(Server(server: name, role: inRecovery ? "standby" : "primary", error: nil))
                if inRecovery { continue }
                for try await value in try await connection.query("SHOW synchronous_standby_names", logger: logger).decode(String.self) {
                    status.synchronousStandbyNames = value
                }
                for try await (standby, state, sync, lag) in try await connection.query(
                    """
                    SELECT application_name, state, sync_state,
                           COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::bigint
                    FROM pg_stat_replication ORDER BY application_name
                    """, logger: logger
                ).decode((String, String, String, Int64).self) {
                    status.standbys.append(Standby(name: standby, state: state, syncState: sync, replayLagBytes: lag))
                }
            } catch {
                status.servers.append(Server(server: name, role: "unreachable", error: describe(error)))
            }
        }
        if let tenants = try? await PostgresEventStore.tenants(at: address, logger: logger) {
            status.tenants = tenants.map { Tenant(tenant: $0.tenant, head: $0.head) }
        }
        return status
    }
}
