import Foundation
import LMDB
import Synchronization

/// The log's single writer: a dedicated thread that gathers every waiting batch into one durable
/// LMDB write transaction, so concurrent appenders share the cost of a commit.
///
/// Everything below `run()` executes on that thread only; LMDB requires a write transaction to end
/// on the thread that began it, and the policy relies on being called from one thread.
final class Writer: @unchecked Sendable {
    // Shared state (`pending`, `stopping`, `policy`) is guarded by `condition`; the rest is confined
    // to the writer thread.
    typealias Completion = @Sendable (Result<AppendReceipt, AppendError>) -> Void
    struct Pending {
        let batch: AppendBatch
        let completion: Completion
    }

    private let env: Environment
    private let dbs: EventLog.Databases
    private let options: EventLog.Options
    private let condition = NSCondition()
    private var pending: [Pending] = []
    /// Callers waiting for a catch-up with the log of record (``EventLog/Options/upstream``).
    private var catchUps: [@Sendable (Result<Int, any Error>) -> Void] = []
    private var stopping = false
    private var started = false
    private var policy: (any AppendPolicy)?
    private let finished = DispatchSemaphore(value: 0)
    private weak var log: EventLog?
    let heads: HeadSignal
    /// The writer thread, once started: policy callbacks must run on it.
    private var thread: Thread?

    init(env: Environment, dbs: EventLog.Databases, options: EventLog.Options) {
        self.env = env
        self.dbs = dbs
        self.options = options
        let head = (try? env.read { txn in try EventLog.readHead(txn, dbs).position }) ?? 0
        self.heads = HeadSignal(head: head)
    }

    func start(log: EventLog) {
        self.log = log
        let thread = Thread { [self] in run() }
        thread.name = "leadledger-writer"
        condition.lock()
        started = true
        self.thread = thread
        condition.unlock()
        thread.start()
    }

    func setPolicy(_ policy: (any AppendPolicy)?) {
        condition.lock()
        self.policy = policy
        condition.unlock()
    }

    /// Why every append is refused, when one is: a node's copy opened without its log of record.
    private var refusal: String?

    /// Refuses every later append with `reason`, writing nothing.
    func refuseAppends(_ reason: String) {
        condition.lock()
        refusal = reason
        condition.unlock()
    }

    func submit(_ batch: AppendBatch, completion: @escaping Completion) {
        condition.lock()
        if stopping {
            condition.unlock()
            completion(.failure(AppendError(.closed, "the ledger is closed")))
            return
        }
        if let refusal {
            condition.unlock()
            completion(.failure(AppendError(.refusedByPolicy, refusal)))
            return
        }
        pending.append(Pending(batch: batch, completion: completion))
        condition.signal()
        condition.unlock()
    }

    /// Asks the writer thread to apply what the log of record holds past the local head.
    func requestCatchUp(_ completion: @escaping @Sendable (Result<Int, any Error>) -> Void) {
        condition.lock()
        if stopping {
            condition.unlock()
            completion(.failure(AppendError(.closed, "the ledger is closed")))
            return
        }
        catchUps.append(completion)
        condition.signal()
        condition.unlock()
    }

    /// Whether `stop()` was called.
    var isStopped: Bool {
        condition.lock()
        defer { condition.unlock() }
        return stopping
    }

    /// Commits what is pending, then ends the thread. Idempotent.
    func stop() {
        condition.lock()
        let wasRunning = started && !stopping
        stopping = true
        condition.signal()
        condition.unlock()
        if wasRunning { finished.wait() }
    }

