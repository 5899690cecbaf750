import Foundation

/// The binary storage form of an event, version 1. All integers little-endian, read unaligned.
///
/// ```
/// offset size  field
///  0      1    format version (1)
///  1      1    type code (EventType.code)
///  2      2    flags: bit0 number slot present, bit1 bool present, bit2 bool value, bit3 attributes present
///  4      8    occurredAt, µs since the epoch (Int64)
/// 12      4    occurredAt's UTC offset, seconds (Int32)
/// 16     16    id (UUID bytes)
/// 32      F    fixed area, size by type (zero-filled when its optional value is absent):
///              scored Float64 score · handed_off Int64 definition · converted/closed Float64 amount ·
///              rejection_corrected 16-byte event id · definition.published Int64 version,
///              Int64 effectiveAt µs, Int32 effectiveAt offset
/// 32+F         string slots, each UInt16 byte count (0xFFFF = absent) then UTF-8:
///              lead, the type's strings (below), source, actor, correlationId
///              then, for captured (when flagged) and attributes_observed, the attributes block:
///              UInt16 count, then per attribute (names in UTF-8 byte order) a string slot for the name,
///              a tag byte (0 null, 1 false, 2 true, 3 number + Float64, 4 string + string slot,
///              5 sealed + a byte slot: a personal value encrypted by the ledger, opaque here and
///              read as absent; its plaintext is the value's own tag and bytes);
///              for definition.published, a string slot with the rules as compact JSON, then,
///              only when it names one, a string slot with its proposal (older records end after the rules);
///              for definition.proposed, a slot with the rules, then a slot with the evidence object
///              as compact JSON (absent when none).
/// ```
/// Type strings: captured channel, campaign · scored model · handed_off owner · accepted by ·
/// rejected reason, note, by · recycled reason, note · converted opportunity, currency · closed reason ·
/// rejection_corrected reason, note · reason.defined code, label, category · reason.retired code,
/// replacedBy · definition.published name, rationale · forgotten reason · definition.proposed proposal,
/// name, rationale · definition.reviewed proposal, role, note (its verdict is the fixed area's one byte).
///
/// `lead` comes first and the type's hottest string (channel, owner, reason) second, so the replay
/// path reads them after one or two length prefixes.
@usableFromInline
enum BinaryLayout {
    @usableFromInline static let formatVersion: UInt8 = 1
    @usableFromInline static let headerSize = 32
    @usableFromInline static let absent: UInt16 = 0xFFFF
    @usableFromInline static let maximumStringBytes = 0xFFFE

    @usableFromInline static let flagNumber: UInt16 = 1 << 0
    @usableFromInline static let flagBoolPresent: UInt16 = 1 << 1
    @usableFromInline static let flagBoolValue: UInt16 = 1 << 2
    @usableFromInline static let flagAttributes: UInt16 = 1 << 3
    @usableFromInline static let knownFlags: UInt16 = 0b1111
    /// The attribute tag of a sealed (encrypted) personal value.
    @usableFromInline static let sealedTag: UInt8 = 5

    /// Size of the fixed area after the header.
    @inlinable
    static func fixedSize(_ type: EventType) -> Int {
        switch type {
        case .leadScored, .leadHandedOff, .leadConverted, .leadClosed: 8
        case .leadRejectionCorrected: 16
        case .definitionPublished: 20
        case .leadTouched, .definitionReviewed: 1
        case .slaPublished: 36
        default: 0
        }
    }

    /// How many type-specific string slots follow `lead`.
    @inlinable
    static func payloadStringCount(_ type: EventType) -> Int {
        switch type {
        case .leadAttributesObserved: 0
        case .leadScored, .leadHandedOff, .leadAccepted, .leadClosed, .leadForgotten, .leadTouched, .slaPublished: 1
        case .leadCaptured, .leadRecycled, .leadConverted, .leadRejectionCorrected, .reasonRetired,
            .definitionPublished, .leadAssigned:
            2
        case .leadRejected, .reasonDefined, .definitionProposed, .definitionReviewed: 3
        }
    }
}

/// Why bytes are not a valid binary event record.
public struct RecordDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The byte offset where the problem was found.
    public var offset: Int
    /// What is wrong.
    public var reason: String

    /// Creates a record decoding error.
    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    /// `invalid event record at byte N: reason`.
    public var description: String { "invalid event record at byte \(offset): \(reason)" }
}

