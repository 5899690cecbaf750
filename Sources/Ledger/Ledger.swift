import EventLog
import Foundation
import LeadModel
import Projections

/// A LeadLedger: the event log of lead hand-offs and verdicts, with validation on the way in and the
/// analyses on the way out. The command line, the HTTP API and the tests all call this type.
public final class Ledger: Sendable {
    /// How a ledger is opened.
    public struct Options: Sendable {
        /// Create the ledger when it does not exist.
        public var createIfMissing: Bool
        /// The map size: the most the file may grow to.
        public var mapSize: Int
        /// Commit durability.
        public var durability: EventLog.Durability
        /// Where `recordedAt` comes from.
        public var clock: any LogClock
        /// Open for reading only: nothing is written to the ledger's files (no checkpoint either),
        /// and appends fail. Read-only copies and media open this way.
        public var readOnly: Bool
        /// Walk the file's B-trees with bounds-checked reads before anything else reads them
        /// (for `verify`: a damaged page is then reported, never followed).
        public var checksStructure: Bool
        /// Maintain the Merkle tree over record hashes on append (see ``EventLog/Options/maintainsMerkleTree``):
        /// off only to measure what it costs.
        public var maintainsMerkleTree = true
        /// The log of record this ledger is a node's copy of (see ``EventLog/Options/upstream``);
        /// nil for an embedded ledger.
        public var upstream: (any LogUpstream)? = nil

        /// Creates options: created when missing, the default map size (32 GiB, less under `ulimit -v`), full sync.
        public init(
            createIfMissing: Bool = true, mapSize: Int = EventLog.Options().mapSize, durability: EventLog.Durability = .full,
            clock: any LogClock = SystemLogClock(), readOnly: Bool = false, checksStructure: Bool = false
        ) {
            self.readOnly = readOnly
            self.checksStructure = checksStructure
            self.createIfMissing = createIfMissing
            self.mapSize = mapSize
            self.durability = durability
            self.clock = clock
        }
    }

    /// The policy tables a node keeps in its log of record beside the records (the per-lead keys
    /// of personal data): see ``EventLog/LogUpstream/replicatedTables``.
    public static let replicatedTables = [PersonalData.keyTable]

    /// The underlying log.
    public let log: EventLog
    /// The policy that validates every batch; it holds the approval setting.
    let validation: ValidationPolicy
    /// Where the ledger lives.
    public var path: String { log.path }
    /// Keys destroyed by erasures whose leftover copies in the file wait to be overwritten.
    let destroyedKeys = DestroyedKeys()

    /// Opens the ledger at `path`.
    public init(path: String, options: Options = Options()) throws {
        var logOptions = EventLog.Options(
            mapSize: options.mapSize, durability: options.durability, createIfMissing: options.createIfMissing, clock: options.clock,
            readOnly: options.readOnly, checksStructure: options.checksStructure, maintainsMerkleTree: options.maintainsMerkleTree)
        logOptions.upstream = options.upstream
        log = try EventLog(path: path, options: logOptions)
        let personal = PersonalData.attributes(setting: try log.metaValue(PersonalData.settingKey))
        let approvals = ApprovalSetting.roles(setting: try log.metaValue(ApprovalSetting.key))
        validation = ValidationPolicy(log: log, personalAttributes: personal, destroyedKeys: destroyedKeys, requiredApprovals: approvals)
        log.setPolicy(validation)
    }

    /// Commits what is pending and stops the writer.
    public func close() { log.close() }

    // MARK: Appending

    /// Appends events atomically and durably, after validating them in order against everything
    /// stored before; returns once they are on disk. A refused batch appends nothing.
    ///
    /// `lines` gives each event's NDJSON line number for error messages (defaults to 1, 2, 3…).
    public func append(
        _ events: [LeadEvent], lines: [Int]? = nil, expectedVersions: [String: Int] = [:]
    ) async throws(LedgerError) -> LedgerReceipt {
        let (batch, numbered) = Self.batch(events, lines: lines, expectedVersions: expectedVersions)
        let receipt: LedgerReceipt
        do {
            receipt = LedgerReceipt(try await log.append(batch))
        } catch {
            throw LedgerError(error, events: numbered)
        }
        try scrubAfterErasure(events)
        return receipt
    }