    private func run() {
        while true {
            condition.lock()
            while pending.isEmpty && catchUps.isEmpty && !stopping { condition.wait() }
            if !catchUps.isEmpty {
                let waiting = catchUps
                catchUps.removeAll()
                condition.unlock()
                let result: Result<Int, any Error>
                if let upstream = options.upstream {
                    do { result = .success(try catchUp(from: upstream)) } catch { result = .failure(error) }
                } else {
                    result = .success(0)
                }
                for completion in waiting { completion(result) }
                continue
            }
            if pending.isEmpty {
                condition.unlock()
                break
            }
            var taken = 0
            var records = 0
            for p in pending {
                if taken > 0 && records + p.batch.records.count > options.maxRecordsPerCommit { break }
                taken += 1
                records += p.batch.records.count
            }
            let group = Array(pending.prefix(taken))
            pending.removeFirst(taken)
            let policy = self.policy
            condition.unlock()

            let results = commit(group, policy: policy)
            for (p, result) in zip(group, results) { p.completion(result) }
        }
        heads.closeAll()
        finished.signal()
    }

    // MARK: One group, one transaction

    /// The head as the group's transaction advances it.
    private struct GroupState {
        var position: UInt64
        var hash: [UInt8]
        var nextStream: UInt32
        var streamCache: [String: UInt32] = [:]
        /// The Merkle tree's right edge; nil when the log keeps no tree.
        var tree: MerkleTree.Frontier?
    }

    private enum GroupFailure: Error {
        case policy(any Error)
        /// Every batch was refused: the transaction is rolled back, so nothing the policy read or
        /// prepared (a table created, say) reaches the file.
        case nothingToCommit
        /// The log of record moved past the head the group was fenced on.
        case fenceLost
        /// The log of record did not store the group, or may have without saying so.
        case upstream(AppendError)
    }

    /// How often a group is retried against a newer head after losing the fence to another node.
    static let upstreamRetries = 32

    /// The policy tables' handles, once a transaction that opened them committed; LMDB keeps a
    /// handle for the environment's life from then on.
    private var policyDatabases: [String: Database]?

    /// Whether the calling thread is this writer's thread.
    var isWriterThread: Bool {
        condition.lock()
        defer { condition.unlock() }
        return thread.map { $0 === Thread.current } ?? false
    }

