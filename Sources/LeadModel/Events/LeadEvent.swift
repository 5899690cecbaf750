import Foundation

/// One event of the ledger, as a client sends it (without `position`, `recordedAt` and `hash`).
public struct LeadEvent: Sendable, Hashable {
    /// The idempotency key.
    public var id: UUID
    /// Business time: when it happened in the source system.
    public var occurredAt: Timestamp
    /// The system that sent it, 1–64 characters of `[a-z0-9_.-]`.
    public var source: String
    /// Who did it in the source system, e.g. `rep:jsmith`.
    public var actor: String?
    /// The lead's id in the source CRM; present exactly for `lead.*` events.
    public var lead: String?
    /// Ties events of one operation together.
    public var correlationId: String?
    /// The type-specific data.
    public var payload: EventPayload

    /// Creates an event.
    public init(
        id: UUID, occurredAt: Timestamp, source: String, actor: String? = nil, lead: String? = nil,
        correlationId: String? = nil, payload: EventPayload
    ) {
        self.id = id
        self.occurredAt = occurredAt
        self.source = source
        self.actor = actor
        self.lead = lead
        self.correlationId = correlationId
        self.payload = payload
    }

    /// The event type, from the payload.
    @inlinable
    public var type: EventType { payload.type }
}
