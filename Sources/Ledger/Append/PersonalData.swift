import EventLog
import Foundation
import LeadModel
import Projections
import Synchronization

/// Personal data that can be erased (DESIGN §8.6).
///
/// The values of the attributes a ledger names as personal are sealed (AES-256-GCM) under a key of
/// their lead before they reach a record, so the hash chain covers only ciphertext. The keys live
/// in the policy table `personal.keys` of the ledger's file (lead → 32 bytes), written in the
/// transaction of the events they seal. `lead.forgotten` destroys the lead's key in its own
/// transaction: the sealed values stay in the records, unreadable by anyone, and `verify` still passes.
///
/// Rules read personal attributes while the key exists (`PersonalValues`, in Projections): a
/// definition, candidate or published, that names `email` sees the lead's e-mail until the lead is
/// forgotten and sees it missing after — in the what-if, the suggester, the impact's stayers and the
/// audit's verdicts alike. Nothing else reads them: the replay keeps no attribute (trends, funnel and
/// service levels count hand-offs and decisions, which an erasure does not touch), the buyer
/// profile and the warehouse export leave personal attributes out, and no checkpoint or cache ever
/// holds a personal value. So an erasure changes exactly the verdicts of rules that read a personal
/// attribute of that lead. The audit of a lead — on the command line, the API and the dashboard —
/// shows the values while the key exists and shows them as erased afterwards.
public enum PersonalData {
    /// The attributes personal by default.
    public static let defaultAttributes = ["email", "name", "first_name", "last_name", "phone"]
    /// The meta entry holding the ledger's setting (names, comma-separated).
    static let settingKey = "personal-attributes"
    /// The policy table of the per-lead keys.
    static let keyTable = PersonalValues.keyTable
    /// What the audit shows in place of an erased value.
    public static let erasedMarker = "[erased]"

    /// The names a stored setting holds; the defaults when there is none.
    static func attributes(setting: [UInt8]?) -> [String] {
        guard let setting else { return defaultAttributes }
        let text = String(decoding: setting, as: UTF8.self)
        return text.isEmpty ? [] : text.split(separator: ",").map(String.init)
    }

    /// The context a value is sealed under: the event's id and the attribute's name, so sealed bytes
    /// moved to another event or attribute do not open.
    static func context(event: UUID, attribute: String) -> [UInt8] {
        withUnsafeBytes(of: event.uuid) { id in Array(attribute.utf8).withUnsafeBytes { PersonalValues.context(event: id, attribute: $0) } }
    }

    static func key(of lead: String, in tables: PolicyTables) throws -> [UInt8]? {
        guard let key = try tables.value(forKey: Array(lead.utf8), in: keyTable) else { return nil }
        guard key.count == ValueSeal.keySize else {
            throw StoredDamage(table: keyTable, message: "the key of lead \(lead) is \(key.count) bytes")
        }
        return key
    }

    /// Where the key table and the log disagree, or nil: a lead holds a key exactly when it has a
    /// sealed value after its last `lead.forgotten`. A key beyond that is an erasure that did not
    /// complete; a missing one makes values unreadable that were never erased.
    static func audit(_ log: EventLog) throws -> String? {
        var needsKey: [UInt32: Bool] = [:]
        var failure: (any Error)?
        try log.scan { record in
            let payload = record.payload
            guard payload.count > 1, record.streamNumber != 0 else { return true }
            switch EventType(code: payload[1]) {
            case .leadForgotten?: needsKey[record.streamNumber] = false
            case .leadCaptured?, .leadAttributesObserved?:
                do {
                    if !(try LeadEvent.sealedAttributes(inBinary: Array(payload))).isEmpty { needsKey[record.streamNumber] = true }
                } catch {
                    failure = ReplayError(position: record.position, message: "\(error)")
                    return false
                }
            default: break
            }
            return true
        }
        if let failure { throw failure }
        // Read in one snapshot of the table, checked against the log after it.
        let stored: [(lead: String, size: Int)] = try log.withPolicyTables([keyTable]) { tables in
            var entries: [(lead: String, size: Int)] = []
            try tables.forEach(in: keyTable) { name, value in
                entries.append((String(decoding: name, as: UTF8.self), value.count))
                return true
            }
            return entries
        }
        var keyed: Set<UInt32> = []
        for (lead, size) in stored {
            guard size == ValueSeal.keySize else { return "the key of lead \(lead) is \(size) bytes" }
            guard let number = try log.streamNumber(lead), needsKey[number] == true else {
                return "it holds a key for lead \(lead), which has no personal value since it was last forgotten (or no event at all): an erasure did not complete"
            }
            keyed.insert(number)
        }
        if let orphan = needsKey.first(where: { $0.value && !keyed.contains($0.key) })?.key {
            let lead = try log.streamName(orphan) ?? "#\(orphan)"
            return "lead \(lead) has personal values sealed after it was last forgotten, but no key: they cannot be read"
        }
        return nil
    }

