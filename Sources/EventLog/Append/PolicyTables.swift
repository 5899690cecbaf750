import Foundation
import LMDB

/// The tables an ``AppendPolicy`` keeps in the log's own file, read and written inside the write
/// transaction of the group being committed: what the policy writes there is committed with the
/// group's records, or rolled back with them.
///
/// Keys and values are opaque bytes; the log knows nothing of what they mean. A handle is valid only
/// while the group's transaction lasts (from `beginGroup` to the end of the group's last `admit`):
/// any use afterwards throws.
public final class PolicyTables {
    private var txn: UnsafePointer<Transaction>?
    private let databases: [String: Database]
    /// Tables declared but not in the file yet (a read before any write): they read as empty.
    private let absent: Set<String>
    /// The log's id index and records, for ``storedPayload(ofEvent:)``.
    private let log: (ids: Database, events: Database)
    /// Tables whose changes are noted for a log of record (``LogUpstream/replicatedTables``).
    private let recorded: Set<String>
    /// Their changed entries in the order first changed, each in its latest state.
    private var changes: [PolicyTableChange] = []
    private var changeIndex: [String: [[UInt8]: Int]] = [:]

    init(
        txn: UnsafePointer<Transaction>, databases: [String: Database], absent: Set<String> = [], log: (ids: Database, events: Database),
        recording recorded: Set<String> = []
    ) {
        self.txn = txn
        self.databases = databases
        self.absent = absent
        self.log = log
        self.recorded = recorded
    }

    /// The replicated tables' entries this group changed.
    var recordedChanges: [PolicyTableChange] { changes }

    private func note(_ table: String, _ key: [UInt8], _ value: [UInt8]?) {
        guard recorded.contains(table) else { return }
        if let index = changeIndex[table]?[key] {
            changes[index].value = value
        } else {
            changeIndex[table, default: [:]][key] = changes.count
            changes.append(PolicyTableChange(table: table, key: key, value: value))
        }
    }

    /// The payload of the stored record with id `id` (committed, or written earlier in this
    /// group), nil when there is none: for a policy that must give a re-sent record the payload it
    /// was stored with.
    public func storedPayload(ofEvent id: UUID) throws -> [UInt8]? {
        guard let txn else { throw PolicyTablesError(message: "the policy's tables were used after their group ended") }
        let position = try withUnsafeBytes(of: id.uuid) { key in
            try txn.pointee.withValue(forKey: key, in: log.ids) { try $0.map { try StoredBytes.position($0, table: "ids") } }
        }
        guard let position else { return nil }
        return try txn.pointee.withValue(forKey: position, in: log.events) { bytes in
            try bytes.map { Array(try RecordView(checking: $0, at: position).payload) }
        }
    }

    /// Ends the handle's life with its transaction.
    func invalidate() { txn = nil }

    /// The table's name as the log's file stores it: apart from the log's own tables.
    static func storedName(_ table: String) -> String { "policy." + table }

    /// Opens (creating when missing) each named table inside `txn`.
    static func open(_ names: [String], in txn: borrowing Transaction) throws -> [String: Database] {
        var databases: [String: Database] = [:]
        for name in names { databases[name] = try txn.openDatabase(storedName(name), flags: .create) }
        return databases
    }

    private func access(_ table: String) throws -> (UnsafePointer<Transaction>, Database)? {
        guard let txn else { throw PolicyTablesError(message: "the policy's tables were used after their group ended") }
        if absent.contains(table) { return nil }
        guard let database = databases[table] else { throw PolicyTablesError(message: "the policy declared no table named \(table)") }
        return (txn, database)
    }

    private func writable(_ table: String) throws -> (UnsafePointer<Transaction>, Database) {
        guard let opened = try access(table) else { throw PolicyTablesError(message: "the table \(table) cannot be written here") }
        return opened
    }

    /// The value stored under `key`, nil when there is none.
    public func value(forKey key: [UInt8], in table: String) throws -> [UInt8]? {
        guard let (txn, database) = try access(table) else { return nil }
        return try key.withUnsafeBytes { try txn.pointee.value(forKey: $0, in: database) }
    }

    /// Stores `value` under `key`, replacing any value there.
    public func put(_ value: [UInt8], forKey key: [UInt8], in table: String) throws {
        let (txn, database) = try writable(table)
        try key.withUnsafeBytes { k in try value.withUnsafeBytes { try txn.pointee.put($0, forKey: k, in: database) } }
        note(table, key, value)
    }

    /// Deletes the value under `key`, if any.
    public func delete(forKey key: [UInt8], in table: String) throws {
        let (txn, database) = try writable(table)
        _ = try key.withUnsafeBytes { try txn.pointee.delete(key: $0, in: database) }
        note(table, key, nil)
    }

    /// The entry with the greatest key (bytes compared in order), nil for an empty table.
    public func last(in table: String) throws -> (key: [UInt8], value: [UInt8])? {
        guard let (txn, database) = try access(table) else { return nil }
        return try txn.pointee.withCursor(on: database) { cursor in try cursor.move(.last).map { (Array($0.key), Array($0.value)) } }
    }

    /// Calls `body` with each entry in key order until it returns false.
    public func forEach(in table: String, _ body: (_ key: [UInt8], _ value: [UInt8]) throws -> Bool) throws {
        guard let (txn, database) = try access(table) else { return }
        try txn.pointee.withCursor(on: database) { cursor in try cursor.forEach { try body(Array($0.key), Array($0.value)) } }
    }
}

/// A policy's tables used outside the group they were given for, or under a name not declared.
public struct PolicyTablesError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public let message: String
    /// The message.
    public var description: String { message }
}

extension EventLog {
    /// Reads the tables of a policy in one read snapshot, for a check against the records (`verify`).
    /// A table never written reads as empty.
    public func withPolicyTables<R>(_ names: [String], _ body: (PolicyTables) throws -> R) throws -> R {
        try tableOpening.withLock {
            try env.read { txn in
                var databases: [String: Database] = [:]
                var absent: Set<String> = []
                for name in names {
                    do {
                        databases[name] = try txn.openDatabase(PolicyTables.storedName(name))
                    } catch let error as LMDBError where error.code == .notFound {
                        absent.insert(name)
                    }
                }
                return try withUnsafeTransaction(txn) { pointer in
                    let tables = PolicyTables(txn: pointer, databases: databases, absent: absent, log: (dbs.ids, dbs.events))
                    defer { tables.invalidate() }
                    return try body(tables)
                }
            }
        }
    }
}
