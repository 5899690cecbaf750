import Foundation

/// A published MQL definition as validation needs it.
public struct PublishedDefinition: Sendable, Hashable {
    /// The version.
    public var version: Int
    /// Its name.
    public var name: String
    /// When it takes effect, in business time.
    public var effectiveAt: Timestamp

    /// Creates a published definition record.
    public init(version: Int, name: String, effectiveAt: Timestamp) {
        self.version = version
        self.name = name
        self.effectiveAt = effectiveAt
    }
}

/// A lead's episode that was handed off and not yet decided or recycled.
public struct OpenEpisode: Sendable, Hashable {
    /// Business time of the hand-off.
    public var handedOffAt: Timestamp
    /// The `lead.handed_off` event that opened it.
    public var handOffEventId: UUID

    /// Creates an open episode record.
    public init(handedOffAt: Timestamp, handOffEventId: UUID) {
        self.handedOffAt = handedOffAt
        self.handOffEventId = handOffEventId
    }
}

/// A stored `lead.rejected`, as corrections need it.
public struct StoredRejection: Sendable, Hashable {
    /// The rejected lead.
    public var lead: String
    /// The reason code, after any corrections.
    public var reason: String

    /// Creates a stored rejection record.
    public init(lead: String, reason: String) {
        self.lead = lead
        self.reason = reason
    }
}

/// A proposed definition as validation needs it: its rules, the latest verdict of each role, and
/// the version that published it.
public struct ProposalRecord: Sendable, Hashable {
    /// The proposal's rules as compact JSON, exactly as proposed.
    public var rulesJSON: [UInt8]
    /// The latest verdict of each role that reviewed it.
    public var reviews: [String: ReviewVerdict]
    /// The version of the `definition.published` that named it, nil while unpublished.
    public var publishedVersion: Int?

    /// Creates a proposal record.
    public init(rulesJSON: [UInt8], reviews: [String: ReviewVerdict] = [:], publishedVersion: Int? = nil) {
        self.rulesJSON = rulesJSON
        self.reviews = reviews
        self.publishedVersion = publishedVersion
    }

    /// The roles of `required` that have not approved it (their latest review declined, or none), sorted.
    public func missingApprovals(_ required: [String]) -> [String] {
        Set(required).filter { reviews[$0] != .approved }.sorted()
    }
}

/// Read-only view of what the ledger knows, as of "everything stored before this event".
public protocol LedgerState {
    /// The reason code's current record, nil when never defined.
    func reason(_ code: String) -> ReasonCode?
    /// The published definition with this version, nil when never published.
    func definition(version: Int) -> PublishedDefinition?
    /// The greatest published version, nil when none.
    var latestDefinitionVersion: Int? { get }
    /// The greatest published service-level (`sla.published`) version, nil when none.
    var latestServiceLevelVersion: Int? { get }
    /// The lead's open episode, nil when it has none.
    func openEpisode(lead: String) -> OpenEpisode?
    /// The stored `lead.rejected` with this id, nil when there is none.
    func storedRejection(id: UUID) -> StoredRejection?
    /// The `definition.proposed` with this id, nil when never proposed.
    func proposal(_ id: String) -> ProposalRecord?
    /// The roles whose approval a publish needs (the ledger's setting; empty: none needed).
    var requiredApprovals: [String] { get }
}

extension LedgerState {
    /// No proposals: a state that does not keep them.
    public func proposal(_ id: String) -> ProposalRecord? { nil }
    /// No approval needed, the default setting.
    public var requiredApprovals: [String] { [] }
}

/// One effect of an accepted event on the validation state.
public enum StateChange: Sendable, Hashable {
    /// A reason code was defined or re-labelled.
    case reasonDefined(EventPayload.ReasonDefined)
    /// A reason code was retired.
    case reasonRetired(EventPayload.ReasonRetired)
    /// A definition was published.
    case definitionPublished(PublishedDefinition)
    /// A hand-off opened an episode.
    case episodeOpened(lead: String, OpenEpisode)
    /// A decision or recycle closed the lead's episode.
    case episodeClosed(lead: String)
    /// A rejection was stored.
    case rejectionStored(id: UUID, StoredRejection)
    /// A service level was published with this version.
    case serviceLevelPublished(version: Int)
    /// A stored rejection's reason was corrected.
    case rejectionCorrected(id: UUID, reason: String)
    /// A definition was proposed, with its rules as compact JSON.
    case proposalMade(id: String, rulesJSON: [UInt8])
    /// A role reviewed a proposal; it replaces that role's earlier verdict.
    case proposalReviewed(id: String, role: String, verdict: ReviewVerdict)
    /// A publish named the proposal.
    case proposalPublished(id: String, version: Int)