    /// Destroys a lead's key and returns it (nil when it had none), so that the copies LMDB leaves
    /// in the file can be overwritten after the commit. The value is overwritten with zeros before
    /// the entry is deleted, so the page this transaction writes holds no copy of it.
    static func destroyKey(of lead: String, in tables: PolicyTables) throws -> [UInt8]? {
        let name = Array(lead.utf8)
        guard let key = try tables.value(forKey: name, in: keyTable) else { return nil }
        try tables.put([UInt8](repeating: 0, count: ValueSeal.keySize), forKey: name, in: keyTable)
        try tables.delete(forKey: name, in: keyTable)
        return key
    }
}

/// Keys destroyed by committed erasures whose leftover copies in the file are not yet overwritten,
/// by the id of their `lead.forgotten`. Held in memory only: writing them down would keep them.
final class DestroyedKeys: Sendable {
    private let pending = Mutex<[UUID: [UInt8]]>([:])

    func add(_ keys: [UUID: [UInt8]]) {
        if keys.isEmpty { return }
        pending.withLock { $0.merge(keys) { $1 } }
    }

    /// Removes and returns the keys of these events.
    func take(_ events: [UUID]) -> [UUID: [UInt8]] {
        pending.withLock { pending in
            var taken: [UUID: [UInt8]] = [:]
            for id in events { if let key = pending.removeValue(forKey: id) { taken[id] = key } }
            return taken
        }
    }
}

/// A change to the key table staged by `prepare`, written by `admit` once the batch is admitted.
enum KeyChange {
    /// A new key for a lead that has none (or whose key an earlier event of the batch destroyed).
    case create(lead: String, key: [UInt8], event: Int)
    /// `lead.forgotten`: destroy the lead's key.
    case destroy(lead: String, event: Int)

    var event: Int {
        switch self {
        case .create(_, _, let event), .destroy(_, let event): event
        }
    }
}

/// Seals the personal values of a batch's events, keeping track of the keys it needs.
struct PersonalSealer {
    let personal: Set<String>
    let tables: PolicyTables
    /// The key each lead has at this point of the batch, made ready once for all its values; nil
    /// when destroyed and not yet replaced.
    private var keys: [String: ValueSeal.Key?] = [:]
    private(set) var changes: [KeyChange] = []
    /// The most bytes of an encoded value that still fit a record's slot once sealed.
    static let largestValue = 0xFFFE - ValueSeal.overhead

    init(personal: Set<String>, tables: PolicyTables, events: Int = 0) {
        self.personal = personal
        self.tables = tables
        if !personal.isEmpty { keys.reserveCapacity(events) }
    }

    private mutating func currentKey(_ lead: String) throws -> ValueSeal.Key? {
        if let known = keys[lead] { return known }
        let stored = try PersonalData.key(of: lead, in: tables).map { try ValueSeal.Key($0) }
        keys[lead] = stored
        return stored
    }