    /// Appends and blocks the calling thread until durable. For synchronous tools and tests; async
    /// code uses ``append(_:lines:expectedVersions:)``.
    @available(*, noasync, message: "blocks the thread; use append(_:lines:expectedVersions:) from async code")
    public func appendAndWait(
        _ events: [LeadEvent], lines: [Int]? = nil, expectedVersions: [String: Int] = [:]
    ) throws(LedgerError) -> LedgerReceipt {
        let (batch, numbered) = Self.batch(events, lines: lines, expectedVersions: expectedVersions)
        let receipt: LedgerReceipt
        do {
            receipt = LedgerReceipt(try log.appendAndWait(batch))
        } catch {
            throw LedgerError(error, events: numbered)
        }
        try scrubAfterErasure(events)
        return receipt
    }

    private static func batch(
        _ events: [LeadEvent], lines: [Int]?, expectedVersions: [String: Int]
    ) -> (AppendBatch, [(line: Int?, event: LeadEvent)]) {
        let numbered: [(line: Int?, event: LeadEvent)] = events.enumerated().map { (lines?[$0.offset] ?? $0.offset + 1, $0.element) }
        let records = events.map { NewRecord(id: $0.id, stream: CatalogStream.stream(of: $0), payload: $0.binary) }
        return (AppendBatch(records: records, expectedVersions: expectedVersions, context: ValidationContext(events: numbered)), numbered)
    }

    // MARK: Analyses

    /// Replays the log under `cut`. A replay of everything starts from the checkpoint stored in the
    /// ledger and folds only what was appended since; a cut replays from the beginning.
    public func replay(cut: ReplayCut = .everything) throws -> ReplayState {
        cut == .everything ? try ReplayCheckpoint.currentState(log) : try ReplayEngine.replay(log, cut: cut)
    }

    /// Acceptance and rejection trends.
    public func trends(_ query: TrendsQuery = TrendsQuery(), cut: ReplayCut = .everything) throws -> TrendsReport {
        Trends.compute(try replay(cut: cut), query)
    }

    /// How each change of the MQL definition moved rejection rates, plain and adjusted for time
    /// (the stayers are judged in a second pass over the log, against every published definition).
    public func impact(
        windowDays: Int = 28, cut: ReplayCut = .everything, mapRetiredReasons: Bool = false, seriesWeeks: Int = 8, minimumStayers: Int = 30
    ) throws -> ImpactReport {
        let state = try replay(cut: cut)
        let stayers = try Stayers.judge(log, cut: cut, definitions: state.definitions, windowDays: windowDays)
        return DefinitionImpact.compute(
            state, windowDays: windowDays, mapRetiredReasons: mapRetiredReasons, stayers: stayers, seriesWeeks: seriesWeeks,
            minimumStayers: minimumStayers)
    }

    /// The funnel from hand-off to revenue per cohort (DESIGN §8.2). The query's `at` is the instant
    /// open episodes are censored at: ``reportInstant(for:)`` gives the usual one.
    public func funnel(_ query: CohortQuery, cut: ReplayCut = .everything) throws -> FunnelReport {
        try FeedbackLoop.run(log, cut: cut, FeedbackLoopRequest(funnel: query)).funnel!
    }

    /// Service levels per cohort and per owner, with the breached episodes (DESIGN §8.2).
    public func serviceLevels(
        _ query: CohortQuery, cut: ReplayCut = .everything, maximumBreaches: Int = ServiceLevels.defaultMaximumBreaches
    ) throws -> ServiceLevelReport {
        try FeedbackLoop.run(log, cut: cut, FeedbackLoopRequest(serviceLevels: query, maximumBreaches: maximumBreaches)).serviceLevels!
    }

