import Foundation
import LeadModel

/// How a Salesforce `LeadHistory` export maps to ledger events; decoded from a JSON file in which
/// every key is optional (an absent key keeps its default) and an unknown key is refused.
///
/// The default mapping (`SalesforceMapping.default`), which uses only codes of the starter taxonomy:
///
/// | key | default |
/// |---|---|
/// | `source` | `salesforce` |
/// | `statusField` | `Status` |
/// | `handOffStatuses` | `MQL`, `Marketing Qualified` |
/// | `acceptedStatuses` | `SAL`, `Working`, `Accepted`, `Working - Contacted` |
/// | `rejectedStatuses` | `Disqualified`, `Rejected`, `Unqualified`, `Closed - Not Converted` |
/// | `rejectionReasonField` | `Disqualified_Reason__c` |
/// | `rejectionReasons` | `Too Small` → `FIT_COMPANY.TOO_SMALL`, `Wrong Industry` → `FIT_COMPANY.WRONG_INDUSTRY`, `Wrong Region` → `FIT_COMPANY.UNSUPPORTED_REGION`, `Competitor` → `FIT_COMPANY.COMPETITOR`, `Student` → `FIT_PERSON.STUDENT`, `No Authority` → `FIT_PERSON.NO_AUTHORITY`, `No Budget` → `INTENT_TIMING.NO_BUDGET`, `Bad Timing` → `INTENT_TIMING.NOT_NOW`, `No Project` → `INTENT_TIMING.NO_PROJECT`, `No Response` → `UNREACHABLE.NO_RESPONSE`, `Duplicate` → `DUPLICATE.EXISTING_LEAD`, `Existing Customer` → `EXISTING_RELATIONSHIP.CUSTOMER`, `Invalid Data` → `DATA.INCOMPLETE`, `Fake` → `DATA.FAKE` (values match case-insensitively) |
/// | `defaultRejectionReason` | `OTHER.OTHER`, with the source's reason value (or "no reason recorded") as the note |
/// | `recycledStatuses` | `Nurture`, `Recycled` |
/// | `convertedStatuses` | `Converted`, `Closed - Converted` |
/// | `statusesWithoutEvent` | `New`, `Open`, `Open - Not Contacted`, `Inquiry`, `Raw` (counted, no event) |
/// | `ownerFields` | `Owner`, `OwnerId` (the hand-off's owner; else the row's `CreatedById`) |
/// | `channelField` | `LeadSource` (snake-cased: `Paid Search` → `paid_search`; absent → `unknown`) |
/// | `channels` | none (a map from `LeadSource` values to channel ids, when snake case is not enough) |
/// | `campaignField` | none |
/// | `scoreField` | `Lead_Score__c` (→ `lead.scored`) |
/// | `attributeFields` | `Rating` → `rating`, `Industry` → `industry`, `NumberOfEmployees` → `employees`, `Country` → `country`, `Title` → `title` |
/// | `numericAttributes` | `employees` |
/// | `opportunityField` | `ConvertedOpportunityId` (the `lead.converted` opportunity; else the lead id) |
/// | `createdFields` | `created`, `leadCreated` (the history's creation row: captures the lead) |
public struct SalesforceMapping: Sendable, Codable, Hashable {
    /// The `source` of the events produced.
    public var source: String
    /// The field whose changes are status transitions.
    public var statusField: String
    /// Status values that hand the lead to sales.
    public var handOffStatuses: [String]
    /// Status values that accept the open episode.
    public var acceptedStatuses: [String]
    /// Status values that reject the open episode.
    public var rejectedStatuses: [String]
    /// The field holding the rejection reason, when the org has one.
    public var rejectionReasonField: String?
    /// Rejection reason values (case-insensitive) to reason codes.
    public var rejectionReasons: [String: String]
    /// The code of a rejection whose reason is missing or not in `rejectionReasons`.
    public var defaultRejectionReason: String
    /// Status values that send the open episode back to nurture.
    public var recycledStatuses: [String]
    /// Status values that mean the lead was converted to an opportunity.
    public var convertedStatuses: [String]
    /// Status values that carry no ledger event (counted in the report, not skipped).
    public var statusesWithoutEvent: [String]
    /// Fields whose new value is the lead's owner.
    public var ownerFields: [String]
    /// The field giving the capture channel.
    public var channelField: String?
    /// Channel field values (case-insensitive) to channel ids.
    public var channels: [String: String]
    /// The field giving the capture campaign.
    public var campaignField: String?
    /// The field holding the lead score.
    public var scoreField: String?
    /// Fields copied to attributes, by attribute name.
    public var attributeFields: [String: String]
    /// Attribute names whose values are numbers.
    public var numericAttributes: [String]
    /// The field holding the converted opportunity's id.
    public var opportunityField: String?
    /// Fields that only mark the lead's creation.
    public var createdFields: [String]

