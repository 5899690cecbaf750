import EventLog
import Foundation
import LeadModel

/// HubSpot webhook notifications (`contact.propertyChange`, `contact.creation`,
/// `contact.deletion`, `contact.privacyDeletion`, and `object.propertyChange` of contacts), read
/// into the same property changes as a HubSpot property-history export and mapped by the same
/// ``HubSpotMapping``: a webhook and an export of the same history give identical events, ids
/// included, so whichever arrives second is a duplicate.
///
/// The mapping follows each contact's whole story (whether a decision has an open episode to
/// close, whether the lead was captured), so the changes a contact's webhooks brought are kept in
/// the ledger's meta table and replayed with each new one; the events already stored come out
/// identical and count as duplicates.
public enum HubSpotWebhook {
    /// Why a webhook was refused: each problem names the notification (`item`, from 0) and the
    /// field of HubSpot's payload (`propertyValue`, `occurredAt`…).
    public struct Refusal: Error, Sendable, CustomStringConvertible {
        /// What the ledger said, when it refused the events rather than the payload.
        public var kind: LedgerError.Kind
        /// Every problem found.
        public var problems: [BatchProblem]
        /// When the ledger's map is full: a size to reopen it with.
        public var suggestedMapSize: Int?
        /// One problem per line.
        public var description: String { problems.map(\.message).joined(separator: "\n") }
    }

    /// A notification the ledger counts and keeps no event for.
    public struct Skip: Sendable, Codable, Hashable {
        /// The notification's index in the body, from 0.
        public var item: Int
        /// Its `subscriptionType`.
        public var subscriptionType: String
        /// Why it leaves no event.
        public var reason: String
    }

    /// What a webhook did.
    public struct Receipt: Sendable, Codable, Hashable {
        /// Notifications in the body.
        public var received: Int
        /// Events appended.
        public var appended: Int
        /// Events already stored (a re-delivery, or an export of the same history).
        public var duplicates: Int
        /// Notifications counted without an event.
        public var skipped: [Skip]
        /// The ledger's head after the webhook.
        public var head: LogHead
    }

    /// One property change, as kept between webhooks.
    struct StoredChange: Codable, Hashable {
        var field: String
        var value: String
        var at: Int64
        var actor: String?
    }

    /// The meta key under which a contact's changes are kept.
    public static func metaKey(lead: String) -> String { "hubspot.webhook.changes." + lead }

    /// A `contact.privacyDeletion`: HubSpot erased the contact under the GDPR, so the ledger erases
    /// the lead's personal data with a `lead.forgotten`.
    struct Erasure {
        var item: Int
        var lead: String
        var at: Int64
        /// DESIGN §8.4's idempotency key: the UUIDv5 of portal, subscription and event id, so a
        /// re-delivery is a duplicate.
        var id: UUID
    }

    /// The parsed body: property changes per contact (in body order), erasures and the counted skips.
    struct Parsed {
        var rows: [HistoryRow] = []
        var erasures: [Erasure] = []
        var skips: [Skip] = []
        var received = 0
    }

    /// The namespace of the ids of events made from HubSpot notifications (the UUIDv5 of the URL
    /// `https://api.hubspot.com/webhooks`).
    static let namespace = NameBasedUUID.v5(namespace: NameBasedUUID.urlNamespace, name: "https://api.hubspot.com/webhooks")