    private func commit(_ group: [Pending], policy: (any AppendPolicy)?, attempt: Int = 0) -> [Result<AppendReceipt, AppendError>] {
        // The policy is promised one thread; LMDB requires the write transaction to end where it began.
        precondition(policy == nil || isWriterThread, "a commit runs on the log's writer thread")
        var outcomes: [Result<[AppendOutcome], AppendError>] = []
        outcomes.reserveCapacity(group.count)
        let head: LogHead
        var opened: [String: Database]?
        var groupStart: UInt64 = 0
        var sent = false
        do {
            head = try env.write { txn in
                var state = try groupState(txn)
                let start = (position: state.position, hash: state.hash)
                groupStart = start.position
                guard let policy, let log else {
                    for p in group { outcomes.append(try process(p.batch, txn, &state, nil, nil)) }
                    try saveTree(state, txn)
                    if let upstream = options.upstream { sent = try send(from: start, to: state, changes: [], txn, upstream) }
                    return LogHead(position: state.position, hash: state.hash.hexString)
                }
                let databases: [String: Database]
                if let known = policyDatabases {
                    databases = known
                } else {
                    // Opening a table is not safe beside another opening in this process: under the log's lock.
                    databases = try withUnsafeTransaction(txn) { pointer in
                        try log.tableOpening.withLock { try PolicyTables.open(policy.tableNames, in: pointer.pointee) }
                    }
                    opened = databases
                }
                return try withUnsafeTransaction(txn) { pointer in
                    let tables = PolicyTables(
                        txn: pointer, databases: databases, log: (dbs.ids, dbs.events), recording: Set(options.upstream?.replicatedTables ?? []))
                    defer { tables.invalidate() }
                    do { try policy.beginGroup(head: state.position, log: log, tables: tables) } catch { throw GroupFailure.policy(error) }
                    for p in group { outcomes.append(try process(p.batch, pointer.pointee, &state, policy, tables)) }
                    if outcomes.allSatisfy({ if case .failure = $0 { true } else { false } }) { throw GroupFailure.nothingToCommit }
                    try saveTree(state, pointer.pointee)
                    if let upstream = options.upstream {
                        sent = try send(from: start, to: state, changes: tables.recordedChanges, pointer.pointee, upstream)
                    }
                    return LogHead(position: state.position, hash: state.hash.hexString)
                }
            }
        } catch GroupFailure.nothingToCommit {
            policy?.abortGroup()
            if let retried = retryIfBehind(group, policy: policy, attempt: attempt, refused: true) { return retried }
            return outcomes.compactMap { if case .failure(let refusal) = $0 { .failure(refusal) } else { nil } }
        } catch GroupFailure.fenceLost {
            policy?.abortGroup()
            if let retried = retryIfBehind(group, policy: policy, attempt: attempt, refused: false) { return retried }
            let failure = AppendError(
                .storage,
                "another node kept moving the log of record's head: the append lost the fence \(attempt + 1) times; nothing was stored")
            return group.map { _ in .failure(failure) }
        } catch GroupFailure.upstream(let failure) {
            policy?.abortGroup()
            return group.map { _ in .failure(failure) }
        } catch {
            policy?.abortGroup()
            if sent {
                // The log of record holds the group; this copy gets it back at its next catch-up.
                let failure = AppendError(
                    .unknownOutcome, "unknown outcome: the log of record stored the batch, this node's copy failed to (\(error)); retry with the same ids")
                return group.map { _ in .failure(failure) }
            }
            if case LMDBError.mapFull = error, group.count > 1 {
                // Find out which batches fit on their own, so one large batch does not fail the others.
                return group.flatMap { commit([$0], policy: policy) }
            }
            let failure = Self.describe(
                error, records: group.reduce(0) { $0 + $1.batch.records.count }, mapSize: env.info.mapSize,
                availableBytes: env.availableBytes)
            return group.map { _ in .failure(failure) }
        }
        if let opened { policyDatabases = opened }
        policy?.commitGroup(head: head.position)
        heads.advance(to: head.position)
        // A group that stored nothing was fenced on nothing: its refusals may come from a copy that
        // lacked what another node appended, so they are judged again once caught up. (A group that
        // stored records held the fence, so its refusals were judged at the log of record's head.)
        if options.upstream != nil, head.position == groupStart,
            outcomes.contains(where: { if case .failure = $0 { true } else { false } }),
            let retried = retryIfBehind(group, policy: policy, attempt: attempt, refused: true)
        {
            return retried
        }
        return outcomes.map { $0.map { AppendReceipt(outcomes: $0, head: head) } }
    }

    // MARK: A copy of a log of record

    /// Hands the group's new records to the log of record, fenced on the head the group began at;
    /// throws unless they are stored there, so the LMDB transaction is rolled back.
    private func send(
        from start: (position: UInt64, hash: [UInt8]), to state: GroupState, changes: [PolicyTableChange], _ txn: borrowing Transaction,
        _ upstream: any LogUpstream
    ) throws -> Bool {
        guard state.position > start.position else { return false }
        var records: [StoredRecord] = []
        records.reserveCapacity(Int(state.position - start.position))
        var names: [UInt32: String] = [:]
        for (name, number) in state.streamCache { names[number] = name }
        for position in (start.position + 1)...state.position {
            let record = try txn.withValue(forKey: position, in: dbs.events) { bytes -> StoredRecord in
                guard let bytes else { throw StoredDamage(table: "events", message: "position \(position) vanished within its group") }
                let view = try RecordView(checking: bytes, at: position)
                let number = view.streamNumber
                return StoredRecord(view, stream: number == 0 ? nil : names[number])
            }
            if record.streamNumber != 0, record.stream == nil {
                throw StoredDamage(table: "stream-numbers", message: "stream number \(record.streamNumber) has no name")
            }
            records.append(record)
        }
        switch upstream.commit(records, tableChanges: changes, onto: LogHead(position: start.position, hash: start.hash.hexString)) {
        case .committed: return true
        case .fenceLost: throw GroupFailure.fenceLost
        case .unknownOutcome(let why):
            throw GroupFailure.upstream(
                AppendError(.unknownOutcome, "unknown outcome: the log of record may or may not hold this batch (\(why)); retry with the same ids"))
        case .failed(let why):
            throw GroupFailure.upstream(AppendError(.storage, "the log of record did not store the batch; nothing was stored: \(why)"))
        }
    }