extension LeadEvent {
    /// The binary storage form; the same event always gives the same bytes.
    public var binary: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        encodeBinary(into: &out)
        return out
    }

    /// The binary storage form with some attribute values sealed: `seal` gets each non-null
    /// attribute's name and its value's encoded bytes (tag and data), and returns the sealed bytes
    /// to store instead (attribute tag 5), or nil to store the value as it is.
    public func binary(sealing seal: AttributeSealer) rethrows -> [UInt8] {
        try binary { name, value, out in
            guard let sealed = try seal(name, Array(value)) else { return false }
            out.append(contentsOf: sealed)
            return true
        }
    }

    /// The binary storage form with some attribute values sealed in place: `seal` gets each non-null
    /// attribute's name and its value's encoded bytes (tag and data), and appends the sealed bytes to
    /// store instead (attribute tag 5), or returns false to store the value as it is. The same bytes
    /// as ``binary(sealing:)`` with no copy of each sealed value in between.
    public func binary(sealingInPlace seal: AttributeSealing) rethrows -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(192)
        // Only called during the encoding: `sealing` is optional (so escaping) for the plain form's sake.
        try withoutActuallyEscaping(seal) { seal in
            try encodeBinary(into: &out) { (name, value, out) throws(any Error) -> Bool in try seal(name, value, &out) }
        }
        return out
    }

    /// The sealed attributes of a binary record, in name order: what ``init(binary:)`` reads as absent.
    public static func sealedAttributes(inBinary bytes: [UInt8]) throws(RecordDecodingError) -> [SealedAttribute] {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(RecordDecodingError) -> [SealedAttribute] in
                var sealed: [SealedAttribute] = []
                _ = try LeadEvent(binary: raw, sealed: &sealed)
                return sealed
            }
        }
        return try result.get()
    }

    /// The value a sealed attribute held, from its unsealed bytes (its tag and data).
    public static func attributeValue(unsealed bytes: [UInt8]) throws(RecordDecodingError) -> AttributeValue {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(RecordDecodingError) -> AttributeValue in
                var reader = BinaryReader(bytes: raw)
                let value = try reader.attributeValue(tag: try reader.byte(), at: 0)
                guard let value, reader.offset == raw.count else {
                    throw RecordDecodingError(offset: reader.offset, reason: "a sealed value is not one attribute value")
                }
                return value
            }
        }
        return try result.get()
    }

    /// Appends the binary storage form.
    ///
    /// Every string must fit in 65,534 bytes; events read by `EventDecoder` always do.
    public func encodeBinary(into out: inout [UInt8]) {
        encodeBinary(into: &out, sealing: Optional<(String, UnsafeRawBufferPointer, inout [UInt8]) throws(Never) -> Bool>.none)
    }

    /// Appends the binary storage form, offering each attribute value to `seal` when there is one.
    func encodeBinary<Failure: Error>(
        into out: inout [UInt8], sealing seal: ((String, UnsafeRawBufferPointer, inout [UInt8]) throws(Failure) -> Bool)?
    ) throws(Failure) {
        var writer = BinaryWriter(out: out)
        out = []
        var flags: UInt16 = 0
        switch payload {
        case .leadCaptured(let data): if data.attributes != nil { flags |= BinaryLayout.flagAttributes }
        case .leadScored: flags |= BinaryLayout.flagNumber
        case .handedOff(let data): if data.definition != nil { flags |= BinaryLayout.flagNumber }
        case .accepted(let data): flags |= boolFlags(data.auto)
        case .converted(let data): if data.amount != nil { flags |= BinaryLayout.flagNumber }
        case .closed(let data):
            flags |= boolFlags(data.won)
            if data.amount != nil { flags |= BinaryLayout.flagNumber }
        case .reasonDefined(let data): flags |= boolFlags(data.requiresNote)
        default: break
        }
        writer.byte(BinaryLayout.formatVersion)
        writer.byte(type.code)
        writer.integer(flags)
        writer.integer(occurredAt.microseconds)
        writer.integer(occurredAt.utcOffsetSeconds)
        writer.uuid(id)
        switch payload {
        case .leadScored(let data): writer.integer(data.score.bitPattern)
        case .handedOff(let data): writer.integer(Int64(data.definition ?? 0))
        case .converted(let data): writer.integer((data.amount ?? 0).bitPattern)
        case .closed(let data): writer.integer((data.amount ?? 0).bitPattern)
        case .rejectionCorrected(let data): writer.uuid(data.event)
        case .definitionPublished(let data):
            writer.integer(Int64(data.version))
            writer.integer(data.effectiveAt.microseconds)
            writer.integer(data.effectiveAt.utcOffsetSeconds)
        case .touched(let data): writer.byte(data.activity.code)
        case .definitionReviewed(let data): writer.byte(data.verdict.code)
        case .slaPublished(let data):
            writer.integer(Int64(data.version))
            writer.integer(data.effectiveAt.microseconds)
            writer.integer(data.effectiveAt.utcOffsetSeconds)
            writer.integer((data.firstTouchWithin ?? 0).bitPattern)
            writer.integer((data.decisionWithin ?? 0).bitPattern)
        default: break
        }
        writer.string(lead)
        switch payload {
        case .leadCaptured(let data): writer.string(data.channel); writer.string(data.campaign)
        case .attributesObserved: break
        case .leadScored(let data): writer.string(data.model)
        case .handedOff(let data): writer.string(data.owner)
        case .accepted(let data): writer.string(data.by)
        case .rejected(let data): writer.string(data.reason); writer.string(data.note); writer.string(data.by)
        case .recycled(let data): writer.string(data.reason); writer.string(data.note)
        case .converted(let data): writer.string(data.opportunity); writer.string(data.currency)
        case .closed(let data): writer.string(data.reason)
        case .rejectionCorrected(let data): writer.string(data.reason); writer.string(data.note)
        case .reasonDefined(let data): writer.string(data.code); writer.string(data.label); writer.string(data.category)
        case .reasonRetired(let data): writer.string(data.code); writer.string(data.replacedBy)
        case .definitionPublished(let data): writer.string(data.name); writer.string(data.rationale)
        case .forgotten(let data): writer.string(data.reason)
        case .assigned(let data): writer.string(data.owner); writer.string(data.team)
        case .touched(let data): writer.string(data.by)
        case .slaPublished(let data): writer.string(data.name)
        case .definitionProposed(let data): writer.string(data.proposal); writer.string(data.name); writer.string(data.rationale)
        case .definitionReviewed(let data): writer.string(data.proposal); writer.string(data.role); writer.string(data.note)
        }
        writer.string(source)
        writer.string(actor)
        writer.string(correlationId)
        switch payload {
        case .leadCaptured(let data): if let attributes = data.attributes { try writer.attributes(attributes, sealing: seal) }
        case .attributesObserved(let data): try writer.attributes(data.attributes, sealing: seal)
        case .definitionPublished(let data):
            writer.bytes(data.rulesJSON.jsonBytes)
            // Only when named: a publish without a proposal keeps the bytes (and hash) it always had.
            if let proposal = data.proposal { writer.string(proposal) }
        case .slaPublished(let data): writer.bytes(data.calendar.jsonObject.jsonBytes)
        case .definitionProposed(let data):
            writer.bytes(data.rulesJSON.jsonBytes)
            if let evidence = data.evidence { writer.bytes(evidence.jsonObject.jsonBytes) } else { writer.string(nil) }
        default: break
        }
        out = writer.out
    }

    private func boolFlags(_ value: Bool?) -> UInt16 {
        guard let value else { return 0 }
        return BinaryLayout.flagBoolPresent | (value ? BinaryLayout.flagBoolValue : 0)
    }

    /// Decodes the binary storage form, checking every length against the buffer. Sealed
    /// attribute values read as absent.
    public init(binary bytes: UnsafeRawBufferPointer) throws(RecordDecodingError) {
        var sealed: [SealedAttribute] = []
        try self.init(binary: bytes, sealed: &sealed)
    }

    init(binary bytes: UnsafeRawBufferPointer, sealed: inout [SealedAttribute]) throws(RecordDecodingError) {
        var reader = BinaryReader(bytes: bytes)
        let version = try reader.byte()
        guard version == BinaryLayout.formatVersion else {
            throw RecordDecodingError(offset: 0, reason: "unknown format version \(version)")
        }
        let code = try reader.byte()
        guard let type = EventType(code: code) else {
            throw RecordDecodingError(offset: 1, reason: "unknown type code \(code)")
        }
        let flags = try reader.integer(UInt16.self)
        guard flags & ~BinaryLayout.knownFlags == 0 else {
            throw RecordDecodingError(offset: 2, reason: "unknown flags \(flags)")
        }
        let hasNumber = flags & BinaryLayout.flagNumber != 0
        let bool: Bool? = flags & BinaryLayout.flagBoolPresent != 0 ? flags & BinaryLayout.flagBoolValue != 0 : nil
        let occurredAt = Timestamp(
            microseconds: try reader.integer(Int64.self), utcOffsetSeconds: try reader.integer(Int32.self))
        let id = try reader.uuid()
        var fixedNumber = 0.0
        var fixedInteger: Int64 = 0
        var fixedUUID = UUID.zero
        var effectiveAt = Timestamp(microseconds: 0)
        var activityCode: UInt8 = 0
        var verdictCode: UInt8 = 0
        var limits = (firstTouch: 0.0, decision: 0.0)
        switch type {
        case .leadScored, .leadConverted, .leadClosed: fixedNumber = Double(bitPattern: try reader.integer(UInt64.self))
        case .leadHandedOff: fixedInteger = try reader.integer(Int64.self)
        case .leadRejectionCorrected: fixedUUID = try reader.uuid()
        case .definitionPublished:
            fixedInteger = try reader.integer(Int64.self)
            effectiveAt = Timestamp(
                microseconds: try reader.integer(Int64.self), utcOffsetSeconds: try reader.integer(Int32.self))
        case .leadTouched: activityCode = try reader.byte()
        case .definitionReviewed: verdictCode = try reader.byte()
        case .slaPublished:
            fixedInteger = try reader.integer(Int64.self)
            effectiveAt = Timestamp(
                microseconds: try reader.integer(Int64.self), utcOffsetSeconds: try reader.integer(Int32.self))
            let limitsOffset = reader.offset
            limits = (Double(bitPattern: try reader.integer(UInt64.self)), Double(bitPattern: try reader.integer(UInt64.self)))
            // 0 means absent; anything else must be a limit the decoder could have admitted.
            for limit in [limits.firstTouch, limits.decision] where limit != 0 && !(limit > 0 && limit <= FieldReader.longestServiceLimitHours) {
                throw RecordDecodingError(offset: limitsOffset, reason: "a service-level limit of \(limit) hours")
            }
        default: break
        }
        let lead = try reader.string()
        var strings: [String?] = []
        for _ in 0..<BinaryLayout.payloadStringCount(type) { strings.append(try reader.string()) }
        let source = try reader.string()
        let actor = try reader.string()
        let correlationId = try reader.string()
        func required(_ index: Int) throws(RecordDecodingError) -> String {
            guard let value = strings[index] else {
                throw RecordDecodingError(offset: reader.offset, reason: "a required string is absent")
            }
            return value
        }
        func requiredBool() throws(RecordDecodingError) -> Bool {
            guard let bool else { throw RecordDecodingError(offset: 2, reason: "a required boolean is absent") }
            return bool
        }
        let payload: EventPayload
        switch type {
        case .leadCaptured:
            let attributes = flags & BinaryLayout.flagAttributes != 0 ? try reader.attributes(sealed: &sealed) : nil
            payload = .leadCaptured(.init(channel: try required(0), campaign: strings[1], attributes: attributes))
        case .leadAttributesObserved: payload = .attributesObserved(.init(attributes: try reader.attributes(sealed: &sealed)))
        case .leadScored: payload = .leadScored(.init(score: fixedNumber, model: strings[0]))
        case .leadHandedOff:
            payload = .handedOff(.init(owner: try required(0), definition: hasNumber ? Int(fixedInteger) : nil))
        case .leadAccepted: payload = .accepted(.init(by: strings[0], auto: bool))
        case .leadRejected: payload = .rejected(.init(reason: try required(0), note: strings[1], by: strings[2]))
        case .leadRecycled: payload = .recycled(.init(reason: strings[0], note: strings[1]))
        case .leadConverted:
            payload = .converted(
                .init(opportunity: try required(0), amount: hasNumber ? fixedNumber : nil, currency: strings[1]))
        case .leadClosed:
            payload = .closed(.init(won: try requiredBool(), amount: hasNumber ? fixedNumber : nil, reason: strings[0]))
        case .leadRejectionCorrected:
            payload = .rejectionCorrected(.init(event: fixedUUID, reason: try required(0), note: strings[1]))
        case .reasonDefined:
            payload = .reasonDefined(
                .init(code: try required(0), label: try required(1), category: try required(2), requiresNote: bool))
        case .reasonRetired: payload = .reasonRetired(.init(code: try required(0), replacedBy: strings[1]))
        case .leadForgotten: payload = .forgotten(.init(reason: strings[0]))
        case .definitionPublished:
            let (rules, rulesJSON) = try reader.rules()
            var proposal: String?
            if reader.offset < bytes.count {
                let proposalOffset = reader.offset
                proposal = try reader.string()
                guard let named = proposal, ProposalNames.isProposalID(named) else {
                    throw RecordDecodingError(offset: proposalOffset, reason: "the proposal is not a proposal id")
                }
            }
            payload = .definitionPublished(
                .init(
                    version: Int(fixedInteger), name: try required(0), rules: rules, rulesJSON: rulesJSON,
                    effectiveAt: effectiveAt, rationale: strings[1], proposal: proposal))
        case .definitionProposed:
            let (rules, rulesJSON) = try reader.rules()
            let evidenceOffset = reader.offset
            var evidence: ProposalEvidence?
            if let evidenceBytes = try reader.slot() {
                // The decoder's own checks, so a stored proposal reads exactly as an admitted one.
                let members: [JSONMember]
                do throws(EventInputError) {
                    guard case .object(let parsed) = try Self.parseJSON(evidenceBytes) else {
                        throw EventInputError(code: .wrongType, expected: "an evidence object", found: "another value")
                    }
                    members = parsed
                } catch {
                    throw RecordDecodingError(offset: evidenceOffset, reason: "the evidence does not read: \(error)")
                }
                let wrapped = JSONValue.object([
                    JSONMember("proposal", .string(try required(0))), JSONMember("name", .string(try required(1))),
                    JSONMember("rules", rulesJSON), JSONMember("evidence", .object(members)),
                ])
                guard case .object(let dataMembers) = wrapped else { preconditionFailure("built as an object") }
                do throws(EventInputError) {
                    evidence = try FieldReader(members: dataMembers, prefix: "", line: nil, eventId: nil).proposedDefinition().evidence
                } catch {
                    throw RecordDecodingError(offset: evidenceOffset, reason: "the evidence does not read: \(error)")
                }
            }
            let proposal = try required(0)
            guard ProposalNames.isProposalID(proposal) else {
                throw RecordDecodingError(offset: BinaryLayout.headerSize, reason: "the proposal is not a proposal id")
            }
            payload = .definitionProposed(
                .init(proposal: proposal, name: try required(1), rules: rules, rulesJSON: rulesJSON, rationale: strings[2], evidence: evidence))
        case .definitionReviewed:
            guard let verdict = ReviewVerdict(code: verdictCode) else {
                throw RecordDecodingError(offset: BinaryLayout.headerSize, reason: "unknown verdict code \(verdictCode)")
            }
            let proposal = try required(0)
            let role = try required(1)
            guard ProposalNames.isProposalID(proposal), ProposalNames.isRole(role) else {
                throw RecordDecodingError(offset: BinaryLayout.headerSize, reason: "the proposal or the role is not well formed")
            }
            payload = .definitionReviewed(.init(proposal: proposal, verdict: verdict, role: role, note: strings[2]))
        case .leadAssigned: payload = .assigned(.init(owner: try required(0), team: strings[1]))
        case .leadTouched:
            guard let activity = SalesActivity(code: activityCode) else {
                throw RecordDecodingError(offset: BinaryLayout.headerSize, reason: "unknown activity code \(activityCode)")
            }
            payload = .touched(.init(activity: activity, by: strings[0]))
        case .slaPublished:
            let calendarOffset = reader.offset
            guard let calendarBytes = try reader.slot() else {
                throw RecordDecodingError(offset: calendarOffset, reason: "the calendar is absent")
            }
            let calendar: BusinessCalendar
            do throws(EventInputError) {
                guard case .object(let members) = try Self.parseJSON(calendarBytes) else {
                    throw EventInputError(code: .wrongType, expected: "a calendar object", found: "another value")
                }
                calendar = try FieldReader(members: members, prefix: "calendar.", line: nil, eventId: nil).businessCalendar()
            } catch {
                throw RecordDecodingError(offset: calendarOffset, reason: "the calendar does not read: \(error)")
            }
            payload = .slaPublished(
                .init(
                    version: Int(clamping: fixedInteger), name: try required(0), effectiveAt: effectiveAt,
                    firstTouchWithin: limits.firstTouch > 0 ? limits.firstTouch : nil,
                    decisionWithin: limits.decision > 0 ? limits.decision : nil, calendar: calendar))
        }
        guard reader.offset == bytes.count else {
            throw RecordDecodingError(offset: reader.offset, reason: "\(bytes.count - reader.offset) trailing bytes")
        }
        guard let source else { throw RecordDecodingError(offset: reader.offset, reason: "source is absent") }
        guard type.isLeadEvent == (lead != nil) else {
            throw RecordDecodingError(offset: BinaryLayout.headerSize, reason: "lead presence does not match the type")
        }
        self.init(
            id: id, occurredAt: occurredAt, source: source, actor: actor, lead: lead, correlationId: correlationId,
            payload: payload)
    }

    private static func parseJSON(_ bytes: UnsafeRawBufferPointer) throws(EventInputError) -> JSONValue {
        do throws(JSONParseError) {
            return try JSONValue.parse(bytes)
        } catch {
            throw EventInputError(code: .malformedJSON, expected: "JSON", found: "\(error)")
        }
    }

    /// Decodes the binary storage form from an array of bytes.
    public init(binary bytes: [UInt8]) throws(RecordDecodingError) {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(RecordDecodingError) in try LeadEvent(binary: raw) }
        }
        self = try result.get()
    }
}

