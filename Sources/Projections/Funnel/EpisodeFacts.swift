import EventLog
import Foundation
import LeadModel

/// What became of each episode after its hand-off, beyond its decision: first touch, owner changes,
/// conversion, close and amounts, and (when asked) the lead's attributes at hand-off. Collected by
/// observing the same replay that builds the ``ReplayState``, so the funnel, the service levels and
/// the profile cost no second pass over the log.
///
/// Facts are numbered like the state's episodes: the replay opens an episode for exactly the
/// hand-offs this observer sees, in the same order, and a partitioned replay merges both alike.
public struct EpisodeFacts: PartitionedReplayObserver, Sendable {
    /// One episode's facts; times are business µs, `Int64.min` when it never happened.
    struct Fact: Sendable, Hashable {
        var firstTouchAt: Int64 = .min
        var convertedAt: Int64 = .min
        var closedAt: Int64 = .min
        var won = false
        /// The last owner change after the hand-off (index in `assignments`), -1 for none.
        var lastAssignment: Int32 = -1
        /// The lead's attributes at hand-off: a range of `handOffAttributes`.
        var attributesStart: Int32 = 0
        var attributesCount: Int32 = 0
        /// The currency of the conversion (index in `currencies`), -1 when none was named.
        var currency: Int32 = -1
    }

    /// An owner change of an episode: linked backwards from the episode's last one.
    struct Assignment: Sendable, Hashable {
        var at: Int64
        var owner: Int32
        var previous: Int32
    }

    /// An amount counted for an episode: pipeline at conversion, won at a won close.
    struct Money: Sendable, Hashable {
        var episode: Int32
        var currency: Int32
        var amount: Double
        var won: Bool
    }

    /// What the observer keeps of one lead while replaying.
    struct LeadTrack: Sendable {
        var episode: Int32 = -1
        var handedOffAt: Int64 = .min
        var isOpen = false
        /// Attribute name → value numbers, sorted by name number (only when attributes are collected).
        var attributes: [(name: Int32, value: Int32)] = []
    }

    /// Whether the lead's attributes at hand-off are kept (the profile needs them; the rest does not).
    public let collectsAttributes: Bool
    var facts: [Fact] = []
    var assignments: [Assignment] = []
    var money: [Money] = []
    /// Per attribute at hand-off, `name` and `value` numbers, each pair in two slots.
    var handOffAttributes: [Int32] = []
    var leads: [LeadTrack] = []
    /// Owners named by `lead.assigned`, currencies, attribute names and values.
    var owners = Interner(), currencies = Interner(), attributeNames = Interner(), attributeValues = Interner()
    /// The value number of each number seen, by its bits: writing a number as text to intern it cost
    /// a tenth of the feedback loop's replay, and a lead's attributes repeat few distinct numbers.
    var numberValues: [UInt64: Int32] = [:]
    /// The value numbers of whole numbers below ``smallWholeNumbers`` by value (-2: not seen yet),
    /// made on the first one.
    var smallWholeNumbers: [Int32] = []
    static let smallWholeNumbers = 1 << 16

    /// An observer; `collectsAttributes` keeps each lead's attributes at hand-off for the profile.
    public init(collectsAttributes: Bool = false) {
        self.collectsAttributes = collectsAttributes
    }

    /// How many episodes it has facts for.
    public var count: Int { facts.count }

    /// Forgets the lead's track: the replay repairs it from its first event.
    public mutating func resetLead(_ lead: UInt32) {
        // The engine voids the lead's episodes and opens new ones; their facts stay, unread.
        if Int(lead) < leads.count { leads[Int(lead)] = LeadTrack() }
    }

