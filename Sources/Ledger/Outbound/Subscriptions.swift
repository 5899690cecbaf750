import EventLog
import Foundation
import LeadModel

/// An outbound subscription: new events of some types delivered to a URL, signed with Standard
/// Webhooks, at least once and in position order.
public struct Subscription: Sendable, Codable, Hashable {
    /// Its id, printed by `subscriptions add` and `list`.
    public var id: String
    /// Where deliveries are POSTed.
    public var url: String
    /// The event types delivered (`lead.rejected`, …); the others are passed over.
    public var types: [String]
    /// The Standard Webhooks secret deliveries are signed with (`whsec_…`).
    public var secret: String
    /// Whether delivery is paused (the cursor stays where it is).
    public var paused: Bool
    /// When it was created (RFC 3339).
    public var createdAt: String
}

/// A batch that failed every retry, kept with the last response seen so it can be redelivered.
public struct ParkedDelivery: Sendable, Codable, Hashable {
    /// The positions of the events it held, in order.
    public var positions: [UInt64]
    /// Attempts made.
    public var attempts: Int
    /// The last HTTP status, or nil when no response came (refused connection, time-out).
    public var lastStatus: Int?
    /// The start of the last response's body, or the error met.
    public var lastResponse: String
    /// When it was parked (RFC 3339).
    public var parkedAt: String

    /// A parked batch.
    public init(positions: [UInt64], attempts: Int, lastStatus: Int?, lastResponse: String, parkedAt: String) {
        self.positions = positions
        self.attempts = attempts
        self.lastStatus = lastStatus
        self.lastResponse = lastResponse
        self.parkedAt = parkedAt
    }
}

/// Where a subscription's delivery stands, stored in the ledger and changed in the same write
/// transaction that records each delivery: a restart resumes after the last acknowledged event.
public struct SubscriptionState: Sendable, Codable, Hashable {
    /// The last position delivered (or passed over, or parked).
    public var cursor: UInt64
    /// Events delivered and acknowledged.
    public var delivered: Int
    /// Failed attempts, all told.
    public var failures: Int
    /// The last HTTP status seen.
    public var lastStatus: Int?
    /// Batches that failed every retry.
    public var parked: [ParkedDelivery]
    /// Parked batches put back by `redeliver`, delivered before anything new.
    public var redeliveries: [ParkedDelivery]
}

/// Why a subscription operation was refused.
public struct SubscriptionError: Error, Sendable, CustomStringConvertible {
    /// What a user reads.
    public let description: String
}

/// The subscriptions of a ledger, kept in its meta table; the command line and the server share
/// them, and a change made by one is seen by the other at its next look.
public struct SubscriptionStore: Sendable {
    static let listKey = "outbound.subscriptions"
    static func stateKey(_ id: String) -> String { "outbound.state." + id }

    let ledger: Ledger

    /// The store of `ledger`.
    public init(ledger: Ledger) { self.ledger = ledger }

    /// Adds a subscription delivering events of `types` after position `from` (default: the head,
    /// so only new events), and returns it with its signing secret.
    public func add(url: String, types: [String], from: UInt64? = nil) throws -> Subscription {
        guard let parsed = URL(string: url), parsed.scheme == "http" || parsed.scheme == "https", parsed.host?.isEmpty == false else {
            throw SubscriptionError(description: "the URL must be http:// or https:// with a host, not \(url.debugDescription)")
        }
        guard !types.isEmpty else { throw SubscriptionError(description: "name at least one event type with --types") }
        for type in types where EventType(rawValue: type) == nil {
            throw SubscriptionError(
                description: "unknown event type \(type.debugDescription): one of \(EventType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let head = try ledger.head().position
        let start = from ?? head
        guard start <= head else { throw SubscriptionError(description: "--from \(start) is past the ledger's head (\(head))") }
        var random = SystemRandomNumberGenerator()
        let id = (0..<6).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &random)) }.joined()
        let secret = "whsec_" + Data((0..<24).map { _ in UInt8.random(in: 0...255, using: &random) }).base64EncodedString()
        let subscription = Subscription(
            id: id, url: url, types: types, secret: secret, paused: false, createdAt: Date().formatted(.iso8601))
        try modifyList { $0.append(subscription) }
        try ledger.updateMetaValue(Self.stateKey(id)) { _ in
            (try Self.encode(SubscriptionState(cursor: start, delivered: 0, failures: 0, parked: [], redeliveries: [])), ())
        }
        return subscription
    }

    /// Every subscription, oldest first.
    public func list() throws -> [Subscription] {
        try ledger.metaValue(Self.listKey).map { try JSONDecoder().decode([Subscription].self, from: Data($0)) } ?? []
    }

    /// The subscription with `id`, or nil.
    public func subscription(_ id: String) throws -> Subscription? { try list().first { $0.id == id } }

    /// Where delivery of `id` stands.
    public func state(_ id: String) throws -> SubscriptionState {
        guard let bytes = try ledger.metaValue(Self.stateKey(id)) else {
            throw SubscriptionError(description: "no subscription has the id \(id)")
        }
        return try JSONDecoder().decode(SubscriptionState.self, from: Data(bytes))
    }

    /// Pauses or resumes delivery.
    public func setPaused(_ id: String, _ paused: Bool) throws {
        try modifyList { list in
            guard let index = list.firstIndex(where: { $0.id == id }) else {
                throw SubscriptionError(description: "no subscription has the id \(id)")
            }
            list[index].paused = paused
        }
    }

    /// Removes a subscription and its state.
    public func remove(_ id: String) throws {
        try modifyList { list in
            guard list.contains(where: { $0.id == id }) else { throw SubscriptionError(description: "no subscription has the id \(id)") }
            list.removeAll { $0.id == id }
        }
        try ledger.updateMetaValue(Self.stateKey(id)) { _ in (nil, ()) }
    }

    /// Puts every parked batch back for delivery; returns how many.
    @discardableResult
    public func redeliver(_ id: String) throws -> Int {
        try updateState(id) { state in
            let count = state.parked.count
            state.redeliveries += state.parked
            state.parked = []
            return count
        }
    }

    /// Applies `change` to the stored state of `id` in one write transaction.
    public func updateState<R>(_ id: String, _ change: (inout SubscriptionState) throws -> R) throws -> R {
        try ledger.updateMetaValue(Self.stateKey(id)) { bytes in
            guard let bytes else { throw SubscriptionError(description: "no subscription has the id \(id)") }
            var state = try JSONDecoder().decode(SubscriptionState.self, from: Data(bytes))
            let result = try change(&state)
            return (try Self.encode(state), result)
        }
    }

    private func modifyList<R>(_ change: (inout [Subscription]) throws -> R) throws -> R {
        try ledger.updateMetaValue(Self.listKey) { bytes in
            var list = try bytes.map { try JSONDecoder().decode([Subscription].self, from: Data($0)) } ?? []
            let result = try change(&list)
            return (try Self.encode(list), result)
        }
    }

    static func encode(_ value: some Encodable) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array(try encoder.encode(value))
    }
}
