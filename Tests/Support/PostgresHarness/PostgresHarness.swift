import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// PostgreSQL 15 servers from Debian's packages, started for a test on loopback in a temporary folder:
/// a primary and optionally synchronous standbys made with `pg_basebackup -R`. ``with(standbys:_:)``
/// stops them and removes the folder however the test ends.
///
/// initdb refuses to run as root, and the tests run as root here, so the servers run as the
/// `postgres` system user (Debian's package creates it), which owns the temporary folder.
public final class PostgresTestCluster: @unchecked Sendable {
    /// Where Debian installs PostgreSQL 15's programs.
    public static let binaries = "/usr/lib/postgresql/15/bin"
    /// The role the tests connect as (trusted on loopback).
    public static let user = "leadledger"
    /// The database the tests use.
    public static let database = "leadledger"

    /// Why PostgreSQL cannot run here, or nil when it can: the test suites skip, saying this.
    public static let unavailableReason: String? = {
        let fm = FileManager.default
        guard fm.isExecutableFile(atPath: binaries + "/postgres"), fm.isExecutableFile(atPath: binaries + "/initdb") else {
            return "PostgreSQL 15 is not installed (\(binaries)/postgres is missing; scripts/setup.sh installs postgresql-15)"
        }
        if getuid() == 0 && getpwnam("postgres") == nil { return "no 'postgres' user to run PostgreSQL as (initdb refuses root)" }
        return nil
    }()

    /// Whether the PostgreSQL tests can run; when not, prints why, loudly, once.
    public static var isAvailable: Bool {
        if let reason = unavailableReason {
            warnOnce(reason)
            return false
        }
        return true
    }

    nonisolated(unsafe) private static var warned = false
    private static let warnLock = NSLock()
    private static func warnOnce(_ reason: String) {
        warnLock.lock()
        defer { warnLock.unlock() }
        if warned { return }
        warned = true
        let line = String(repeating: "!", count: 78)
        FileHandle.standardError.write(Data("\n\(line)\nWARNING: the PostgreSQL tests are SKIPPED: \(reason)\n\(line)\n\n".utf8))
    }

    /// One server of the cluster.
    public struct Server: Sendable {
        /// Its name (`primary`, `standby1`…), also its `application_name` as a standby.
        public let name: String
        /// Its data folder.
        public let directory: String
        /// Its TCP port on 127.0.0.1.
        public let port: Int
    }

    /// The temporary folder holding every server's data and logs.
    public let root: String
    /// The servers: the primary first.
    public private(set) var servers: [Server] = []
    private var stopped: Set<String> = []

    private init(root: String) { self.root = root }

    /// The primary as started.
    public var primary: Server { servers[0] }

    /// `postgresql://leadledger@127.0.0.1:P1,127.0.0.1:P2…/leadledger`, every server of the cluster.
    public var url: String {
        "postgresql://\(Self.user)@" + servers.map { "127.0.0.1:\($0.port)" }.joined(separator: ",") + "/\(Self.database)"
    }

    /// Starts a primary with `standbys` synchronous standbys (0, 1 or 2), runs `body`, and stops and
    /// removes everything, also when `body` throws.
    public static func with<T>(standbys: Int = 0, _ body: (PostgresTestCluster) async throws -> T) async throws -> T {
        let cluster = try await start(standbys: standbys)
        do {
            let value = try await body(cluster)
            try? await offThePool { cluster.destroy() }
            return value
        } catch {
            try? await offThePool { cluster.destroy() }
            throw error
        }
    }

    /// A primary without standbys shared by every test of the process that asks for it (each uses
    /// tenants of its own), stopped and removed when the process exits.
    public static func shared() async throws -> PostgresTestCluster {
        let task = sharedStart.withLock { task in
            if let task { return task }
            let started = Task { try await start(standbys: 0) }
            task = started
            return started
        }
        let cluster = try await task.value
        sharedCluster.withLock { $0 = cluster }
        return cluster
    }

    /// Runs `body` with the ``shared()`` cluster.
    public static func withShared<T>(_ body: (PostgresTestCluster) async throws -> T) async throws -> T {
        try await body(try await shared())
    }

