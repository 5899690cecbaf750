import Foundation

/// A record to append: an id, an optional stream, and an opaque payload.
public struct NewRecord: Sendable, Hashable {
    /// The idempotency key: re-sending the same id with the same content appends nothing.
    public var id: UUID
    /// The stream it belongs to (for LeadLedger, the lead id); 1–511 bytes of UTF-8.
    public var stream: String?
    /// The encoded event. Compared byte for byte to decide duplicate or conflict.
    public var payload: [UInt8]

    /// Creates a record.
    public init(id: UUID, stream: String?, payload: [UInt8]) {
        self.id = id
        self.stream = stream
        self.payload = payload
    }
}

/// A batch appended atomically: all of its new records, or none.
public struct AppendBatch: Sendable {
    /// The records, in the order they will take positions.
    public var records: [NewRecord]
    /// Per stream, the number of records it must hold before this batch; a mismatch refuses the batch.
    public var expectedVersions: [String: Int]
    /// Anything the log's ``AppendPolicy`` needs to judge the batch (for LeadLedger, the decoded events).
    public var context: (any Sendable)?

    /// Creates a batch.
    public init(records: [NewRecord], expectedVersions: [String: Int] = [:], context: (any Sendable)? = nil) {
        self.records = records
        self.expectedVersions = expectedVersions
        self.context = context
    }
}

/// What happened to one record of an accepted batch.
public enum AppendOutcome: Sendable, Hashable {
    /// Stored at this position.
    case appended(position: UInt64)
    /// Already stored, with identical content, at this position; nothing appended.
    case duplicate(position: UInt64)

    /// The position the record holds, whether appended now or before.
    public var position: UInt64 {
        switch self {
        case .appended(let p), .duplicate(let p): p
        }
    }

    /// Whether this record was already stored.
    public var isDuplicate: Bool {
        if case .duplicate = self { return true }
        return false
    }
}

/// The head of the log: its last position and the hash that seals everything up to it.
public struct LogHead: Sendable, Hashable, Codable {
    /// The last position; 0 for an empty log.
    public let position: UInt64
    /// The chained hash of the last record, hex; 64 zeros for an empty log.
    public let hash: String

    /// Creates a head.
    public init(position: UInt64, hash: String) {
        self.position = position
        self.hash = hash
    }
}

/// The acknowledgement of a durable batch.
public struct AppendReceipt: Sendable, Hashable {
    /// One outcome per record, in the batch's order.
    public let outcomes: [AppendOutcome]
    /// The head right after the batch's transaction committed.
    public let head: LogHead

    /// A receipt (for stores outside this module: the PostgreSQL log of record).
    public init(outcomes: [AppendOutcome], head: LogHead) {
        self.outcomes = outcomes
        self.head = head
    }

    /// How many records were appended.
    public var appended: Int { outcomes.count { !$0.isDuplicate } }
    /// How many were duplicates.
    public var duplicates: Int { outcomes.count { $0.isDuplicate } }
}

/// Why a batch was refused. A refused batch leaves the log exactly as it was.
public struct AppendError: Error, Sendable, CustomStringConvertible {
    /// What kind of refusal.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Raw: String, Sendable {
            case conflict, expectedVersion, refused, mapFull, recordTooLarge, invalidRecord, storage, closed, unknownOutcome
        }
        private let raw: Raw
        private init(_ raw: Raw) { self.raw = raw }
        /// An id already stored with other content.
        public static var conflict: Self { Self(.conflict) }
        /// A stream did not hold the expected number of records.
        public static var expectedVersionMismatch: Self { Self(.expectedVersion) }
        /// The log's policy refused the batch; ``AppendError/underlying`` says why.
        public static var refusedByPolicy: Self { Self(.refused) }
        /// The map is full; nothing of the batch was written.
        public static var mapFull: Self { Self(.mapFull) }
        /// A record is larger than the log accepts.
        public static var recordTooLarge: Self { Self(.recordTooLarge) }
        /// A record is malformed (for instance an empty or too long stream name).
        public static var invalidRecord: Self { Self(.invalidRecord) }
        /// LMDB failed.
        public static var storage: Self { Self(.storage) }
        /// The log is closed.
        public static var closed: Self { Self(.closed) }
        /// The connection to a replicated log of record failed while its commit was under way: the
        /// batch may or may not be stored. Retrying with the same ids is safe (duplicates append nothing).
        public static var unknownOutcome: Self { Self(.unknownOutcome) }
        /// The code's name.
        public var description: String { raw.rawValue }
    }

    /// What kind of refusal.
    public let code: Code
    /// What went wrong, in words.
    public let message: String
    /// The index in the batch of the record at fault, when one is.
    public let index: Int?
    /// The id of the record at fault, when one is.
    public let id: UUID?
    /// The cause: a policy's refusal or a storage error.
    public let underlying: (any Error & Sendable)?
    /// For ``Code/mapFull``: a map size, in bytes, with room for as much again as is stored.
    public let suggestedMapSize: Int?

    /// Creates an error.
    public init(
        _ code: Code, _ message: String, index: Int? = nil, id: UUID? = nil, underlying: (any Error & Sendable)? = nil,
        suggestedMapSize: Int? = nil
    ) {
        self.code = code
        self.message = message
        self.index = index
        self.id = id
        self.underlying = underlying
        self.suggestedMapSize = suggestedMapSize
    }

    /// The message.
    public var description: String { message }

    /// Matches `catch AppendError.Code.conflict`.
    public static func ~= (pattern: Code, error: AppendError) -> Bool { error.code == pattern }
}
