import EventLog
import Foundation
import LeadModel

/// The one place where an analysis reads a personal attribute (DESIGN §8.6): a rule may read it
/// while the lead's key exists, and sees it as missing once the key is destroyed.
///
/// The replay itself keeps no attribute at all; the analyses that evaluate rules against a lead's
/// state (what-if and the suggester built on it, the impact's stayers) keep the fields their rules
/// read in memory, through ``ReadFields``. Only for a field some rule reads, and only when a record
/// holds that field sealed, is the lead's key looked up and the value opened: rules that read no
/// personal attribute never touch a key, and nothing opened is ever written anywhere (checkpoints
/// hold the replay's state, which has no attribute).
///
/// A value that does not open under the lead's current key reads as missing too: it was sealed
/// under a key destroyed by an erasure, before the lead got a new one.
public struct PersonalValues {
    /// The policy table of the per-lead keys (lead → 32 bytes).
    public static let keyTable = "personal.keys"

    /// The context a value is sealed under: the event's id and the attribute's name, so sealed bytes
    /// moved to another event or attribute do not open.
    public static func context(event id: UnsafeRawBufferPointer, attribute: UnsafeRawBufferPointer) -> [UInt8] {
        Array(id) + Array(attribute)
    }

    let log: EventLog
    /// Keys looked up so far, by lead number; an empty array for a lead without one. Memory only.
    private var keys: [UInt32: [UInt8]] = [:]
    /// The first key that could not be read: the analysis fails with it rather than answer as if
    /// the values were erased.
    public private(set) var failure: (any Error)?

    /// An opener reading keys from `log`.
    public init(log: EventLog) { self.log = log }

    /// The value sealed in `sealed` for attribute `name` of `event`, an event of lead `lead`; nil
    /// when the lead has no key (erased) or the value does not open under it.
    public mutating func open(
        _ sealed: UnsafeRawBufferPointer, name: UnsafeRawBufferPointer, event: EventRecordView, lead: UInt32
    ) -> AttributeValue? {
        let key = key(of: lead)
        guard !key.isEmpty else { return nil }
        let context = Self.context(event: event.id, attribute: name)
        guard let plain = try? ValueSeal.open(Array(sealed), key: key, context: context) else { return nil }
        return try? LeadEvent.attributeValue(unsealed: plain)
    }

    private mutating func key(of lead: UInt32) -> [UInt8] {
        if let known = keys[lead] { return known }
        var key: [UInt8] = []
        do {
            if let name = try log.streamName(lead) {
                let stored = try log.withPolicyTables([Self.keyTable]) { try $0.value(forKey: Array(name.utf8), in: Self.keyTable) }
                if let stored {
                    guard stored.count == ValueSeal.keySize else {
                        throw StoredDamage(table: Self.keyTable, message: "the key of lead \(name) is \(stored.count) bytes")
                    }
                    key = stored
                }
            }
        } catch {
            if failure == nil { failure = error }
        }
        keys[lead] = key
        return key
    }
}