    /// The effects of `event`, in the order they apply.
    public static func effects(of event: LeadEvent) -> [StateChange] {
        event.type.isLeadEvent ? effects(ofLeadEvent: event) : effects(ofCatalog: event.payload)
    }

    /// The effects of an admitted lead event, decoded or read from storage.
    public static func effects(ofLeadEvent event: some LedgerEventFields) -> [StateChange] {
        var changes: [StateChange] = []
        forEachEffect(ofLeadEvent: event) { changes.append($0) }
        return changes
    }

    /// Calls `body` with each effect of an admitted lead event, in order, without collecting them:
    /// the episode rules of ``EpisodeMachine`` applied to the validation state.
    @inlinable
    public static func forEachEffect(ofLeadEvent event: some LedgerEventFields, _ body: (StateChange) throws -> Void) rethrows {
        guard let lead = event.leadText else { return }
        // An admitted decision found its episode open; a stored one of a log written without
        // validation has the same effects, as a rejection is stored whatever the episode.
        switch EpisodeMachine.transition(of: event, from: .open) {
        case .open:
            try body(.episodeOpened(lead: lead, OpenEpisode(handedOffAt: event.occurredAtTimestamp, handOffEventId: event.eventID)))
        case .close(.rejected), .closeWithoutEpisode(.rejected):
            try body(.episodeClosed(lead: lead))
            try body(.rejectionStored(id: event.eventID, StoredRejection(lead: lead, reason: event.reasonText ?? "")))
        case .close, .closeWithoutEpisode:
            try body(.episodeClosed(lead: lead))
        case .correctRejection:
            if let target = event.correctedEventID { try body(.rejectionCorrected(id: target, reason: event.reasonText ?? "")) }
        case .none:
            break
        }
    }

    /// Calls `body` with each effect of one stored event record, in order. Lead events are read
    /// through the record view (no full decode: a ledger's whole log may be folded); catalog events,
    /// rare, are decoded.
    public static func forEachEffect(ofRecord payload: UnsafeRawBufferPointer, _ body: (StateChange) throws -> Void) throws {
        guard let view = EventRecordView(validating: payload) else {
            throw RecordDecodingError(offset: 0, reason: "not an event record this version reads")
        }
        if view.type.isLeadEvent {
            try forEachEffect(ofLeadEvent: view, body)
        } else {
            for change in effects(ofCatalog: try LeadEvent(binary: payload).payload) { try body(change) }
        }
    }

    /// The effects of a catalog event's payload.
    public static func effects(ofCatalog payload: EventPayload) -> [StateChange] {
        switch payload {
        case .reasonDefined(let data): [.reasonDefined(data)]
        case .reasonRetired(let data): [.reasonRetired(data)]
        case .definitionPublished(let data):
            [.definitionPublished(PublishedDefinition(version: data.version, name: data.name, effectiveAt: data.effectiveAt))]
                + (data.proposal.map { [.proposalPublished(id: $0, version: data.version)] } ?? [])
        case .slaPublished(let data): [.serviceLevelPublished(version: data.version)]
        case .definitionProposed(let data): [.proposalMade(id: data.proposal, rulesJSON: data.rulesJSON.jsonBytes)]
        case .definitionReviewed(let data): [.proposalReviewed(id: data.proposal, role: data.role, verdict: data.verdict)]
        default: []
        }
    }
}

/// The fields of an event the validation state keeps, read alike from a decoded ``LeadEvent`` and
/// from a stored record's ``EventRecordView``.
public protocol LedgerEventFields: EpisodeEventRepresentation {
    /// The lead, nil for catalog events.
    var leadText: String? { get }
    /// The event's id.
    var eventID: UUID { get }
    /// Business time.
    var occurredAtTimestamp: Timestamp { get }
    /// The reason code of a rejection, a correction, a recycle or a close.
    var reasonText: String? { get }
    /// The rejection a correction names.
    var correctedEventID: UUID? { get }
}

extension LeadEvent: LedgerEventFields {
    /// The lead.
    public var leadText: String? { lead }
    /// The id.
    public var eventID: UUID { id }
    /// Business time.
    public var occurredAtTimestamp: Timestamp { occurredAt }
    /// The reason code of a rejection, a correction, a recycle or a close.
    public var reasonText: String? {
        switch payload {
        case .rejected(let data): data.reason
        case .rejectionCorrected(let data): data.reason
        case .recycled(let data): data.reason
        case .closed(let data): data.reason
        default: nil
        }
    }
    /// The rejection a correction names.
    public var correctedEventID: UUID? {
        if case .rejectionCorrected(let data) = payload { return data.event }
        return nil
    }
}