    /// The payload of event `index`, its personal values sealed; nil when it holds none.
    mutating func seal(_ event: LeadEvent, index: Int) throws -> [UInt8]? {
        guard let lead = event.lead else { return nil }
        let attributes: [String: AttributeValue]?
        switch event.payload {
        case .forgotten:
            keys[lead] = .some(nil)
            changes.append(.destroy(lead: lead, event: index))
            return nil
        case .leadCaptured(let data): attributes = data.attributes
        case .attributesObserved(let data): attributes = data.attributes
        default: attributes = nil
        }
        guard let attributes, attributes.contains(where: { personal.contains($0.key) && $0.value != .null }) else { return nil }
        if let stored = try erasedOriginal(of: event, attributes: attributes) { return stored }
        let key: ValueSeal.Key
        if let existing = try currentKey(lead) {
            key = existing
        } else {
            let bytes = ValueSeal.newKey()
            key = try ValueSeal.Key(bytes)
            keys[lead] = key
            changes.append(.create(lead: lead, key: bytes, event: index))
        }
        let names = personal
        // The context of each value (PersonalData.context): the event's id, then the attribute's name.
        var context: [UInt8] = []
        context.reserveCapacity(48)
        withUnsafeBytes(of: event.id.uuid) { context.append(contentsOf: $0) }
        let idBytes = context.count
        return try event.binary(sealingInPlace: { name, value, out in
            guard names.contains(name) else { return false }
            guard value.count <= Self.largestValue else {
                throw PersonalDataError(
                    "the value of the personal attribute \"\(name)\" of event \(event.id) is \(value.count) bytes; sealed, it would not fit a record (at most \(Self.largestValue))"
                )
            }
            context.removeSubrange(idBytes...)
            context.append(contentsOf: name.utf8)
            try context.withUnsafeBytes { try ValueSeal.seal(value, key: key, context: $0, appendingTo: &out) }
            return true
        })
    }

    /// The stored payload of `event` when it is a re-sent copy of an event whose personal values
    /// were erased since: the same event but for those values, which nobody can read any more to
    /// compare. An at-least-once sender re-sending it needs the duplicate's answer, not a conflict;
    /// so the log gets the stored bytes, and no key is made for values that would never be stored.
    ///
    /// While the key that sealed the stored values exists this is nil: sealing is deterministic,
    /// so the same values seal to the same bytes and the log itself tells a duplicate from a conflict.
    private mutating func erasedOriginal(of event: LeadEvent, attributes: [String: AttributeValue]) throws -> [UInt8]? {
        guard let lead = event.lead, let stored = try tables.storedPayload(ofEvent: event.id) else { return nil }
        let sealed: [SealedAttribute]
        let storedEvent: LeadEvent
        do {
            sealed = try LeadEvent.sealedAttributes(inBinary: stored)
            storedEvent = try LeadEvent(binary: stored)
        } catch {
            return nil
        }
        guard let first = sealed.first else { return nil }
        if let key = try currentKey(lead),
            (try? ValueSeal.open(first.sealed, key: key, context: PersonalData.context(event: event.id, attribute: first.name))) != nil
        {
            return nil
        }
        let personalNames = Set(attributes.filter { personal.contains($0.key) && $0.value != .null }.keys)
        guard Set(sealed.map(\.name)) == personalNames else { return nil }
        var clear = event
        switch clear.payload {
        case .leadCaptured(var data):
            data.attributes = data.attributes?.filter { !personalNames.contains($0.key) }
            clear.payload = .leadCaptured(data)
        case .attributesObserved(var data):
            data.attributes = data.attributes.filter { !personalNames.contains($0.key) }
            clear.payload = .attributesObserved(data)
        default: return nil
        }
        return clear.binary == storedEvent.binary ? stored : nil
    }

    /// Writes the changes of the events the log appends (`isNew`), in order; returns the keys
    /// destroyed, by the index of their event.
    static func apply(_ changes: [KeyChange], isNew: [Bool], to tables: PolicyTables) throws -> [(event: Int, key: [UInt8])] {
        var destroyed: [(event: Int, key: [UInt8])] = []
        for change in changes where isNew.indices.contains(change.event) && isNew[change.event] {
            switch change {
            case .create(let lead, let key, _): try tables.put(key, forKey: Array(lead.utf8), in: PersonalData.keyTable)
            case .destroy(let lead, let event):
                if let key = try PersonalData.destroyKey(of: lead, in: tables) { destroyed.append((event, key)) }
            }
        }
        return destroyed
    }
}

extension Ledger {
    /// The attributes this ledger treats as personal: its setting, else the defaults.
    public var personalAttributes: [String] {
        get throws { PersonalData.attributes(setting: try log.metaValue(PersonalData.settingKey)) }
    }

