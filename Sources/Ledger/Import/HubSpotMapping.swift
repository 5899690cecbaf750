import Foundation
import LeadModel

/// How a HubSpot contact property-history export maps to ledger events; decoded from a JSON file in
/// which every key is optional (an absent key keeps its default) and an unknown key is refused.
///
/// The default mapping (`HubSpotMapping.default`), which uses only codes of the starter taxonomy:
///
/// | key | default |
/// |---|---|
/// | `source` | `hubspot` |
/// | `lifecycleProperty` | `lifecyclestage` |
/// | `leadStatusProperty` | `hs_lead_status` |
/// | `handOffStages` | `marketingqualifiedlead` |
/// | `acceptedStages` | `salesqualifiedlead` |
/// | `acceptedStatuses` | `IN_PROGRESS`, `CONNECTED`, `OPEN_DEAL` |
/// | `rejectedStatuses` | `UNQUALIFIED` (reason from `rejectionReasonProperty`) |
/// | `rejectedStatusCodes` | `BAD_TIMING` → `INTENT_TIMING.NOT_NOW` (statuses that reject with a fixed code) |
/// | `rejectionReasonProperty` | `hs_lead_disqualification_reason` |
/// | `rejectionReasons` | as `SalesforceMapping`'s, plus the snake-case forms (`too_small`, `no_budget`, …) |
/// | `defaultRejectionReason` | `OTHER.OTHER`, with the source's reason value (or "no reason recorded") as the note |
/// | `recycledStages`, `recycledStatuses` | none |
/// | `convertedStages` | `opportunity` |
/// | `wonStages` | `customer`, `evangelist` |
/// | `stagesWithoutEvent` | `subscriber`, `lead`, `other` (counted, no event) |
/// | `touchedStatuses` | `ATTEMPTED_TO_CONTACT` (→ `lead.touched`, activity `other`) |
/// | `statusesWithoutEvent` | `NEW`, `OPEN` (counted, no event) |
/// | `scoreProperty` | `hubspotscore` (→ `lead.scored`) |
/// | `channelProperty` | `hs_analytics_source`, with `channels`: `ORGANIC_SEARCH` → `organic_search`, `PAID_SEARCH` → `paid_search`, `EMAIL_MARKETING` → `email`, `SOCIAL_MEDIA` and `PAID_SOCIAL` → `social`, `REFERRALS` → `referral`, `DIRECT_TRAFFIC` → `direct`, `OFFLINE` → `events`, `OTHER_CAMPAIGNS` → `other` (others snake-cased) |
/// | `campaignProperty` | `hs_analytics_source_data_1` |
/// | `ownerProperties` | `hubspot_owner_id` (the hand-off's owner; else `unassigned`) |
/// | `attributeProperties` | `country` → `country`, `numberofemployees` → `employees`, `jobtitle` → `title`, `industry` → `industry`, `hs_email_domain` → `email_domain` |
/// | `numericAttributes` | `employees` |
/// | `opportunityProperty` | none (the `lead.converted` opportunity is the record id) |
public struct HubSpotMapping: Sendable, Codable, Hashable {
    /// The `source` of the events produced.
    public var source: String
    /// The lifecycle-stage property.
    public var lifecycleProperty: String
    /// The lead-status property.
    public var leadStatusProperty: String
    /// Lifecycle stages that hand the lead to sales.
    public var handOffStages: [String]
    /// Lifecycle stages that accept the open episode.
    public var acceptedStages: [String]
    /// Lead statuses that accept the open episode.
    public var acceptedStatuses: [String]
    /// Lead statuses that reject the open episode, with the reason from `rejectionReasonProperty`.
    public var rejectedStatuses: [String]
    /// Lead statuses that reject the open episode with a fixed reason code.
    public var rejectedStatusCodes: [String: String]
    /// The property holding the rejection reason.
    public var rejectionReasonProperty: String?
    /// Rejection reason values (case-insensitive) to reason codes.
    public var rejectionReasons: [String: String]
    /// The code of a rejection whose reason is missing or not in `rejectionReasons`.
    public var defaultRejectionReason: String
    /// Lifecycle stages that send the open episode back to nurture.
    public var recycledStages: [String]
    /// Lead statuses that send the open episode back to nurture.
    public var recycledStatuses: [String]
    /// Lifecycle stages that mean an opportunity was created.
    public var convertedStages: [String]
    /// Lifecycle stages that mean the deal was won.
    public var wonStages: [String]
    /// Lifecycle stages that carry no ledger event (counted in the report, not skipped).
    public var stagesWithoutEvent: [String]
    /// Lead statuses that record a sales activity (`lead.touched`), whatever the episode.
    public var touchedStatuses: [String]
    /// Lead statuses that carry no ledger event (counted in the report, not skipped).
    public var statusesWithoutEvent: [String]
    /// The property holding the lead score.
    public var scoreProperty: String?
    /// The property giving the capture channel.
    public var channelProperty: String?
    /// Channel property values (case-insensitive) to channel ids.
    public var channels: [String: String]
    /// The property giving the capture campaign.
    public var campaignProperty: String?
    /// Properties whose new value is the contact's owner.
    public var ownerProperties: [String]
    /// Properties copied to attributes, by attribute name.
    public var attributeProperties: [String: String]
    /// Attribute names whose values are numbers.
    public var numericAttributes: [String]
    /// The property holding the opportunity (deal) id.
    public var opportunityProperty: String?