/// Appends little-endian values to a byte array.
struct BinaryWriter {
    var out: [UInt8]

    mutating func byte(_ value: UInt8) { out.append(value) }

    mutating func integer<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    mutating func uuid(_ id: UUID) {
        withUnsafeBytes(of: id.uuid) { out.append(contentsOf: $0) }
    }

    mutating func bytes(_ bytes: [UInt8]) {
        precondition(bytes.count <= BinaryLayout.maximumStringBytes, "a string of \(bytes.count) bytes does not fit a record")
        integer(UInt16(bytes.count))
        out.append(contentsOf: bytes)
    }

    mutating func string(_ value: String?) {
        guard let value else {
            integer(BinaryLayout.absent)
            return
        }
        let count = value.utf8.count
        precondition(count <= BinaryLayout.maximumStringBytes, "a string of \(count) bytes does not fit a record")
        integer(UInt16(count))
        out.append(contentsOf: value.utf8)
    }

    mutating func attributes<Failure: Error>(
        _ attributes: [String: AttributeValue], sealing seal: ((String, UnsafeRawBufferPointer, inout [UInt8]) throws(Failure) -> Bool)?
    ) throws(Failure) {
        precondition(attributes.count <= Int(UInt16.max), "too many attributes for a record")
        integer(UInt16(attributes.count))
        // One buffer for every value of the record that is offered to `seal`.
        var plain = BinaryWriter(out: [])
        for (name, value) in sortedAttributes(attributes) {
            string(name)
            guard let seal, value != .null else {
                self.value(value)
                continue
            }
            plain.out.removeAll(keepingCapacity: true)
            plain.value(value)
            // The sealed bytes go straight after their tag and a length slot filled in afterwards.
            let slot = out.count
            byte(BinaryLayout.sealedTag)
            integer(UInt16(0))
            let start = out.count
            let sealed: Result<Bool, Failure> = plain.out.withUnsafeBytes { value in
                do throws(Failure) { return .success(try seal(name, value, &out)) } catch { return .failure(error) }
            }
            if try sealed.get() {
                let count = out.count - start
                precondition(count <= BinaryLayout.maximumStringBytes, "a sealed value of \(count) bytes does not fit a record")
                withUnsafeBytes(of: UInt16(count).littleEndian) { length in
                    out.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: slot + 1).copyMemory(from: length.baseAddress!, byteCount: 2) }
                }
            } else {
                out.removeSubrange(slot...)
                out.append(contentsOf: plain.out)
            }
        }
    }

    mutating func value(_ value: AttributeValue) {
        switch value {
        case .null: byte(0)
        case .bool(let flag): byte(flag ? 2 : 1)
        case .number(let number):
            byte(3)
            integer(number.bitPattern)
        case .string(let text):
            byte(4)
            string(text)
        }
    }
}