    /// Notes what the event does to the lead's latest episode, by the episode machine's rules.
    public mutating func observe(lead: UInt32, event: EventRecordView, position: UInt64) {
        let index = Int(lead)
        if index >= leads.count { leads.append(contentsOf: repeatElement(LeadTrack(), count: index + 1 - leads.count)) }
        let t = event.occurredAt
        let type = event.type
        switch EpisodeMachine.transition(of: event, from: EpisodePhase(isOpen: leads[index].isOpen)) {
        case .open:
            var fact = Fact()
            if collectsAttributes {
                fact.attributesStart = Int32(handOffAttributes.count)
                fact.attributesCount = Int32(leads[index].attributes.count)
                for pair in leads[index].attributes {
                    handOffAttributes.append(pair.name)
                    handOffAttributes.append(pair.value)
                }
            }
            leads[index].episode = Int32(facts.count)
            leads[index].handedOffAt = t
            leads[index].isOpen = true
            facts.append(fact)
            return
        case .close:
            let episode = Int(leads[index].episode)
            if EpisodeMachine.countsAsTouch(type), facts[episode].firstTouchAt == .min { facts[episode].firstTouchAt = t }
            leads[index].isOpen = false
            return
        default:
            break
        }
        let episode = leads[index].episode
        switch type {
        case .leadTouched:
            if leads[index].isOpen, EpisodeMachine.countsAsTouch(type), facts[Int(episode)].firstTouchAt == .min {
                facts[Int(episode)].firstTouchAt = t
            }
        case .leadAssigned:
            guard episode >= 0, EpisodeMachine.changesOwner(type), let owner = event.owner else { return }
            assignments.append(Assignment(at: t, owner: owners.intern(owner), previous: facts[Int(episode)].lastAssignment))
            facts[Int(episode)].lastAssignment = Int32(assignments.count - 1)
        case .leadConverted:
            guard episode >= 0, EpisodeMachine.outcomeBelongs(at: t, toEpisodeHandedOffAt: leads[index].handedOffAt) else { return }
            let e = Int(episode)
            if facts[e].convertedAt == .min { facts[e].convertedAt = t }
            let currency = event.currency.map { currencies.intern($0) } ?? -1
            facts[e].currency = currency
            if let amount = event.amount { money.append(Money(episode: episode, currency: currency, amount: amount, won: false)) }
        case .leadClosed:
            guard episode >= 0, EpisodeMachine.outcomeBelongs(at: t, toEpisodeHandedOffAt: leads[index].handedOffAt) else { return }
            let e = Int(episode)
            if facts[e].closedAt == .min { facts[e].closedAt = t }
            if event.won == true {
                facts[e].won = true
                if let amount = event.amount {
                    money.append(Money(episode: episode, currency: facts[e].currency, amount: amount, won: true))
                }
            }
        case .leadCaptured, .leadAttributesObserved:
            guard collectsAttributes else { return }
            // The lead's pairs are taken out once per event, not once per attribute.
            var pairs = leads[index].attributes
            leads[index].attributes = []
            for (name, value) in event.attributes { setAttribute(&pairs, name: name, value: value) }
            leads[index].attributes = pairs
        default:
            break
        }
    }

    private mutating func setAttribute(_ pairs: inout [(name: Int32, value: Int32)], name: UnsafeRawBufferPointer, value: RawAttributeValue) {
        let nameNumber = attributeNames.intern(name)
        let valueNumber: Int32
        switch value {
        case .null: valueNumber = -1
        case .bool(let flag): valueNumber = attributeValues.intern(flag ? "true" : "false")
        case .number(let number) where number >= 0 && number < Double(Self.smallWholeNumbers) && number.rounded(.down) == number:
            // Counts and sizes, the usual numbers, are looked up by value in an array.
            let slot = Int(number)
            if smallWholeNumbers.isEmpty { smallWholeNumbers = Array(repeating: -2, count: Self.smallWholeNumbers) }
            if smallWholeNumbers[slot] == -2 { smallWholeNumbers[slot] = attributeValues.intern(ProfileValues.text(number)) }
            valueNumber = smallWholeNumbers[slot]
        case .number(let number):
            // -0 and 0 print alike, so they share a number; other bits are distinct numbers.
            let bits = number == 0 ? 0 : number.bitPattern
            if let known = numberValues[bits] {
                valueNumber = known
            } else {
                valueNumber = attributeValues.intern(ProfileValues.text(number))
                numberValues[bits] = valueNumber
            }
        case .string(let text): valueNumber = attributeValues.intern(text)
        }
        if let at = pairs.firstIndex(where: { $0.name == nameNumber }) {
            if valueNumber < 0 { pairs.remove(at: at) } else { pairs[at].value = valueNumber }
        } else if valueNumber >= 0 {
            pairs.append((nameNumber, valueNumber))
        }
    }