    /// Sets the attributes this ledger treats as personal (empty: none). Takes effect when the ledger
    /// is next opened; values appended before stay as they were stored.
    public func setPersonalAttributes(_ names: [String]) throws {
        for name in names where name.isEmpty || name.contains(",") || name.utf8.count > EventDecoder.Limits.attributeNameBytes {
            throw PersonalDataError("\"\(name)\" is not an attribute name (1–\(EventDecoder.Limits.attributeNameBytes) bytes, no comma)")
        }
        try log.setMetaValue(Array(names.joined(separator: ",").utf8), for: PersonalData.settingKey)
    }

    /// Erases a lead's personal data: appends `lead.forgotten` and destroys the lead's key in the same
    /// transaction. Its events stay (and so every analysis); their personal values can no longer be
    /// read by anyone. A later event of the lead gets a new key.
    ///
    /// Returns nil when the ledger has no event for the lead.
    public func forget(
        lead: String, reason: String? = nil, source: String = "leadledger", actor: String? = nil, id: UUID = UUID(),
        occurredAt: Timestamp = Timestamp(microseconds: Int64(Date().timeIntervalSince1970 * 1_000_000))
    ) async throws -> LedgerReceipt? {
        guard try log.version(ofStream: lead) > 0 else { return nil }
        let event = LeadEvent(
            id: id, occurredAt: occurredAt, source: source, actor: actor, lead: lead, correlationId: nil,
            payload: .forgotten(.init(reason: reason)))
        return try await append([event])
    }

    /// After a batch with `lead.forgotten`, however it came (forget, the API, an import): the pages
    /// LMDB freed or rewrote may still hold a copy of a destroyed key, so those copies are found and
    /// overwritten now. Until they are, the erasure is not done: the caller hears of a failure and
    /// can send the batch again (its events are then duplicates, and this runs again for the keys
    /// still waiting).
    func scrubAfterErasure(_ events: [LeadEvent]) throws(LedgerError) {
        let ids = events.filter { $0.type == .leadForgotten }.map(\.id)
        if ids.isEmpty { return }
        let keys = destroyedKeys.take(ids)
        if keys.isEmpty { return }
        let problem: String
        do {
            let report = try log.eraseCopies(of: Array(keys.values))
            if report.remaining.isEmpty { return }
            problem = report.remaining.joined(separator: "; ")
        } catch {
            problem = "\(error)"
        }
        destroyedKeys.add(keys)
        throw LedgerError(
            kind: .storage,
            problems: [.init(message: "the lead's key is destroyed, but copies LMDB left in the file were not all overwritten (\(problem)); send the batch again")])
    }

    /// The audit with the lead's personal values opened while its key exists, shown as erased after.
    func openingPersonalValues(_ audit: LeadAudit, lead: String) throws -> LeadAudit {
        var opened: [UInt64: [String: JSONValue]] = [:]
        let key = try log.withPolicyTables([PersonalData.keyTable]) { try PersonalData.key(of: lead, in: $0) }
        for record in try log.records(inStream: lead) {
            let sealed = try LeadEvent.sealedAttributes(inBinary: record.payload)
            if sealed.isEmpty { continue }
            var values: [String: JSONValue] = [:]
            for attribute in sealed {
                if let key,
                    let plain = try? ValueSeal.open(
                        attribute.sealed, key: key, context: PersonalData.context(event: record.id, attribute: attribute.name)),
                    let value = try? LeadEvent.attributeValue(unsealed: plain)
                {
                    values[attribute.name] = value.json
                } else {
                    values[attribute.name] = .string(PersonalData.erasedMarker)
                }
            }
            opened[record.position] = values
        }
        if opened.isEmpty { return audit }
        var result = audit
        for i in result.events.indices {
            guard let values = opened[result.events[i].position], case .object(var members) = result.events[i].data.value else { continue }
            var attributes: [JSONMember] = []
            if let at = members.firstIndex(where: { $0.key == "attributes" }), case .object(let existing) = members[at].value {
                attributes = existing
                members.remove(at: at)
            }
            for (name, value) in values.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
                attributes.append(JSONMember(name, value))
            }
            attributes.sort { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            members.append(JSONMember("attributes", .object(attributes)))
            result.events[i].data = JSONBox(.object(members))
        }
        return result
    }
}

/// A personal-data setting or erasure that cannot be done.
public struct PersonalDataError: Error, Sendable, CustomStringConvertible {
    /// What is wrong.
    public let description: String
    init(_ description: String) { self.description = description }
}