/// Given an attribute's name and its encoded value, the sealed bytes to store instead, or nil to
/// store the value in clear.
public typealias AttributeSealer = (_ name: String, _ value: [UInt8]) throws -> [UInt8]?

/// Given an attribute's name and its encoded value, appends the sealed bytes to store instead to
/// `out` and returns true, or returns false (appending nothing) to store the value in clear.
public typealias AttributeSealing = (_ name: String, _ value: UnsafeRawBufferPointer, _ out: inout [UInt8]) throws -> Bool

/// An attribute whose value the ledger stored sealed: the bytes only the lead's key opens.
public struct SealedAttribute: Sendable, Hashable {
    /// The attribute's name (stored in clear).
    public let name: String
    /// The sealed bytes, as stored.
    public let sealed: [UInt8]
}

/// Reads little-endian values with bounds checks.
struct BinaryReader {
    let bytes: UnsafeRawBufferPointer
    var offset = 0

    init(bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    private func need(_ count: Int) throws(RecordDecodingError) {
        guard bytes.count - offset >= count else {
            throw RecordDecodingError(offset: offset, reason: "truncated: needs \(count) more bytes")
        }
    }

    mutating func byte() throws(RecordDecodingError) -> UInt8 {
        try need(1)
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func integer<T: FixedWidthInteger>(_: T.Type) throws(RecordDecodingError) -> T {
        try need(MemoryLayout<T>.size)
        defer { offset += MemoryLayout<T>.size }
        return T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    mutating func uuid() throws(RecordDecodingError) -> UUID {
        try need(16)
        defer { offset += 16 }
        return UUID(uuid: bytes.loadUnaligned(fromByteOffset: offset, as: uuid_t.self))
    }

    /// The bytes of a string slot, nil when absent.
    mutating func slot() throws(RecordDecodingError) -> UnsafeRawBufferPointer? {
        let count = try integer(UInt16.self)
        if count == BinaryLayout.absent { return nil }
        try need(Int(count))
        defer { offset += Int(count) }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + Int(count))])
    }