    /// The documented default mapping.
    public static let `default` = SalesforceMapping()

    /// Creates the default mapping; change its properties to adapt it.
    public init() {
        source = "salesforce"
        statusField = "Status"
        handOffStatuses = ["MQL", "Marketing Qualified"]
        acceptedStatuses = ["SAL", "Working", "Accepted", "Working - Contacted"]
        rejectedStatuses = ["Disqualified", "Rejected", "Unqualified", "Closed - Not Converted"]
        rejectionReasonField = "Disqualified_Reason__c"
        rejectionReasons = [
            "Too Small": "FIT_COMPANY.TOO_SMALL", "Wrong Industry": "FIT_COMPANY.WRONG_INDUSTRY",
            "Wrong Region": "FIT_COMPANY.UNSUPPORTED_REGION", "Competitor": "FIT_COMPANY.COMPETITOR",
            "Student": "FIT_PERSON.STUDENT", "No Authority": "FIT_PERSON.NO_AUTHORITY",
            "No Budget": "INTENT_TIMING.NO_BUDGET", "Bad Timing": "INTENT_TIMING.NOT_NOW",
            "No Project": "INTENT_TIMING.NO_PROJECT", "No Response": "UNREACHABLE.NO_RESPONSE",
            "Duplicate": "DUPLICATE.EXISTING_LEAD", "Existing Customer": "EXISTING_RELATIONSHIP.CUSTOMER",
            "Invalid Data": "DATA.INCOMPLETE", "Fake": "DATA.FAKE",
        ]
        defaultRejectionReason = "OTHER.OTHER"
        recycledStatuses = ["Nurture", "Recycled"]
        convertedStatuses = ["Converted", "Closed - Converted"]
        statusesWithoutEvent = ["New", "Open", "Open - Not Contacted", "Inquiry", "Raw"]
        ownerFields = ["Owner", "OwnerId"]
        channelField = "LeadSource"
        channels = [:]
        campaignField = nil
        scoreField = "Lead_Score__c"
        attributeFields = [
            "Rating": "rating", "Industry": "industry", "NumberOfEmployees": "employees", "Country": "country",
            "Title": "title",
        ]
        numericAttributes = ["employees"]
        opportunityField = "ConvertedOpportunityId"
        createdFields = ["created", "leadCreated"]
    }

    private enum CodingKeys: String, CodingKey, CaseIterable {
        case source, statusField, handOffStatuses, acceptedStatuses, rejectedStatuses, rejectionReasonField
        case rejectionReasons, defaultRejectionReason, recycledStatuses, convertedStatuses, statusesWithoutEvent
        case ownerFields, channelField, channels, campaignField, scoreField, attributeFields, numericAttributes
        case opportunityField, createdFields
    }