extension EventRecordView: LedgerEventFields {
    /// The lead, as text.
    public var leadText: String? { lead.map { String(decoding: $0, as: UTF8.self) } }
    /// The id.
    public var eventID: UUID { UUID(bytes: id) }
    /// Business time, with its offset.
    public var occurredAtTimestamp: Timestamp { Timestamp(microseconds: occurredAt, utcOffsetSeconds: utcOffsetSeconds) }
    /// The reason code of a rejection, a correction, a recycle or a close, as text.
    public var reasonText: String? { reason.map { String(decoding: $0, as: UTF8.self) } }
    /// The rejection a correction names.
    public var correctedEventID: UUID? { correctedEvent.map { UUID(bytes: $0) } }
}

extension UUID {
    /// The id held in 16 raw bytes.
    public init(bytes b: UnsafeRawBufferPointer) {
        self.init(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
    }
}

/// The effects of accepted events, in order: what a store applies once the batch is appended.
public struct StateChanges: Sendable, Hashable {
    /// The effects, in append order.
    public var changes: [StateChange]

    /// Creates a list of changes.
    public init(_ changes: [StateChange] = []) {
        self.changes = changes
    }

    /// Whether there is nothing to apply.
    public var isEmpty: Bool { changes.isEmpty }
}

/// A ledger state that can take the effects of appended events.
public protocol MutableLedgerState: LedgerState {
    /// Applies changes in order.
    mutating func apply(_ changes: StateChanges)
}

/// The whole validation state in memory: for tests, tools and small ledgers.
public struct InMemoryLedgerState: MutableLedgerState, Sendable {
    private var reasons: [String: ReasonCode] = [:]
    private var definitions: [Int: PublishedDefinition] = [:]
    private var episodes: [String: OpenEpisode] = [:]
    private var rejections: [UUID: StoredRejection] = [:]
    private var proposals: [String: ProposalRecord] = [:]
    /// The roles whose approval a publish needs.
    public var requiredApprovals: [String] = []
    /// The greatest published version, nil when none.
    public private(set) var latestDefinitionVersion: Int?
    /// The greatest published service-level version, nil when none.
    public private(set) var latestServiceLevelVersion: Int?

    /// Every reason code's record, by code.
    public var reasonsByCode: [String: ReasonCode] { reasons }
    /// Every published definition, by version.
    public var definitionsByVersion: [Int: PublishedDefinition] { definitions }
    /// Every open episode, by lead.
    public var openEpisodesByLead: [String: OpenEpisode] { episodes }
    /// Every stored rejection, by the id of its `lead.rejected`.
    public var rejectionsByID: [UUID: StoredRejection] { rejections }
    /// Every proposal, by id.
    public var proposalsByID: [String: ProposalRecord] { proposals }

    /// An empty ledger state.
    public init() {}

    /// The reason code's record.
    public func reason(_ code: String) -> ReasonCode? { reasons[code] }
    /// The published definition with this version.
    public func definition(version: Int) -> PublishedDefinition? { definitions[version] }
    /// The lead's open episode.
    public func openEpisode(lead: String) -> OpenEpisode? { episodes[lead] }
    /// The stored rejection with this id.
    public func storedRejection(id: UUID) -> StoredRejection? { rejections[id] }
    /// The proposal with this id.
    public func proposal(_ id: String) -> ProposalRecord? { proposals[id] }

    /// Applies changes in order.
    public mutating func apply(_ changes: StateChanges) {
        for change in changes.changes { apply(change) }
    }

    /// Applies the effects of one event, without validating it.
    public mutating func apply(_ event: LeadEvent) {
        for change in StateChange.effects(of: event) { apply(change) }
    }