    /// Catches up with the log of record and commits the group again, when the copy was behind
    /// (or, after a lost fence, always); nil when there is nothing to retry for.
    private func retryIfBehind(
        _ group: [Pending], policy: (any AppendPolicy)?, attempt: Int, refused: Bool
    ) -> [Result<AppendReceipt, AppendError>]? {
        guard let upstream = options.upstream, attempt < Self.upstreamRetries else { return nil }
        let applied: Int
        do { applied = try catchUp(from: upstream) } catch {
            let failure = AppendError(.storage, "catching up with the log of record failed; nothing of this batch was stored: \(error)")
            return refused ? nil : group.map { _ in .failure(failure) }
        }
        if refused && applied == 0 { return nil }
        return commit(group, policy: policy, attempt: attempt + 1)
    }

    /// The size of a page of records read from the log of record while catching up.
    static let catchUpPage = 2000

    /// Applies the log of record's records past the local head, a page per transaction, checking
    /// that each follows the local chain; returns how many were applied.
    func catchUp(from upstream: any LogUpstream) throws -> Int {
        var applied = 0
        var head = try env.read { txn in try EventLog.readHead(txn, dbs).position }
        while true {
            let page = try upstream.records(after: head, limit: Self.catchUpPage)
            if page.isEmpty { break }
            let from = head
            let changes = try upstream.tableChanges(after: from, through: page[page.count - 1].position)
            var opened: [String: Database]?
            head = try env.write { txn in
                var state = try groupState(txn)
                for record in page { try apply(record, txn, &state) }
                try saveTree(state, txn)
                if !changes.isEmpty {
                    let databases = try replicatedDatabases(upstream.replicatedTables, txn)
                    opened = databases
                    for change in changes {
                        guard let database = databases[change.table] else {
                            throw UpstreamDivergence("the log of record holds entries of a table this node does not replicate: \(change.table)")
                        }
                        try change.key.withUnsafeBytes { key in
                            if let value = change.value {
                                try value.withUnsafeBytes { try txn.put($0, forKey: key, in: database) }
                            } else if let old = try txn.value(forKey: key, in: database) {
                                // As the node that deleted it did: zeros first, so the page this
                                // transaction writes holds no copy of the value (a destroyed key).
                                try [UInt8](repeating: 0, count: old.count).withUnsafeBytes { try txn.put($0, forKey: key, in: database) }
                                _ = try txn.delete(key: key, in: database)
                            }
                        }
                    }
                }
                return state.position
            }
            if let opened { replicated = opened }
            applied += page.count
            heads.advance(to: head)
            if page.count < Self.catchUpPage { break }
        }
        upstream.caughtUp(to: head, applied: applied)
        return applied
    }

    /// Handles of the replicated policy tables, once a transaction that opened them committed.
    private var replicated: [String: Database]?

    private func replicatedDatabases(_ names: [String], _ txn: borrowing Transaction) throws -> [String: Database] {
        if let replicated { return replicated }
        guard let log else { throw AppendError(.closed, "the ledger is closed") }
        return try withUnsafeTransaction(txn) { pointer in
            try log.tableOpening.withLock { try PolicyTables.open(names, in: pointer.pointee) }
        }
    }

