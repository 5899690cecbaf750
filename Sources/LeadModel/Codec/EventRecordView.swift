/// A reader over an event's binary record that allocates nothing: for the replay hot path.
///
/// String fields come back as slices of UTF-8 inside the record, valid only as long as the record's
/// memory is (in LMDB, until the read transaction ends). Accessors for a field the event's type does
/// not have return nil. The view trusts that the bytes came from `LeadEvent.encodeBinary`: it checks
/// the version, the type and every length against the buffer, but not UTF-8.
public struct EventRecordView {
    /// The record's bytes.
    public let bytes: UnsafeRawBufferPointer
    /// The event type.
    public let type: EventType
    @usableFromInline let flags: UInt16
    @usableFromInline let stringsStart: Int

    /// Reads the header; traps on a record of an unknown version or type (a corrupt or newer log).
    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer) {
        precondition(bytes.count >= BinaryLayout.headerSize, "event record shorter than its header")
        precondition(bytes[0] == BinaryLayout.formatVersion, "event record of unknown format version \(bytes[0])")
        guard let type = EventType(code: bytes[1]) else {
            preconditionFailure("event record of unknown type code \(bytes[1])")
        }
        self.bytes = bytes
        self.type = type
        self.flags = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        self.stringsStart = BinaryLayout.headerSize + BinaryLayout.fixedSize(type)
        precondition(bytes.count >= stringsStart, "event record shorter than its fixed area")
    }

    /// Reads the header, or nil when the bytes are not a record this version can read.
    @inlinable
    public init?(validating bytes: UnsafeRawBufferPointer) {
        guard bytes.count >= BinaryLayout.headerSize, bytes[0] == BinaryLayout.formatVersion,
            let type = EventType(code: bytes[1]),
            bytes.count >= BinaryLayout.headerSize + BinaryLayout.fixedSize(type)
        else { return nil }
        // Checked above: set the fields directly rather than checking again in `init(_:)`.
        self.bytes = bytes
        self.type = type
        self.flags = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2, as: UInt16.self))
        self.stringsStart = BinaryLayout.headerSize + BinaryLayout.fixedSize(type)
    }

    /// Business time in µs since the epoch.
    @inlinable
    public var occurredAt: Int64 { int64(at: 4) }

    /// The UTC offset `occurredAt` was written with.
    @inlinable
    public var utcOffsetSeconds: Int32 { Int32(littleEndian: bytes.loadUnaligned(fromByteOffset: 12, as: Int32.self)) }

    /// The 16 bytes of the event id.
    @inlinable
    public var id: UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: bytes[16..<32]) }

    /// The lead, for `lead.*` events.
    @inlinable
    public var lead: UnsafeRawBufferPointer? { slot(0) }

    /// `lead.captured` channel.
    @inlinable
    public var channel: UnsafeRawBufferPointer? { isType(.leadCaptured) ? slot(1) : nil }

    /// `lead.captured` campaign.
    @inlinable
    public var campaign: UnsafeRawBufferPointer? { isType(.leadCaptured) ? slot(2) : nil }

    /// The owner of `lead.handed_off` or `lead.assigned`.
    @inlinable
    public var owner: UnsafeRawBufferPointer? { isType(.leadHandedOff) || isType(.leadAssigned) ? slot(1) : nil }

    /// `lead.touched` activity; nil for other types or an unknown code.
    @inlinable
    public var activity: SalesActivity? {
        isType(.leadTouched) ? SalesActivity(code: bytes[BinaryLayout.headerSize]) : nil
    }

    /// The reason code of `lead.rejected`, `lead.rejection_corrected`, `lead.recycled` or `lead.closed`.
    @inlinable
    public var reason: UnsafeRawBufferPointer? {
        switch type {
        case .leadRejected, .leadRejectionCorrected, .leadRecycled, .leadClosed: slot(1)
        default: nil
        }
    }

    /// The note of `lead.rejected`, `lead.rejection_corrected` or `lead.recycled`.
    @inlinable
    public var note: UnsafeRawBufferPointer? {
        switch type {
        case .leadRejected, .leadRejectionCorrected, .leadRecycled: slot(2)
        default: nil
        }
    }

    /// `by` of `lead.accepted`, `lead.rejected` or `lead.touched`.
    @inlinable
    public var by: UnsafeRawBufferPointer? {
        switch type {
        case .leadAccepted, .leadTouched: slot(1)
        case .leadRejected: slot(3)
        default: nil
        }
    }

    /// The code of `reason.defined` or `reason.retired`.
    @inlinable
    public var code: UnsafeRawBufferPointer? {
        isType(.reasonDefined) || isType(.reasonRetired) ? slot(1) : nil
    }

    /// The 16 raw bytes of the rejection a `lead.rejection_corrected` corrects.
    @inlinable
    public var correctedEvent: UnsafeRawBufferPointer? {
        isType(.leadRejectionCorrected)
            ? UnsafeRawBufferPointer(rebasing: bytes[BinaryLayout.headerSize..<(BinaryLayout.headerSize + 16)]) : nil
    }

    /// `lead.handed_off` definition, or `definition.published` version.
    @inlinable
    public var definitionVersion: Int? {
        switch type {
        case .leadHandedOff: flags & BinaryLayout.flagNumber != 0 ? Int(int64(at: BinaryLayout.headerSize)) : nil
        case .definitionPublished: Int(int64(at: BinaryLayout.headerSize))
        default: nil
        }
    }

    /// `definition.published` effectiveAt, µs since the epoch.
    @inlinable
    public var effectiveAt: Int64? {
        isType(.definitionPublished) ? int64(at: BinaryLayout.headerSize + 8) : nil
    }

    /// `lead.scored` score.
    @inlinable
    public var score: Double? { isType(.leadScored) ? double(at: BinaryLayout.headerSize) : nil }

    /// `lead.converted` or `lead.closed` amount.
    @inlinable
    public var amount: Double? {
        (isType(.leadConverted) || isType(.leadClosed)) && flags & BinaryLayout.flagNumber != 0
            ? double(at: BinaryLayout.headerSize) : nil
    }

    /// `lead.converted` currency.
    @inlinable
    public var currency: UnsafeRawBufferPointer? { isType(.leadConverted) ? slot(2) : nil }

    /// `lead.closed` won.
    @inlinable
    public var won: Bool? { isType(.leadClosed) ? boolFlag : nil }

    /// `lead.accepted` auto.
    @inlinable
    public var auto: Bool? { isType(.leadAccepted) ? boolFlag : nil }

    /// `reason.defined` requiresNote.
    @inlinable
    public var requiresNote: Bool? { isType(.reasonDefined) ? boolFlag : nil }

    /// The event's source.
    @inlinable
    public var source: UnsafeRawBufferPointer {
        slot(1 + BinaryLayout.payloadStringCount(type)) ?? UnsafeRawBufferPointer(start: nil, count: 0)
    }

    /// The event's actor.
    @inlinable
    public var actor: UnsafeRawBufferPointer? { slot(2 + BinaryLayout.payloadStringCount(type)) }

    /// The attributes of `lead.captured` or `lead.attributes_observed`, in name byte order; empty otherwise.
    @inlinable
    public var attributes: RawAttributes {
        let hasBlock =
            isType(.leadAttributesObserved) || (isType(.leadCaptured) && flags & BinaryLayout.flagAttributes != 0)
        guard hasBlock else { return RawAttributes(bytes: bytes, offset: bytes.count, count: 0) }
        let start = slotEnd(4 + BinaryLayout.payloadStringCount(type))
        guard start + 2 <= bytes.count else { return RawAttributes(bytes: bytes, offset: bytes.count, count: 0) }
        let count = Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: start, as: UInt16.self)))
        return RawAttributes(bytes: bytes, offset: start + 2, count: count)
    }

    /// The sealed (personal) attributes of `lead.captured` or `lead.attributes_observed`, in name
    /// byte order: what ``attributes`` skips. Only the ledger, holding the lead's key, opens them.
    @inlinable
    public var sealedAttributes: RawSealedAttributes { RawSealedAttributes(attributes) }

    /// Compares type codes: cheaper than the synthesized `==` of a raw-value enum, which goes through
    /// a protocol witness on this path.
    @inlinable
    func isType(_ other: EventType) -> Bool { type.code == other.code }

    @inlinable
    var boolFlag: Bool? {
        flags & BinaryLayout.flagBoolPresent != 0 ? flags & BinaryLayout.flagBoolValue != 0 : nil
    }

    @inlinable
    func int64(at offset: Int) -> Int64 {
        Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: Int64.self))
    }

    @inlinable
    func double(at offset: Int) -> Double {
        Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
    }

    /// The offset just past the first `count` string slots.
    @inlinable
    func slotEnd(_ count: Int) -> Int {
        var offset = stringsStart
        for _ in 0..<count {
            guard offset + 2 <= bytes.count else { return bytes.count }
            let length = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
            offset += 2 + (length == BinaryLayout.absent ? 0 : Int(length))
        }
        return offset
    }

    /// String slot number `index` (0 = lead), nil when absent or out of bounds.
    @inlinable
    func slot(_ index: Int) -> UnsafeRawBufferPointer? {
        let offset = slotEnd(index)
        guard offset + 2 <= bytes.count else { return nil }
        let length = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
        guard length != BinaryLayout.absent, offset + 2 + Int(length) <= bytes.count else { return nil }
        return UnsafeRawBufferPointer(rebasing: bytes[(offset + 2)..<(offset + 2 + Int(length))])
    }
}