    /// The buyer profile: what accepted and won leads looked like at hand-off (DESIGN §8.2).
    public func buyerProfile(_ query: ProfileQuery = ProfileQuery(), cut: ReplayCut = .everything) throws -> BuyerProfileReport {
        try FeedbackLoop.run(log, cut: cut, FeedbackLoopRequest(profile: query)).profile!
    }

    /// Trends, funnel, service levels and profile, whichever are asked, from one replay.
    public func feedbackLoop(_ request: FeedbackLoopRequest, cut: ReplayCut = .everything) throws -> FeedbackLoopReports {
        try FeedbackLoop.run(log, cut: cut, request)
    }

    /// The instant a report under `cut` is judged at: the business-time cut when there is one, else now.
    public func reportInstant(for cut: ReplayCut) -> Int64 { FeedbackLoop.reportInstant(for: cut, now: FeedbackLoop.now) }

    /// What-if for candidate definitions, in one pass.
    public func whatIf(_ query: WhatIfQuery) throws -> WhatIfReport {
        try WhatIf.run(log, query)
    }

    /// The audit of one lead; `nil` when the ledger has no event for it.
    public func audit(lead: String) throws -> LeadAudit? {
        try LeadAudit.build(log, lead: lead).map { try openingPersonalValues($0, lead: lead) }
    }

    // MARK: Operations

    /// Checks everything stored: the log's structure, tables, indexes and hash chain
    /// (``EventLog/verify(recordCheck:progress:)``), that each record is filed under the stream its
    /// event belongs to, and that the replay checkpoint authenticates and agrees with a fresh replay.
    public func verify() throws -> VerifyReport {
        let report = try log.verify(recordCheck: Self.streamMatchesEvent)
        guard report.isIntact else { return report }
        let problem: String?
        do { problem = try ReplayCheckpoint.audit(log) } catch { problem = "it cannot be checked (\(error))" }
        if let problem {
            return VerifyReport(
                records: report.records, head: report.head,
                problem: .init(
                    position: 0,
                    message:
                        "the replay checkpoint in the meta table is damaged: \(problem) (the records are intact; a writable trends run rebuilds it)"
                ))
        }
        let tableProblem: String?
        do { tableProblem = try ValidationTables.audit(log) } catch { tableProblem = "they cannot be checked (\(error))" }
        guard let tableProblem else {
            let keyProblem: String?
            do { keyProblem = try PersonalData.audit(log) } catch { keyProblem = "it cannot be checked (\(error))" }
            guard let keyProblem else { return report }
            return VerifyReport(
                records: report.records, head: report.head,
                problem: .init(position: 0, message: "the personal-data key table and the log disagree: \(keyProblem)"))
        }
        return VerifyReport(
            records: report.records, head: report.head,
            problem: .init(position: 0, message: "the validation tables are damaged: \(tableProblem) (the records are intact)"))
    }

    /// The domain's check of one record for `verify`: its event decodes and belongs to the stream
    /// (its lead, or the catalog) the log files it under.
    static func streamMatchesEvent(_ view: RecordView, _ stream: String?) -> String? {
        guard let event = EventRecordView(validating: view.payload) else { return "the stored event cannot be decoded" }
        let expected = event.lead.map { String(decoding: $0, as: UTF8.self) } ?? CatalogStream.name
        guard stream == expected else {
            return "the log files this record under stream \"\(stream ?? "none")\" but its event belongs to \"\(expected)\""
        }
        return nil
    }

    /// Whether this process can go on serving the ledger, for `/health`: unhealthy once its lock file
    /// was deleted or replaced (it then refuses appends), or once closed.
    public var health: LogHealth { log.health }

    /// Whether the ledger was opened read-only.
    public var isReadOnly: Bool { log.isReadOnly }

    /// A compacted, consistent copy into an empty directory, while appends go on.
    @discardableResult
    public func backup(to directory: String) throws -> LogHead { try log.backup(to: directory) }