    /// Writes one record of the log of record as it is there: same position, stream number, time,
    /// id and hash, or the copy has diverged.
    private func apply(_ record: StoredRecord, _ txn: borrowing Transaction, _ state: inout GroupState) throws {
        guard record.position == state.position + 1 else {
            throw UpstreamDivergence("the log of record's record at position \(record.position) does not follow the local head \(state.position)")
        }
        var stream: UInt32 = 0
        if let name = record.stream {
            let known = try state.streamCache[name] ?? lookUpStream(name, txn)
            guard record.streamNumber == (known ?? state.nextStream) else {
                throw UpstreamDivergence(
                    "position \(record.position): stream \"\(name)\" is number \(record.streamNumber) in the log of record, \(known ?? state.nextStream) here")
            }
            stream = try streamNumber(for: name, txn, &state)
        } else if record.streamNumber != 0 {
            throw UpstreamDivergence("position \(record.position) has a stream number but no stream")
        }
        guard record.payload.count <= options.maxPayloadSize, record.payload.count <= Int(UInt32.max) else {
            throw UpstreamDivergence("position \(record.position): a payload of \(record.payload.count) bytes is beyond this node's limit")
        }
        state.position = record.position
        try write(
            NewRecord(id: record.id, stream: record.stream, payload: record.payload), at: record.position, stream: stream,
            recordedAt: record.recordedAt, txn, &state)
        guard state.hash.hexString == record.hash else {
            throw UpstreamDivergence(
                "position \(record.position): the hash does not chain onto the local copy (another tenant's copy, or a rewritten log)")
        }
        var p = record.position
        do {
            try withUnsafeBytes(of: record.id.uuid) { key in
                try withUnsafeBytes(of: &p) { try txn.put($0, forKey: key, in: dbs.ids, flags: .noOverwrite) }
            }
        } catch LMDBError.keyExists {
            throw UpstreamDivergence("position \(record.position): event \(record.id) is stored here at another position")
        }
        if stream != 0 {
            try withUnsafeBytes(of: &p) { try txn.put($0, forKey: stream, in: dbs.streamIndex, flags: .appendDuplicate) }
        }
    }

    private static func describe(_ error: any Error, records: Int, mapSize: Int, availableBytes: UInt64?) -> AppendError {
        if let lmdb = error as? LMDBError {
            // LMDB reports a write cut short by a full disk as EIO; the free space tells them apart.
            let full = lmdb.code.isOutOfSpace || (lmdb.code.rawValue == EIO && (availableBytes ?? .max) < 1 << 20)
            if full {
                return AppendError(
                    .storage,
                    "no space left on device for the ledger (\(lmdb.operation)); nothing of this batch was written. Free space and append again",
                    underlying: lmdb)
            }
            if lmdb.code == .lockFileLost {
                return AppendError(.storage, "\(lmdb.operation); nothing of this batch was written", underlying: lmdb)
            }
        }
        switch error {
        case LMDBError.mapFull:
            let gib = Double(mapSize) / Double(1 << 30)
            return AppendError(
                .mapFull,
                "the ledger's map (\(String(format: "%.2f", gib)) GiB) is full; nothing of this batch was written. "
                    + "Reopen the ledger with a larger map size (for example \(Self.suggestedMapSizeGiB(mapSize)) GiB) and append again",
                underlying: error as? LMDBError, suggestedMapSize: Self.suggestedMapSizeGiB(mapSize) << 30)
        case GroupFailure.policy(let cause):
            return AppendError(.storage, "the ledger could not prepare the append: \(cause)")
        default:
            return AppendError(.storage, "storage error, nothing of this batch was written: \(error)", underlying: error as? LMDBError)
        }
    }

    /// Twice the current map, in whole GiB: room for as much again as is stored.
    static func suggestedMapSizeGiB(_ mapSize: Int) -> Int {
        max(1, Int((Double(mapSize) / Double(1 << 30) * 2).rounded(.up)))
    }

    private func groupState(_ txn: borrowing Transaction) throws -> GroupState {
        let head = try EventLog.lastRecord(txn, events: dbs.events)
        let lastStream = try txn.withCursor(on: dbs.streamNumbers) { cursor in
            try cursor.move(.last).map { try StoredBytes.streamNumber($0.key, table: "stream-numbers") } ?? 0
        }
        var state = GroupState(position: head.0, hash: head.1, nextStream: lastStream + 1)
        if options.maintainsMerkleTree {
            let stored = try MerkleTree.loadFrontier(txn, meta: dbs.meta)
            if let stored, stored.size == head.0 {
                state.tree = stored
            } else if let stored, stored.size > head.0 {
                throw StoredDamage(table: "meta", message: "the Merkle tree covers \(stored.size) events, the log holds \(head.0)")
            } else {
                // A log written before the tree existed, or without it: built once, in this transaction.
                state.tree = try MerkleTree.rebuild(txn, events: dbs.events, meta: dbs.meta, size: head.0)
            }
        }
        return state
    }