    mutating func string() throws(RecordDecodingError) -> String? {
        let start = offset
        guard let slot = try slot() else { return nil }
        guard let text = String(validating: slot.bindMemory(to: UInt8.self), as: UTF8.self) else {
            throw RecordDecodingError(offset: start, reason: "invalid UTF-8")
        }
        return text
    }

    /// A slot holding rules as compact JSON, parsed.
    mutating func rules() throws(RecordDecodingError) -> (MQLRule, JSONValue) {
        let rulesOffset = offset
        guard let rulesBytes = try slot() else { throw RecordDecodingError(offset: rulesOffset, reason: "rules are absent") }
        let rulesJSON: JSONValue
        do throws(JSONParseError) {
            rulesJSON = try JSONValue.parse(rulesBytes)
        } catch {
            throw RecordDecodingError(offset: rulesOffset, reason: "rules are not JSON: \(error)")
        }
        do throws(RuleError) {
            return (try RuleParser().parse(rulesJSON), rulesJSON)
        } catch {
            throw RecordDecodingError(offset: rulesOffset, reason: "rules do not parse: \(error)")
        }
    }

    mutating func attributes(sealed: inout [SealedAttribute]) throws(RecordDecodingError) -> [String: AttributeValue] {
        let count = Int(try integer(UInt16.self))
        var attributes: [String: AttributeValue] = [:]
        attributes.reserveCapacity(count)
        for _ in 0..<count {
            let start = offset
            guard let name = try string() else {
                throw RecordDecodingError(offset: start, reason: "an attribute name is absent")
            }
            let tagOffset = offset
            let tag = try byte()
            if tag == BinaryLayout.sealedTag {
                guard let bytes = try slot() else { throw RecordDecodingError(offset: tagOffset, reason: "a sealed value is absent") }
                sealed.append(SealedAttribute(name: name, sealed: Array(bytes)))
                continue
            }
            attributes[name] = try attributeValue(tag: tag, at: tagOffset)
        }
        return attributes
    }

    /// The value after its tag; nil never (the tags are exhaustive) except for the sealed tag.
    mutating func attributeValue(tag: UInt8, at tagOffset: Int) throws(RecordDecodingError) -> AttributeValue? {
        switch tag {
        case 0: return .null
        case 1: return .bool(false)
        case 2: return .bool(true)
        case 3: return .number(Double(bitPattern: try integer(UInt64.self)))
        case 4:
            guard let text = try string() else {
                throw RecordDecodingError(offset: tagOffset, reason: "an attribute string is absent")
            }
            return .string(text)
        case let tag: throw RecordDecodingError(offset: tagOffset, reason: "unknown attribute tag \(tag)")
        }
    }
}
