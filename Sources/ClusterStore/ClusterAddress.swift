import Foundation

/// Where the log of record lives: `postgresql://user[:password]@host1[:port],host2[:port]/database`.
///
/// Several hosts name the servers of one replicated PostgreSQL cluster (a primary and its standbys);
/// a node connects to whichever is writable, and looks again after a failover.
public struct ClusterAddress: Sendable, Hashable, CustomStringConvertible {
    /// One server of the cluster.
    public struct Host: Sendable, Hashable {
        /// Its name or address.
        public var name: String
        /// Its TCP port.
        public var port: Int

        /// A server.
        public init(name: String, port: Int = 5432) {
            self.name = name
            self.port = port
        }
    }

    /// The servers, in the order they are tried.
    public var hosts: [Host]
    /// The role LeadLedger logs in as.
    public var user: String
    /// Its password, when the server asks for one.
    public var password: String?
    /// The database holding the `ll_` tables.
    public var database: String

    /// An address.
    public init(hosts: [Host], user: String, password: String? = nil, database: String) {
        self.hosts = hosts
        self.user = user
        self.password = password
        self.database = database
    }

    /// Why an address could not be read.
    public struct Invalid: Error, Sendable, CustomStringConvertible {
        /// What was wrong, naming the part of the address at fault.
        public let description: String
    }

    /// Reads `postgresql://user[:password]@host[:port][,host[:port]…]/database`; `postgres://` is
    /// accepted too. The error names the part at fault.
    public init(parsing text: String) throws(Invalid) {
        var rest = Substring(text)
        guard let scheme = ["postgresql://", "postgres://"].first(where: { rest.hasPrefix($0) }) else {
            throw Invalid(description: "cluster address \"\(text)\": must start with postgresql://")
        }
        rest = rest.dropFirst(scheme.count)
        if let query = rest.firstIndex(of: "?") {
            throw Invalid(
                description: "cluster address: parameters (\"\(rest[query...])\") are not supported; name user, hosts and database only")
        }
        guard let at = rest.lastIndex(of: "@") else {
            throw Invalid(description: "cluster address: a user is required (postgresql://USER@host/database)")
        }
        let credentials = rest[..<at]
        rest = rest[rest.index(after: at)...]
        if let colon = credentials.firstIndex(of: ":") {
            user = Self.decoded(credentials[..<colon])
            password = Self.decoded(credentials[credentials.index(after: colon)...])
        } else {
            user = Self.decoded(credentials)
            password = nil
        }
        guard !user.isEmpty else { throw Invalid(description: "cluster address: the user is empty") }
        guard let slash = rest.firstIndex(of: "/") else {
            throw Invalid(description: "cluster address: a database is required (postgresql://user@host/DATABASE)")
        }
        database = Self.decoded(rest[rest.index(after: slash)...])
        guard !database.isEmpty else { throw Invalid(description: "cluster address: the database is empty") }
        var hosts: [Host] = []
        for (n, part) in rest[..<slash].split(separator: ",", omittingEmptySubsequences: false).enumerated() {
            guard !part.isEmpty else { throw Invalid(description: "cluster address: host \(n + 1) is empty") }
            if let colon = part.lastIndex(of: ":") {
                let portText = part[part.index(after: colon)...]
                guard let port = Int(portText), (1...65535).contains(port) else {
                    throw Invalid(description: "cluster address: host \(n + 1) has port \"\(portText)\"; expected 1–65535")
                }
                hosts.append(Host(name: String(part[..<colon]), port: port))
            } else {
                hosts.append(Host(name: String(part)))
            }
        }
        guard !hosts.isEmpty else { throw Invalid(description: "cluster address: no host") }
        self.hosts = hosts
    }

    private static func decoded(_ part: Substring) -> String { String(part).removingPercentEncoding ?? String(part) }

    /// The address without its password.
    public var description: String {
        "postgresql://\(user)@\(hosts.map { "\($0.name):\($0.port)" }.joined(separator: ","))/\(database)"
    }
}