    /// The documented default mapping.
    public static let `default` = HubSpotMapping()

    /// Creates the default mapping; change its properties to adapt it.
    public init() {
        source = "hubspot"
        lifecycleProperty = "lifecyclestage"
        leadStatusProperty = "hs_lead_status"
        handOffStages = ["marketingqualifiedlead"]
        acceptedStages = ["salesqualifiedlead"]
        acceptedStatuses = ["IN_PROGRESS", "CONNECTED", "OPEN_DEAL"]
        rejectedStatuses = ["UNQUALIFIED"]
        rejectedStatusCodes = ["BAD_TIMING": "INTENT_TIMING.NOT_NOW"]
        rejectionReasonProperty = "hs_lead_disqualification_reason"
        var reasons = SalesforceMapping.default.rejectionReasons
        for (value, code) in reasons { reasons[value.lowercased().replacingOccurrences(of: " ", with: "_")] = code }
        rejectionReasons = reasons
        defaultRejectionReason = "OTHER.OTHER"
        recycledStages = []
        recycledStatuses = []
        convertedStages = ["opportunity"]
        wonStages = ["customer", "evangelist"]
        stagesWithoutEvent = ["subscriber", "lead", "other"]
        touchedStatuses = ["ATTEMPTED_TO_CONTACT"]
        statusesWithoutEvent = ["NEW", "OPEN"]
        scoreProperty = "hubspotscore"
        channelProperty = "hs_analytics_source"
        channels = [
            "ORGANIC_SEARCH": "organic_search", "PAID_SEARCH": "paid_search", "EMAIL_MARKETING": "email",
            "SOCIAL_MEDIA": "social", "PAID_SOCIAL": "social", "REFERRALS": "referral", "DIRECT_TRAFFIC": "direct",
            "OFFLINE": "events", "OTHER_CAMPAIGNS": "other",
        ]
        campaignProperty = "hs_analytics_source_data_1"
        ownerProperties = ["hubspot_owner_id"]
        attributeProperties = [
            "country": "country", "numberofemployees": "employees", "jobtitle": "title", "industry": "industry",
            "hs_email_domain": "email_domain",
        ]
        numericAttributes = ["employees"]
        opportunityProperty = nil
    }

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case source, lifecycleProperty, leadStatusProperty, handOffStages, acceptedStages, acceptedStatuses
        case rejectedStatuses, rejectedStatusCodes, rejectionReasonProperty, rejectionReasons, defaultRejectionReason
        case recycledStages, recycledStatuses, convertedStages, wonStages, stagesWithoutEvent, statusesWithoutEvent
        case touchedStatuses, scoreProperty, channelProperty, channels, campaignProperty, ownerProperties, attributeProperties
        case numericAttributes, opportunityProperty
    }

    /// Decodes a mapping; absent keys keep their defaults, unknown keys are refused.
    public init(from decoder: any Decoder) throws {
        try MappingFile.refuseUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = HubSpotMapping()
        func optional(_ key: CodingKeys, _ fallback: String?) throws -> String? {
            try c.contains(key) ? c.decodeIfPresent(String.self, forKey: key) : fallback
        }
        source = try c.value(.source, or: d.source)
        lifecycleProperty = try c.value(.lifecycleProperty, or: d.lifecycleProperty)
        leadStatusProperty = try c.value(.leadStatusProperty, or: d.leadStatusProperty)
        handOffStages = try c.value(.handOffStages, or: d.handOffStages)
        acceptedStages = try c.value(.acceptedStages, or: d.acceptedStages)
        acceptedStatuses = try c.value(.acceptedStatuses, or: d.acceptedStatuses)
        rejectedStatuses = try c.value(.rejectedStatuses, or: d.rejectedStatuses)
        rejectedStatusCodes = try c.value(.rejectedStatusCodes, or: d.rejectedStatusCodes)
        rejectionReasonProperty = try optional(.rejectionReasonProperty, d.rejectionReasonProperty)
        rejectionReasons = try c.value(.rejectionReasons, or: d.rejectionReasons)
        defaultRejectionReason = try c.value(.defaultRejectionReason, or: d.defaultRejectionReason)
        recycledStages = try c.value(.recycledStages, or: d.recycledStages)
        recycledStatuses = try c.value(.recycledStatuses, or: d.recycledStatuses)
        convertedStages = try c.value(.convertedStages, or: d.convertedStages)
        wonStages = try c.value(.wonStages, or: d.wonStages)
        stagesWithoutEvent = try c.value(.stagesWithoutEvent, or: d.stagesWithoutEvent)
        statusesWithoutEvent = try c.value(.statusesWithoutEvent, or: d.statusesWithoutEvent)
        touchedStatuses = try c.value(.touchedStatuses, or: d.touchedStatuses)
        scoreProperty = try optional(.scoreProperty, d.scoreProperty)
        channelProperty = try optional(.channelProperty, d.channelProperty)
        channels = try c.value(.channels, or: d.channels)
        campaignProperty = try optional(.campaignProperty, d.campaignProperty)
        ownerProperties = try c.value(.ownerProperties, or: d.ownerProperties)
        attributeProperties = try c.value(.attributeProperties, or: d.attributeProperties)
        numericAttributes = try c.value(.numericAttributes, or: d.numericAttributes)
        opportunityProperty = try optional(.opportunityProperty, d.opportunityProperty)
    }

    /// Reads a mapping from a JSON file, naming the file and key of any problem.
    public static func load(from url: URL) throws(ImportError) -> HubSpotMapping {
        let mapping = try MappingFile.load(HubSpotMapping.self, from: url)
        _ = try mapping.rules(file: url.lastPathComponent)
        return mapping
    }

    /// The rules the replay follows, after checking the mapping holds together.
    func rules(file: String = "mapping") throws(ImportError) -> HistoryRules {
        var stages: [String: StatusSignal] = [:]
        try MappingFile.add(handOffStages, as: .handOff, key: "handOffStages", to: &stages, file: file)
        try MappingFile.add(acceptedStages, as: .accept, key: "acceptedStages", to: &stages, file: file)
        try MappingFile.add(recycledStages, as: .recycle, key: "recycledStages", to: &stages, file: file)
        try MappingFile.add(convertedStages, as: .convert, key: "convertedStages", to: &stages, file: file)
        try MappingFile.add(wonStages, as: .win, key: "wonStages", to: &stages, file: file)
        try MappingFile.add(stagesWithoutEvent, as: .none, key: "stagesWithoutEvent", to: &stages, file: file)
        var statuses: [String: StatusSignal] = [:]
        try MappingFile.add(acceptedStatuses, as: .accept, key: "acceptedStatuses", to: &statuses, file: file)
        try MappingFile.add(rejectedStatuses, as: .reject(code: nil), key: "rejectedStatuses", to: &statuses, file: file)
        for (status, code) in rejectedStatusCodes {
            try MappingFile.checkCode(code, key: "rejectedStatusCodes.\(status)", file: file)
            try MappingFile.add([status], as: .reject(code: code), key: "rejectedStatusCodes", to: &statuses, file: file)
        }
        try MappingFile.add(recycledStatuses, as: .recycle, key: "recycledStatuses", to: &statuses, file: file)
        try MappingFile.add(touchedStatuses, as: .touch, key: "touchedStatuses", to: &statuses, file: file)
        try MappingFile.add(statusesWithoutEvent, as: .none, key: "statusesWithoutEvent", to: &statuses, file: file)
        try MappingFile.checkCode(defaultRejectionReason, key: "defaultRejectionReason", file: file)
        let reasonCodes = try MappingFile.reasonTable(rejectionReasons, file: file)
        var roles = MappingFile.commonRoles(
            attributes: attributeProperties, numeric: numericAttributes, owners: ownerProperties, channel: channelProperty,
            campaign: campaignProperty, score: scoreProperty, opportunity: opportunityProperty, rejectionReason: rejectionReasonProperty)
        roles[HistoryRules.key(lifecycleProperty)] = .status(stages)
        roles[HistoryRules.key(leadStatusProperty)] = .status(statuses)
        let channelTable = MappingFile.channelTable(channels)
        return HistoryRules(
            format: "hubspot-property-history", source: source, roles: roles, channels: channelTable,
            reasonCodes: reasonCodes, defaultReason: defaultRejectionReason, leadColumn: "Record ID", fieldColumn: "Property",
            valueColumn: "Value", timeColumn: "Timestamp", timeExample: "2024-03-01T14:05:00Z", actorColumn: "Source",
            ownerFromActor: false)
    }

    /// Every reason code this mapping can put on a rejection.
    public var reasonCodes: Set<String> {
        Set(rejectionReasons.values).union(rejectedStatusCodes.values).union([defaultRejectionReason])
    }
}