/// An attribute value inside a record, strings left as UTF-8 slices.
public enum RawAttributeValue {
    /// null: the attribute is unknown or removed.
    case null
    /// A boolean.
    case bool(Bool)
    /// A number.
    case number(Double)
    /// UTF-8 bytes of a string.
    case string(UnsafeRawBufferPointer)
}

/// The attributes block of a record, iterated without allocation.
public struct RawAttributes: Sequence, IteratorProtocol {
    @usableFromInline let bytes: UnsafeRawBufferPointer
    @usableFromInline var offset: Int
    @usableFromInline var left: Int

    /// How many attributes remain.
    @inlinable
    public var remaining: Int { left }

    @inlinable
    init(bytes: UnsafeRawBufferPointer, offset: Int, count: Int) {
        self.bytes = bytes
        self.offset = offset
        self.left = count
    }

    /// The next attribute's name (UTF-8) and value, or nil at the end or on a malformed block.
    @inlinable
    public mutating func next() -> (name: UnsafeRawBufferPointer, value: RawAttributeValue)? {
        guard left > 0, let name = take() else { return nil }
        guard offset < bytes.count else { return stop() }
        let tag = bytes[offset]
        offset += 1
        let value: RawAttributeValue
        // A sealed personal value is not read here: `RawSealedAttributes` gives it to the one reader
        // that opens it with the lead's key, for the rules that name it.
        if tag == BinaryLayout.sealedTag {
            guard take() != nil else { return stop() }
            left -= 1
            return next()
        }
        switch tag {
        case 0: value = .null
        case 1: value = .bool(false)
        case 2: value = .bool(true)
        case 3:
            guard offset + 8 <= bytes.count else { return stop() }
            value = .number(
                Double(bitPattern: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))))
            offset += 8
        case 4:
            guard let text = take() else { return stop() }
            value = .string(text)
        default: return stop()
        }
        left -= 1
        return (name, value)
    }

    /// Skips the next attribute when its value is sealed, returning its name and sealed bytes; nil
    /// (moving nowhere) when it is not sealed. A malformed block ends the iteration.
    @inlinable
    mutating func takeSealed() -> (name: UnsafeRawBufferPointer, sealed: UnsafeRawBufferPointer)?? {
        let start = offset
        guard left > 0, let name = take() else { return .some(nil) }
        guard offset < bytes.count else {
            left = 0
            return .some(nil)
        }
        guard bytes[offset] == BinaryLayout.sealedTag else {
            offset = start
            return nil
        }
        offset += 1
        guard let sealed = take() else {
            left = 0
            return .some(nil)
        }
        left -= 1
        return .some((name, sealed))
    }

    @inlinable
    mutating func stop() -> (name: UnsafeRawBufferPointer, value: RawAttributeValue)? {
        left = 0
        return nil
    }

    @inlinable
    mutating func take() -> UnsafeRawBufferPointer? {
        guard offset + 2 <= bytes.count else { return nil }
        let length = UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))
        guard length != BinaryLayout.absent, offset + 2 + Int(length) <= bytes.count else { return nil }
        defer { offset += 2 + Int(length) }
        return UnsafeRawBufferPointer(rebasing: bytes[(offset + 2)..<(offset + 2 + Int(length))])
    }
}

/// The sealed values of an attributes block, iterated without allocation: each attribute's name and
/// the bytes its lead's key opens (see `ValueSeal`), skipping the values stored in clear.
public struct RawSealedAttributes: Sequence, IteratorProtocol {
    @usableFromInline var block: RawAttributes

    @inlinable
    init(_ block: RawAttributes) { self.block = block }

    /// The next sealed attribute's name (UTF-8) and sealed bytes, or nil at the end or on a malformed block.
    @inlinable
    public mutating func next() -> (name: UnsafeRawBufferPointer, sealed: UnsafeRawBufferPointer)? {
        while block.left > 0 {
            if let sealed = block.takeSealed() { return sealed }
            // A value in clear: the plain iterator steps over it (and stops on a malformed one).
            guard block.next() != nil else { return nil }
        }
        return nil
    }
}