    private func saveTree(_ state: GroupState, _ txn: borrowing Transaction) throws {
        if let tree = state.tree { try MerkleTree.storeFrontier(tree, txn, meta: dbs.meta) }
    }

    /// Checks one batch, then writes it. A refusal is returned before anything is written, so the
    /// transaction still holds only the earlier batches of the group.
    private func process(
        _ batch: AppendBatch, _ txn: borrowing Transaction, _ state: inout GroupState, _ policy: (any AppendPolicy)?,
        _ tables: PolicyTables?
    ) throws -> Result<[AppendOutcome], AppendError> {
        var batch = batch
        if let policy, let tables {
            do { batch = try Self.prepare(batch, by: policy, tables: tables) } catch {
                return .failure(AppendError(.refusedByPolicy, "\(error)", underlying: error))
            }
        }
        let records = batch.records
        var plan: BatchPlan
        switch try BatchPlan.make(
            records, maxPayloadSize: options.maxPayloadSize, storedPosition: { try storedPosition(of: $0, txn) },
            isSame: { try isSame($0, storedAt: $1, txn) })
        {
        case .success(let checked): plan = checked
        case .failure(let refusal): return .failure(refusal)
        }
        if let mismatch = try BatchPlan.versionMismatch(batch.expectedVersions, version: { try version(of: $0, txn, &state) }) {
            return .failure(mismatch)
        }

        if let policy, let tables {
            do { try Self.admit(batch, isNew: plan.isNew, by: policy, tables: tables) } catch {
                return .failure(AppendError(.refusedByPolicy, "\(error)", underlying: error))
            }
        }

        var idPairs: [(id: UUID, position: UInt64)] = []
        idPairs.reserveCapacity(records.count)
        let recordedAt = options.clock.now()
        for (i, record) in records.enumerated() where plan.writes(i) {
            state.position += 1
            let position = state.position
            let stream = try streamNumber(for: record.stream, txn, &state)
            try write(record, at: position, stream: stream, recordedAt: recordedAt, txn, &state)
            plan.outcomes[i] = .appended(position: position)
            idPairs.append((record.id, position))
            if stream != 0 {
                var p = position
                try withUnsafeBytes(of: &p) { try txn.put($0, forKey: stream, in: dbs.streamIndex, flags: .appendDuplicate) }
            }
        }
        // Random ids land all over the index; inserting them in key order keeps the touched pages hot.
        idPairs.sort { $0.id.isBytewiseLess(than: $1.id) }
        for pair in idPairs {
            var p = pair.position
            try withUnsafeBytes(of: pair.id.uuid) { key in
                try withUnsafeBytes(of: &p) { try txn.put($0, forKey: key, in: dbs.ids, flags: .noOverwrite) }
            }
        }
        return .success(plan.finished())
    }

    private static func prepare<Policy: AppendPolicy>(_ batch: AppendBatch, by policy: Policy, tables: PolicyTables) throws -> AppendBatch {
        try policy.prepare(batch, context: batch.context as? Policy.Context, tables: tables)
    }

    /// The one place a batch's context meets its policy's type.
    private static func admit<Policy: AppendPolicy>(_ batch: AppendBatch, isNew: [Bool], by policy: Policy, tables: PolicyTables) throws {
        try policy.admit(batch, context: batch.context as? Policy.Context, isNew: isNew, tables: tables)
    }