    /// Applies one change.
    public mutating func apply(_ change: StateChange) {
        switch change {
        case .reasonDefined(let data): reasons[data.code] = EpisodeMachine.reason(afterDefining: data, existing: reasons[data.code])
        case .reasonRetired(let data): reasons[data.code] = EpisodeMachine.reason(afterRetiring: data, existing: reasons[data.code])
        case .definitionPublished(let definition):
            definitions[definition.version] = definition
            latestDefinitionVersion = max(latestDefinitionVersion ?? definition.version, definition.version)
        case .episodeOpened(let lead, let episode): episodes[lead] = episode
        case .episodeClosed(let lead): episodes[lead] = nil
        case .rejectionStored(let id, let rejection): rejections[id] = rejection
        case .rejectionCorrected(let id, let reason): rejections[id]?.reason = reason
        case .serviceLevelPublished(let version):
            latestServiceLevelVersion = max(latestServiceLevelVersion ?? version, version)
        case .proposalMade(let id, let rulesJSON): proposals[id] = ProposalRecord(rulesJSON: rulesJSON)
        case .proposalReviewed(let id, let role, let verdict): proposals[id]?.reviews[role] = verdict
        case .proposalPublished(let id, let version): proposals[id]?.publishedVersion = version
        }
    }
}

/// A base state plus the effects of events staged on top of it: reads see both, the base is untouched.
public struct StagedLedgerState<Base: LedgerState>: LedgerState {
    /// The state before the staged events.
    public let base: Base
    /// The effects staged so far, in order.
    public private(set) var changes = StateChanges()
    private var reasons: [String: ReasonCode] = [:]
    private var definitions: [Int: PublishedDefinition] = [:]
    /// A staged nil means the episode was closed by a staged event.
    private var episodes: [String: OpenEpisode?] = [:]
    private var rejections: [UUID: StoredRejection] = [:]
    private var stagedLatestVersion: Int?
    private var stagedLatestServiceLevel: Int?
    private var proposals: [String: ProposalRecord] = [:]

    /// Stages nothing yet over `base`.
    public init(base: Base) {
        self.base = base
    }

    /// The reason code's record, staged first.
    public func reason(_ code: String) -> ReasonCode? { reasons[code] ?? base.reason(code) }

    /// The published definition, staged first.
    public func definition(version: Int) -> PublishedDefinition? { definitions[version] ?? base.definition(version: version) }

    /// The greatest version in base or staged.
    public var latestDefinitionVersion: Int? {
        switch (base.latestDefinitionVersion, stagedLatestVersion) {
        case (let a?, let b?): max(a, b)
        case (let a, nil): a
        case (nil, let b): b
        }
    }

    /// The greatest service-level version in base or staged.
    public var latestServiceLevelVersion: Int? {
        switch (base.latestServiceLevelVersion, stagedLatestServiceLevel) {
        case (let a?, let b?): max(a, b)
        case (let a, nil): a
        case (nil, let b): b
        }
    }

    /// The lead's open episode, staged first.
    public func openEpisode(lead: String) -> OpenEpisode? {
        if let staged = episodes[lead] { return staged }
        return base.openEpisode(lead: lead)
    }

    /// The stored rejection, staged first.
    public func storedRejection(id: UUID) -> StoredRejection? { rejections[id] ?? base.storedRejection(id: id) }

    /// The proposal, staged first.
    public func proposal(_ id: String) -> ProposalRecord? { proposals[id] ?? base.proposal(id) }

    /// The base's setting: a batch cannot change it.
    public var requiredApprovals: [String] { base.requiredApprovals }

    /// Stages the effects of one event, without validating it.
    public mutating func apply(_ event: LeadEvent) {
        for change in StateChange.effects(of: event) { apply(change) }
    }

    /// Stages one change.
    public mutating func apply(_ change: StateChange) {
        changes.changes.append(change)
        switch change {
        case .reasonDefined(let data): reasons[data.code] = EpisodeMachine.reason(afterDefining: data, existing: reason(data.code))
        case .reasonRetired(let data):
            if let retired = EpisodeMachine.reason(afterRetiring: data, existing: reason(data.code)) { reasons[data.code] = retired }
        case .definitionPublished(let definition):
            definitions[definition.version] = definition
            stagedLatestVersion = max(stagedLatestVersion ?? definition.version, definition.version)
        case .episodeOpened(let lead, let episode): episodes[lead] = .some(episode)
        case .episodeClosed(let lead): episodes[lead] = .some(nil)
        case .rejectionStored(let id, let rejection): rejections[id] = rejection
        case .rejectionCorrected(let id, let reason):
            if var rejection = storedRejection(id: id) {
                rejection.reason = reason
                rejections[id] = rejection
            }
        case .serviceLevelPublished(let version):
            stagedLatestServiceLevel = max(stagedLatestServiceLevel ?? version, version)
        case .proposalMade(let id, let rulesJSON): proposals[id] = ProposalRecord(rulesJSON: rulesJSON)
        case .proposalReviewed(let id, let role, let verdict):
            if var record = proposal(id) {
                record.reviews[role] = verdict
                proposals[id] = record
            }
        case .proposalPublished(let id, let version):
            if var record = proposal(id) {
                record.publishedVersion = version
                proposals[id] = record
            }
        }
    }
}

extension StagedLedgerState: Sendable where Base: Sendable {}