    private static let sharedStart = Mutex<Task<PostgresTestCluster, any Error>?>(nil)
    fileprivate static let sharedCluster = Mutex<PostgresTestCluster?>(nil)
    private static let registerExit: Void = { atexit { PostgresTestCluster.sharedCluster.withLock { $0 }?.destroy() } }()

    /// Runs blocking work (a program and its wait) on a thread of its own, not on one of the few
    /// threads Swift's tasks share.
    static func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        let result: Result<T, any Error> = await withCheckedContinuation { continuation in
            Thread.detachNewThread { continuation.resume(returning: Result { try body() }) }
        }
        return try result.get()
    }

    /// Starts a primary with `standbys` synchronous standbys; the caller must call ``destroy()``.
    public static func start(standbys: Int = 0) async throws -> PostgresTestCluster {
        _ = registerExit
        return try await offThePool { try startBlocking(standbys: standbys) }
    }

    private static func startBlocking(standbys: Int) throws -> PostgresTestCluster {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-pg-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let cluster = PostgresTestCluster(root: root)
        do {
            try cluster.own(root)
            try cluster.startPrimary()
            for n in 0..<standbys { try cluster.addStandby(named: "standby\(n + 1)") }
            if standbys > 0 {
                let names = cluster.servers.dropFirst().map(\.name).joined(separator: ", ")
                try cluster.psqlBlocking(cluster.primary, "ALTER SYSTEM SET synchronous_standby_names = 'ANY 1 (\(names))'")
                try cluster.psqlBlocking(cluster.primary, "SELECT pg_reload_conf()")
            }
        } catch {
            cluster.destroy()
            throw error
        }
        return cluster
    }

    private func own(_ path: String) throws {
        if getuid() == 0 { try run("/bin/chown", ["-R", "postgres:postgres", path], asServerUser: false) }
    }

    private func startPrimary() throws {
        let server = Server(name: "primary", directory: root + "/primary", port: try Self.freePort())
        try run(Self.binaries + "/initdb", ["-D", server.directory, "-U", Self.user, "--auth=trust", "-E", "UTF8", "--no-sync"])
        // fsync off: the tests kill processes, never the machine, and the page cache survives a
        // process's death; synchronous replication, which the acknowledgement waits for, is unchanged.
        let settings = """
            listen_addresses = '127.0.0.1'
            port = \(server.port)
            unix_socket_directories = '\(root)'
            wal_level = replica
            max_wal_senders = 10
            max_replication_slots = 10
            hot_standby = on
            fsync = off
            full_page_writes = off
            shared_buffers = 16MB
            max_connections = 200
            wal_keep_size = 256MB

            """
        try append(settings, to: server.directory + "/postgresql.conf")
        try append("host all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n", to: server.directory + "/pg_hba.conf")
        try startServer(server)
        servers.append(server)
        try psqlBlocking(server, "CREATE DATABASE \(Self.database)", database: "postgres")
    }

    private func addStandby(named name: String) throws {
        let server = Server(name: name, directory: root + "/" + name, port: try Self.freePort())
        try run(
            Self.binaries + "/pg_basebackup",
            ["-h", "127.0.0.1", "-p", String(primary.port), "-U", Self.user, "-D", server.directory, "-R", "-X", "stream", "-c", "fast", "--no-sync"])
        try append(
            """
            port = \(server.port)
            primary_conninfo = 'host=127.0.0.1 port=\(primary.port) user=\(Self.user) application_name=\(name)'

            """, to: server.directory + "/postgresql.auto.conf")
        try startServer(server)
        servers.append(server)
    }

    private func startServer(_ server: Server) throws {
        try run(Self.binaries + "/pg_ctl", ["-D", server.directory, "-l", server.directory + ".log", "-w", "-t", "60", "start"])
    }

    /// The process id of a running server's postmaster.
    public func postmasterPID(_ server: Server) throws -> pid_t {
        let text = try String(contentsOfFile: server.directory + "/postmaster.pid", encoding: .utf8)
        guard let first = text.split(separator: "\n").first, let pid = pid_t(first) else {
            throw HarnessError("cannot read \(server.directory)/postmaster.pid")
        }
        return pid
    }

    /// Kills a server with SIGKILL, as a crash would: its postmaster and every backend.
    public func kill(_ server: Server) throws {
        let pid = try postmasterPID(server)
        // The backends share the postmaster's process group, so one signal reaches them all.
        _ = Glibc.kill(-getpgid(pid), SIGKILL)
        _ = Glibc.kill(pid, SIGKILL)
        stopped.insert(server.name)
    }

    /// Stops a server cleanly (it can be started again with ``restart(_:)``).
    public func stop(_ server: Server) async throws {
        try await Self.offThePool { try self.stopBlocking(server) }
    }

    private func stopBlocking(_ server: Server) throws {
        try run(Self.binaries + "/pg_ctl", ["-D", server.directory, "-m", "fast", "-w", "stop"])
        stopped.insert(server.name)
    }

    /// Starts a stopped or killed server again.
    public func restart(_ server: Server) async throws {
        try await Self.offThePool { try self.restartBlocking(server) }
    }

    private func restartBlocking(_ server: Server) throws {
        try? FileManager.default.removeItem(atPath: server.directory + "/postmaster.pid")
        try startServer(server)
        stopped.remove(server.name)
    }

    /// Promotes a standby to primary and waits until it accepts writes.
    public func promote(_ server: Server) async throws {
        _ = try await Self.offThePool {
            try self.run(Self.binaries + "/pg_ctl", ["-D", server.directory, "-w", "-t", "60", "promote"])
        }
    }

    /// Runs SQL through psql on a server, returning what it printed (unaligned, tuples only).
    @discardableResult
    public func psql(_ server: Server, _ sql: String, database: String = PostgresTestCluster.database) async throws -> String {
        try await Self.offThePool { try self.psqlBlocking(server, sql, database: database) }
    }

    @discardableResult
    private func psqlBlocking(_ server: Server, _ sql: String, database: String = PostgresTestCluster.database) throws -> String {
        try run(
            Self.binaries + "/psql",
            ["-h", "127.0.0.1", "-p", String(server.port), "-U", Self.user, "-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
    }

    /// Stops every server at once and removes the folder.
    public func destroy() {
        for server in servers.reversed() where !stopped.contains(server.name) {
            _ = try? run(Self.binaries + "/pg_ctl", ["-D", server.directory, "-m", "immediate", "-w", "stop"])
            stopped.insert(server.name)
        }
        try? FileManager.default.removeItem(atPath: root)
    }

    // MARK: Processes

    @discardableResult
    private func run(_ program: String, _ arguments: [String], asServerUser: Bool = true) throws -> String {
        let argv = asServerUser && getuid() == 0 ? ["/usr/sbin/runuser", "-u", "postgres", "--", program] + arguments : [program] + arguments
        // A file, not a pipe, for the output: the server pg_ctl starts would hold a pipe open. And
        // posix_spawn with waitpid, not Foundation's Process, whose wait depends on a run loop the
        // tests' async tasks do not turn.
        let outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-pg-output-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var cArguments = argv.map { strdup($0) } + [nil]
        defer { for pointer in cArguments { free(pointer) } }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, argv[0], &actions, nil, &cArguments, environ)
        guard spawned == 0 else { throw HarnessError("cannot start \(argv[0]): error \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw HarnessError("waitpid failed for \(program)") }
        }
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        // WIFEXITED and WEXITSTATUS, which Swift does not import.
        let exited = status & 0x7f == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            throw HarnessError("\(program) \(arguments.joined(separator: " ")) failed (status \(status)): \(text)")
        }
        return text
    }

    private func append(_ text: String, to path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(text.utf8))
    }

    /// A TCP port on 127.0.0.1 that nothing listens on now.
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HarnessError("socket() failed") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw HarnessError("bind() failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw HarnessError("getsockname() failed") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// A step of starting or stopping the test servers failed; the message carries the program's output.
public struct HarnessError: Error, CustomStringConvertible {
    /// What failed.
    public let description: String
    init(_ description: String) { self.description = description }
}
