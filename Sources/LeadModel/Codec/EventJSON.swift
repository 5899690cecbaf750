import Foundation

extension LeadEvent {
    /// The event in its wire form, members in a fixed order, `occurredAt` in its original offset.
    public var jsonObject: JSONValue {
        var members: [JSONMember] = [
            JSONMember("id", .string(id.lowercasedText)),
            JSONMember("type", .string(type.rawValue)),
        ]
        if let lead { members.append(JSONMember("lead", .string(lead))) }
        members.append(JSONMember("occurredAt", .string(occurredAt.rfc3339)))
        members.append(JSONMember("source", .string(source)))
        if let actor { members.append(JSONMember("actor", .string(actor))) }
        if let correlationId { members.append(JSONMember("correlationId", .string(correlationId))) }
        members.append(JSONMember("data", payload.jsonObject))
        return .object(members)
    }

    /// The compact JSON of `jsonObject`, as UTF-8; one NDJSON line without its newline.
    public var jsonData: Data { Data(jsonObject.jsonBytes) }
}

extension EventPayload {
    /// The `data` object, members in the order of DESIGN §3, absent optionals omitted.
    public var jsonObject: JSONValue {
        var members: [JSONMember] = []
        func add(_ key: String, _ value: String?) { if let value { members.append(JSONMember(key, .string(value))) } }
        func add(_ key: String, _ value: Double?) { if let value { members.append(JSONMember(key, .number(value))) } }
        func add(_ key: String, _ value: Bool?) { if let value { members.append(JSONMember(key, .bool(value))) } }
        func add(_ key: String, _ value: Int?) { if let value { members.append(JSONMember(key, .number(Double(value)))) } }
        func add(_ key: String, _ value: [String: AttributeValue]?) {
            if let value { members.append(JSONMember(key, attributesJSON(value))) }
        }
        switch self {
        case .leadCaptured(let data):
            add("channel", data.channel)
            add("campaign", data.campaign)
            add("attributes", data.attributes)
        case .attributesObserved(let data):
            add("attributes", data.attributes)
        case .leadScored(let data):
            add("score", data.score)
            add("model", data.model)
        case .handedOff(let data):
            add("owner", data.owner)
            add("definition", data.definition)
        case .accepted(let data):
            add("by", data.by)
            add("auto", data.auto)
        case .rejected(let data):
            add("reason", data.reason)
            add("note", data.note)
            add("by", data.by)
        case .recycled(let data):
            add("reason", data.reason)
            add("note", data.note)
        case .converted(let data):
            add("opportunity", data.opportunity)
            add("amount", data.amount)
            add("currency", data.currency)
        case .closed(let data):
            add("won", data.won)
            add("amount", data.amount)
            add("reason", data.reason)
        case .rejectionCorrected(let data):
            add("event", data.event.lowercasedText)
            add("reason", data.reason)
            add("note", data.note)
        case .reasonDefined(let data):
            add("code", data.code)
            add("label", data.label)
            add("category", data.category)
            add("requiresNote", data.requiresNote)
        case .reasonRetired(let data):
            add("code", data.code)
            add("replacedBy", data.replacedBy)
        case .definitionPublished(let data):
            add("version", data.version)
            add("name", data.name)
            members.append(JSONMember("rules", data.rulesJSON))
            add("effectiveAt", data.effectiveAt.rfc3339)
            add("rationale", data.rationale)
            add("proposal", data.proposal)
        case .forgotten(let data):
            add("reason", data.reason)
        case .assigned(let data):
            add("owner", data.owner)
            add("team", data.team)
        case .touched(let data):
            add("activity", data.activity.rawValue)
            add("by", data.by)
        case .slaPublished(let data):
            add("version", data.version)
            add("name", data.name)
            add("effectiveAt", data.effectiveAt.rfc3339)
            add("firstTouchWithin", data.firstTouchWithin)
            add("decisionWithin", data.decisionWithin)
            members.append(JSONMember("calendar", data.calendar.jsonObject))
        case .definitionProposed(let data):
            add("proposal", data.proposal)
            add("name", data.name)
            members.append(JSONMember("rules", data.rulesJSON))
            add("rationale", data.rationale)
            if let evidence = data.evidence { members.append(JSONMember("evidence", evidence.jsonObject)) }
        case .definitionReviewed(let data):
            add("proposal", data.proposal)
            add("verdict", data.verdict.rawValue)
            add("role", data.role)
            add("note", data.note)
        }
        return .object(members)
    }
}

/// Attributes as a JSON object with names in UTF-8 byte order, so the output is deterministic.
func attributesJSON(_ attributes: [String: AttributeValue]) -> JSONValue {
    .object(sortedAttributes(attributes).map { JSONMember($0.key, $0.value.json) })
}

/// Attributes sorted by the UTF-8 bytes of their names (not `String` order, which equates canonically
/// equivalent names and so is not a total order on distinct byte strings).
func sortedAttributes(_ attributes: [String: AttributeValue]) -> [(key: String, value: AttributeValue)] {
    attributes.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
}

extension BusinessCalendar {
    /// The `calendar` object of `sla.published`; `holidays` omitted when there are none.
    public var jsonObject: JSONValue {
        var members = [
            JSONMember("timeZone", .string(timeZone)),
            JSONMember("workdays", .array(workdays.map { .number(Double($0)) })),
            JSONMember("start", .string(Self.clockText(startMinute))),
            JSONMember("end", .string(Self.clockText(endMinute))),
        ]
        if !holidays.isEmpty { members.append(JSONMember("holidays", .array(holidays.map { .string($0) }))) }
        return .object(members)
    }
}