    /// Reads HubSpot's JSON array of notifications; a payload that cannot map is refused naming the
    /// notification and its field.
    static func parse(_ data: Data) throws(Refusal) -> Parsed {
        func refuse(_ item: Int?, _ field: String?, _ message: String) -> Refusal {
            let place = item.map { "item \($0)" + (field.map { ", field \"\($0)\"" } ?? "") + ": " } ?? ""
            return Refusal(kind: .invalid, problems: [BatchProblem(item: item, field: field, message: place + message)])
        }
        let json: JSONValue
        do {
            json = try JSONValue.parse(data)
        } catch {
            throw refuse(nil, nil, "malformed JSON: expected HubSpot's array of notifications, found \(error.description)")
        }
        guard case .array(let items) = json else {
            throw refuse(nil, nil, "expected HubSpot's array of notifications, found \(json.kindDescription)")
        }
        var parsed = Parsed(received: items.count)
        var problems: [BatchProblem] = []
        for (index, item) in items.enumerated() {
            do throws(Refusal) {
                guard case .object = item else { throw refuse(index, nil, "expected a notification object, found \(item.kindDescription)") }
                func text(_ field: String, required: Bool = true) throws(Refusal) -> String? {
                    switch item[field] {
                    case .string(let value)?: return value
                    case .number(let value)? where value.isFinite && value == value.rounded() && value.magnitude < 1e18:
                        return String(Int64(value))
                    case nil, .null?:
                        if required { throw refuse(index, field, "expected a value, found nothing") }
                        return nil
                    case let other?:
                        throw refuse(index, field, "expected a string or an integer, found \(other.shortDescription)")
                    }
                }
                guard let type = try text("subscriptionType") else { continue }
                guard let objectId = try text("objectId")?.trimmingCharacters(in: .whitespaces), !objectId.isEmpty,
                    objectId.utf8.count <= EventDecoder.Limits.leadBytes
                else { throw refuse(index, "objectId", "expected a contact id of 1–\(EventDecoder.Limits.leadBytes) bytes") }
                guard case .number(let millis)? = item["occurredAt"], millis.isFinite, millis >= 0, millis < 253_402_300_800_000
                else {
                    throw refuse(
                        index, "occurredAt", "expected milliseconds since 1970, found \(item["occurredAt"]?.shortDescription ?? "nothing")")
                }
                let at = Int64(millis.rounded(.down)) * 1000
                switch type {
                case "contact.deletion":
                    parsed.skips.append(
                        Skip(item: index, subscriptionType: type, reason: "a deleted contact's events stay in the ledger; nothing to append"))
                    continue
                case "contact.privacyDeletion":
                    let name = [try text("portalId"), try text("subscriptionId"), try text("eventId")].map { $0 ?? "" }.joined(separator: ":")
                    parsed.erasures.append(Erasure(item: index, lead: objectId, at: at, id: NameBasedUUID.v5(namespace: namespace, name: name)))
                    continue
                case "contact.creation":
                    parsed.skips.append(
                        Skip(
                            item: index, subscriptionType: type,
                            reason: "the contact's first property change captures the lead, as an export's first row does"))
                    continue
                case "object.propertyChange":
                    let objectType = try text("objectTypeId", required: false)
                    guard objectType == "0-1" else {
                        parsed.skips.append(
                            Skip(
                                item: index, subscriptionType: type,
                                reason: "object type \(objectType ?? "unknown") is not a contact (0-1); only contacts are leads"))
                        continue
                    }
                case "contact.propertyChange":
                    break
                default:
                    throw refuse(
                        index, "subscriptionType",
                        "expected contact.propertyChange, contact.creation, contact.deletion, contact.privacyDeletion or object.propertyChange, found \"\(type)\""
                    )
                }
                guard let field = try text("propertyName")?.trimmingCharacters(in: .whitespaces), !field.isEmpty else {
                    throw refuse(index, "propertyName", "expected the name of the property that changed, found an empty value")
                }
                let value = (try text("propertyValue", required: false) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
                let actor = (try text("changeSource", required: false) ?? "").trimmingCharacters(in: .whitespaces)
                parsed.rows.append(
                    HistoryRow(
                        lead: objectId, field: field, value: value, at: Timestamp(microseconds: at), actor: actor.isEmpty ? nil : actor,
                        line: index + 1))
            } catch {
                problems += error.problems
            }
        }
        if !problems.isEmpty { throw Refusal(kind: .invalid, problems: problems) }
        return parsed
    }
}

extension Ledger {
    /// Appends what a HubSpot webhook body says, mapped as the HubSpot importer maps an export.
    ///
    /// Atomic: either every event the notifications produce is appended or none is. Re-deliveries
    /// append nothing and count as duplicates.
    public func receiveHubSpotWebhook(_ data: Data, mapping: HubSpotMapping = .default) async throws(HubSpotWebhook.Refusal)
        -> HubSpotWebhook.Receipt
    {
        let parsed = try HubSpotWebhook.parse(data)
        let rules: HistoryRules
        do {
            rules = try mapping.rules()
        } catch {
            throw HubSpotWebhook.Refusal(kind: .invalid, problems: [BatchProblem(message: "the HubSpot mapping is invalid: \(error)")])
        }
        var leads: [String] = []
        var known: Set<String> = []
        for row in parsed.rows where known.insert(row.lead).inserted { leads.append(row.lead) }

        // Each contact's earlier changes first (line 0: they are not in this body), then this body's.
        var rows: [HistoryRow] = []
        var stored: [String: [HubSpotWebhook.StoredChange]] = [:]
        for lead in leads {
            let changes: [HubSpotWebhook.StoredChange]
            do {
                changes = try metaValue(HubSpotWebhook.metaKey(lead: lead)).map {
                    try JSONDecoder().decode([HubSpotWebhook.StoredChange].self, from: Data($0))
                } ?? []
            } catch {
                throw HubSpotWebhook.Refusal(
                    kind: .storage, problems: [BatchProblem(message: "the stored webhook changes of contact \(lead) cannot be read: \(error)")])
            }
            stored[lead] = changes
            rows += changes.map {
                HistoryRow(lead: lead, field: $0.field, value: $0.value, at: Timestamp(microseconds: $0.at), actor: $0.actor, line: 0)
            }
        }
        rows += parsed.rows

        var replay = HistoryReplay(rules: rules, file: "webhook", rowsRead: rows.count)
        var result: ImportResult
        do {
            result = try replay.run(rows)
        } catch {
            let item = error.line.flatMap { $0 > 0 ? $0 - 1 : nil }
            let field = error.column == rules.valueColumn ? "propertyValue" : error.column == rules.timeColumn ? "occurredAt" : error.column
            let place = item.map { "item \($0)" + (field.map { ", field \"\($0)\"" } ?? "") + ": " } ?? ""
            throw HubSpotWebhook.Refusal(kind: .invalid, problems: [BatchProblem(item: item, field: field, message: place + error.message)])
        }

        var receipt = HubSpotWebhook.Receipt(
            received: parsed.received, appended: 0, duplicates: 0, skipped: parsed.skips, head: LogHead(position: 0, hash: ""))
        // Erasures come after the body's changes: a contact captured and erased in one body ends erased.
        var erased: Set<String> = []
        for erasure in parsed.erasures {
            let known: Bool
            do { known = try log.version(ofStream: erasure.lead) > 0 } catch {
                throw HubSpotWebhook.Refusal(kind: .storage, problems: [BatchProblem(message: "contact \(erasure.lead): \(error)")])
            }
            guard known || result.events.contains(where: { $0.lead == erasure.lead }) else {
                receipt.skipped.append(
                    HubSpotWebhook.Skip(
                        item: erasure.item, subscriptionType: "contact.privacyDeletion",
                        reason: "contact \(erasure.lead) is not a lead in this ledger; nothing to erase"))
                continue
            }
            guard erased.insert(erasure.lead).inserted else {
                receipt.skipped.append(
                    HubSpotWebhook.Skip(
                        item: erasure.item, subscriptionType: "contact.privacyDeletion",
                        reason: "contact \(erasure.lead) is erased by an earlier notification of this body"))
                continue
            }
            result.events.append(
                LeadEvent(
                    id: erasure.id, occurredAt: Timestamp(microseconds: erasure.at), source: rules.source, actor: nil, lead: erasure.lead,
                    correlationId: nil, payload: .forgotten(.init(reason: "HubSpot privacy deletion (GDPR) of contact \(erasure.lead)"))))
        }
        receipt.skipped.sort { $0.item < $1.item }
        do {
            let head: LogHead
            if result.events.isEmpty {
                head = try self.head()
            } else {
                let appended = try await append(result.events)
                receipt.appended = appended.appended
                receipt.duplicates = appended.duplicates
                head = appended.head
            }
            receipt.head = head
        } catch let error as LedgerError {
            throw HubSpotWebhook.Refusal(
                kind: error.kind,
                problems: error.problems.map { problem in
                    let lead = problem.line.flatMap { $0 > 0 && $0 <= result.events.count ? result.events[$0 - 1].lead : nil }
                    let message = problem.message.replacingOccurrences(of: "line \(problem.line ?? 0), ", with: "")
                    return BatchProblem(eventId: problem.eventId, field: problem.field, message: lead.map { "contact \($0): " + message } ?? message)
                },
                suggestedMapSize: error.suggestedMapSize)
        } catch {
            throw HubSpotWebhook.Refusal(kind: .storage, problems: [BatchProblem(message: "\(error)")])
        }

        // Kept once the events are durable: a crash in between makes HubSpot's retry append
        // duplicates and then keep the changes. Only the values of properties the mapping reads are
        // kept (a contact's e-mail or name, which it ignores, never reaches the ledger), and an
        // erased contact's changes are dropped with its personal data.
        for lead in erased {
            do {
                try removeMetaValue(HubSpotWebhook.metaKey(lead: lead))
            } catch {
                throw HubSpotWebhook.Refusal(
                    kind: .storage, problems: [BatchProblem(message: "the webhook changes of erased contact \(lead) could not be dropped: \(error)")])
            }
        }
        for lead in leads where !erased.contains(lead) {
            let new = parsed.rows.filter { $0.lead == lead }.map {
                // A property the mapping does not read keeps its instant (it can still be the
                // contact's first change, which captures the lead) but not its value.
                let read = rules.roles[HistoryRules.key($0.field)] != nil
                return HubSpotWebhook.StoredChange(field: $0.field, value: read ? $0.value : "", at: $0.at.microseconds, actor: $0.actor)
            }
            do {
                try updateMetaValue(HubSpotWebhook.metaKey(lead: lead)) { bytes in
                    var changes = try bytes.map { try JSONDecoder().decode([HubSpotWebhook.StoredChange].self, from: Data($0)) } ?? []
                    var seen = Set(changes)
                    for change in new where seen.insert(change).inserted { changes.append(change) }
                    return (Array(try JSONEncoder().encode(changes)), ())
                }
            } catch {
                throw HubSpotWebhook.Refusal(
                    kind: .storage, problems: [BatchProblem(message: "the webhook changes of contact \(lead) could not be kept: \(error)")])
            }
        }
        return receipt
    }
}