    private func write(
        _ record: NewRecord, at position: UInt64, stream: UInt32, recordedAt: Int64, _ txn: borrowing Transaction,
        _ state: inout GroupState
    ) throws {
        let size = LogRecordLayout.headerSize + record.payload.count
        var key = position
        try withUnsafeBytes(of: &key) { keyBytes in
            try txn.put(reserving: size, forKey: keyBytes, in: dbs.events, flags: .append) { buffer in
                LogRecordLayout.writeHeader(into: buffer, stream: stream, recordedAt: recordedAt, id: record.id)
                record.payload.withUnsafeBytes {
                    UnsafeMutableRawBufferPointer(rebasing: buffer[LogRecordLayout.headerSize...]).copyMemory(from: $0)
                }
                let digest = state.hash.withUnsafeBytes {
                    LogRecordLayout.chainHash(previous: $0, position: position, record: UnsafeRawBufferPointer(buffer))
                }
                digest.withUnsafeBytes { d in
                    UnsafeMutableRawBufferPointer(rebasing: buffer[LogRecordLayout.hashOffset..<LogRecordLayout.headerSize]).copyMemory(
                        from: d)
                    state.hash.withUnsafeMutableBytes { $0.copyMemory(from: d) }
                }
            }
        }
        if state.tree != nil {
            try state.tree!.append(leaf: MerkleTree.leafHash(state.hash)) { level, index, hash in
                try MerkleTree.storeNode(level: level, index: index, hash: hash, txn, meta: dbs.meta)
            }
        }
    }

    private func storedPosition(of id: UUID, _ txn: borrowing Transaction) throws -> UInt64? {
        try withUnsafeBytes(of: id.uuid) { key in
            try txn.withValue(forKey: key, in: dbs.ids) { try $0.map { try StoredBytes.position($0, table: "ids") } }
        }
    }

    private func isSame(_ record: NewRecord, storedAt position: UInt64, _ txn: borrowing Transaction) throws -> Bool {
        let stored: (UInt32, Bool)? = try txn.withValue(forKey: position, in: dbs.events) { bytes in
            guard let bytes else { return nil }
            let view = try RecordView(checking: bytes, at: position)
            return (view.streamNumber, record.payload.withUnsafeBytes { $0.elementsEqual(view.payload) })
        }
        guard let (storedStream, samePayload) = stored, samePayload else { return false }
        guard let stream = record.stream else { return storedStream == 0 }
        return try lookUpStream(stream, txn) == storedStream
    }

    private func lookUpStream(_ name: String, _ txn: borrowing Transaction) throws -> UInt32? {
        try Array(name.utf8).withUnsafeBytes { key in
            try txn.withValue(forKey: key, in: dbs.streamNames) { try $0.map { try StoredBytes.streamNumber($0, table: "stream-names") } }
        }
    }

    private func streamNumber(for name: String?, _ txn: borrowing Transaction, _ state: inout GroupState) throws -> UInt32 {
        guard let name else { return 0 }
        if let cached = state.streamCache[name] { return cached }
        if let known = try lookUpStream(name, txn) {
            state.streamCache[name] = known
            return known
        }
        var number = state.nextStream
        state.nextStream += 1
        try Array(name.utf8).withUnsafeBytes { nameBytes in
            try withUnsafeBytes(of: &number) { numberBytes in
                try txn.put(numberBytes, forKey: nameBytes, in: dbs.streamNames, flags: .noOverwrite)
                try txn.put(nameBytes, forKey: numberBytes, in: dbs.streamNumbers, flags: .append)
            }
        }
        state.streamCache[name] = number
        return number
    }

    private func version(of stream: String, _ txn: borrowing Transaction, _ state: inout GroupState) throws -> Int {
        guard let number = try state.streamCache[stream] ?? lookUpStream(stream, txn) else { return 0 }
        return try txn.withCursor(on: dbs.streamIndex) { cursor in
            try cursor.move(.setKey, integerKey: number) == nil ? 0 : try cursor.duplicateCount()
        }
    }
}

extension UUID {
    /// Orders ids as LMDB's default comparator orders their bytes.
    func isBytewiseLess(than other: UUID) -> Bool {
        withUnsafeBytes(of: uuid) { a in
            withUnsafeBytes(of: other.uuid) { b in
                let a0 = UInt64(bigEndian: a.loadUnaligned(as: UInt64.self))
                let b0 = UInt64(bigEndian: b.loadUnaligned(as: UInt64.self))
                if a0 != b0 { return a0 < b0 }
                return UInt64(bigEndian: a.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
                    < UInt64(bigEndian: b.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
            }
        }
    }
}