    /// Counts and sizes.
    public func statistics() throws -> LogStatistics { try log.statistics() }

    /// The head: last position and its hash.
    public func head() throws -> LogHead { try log.head() }
}

/// The acknowledgement of a durable batch.
public struct LedgerReceipt: Sendable, Hashable, Codable {
    /// Per event, in order: its position and whether it was already stored.
    public var results: [EventResult]
    /// The head after the batch.
    public var head: LogHead
    /// Events appended.
    public var appended: Int { results.count { !$0.duplicate } }
    /// Events that were already stored (identical re-sends).
    public var duplicates: Int { results.count { $0.duplicate } }

    /// One event's outcome.
    public struct EventResult: Sendable, Hashable, Codable {
        /// Its position.
        public var position: UInt64
        /// Whether it was already stored.
        public var duplicate: Bool
    }

    init(_ receipt: AppendReceipt) {
        results = receipt.outcomes.map { EventResult(position: $0.position, duplicate: $0.isDuplicate) }
        head = receipt.head
    }
}

/// Why a batch was refused; the ledger is exactly as it was.
public struct LedgerError: Error, Sendable, CustomStringConvertible {
    /// What kind of refusal: the HTTP API maps these to status codes.
    public enum Kind: String, Sendable, Codable {
        /// Events that break the ledger's rules (unknown reason, no open episode…).
        case invalid
        /// An id already stored with other content.
        case conflict
        /// A lead did not hold the expected number of events.
        case expectedVersionMismatch
        /// The ledger is full or storage failed.
        case storage
        /// The ledger is closed.
        case closed
    }

    /// One problem, naming where.
    public struct Problem: Sendable, Hashable, Codable, CustomStringConvertible {
        /// NDJSON line, when known.
        public var line: Int?
        /// Event id, when known.
        public var eventId: String?
        /// Field, when known.
        public var field: String?
        /// The message a user reads.
        public var message: String
        /// The message.
        public var description: String { message }
    }

    /// What kind of refusal.
    public let kind: Kind
    /// Every problem found (one per bad event for validation).
    public let problems: [Problem]
    /// When the ledger's map is full: a map size, in bytes, to reopen it with.
    public let suggestedMapSize: Int?

    /// Creates an error.
    public init(kind: Kind, problems: [Problem], suggestedMapSize: Int? = nil) {
        self.kind = kind
        self.problems = problems
        self.suggestedMapSize = suggestedMapSize
    }

    /// One problem per line.
    public var description: String { problems.map(\.message).joined(separator: "\n") }

    init(_ error: AppendError, events: [(line: Int?, event: LeadEvent)]) {
        func located(_ message: String) -> Problem {
            guard let index = error.index, index < events.count else { return Problem(message: message) }
            let (line, event) = events[index]
            let prefix = line.map { "line \($0), " } ?? ""
            return Problem(line: line, eventId: event.id.lowercasedText, field: "id", message: prefix + message)
        }
        switch error.code {
        case .refusedByPolicy:
            if let refusal = error.underlying as? BatchRefusal {
                self.init(
                    kind: .invalid,
                    problems: refusal.issues.map {
                        Problem(line: $0.line, eventId: $0.eventId, field: $0.field, message: $0.description)
                    })
            } else {
                self.init(kind: .invalid, problems: [Problem(message: error.message)])
            }
        case .conflict:
            self.init(kind: .conflict, problems: [located(error.message)])
        case .expectedVersionMismatch:
            self.init(kind: .expectedVersionMismatch, problems: [Problem(field: "expectedVersion", message: error.message)])
        case .closed:
            self.init(kind: .closed, problems: [Problem(message: error.message)])
        case .recordTooLarge, .invalidRecord:
            self.init(kind: .invalid, problems: [located(error.message)])
        default:
            self.init(kind: .storage, problems: [Problem(message: error.message)], suggestedMapSize: error.suggestedMapSize)
        }
    }
}