    /// Appends the other partition's facts after ours, as the state appends its episodes.
    public mutating func absorb(_ other: consuming EpisodeFacts, partition: (index: UInt32, count: UInt32)) {
        let ownerMap = other.owners.names.map { owners.intern($0) }
        let currencyMap = other.currencies.names.map { currencies.intern($0) }
        let nameMap = other.attributeNames.names.map { attributeNames.intern($0) }
        let valueMap = other.attributeValues.names.map { attributeValues.intern($0) }
        func map(_ table: [Int32], _ value: Int32) -> Int32 { value < 0 ? value : table[Int(value)] }
        let episodeOffset = Int32(facts.count), assignmentOffset = Int32(assignments.count)
        let attributeOffset = Int32(handOffAttributes.count)
        for var fact in other.facts {
            if fact.lastAssignment >= 0 { fact.lastAssignment += assignmentOffset }
            fact.attributesStart += attributeOffset
            fact.currency = map(currencyMap, fact.currency)
            facts.append(fact)
        }
        for var assignment in other.assignments {
            assignment.owner = map(ownerMap, assignment.owner)
            if assignment.previous >= 0 { assignment.previous += assignmentOffset }
            assignments.append(assignment)
        }
        for var entry in other.money {
            entry.episode += episodeOffset
            entry.currency = map(currencyMap, entry.currency)
            money.append(entry)
        }
        var slot = 0
        while slot + 1 < other.handOffAttributes.count {
            handOffAttributes.append(map(nameMap, other.handOffAttributes[slot]))
            handOffAttributes.append(map(valueMap, other.handOffAttributes[slot + 1]))
            slot += 2
        }
        for (bits, value) in other.numberValues { numberValues[bits] = map(valueMap, value) }
        if !other.smallWholeNumbers.isEmpty {
            if smallWholeNumbers.isEmpty { smallWholeNumbers = Array(repeating: -2, count: Self.smallWholeNumbers) }
            for (slot, value) in other.smallWholeNumbers.enumerated() where value >= 0 { smallWholeNumbers[slot] = map(valueMap, value) }
        }
        // The other partition's leads keep their tracks, renumbered: a merged observer is fed again
        // when a long-lived replay catches up with new events of those leads.
        if other.leads.count > leads.count {
            leads.append(contentsOf: repeatElement(LeadTrack(), count: other.leads.count - leads.count))
        }
        for index in stride(from: Int(partition.index), to: other.leads.count, by: Int(partition.count)) {
            var track = other.leads[index]
            if track.episode >= 0 { track.episode += episodeOffset }
            track.attributes = track.attributes.map { (map(nameMap, $0.name), map(valueMap, $0.value)) }
            leads[index] = track
        }
    }

    /// The owner changes of episode `number` after its hand-off, in business-time order.
    func assignments(of number: Int) -> [(at: Int64, owner: Int32)] {
        var chain: [(at: Int64, owner: Int32)] = []
        var link = facts[number].lastAssignment
        while link >= 0 {
            chain.append((assignments[Int(link)].at, assignments[Int(link)].owner))
            link = assignments[Int(link)].previous
        }
        return chain.reversed()
    }
}

/// How attribute values are written in the profile.
enum ProfileValues {
    /// Whole numbers without a fraction (`50`), others as Swift prints them (`2.5`).
    static func text(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
    }
}