    /// Decodes a mapping; absent keys keep their defaults, unknown keys are refused.
    public init(from decoder: any Decoder) throws {
        try MappingFile.refuseUnknownKeys(decoder, known: CodingKeys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = SalesforceMapping()
        source = try c.value(.source, or: d.source)
        statusField = try c.value(.statusField, or: d.statusField)
        handOffStatuses = try c.value(.handOffStatuses, or: d.handOffStatuses)
        acceptedStatuses = try c.value(.acceptedStatuses, or: d.acceptedStatuses)
        rejectedStatuses = try c.value(.rejectedStatuses, or: d.rejectedStatuses)
        rejectionReasonField =
            try c.contains(.rejectionReasonField)
            ? c.decodeIfPresent(String.self, forKey: .rejectionReasonField) : d.rejectionReasonField
        rejectionReasons = try c.value(.rejectionReasons, or: d.rejectionReasons)
        defaultRejectionReason = try c.value(.defaultRejectionReason, or: d.defaultRejectionReason)
        recycledStatuses = try c.value(.recycledStatuses, or: d.recycledStatuses)
        convertedStatuses = try c.value(.convertedStatuses, or: d.convertedStatuses)
        statusesWithoutEvent = try c.value(.statusesWithoutEvent, or: d.statusesWithoutEvent)
        ownerFields = try c.value(.ownerFields, or: d.ownerFields)
        channelField = try c.contains(.channelField) ? c.decodeIfPresent(String.self, forKey: .channelField) : d.channelField
        channels = try c.value(.channels, or: d.channels)
        campaignField = try c.contains(.campaignField) ? c.decodeIfPresent(String.self, forKey: .campaignField) : d.campaignField
        scoreField = try c.contains(.scoreField) ? c.decodeIfPresent(String.self, forKey: .scoreField) : d.scoreField
        attributeFields = try c.value(.attributeFields, or: d.attributeFields)
        numericAttributes = try c.value(.numericAttributes, or: d.numericAttributes)
        opportunityField =
            try c.contains(.opportunityField)
            ? c.decodeIfPresent(String.self, forKey: .opportunityField) : d.opportunityField
        createdFields = try c.value(.createdFields, or: d.createdFields)
    }

    /// Reads a mapping from a JSON file, naming the file and key of any problem.
    public static func load(from url: URL) throws(ImportError) -> SalesforceMapping {
        let mapping = try MappingFile.load(SalesforceMapping.self, from: url)
        _ = try mapping.rules(file: url.lastPathComponent)
        return mapping
    }

    /// The rules the replay follows, after checking the mapping holds together.
    func rules(file: String = "mapping") throws(ImportError) -> HistoryRules {
        var statuses: [String: StatusSignal] = [:]
        try MappingFile.add(handOffStatuses, as: .handOff, key: "handOffStatuses", to: &statuses, file: file)
        try MappingFile.add(acceptedStatuses, as: .accept, key: "acceptedStatuses", to: &statuses, file: file)
        try MappingFile.add(rejectedStatuses, as: .reject(code: nil), key: "rejectedStatuses", to: &statuses, file: file)
        try MappingFile.add(recycledStatuses, as: .recycle, key: "recycledStatuses", to: &statuses, file: file)
        try MappingFile.add(convertedStatuses, as: .convert, key: "convertedStatuses", to: &statuses, file: file)
        try MappingFile.add(statusesWithoutEvent, as: .none, key: "statusesWithoutEvent", to: &statuses, file: file)
        try MappingFile.checkCode(defaultRejectionReason, key: "defaultRejectionReason", file: file)
        let reasonCodes = try MappingFile.reasonTable(rejectionReasons, file: file)
        var roles = MappingFile.commonRoles(
            attributes: attributeFields, numeric: numericAttributes, owners: ownerFields, channel: channelField,
            campaign: campaignField, score: scoreField, opportunity: opportunityField, rejectionReason: rejectionReasonField)
        for field in createdFields where roles[HistoryRules.key(field)] == nil { roles[HistoryRules.key(field)] = .capture }
        roles[HistoryRules.key(statusField)] = .status(statuses)
        let channelTable = MappingFile.channelTable(channels)
        return HistoryRules(
            format: "salesforce-lead-history", source: source, roles: roles, channels: channelTable,
            reasonCodes: reasonCodes, defaultReason: defaultRejectionReason, leadColumn: "LeadId", fieldColumn: "Field",
            valueColumn: "NewValue", timeColumn: "CreatedDate", timeExample: "2024-03-01T14:05:00.000+0000",
            actorColumn: "CreatedById", ownerFromActor: true)
    }

    /// Every reason code this mapping can put on a rejection.
    public var reasonCodes: Set<String> { Set(rejectionReasons.values).union([defaultRejectionReason]) }
}
