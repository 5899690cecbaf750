import Foundation

/// Reads events from their JSON wire form (DESIGN §3), refusing each bad one with its first problem.
///
/// Checks run in a fixed order (the envelope's `id`, `type`, forbidden fields, `occurredAt`, `source`,
/// `actor`, `lead`, `correlationId`, then `data` field by field) so that the same bad line always
/// gives the same message.
public struct EventDecoder: Sendable {
    /// Limits on sizes, chosen so a record stays far below LMDB's comfortable value size.
    public enum Limits {
        /// Longest `lead`, in UTF-8 bytes.
        public static let leadBytes = 128
        /// Longest `source`, in characters.
        public static let sourceCharacters = 64
        /// Longest identifier-like text (owner, channel, label, actor…), in UTF-8 bytes.
        public static let textBytes = 1024
        /// Longest free text (note, rationale), in UTF-8 bytes.
        public static let noteBytes = 8192
        /// Longest attribute name, in UTF-8 bytes.
        public static let attributeNameBytes = 128
        /// Most attributes in one event.
        public static let attributeCount = 256
        /// Longest rules document, as compact JSON, in bytes.
        public static let rulesBytes = 60_000
        /// Longest proposal id, in bytes.
        public static let proposalBytes = 128
        /// Longest reviewer role, in bytes.
        public static let roleBytes = 64
        /// Longest evidence report, as compact JSON, in bytes: with the rules it must fit one record (32 KiB).
        public static let evidenceBytes = 16_384
        /// Largest magnitude of a `lead.scored` score: analyses band scores into integers, and a
        /// score beyond any model's scale is a mistake better refused than stored.
        public static let scoreMagnitude: Double = 1_000_000
        /// Largest magnitude of an opportunity or deal `amount` (a thousand trillion in any currency).
        public static let amountMagnitude: Double = 1e15
    }

    /// Creates a decoder.
    public init() {}

    /// Decodes one event from the UTF-8 JSON of one line.
    public func decode(line bytes: some Collection<UInt8>, lineNumber: Int? = nil) throws(EventInputError) -> LeadEvent {
        let json: JSONValue
        do {
            json = try JSONValue.parse(bytes)
        } catch {
            throw EventInputError(
                code: .malformedJSON, line: lineNumber, eventId: Self.scanForId(bytes), expected: "one JSON object",
                found: "malformed JSON (\(error.description))")
        }
        return try decode(json: json, lineNumber: lineNumber)
    }

    /// Decodes one event from a line of text.
    public func decode(line text: String, lineNumber: Int? = nil) throws(EventInputError) -> LeadEvent {
        try decode(line: Array(text.utf8), lineNumber: lineNumber)
    }

    /// Decodes one event from parsed JSON.
    public func decode(json: JSONValue, lineNumber: Int? = nil) throws(EventInputError) -> LeadEvent {
        guard case .object(let members) = json else {
            throw EventInputError(
                code: .wrongType, line: lineNumber, expected: "an event object", found: json.shortDescription)
        }
        var reader = FieldReader(members: members, prefix: "", line: lineNumber, eventId: nil)
        if case .string(let raw)? = reader.value("id") { reader.eventId = raw }
        return try reader.readEvent()
    }

    /// Decodes NDJSON: one event per line, blank lines skipped, line numbers from 1.
    public func decodeNDJSON(_ data: Data) -> [Result<LeadEvent, EventInputError>] {
        var results: [Result<LeadEvent, EventInputError>] = []
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            var lineStart = 0
            var lineNumber = 1
            while lineStart <= bytes.count {
                var lineEnd = lineStart
                while lineEnd < bytes.count, bytes[lineEnd] != 0x0A { lineEnd += 1 }
                var contentEnd = lineEnd
                if contentEnd > lineStart, bytes[contentEnd - 1] == 0x0D { contentEnd -= 1 }
                let line = UnsafeBufferPointer(rebasing: bytes[lineStart..<contentEnd])
                if line.contains(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) {
                    results.append(Result { () throws(EventInputError) in try decode(line: line, lineNumber: lineNumber) })
                }
                lineStart = lineEnd + 1
                lineNumber += 1
            }
        }
        return results
    }

    /// Decodes a JSON array of events; each event's line is where its object starts in the text.
    public func decodeArray(_ data: Data) -> [Result<LeadEvent, EventInputError>] {
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let bytes = raw.bindMemory(to: UInt8.self)
            let elements: [(offset: Int, value: JSONValue)]
            do throws(JSONParseError) {
                elements = try JSONValue.parseArrayElements(bytes)
            } catch {
                let line = Self.lineNumber(of: error.offset, in: bytes)
                return [
                    .failure(
                        EventInputError(
                            code: .malformedJSON, line: line, expected: "a JSON array of event objects",
                            found: "malformed JSON (\(error.message))"))
                ]
            }
            var line = 1
            var scanned = 0
            return elements.map { element in
                for index in scanned..<element.offset where bytes[index] == 0x0A { line += 1 }
                scanned = element.offset
                return Result { () throws(EventInputError) in try decode(json: element.value, lineNumber: line) }
            }
        }
    }

    /// Decodes a batch that is either a JSON array (first non-blank byte `[`) or NDJSON.
    public func decodeBatch(_ data: Data) -> [Result<LeadEvent, EventInputError>] {
        Self.isArrayBatch(data) ? decodeArray(data) : decodeNDJSON(data)
    }

    /// Whether a batch is a JSON array (its first non-blank byte is `[`) rather than NDJSON.
    public static func isArrayBatch(_ data: Data) -> Bool {
        data.first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }) == UInt8(ascii: "[")
    }

    /// How many events a batch holds, counted from its bytes without decoding any: the non-blank
    /// lines of NDJSON, or the top-level elements of a JSON array (a malformed array counts what
    /// it seems to hold). `nil` as soon as the count passes `limit`, so a huge batch costs one
    /// partial scan and no allocation.
    public static func countBatchItems(_ data: Data, upTo limit: Int) -> Int? {
        let arrayBatch = isArrayBatch(data)
        return data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Int? in
            let bytes = raw.bindMemory(to: UInt8.self)
            var count = 0
            if !arrayBatch {
                var sawContent = false
                for byte in bytes {
                    if byte == 0x0A {
                        if sawContent { count += 1 }
                        sawContent = false
                    } else if byte != 0x20, byte != 0x09, byte != 0x0D {
                        sawContent = true
                    }
                    if count > limit { return nil }
                }
                return sawContent ? (count + 1 > limit ? nil : count + 1) : count
            }
            var depth = 0
            var inString = false
            var escaped = false
            var elementOpen = false
            for byte in bytes {
                if inString {
                    if escaped {
                        escaped = false
                    } else if byte == UInt8(ascii: "\\") {
                        escaped = true
                    } else if byte == UInt8(ascii: "\"") {
                        inString = false
                    }
                    continue
                }
                switch byte {
                case 0x20, 0x09, 0x0A, 0x0D:
                    continue
                case UInt8(ascii: "\""):
                    inString = true
                case UInt8(ascii: "["), UInt8(ascii: "{"):
                    depth += 1
                    if depth == 1 { continue }
                case UInt8(ascii: "]"), UInt8(ascii: "}"):
                    depth -= 1
                    if depth == 0 { continue }
                case UInt8(ascii: ","):
                    if depth == 1 {
                        elementOpen = false
                        continue
                    }
                default:
                    break
                }
                // Any other byte inside the outer array starts or continues an element.
                if depth >= 1, !elementOpen {
                    elementOpen = true
                    count += 1
                    if count > limit { return nil }
                }
            }
            return count
        }
    }

    /// Finds `"id": "…"` in text that is not valid JSON, so the user can still tell which event it was.
    static func scanForId(_ bytes: some Collection<UInt8>) -> String? {
        let text = Array(bytes)
        let key = Array(#""id""#.utf8)
        var index = 0
        while index + key.count <= text.count {
            if text[index..<(index + key.count)].elementsEqual(key) {
                var cursor = index + key.count
                func skipBlanks() { while cursor < text.count, text[cursor] == 0x20 || text[cursor] == 0x09 { cursor += 1 } }
                skipBlanks()
                guard cursor < text.count, text[cursor] == UInt8(ascii: ":") else { index += 1; continue }
                cursor += 1
                skipBlanks()
                guard cursor < text.count, text[cursor] == UInt8(ascii: "\"") else { return nil }
                let start = cursor + 1
                var end = start
                while end < text.count, end - start <= 64, text[end] != UInt8(ascii: "\""), text[end] != UInt8(ascii: "\\") {
                    end += 1
                }
                guard end < text.count, text[end] == UInt8(ascii: "\""), end > start else { return nil }
                return String(decoding: text[start..<end], as: UTF8.self)
            }
            index += 1
        }
        return nil
    }

    private static func lineNumber(of offset: Int, in bytes: UnsafeBufferPointer<UInt8>) -> Int {
        var line = 1
        for index in 0..<min(offset, bytes.count) where bytes[index] == 0x0A { line += 1 }
        return line
    }
}

/// Reads the members of one JSON object, turning each problem into an `EventInputError` with its path.
struct FieldReader {
    let members: [JSONMember]
    let prefix: String
    let line: Int?
    var eventId: String?

    func value(_ name: String) -> JSONValue? {
        for member in members where member.key == name { return member.value }
        return nil
    }

    func path(_ name: String) -> String { prefix + name }

    func fail(_ code: EventInputError.Code, _ name: String?, expected: String, found: String) -> EventInputError {
        EventInputError(
            code: code, line: line, eventId: eventId, field: name.map(path), expected: expected, found: found)
    }

    /// A present, non-null value, or nil.
    func present(_ name: String) -> JSONValue? {
        guard let value = value(name), value != .null else { return nil }
        return value
    }

    func requiredString(_ name: String, maxBytes: Int = EventDecoder.Limits.textBytes) throws(EventInputError) -> String {
        guard let value = present(name) else {
            throw fail(.missingField, name, expected: "a non-empty string", found: "nothing")
        }
        guard case .string(let text) = value else {
            throw fail(.wrongType, name, expected: "a string", found: value.shortDescription)
        }
        guard !text.isEmpty else { throw fail(.invalidValue, name, expected: "a non-empty string", found: "\"\"") }
        guard text.utf8.count <= maxBytes else {
            throw fail(.invalidValue, name, expected: "at most \(maxBytes) bytes", found: "\(text.utf8.count) bytes")
        }
        return text
    }

    func optionalString(_ name: String, maxBytes: Int = EventDecoder.Limits.textBytes) throws(EventInputError) -> String? {
        guard let value = present(name) else { return nil }
        guard case .string(let text) = value else {
            throw fail(.wrongType, name, expected: "a string", found: value.shortDescription)
        }
        guard text.utf8.count <= maxBytes else {
            throw fail(.invalidValue, name, expected: "at most \(maxBytes) bytes", found: "\(text.utf8.count) bytes")
        }
        return text
    }

    func reasonCode(_ name: String, required: Bool) throws(EventInputError) -> String? {
        guard let value = present(name) else {
            if required {
                throw fail(.missingField, name, expected: "a reason code like FIT_COMPANY.TOO_SMALL", found: "nothing")
            }
            return nil
        }
        guard case .string(let text) = value else {
            throw fail(.wrongType, name, expected: "a reason code like FIT_COMPANY.TOO_SMALL", found: value.shortDescription)
        }
        guard ReasonCode.isWellFormed(text) else {
            throw fail(.invalidValue, name, expected: "a reason code like FIT_COMPANY.TOO_SMALL", found: value.shortDescription)
        }
        return text
    }

    func optionalNumber(_ name: String) throws(EventInputError) -> Double? {
        guard let value = present(name) else { return nil }
        guard case .number(let number) = value else {
            throw fail(.wrongType, name, expected: "a number", found: value.shortDescription)
        }
        return number
    }

    func requiredNumber(_ name: String) throws(EventInputError) -> Double {
        guard let number = try optionalNumber(name) else {
            throw fail(.missingField, name, expected: "a number", found: "nothing")
        }
        return number
    }

    /// A number whose magnitude is at most `limit` (the parser already refuses non-finite ones).
    func number(_ name: String, required: Bool, magnitude limit: Double) throws(EventInputError) -> Double? {
        guard let number = required ? try requiredNumber(name) : try optionalNumber(name) else { return nil }
        guard abs(number) <= limit else {
            throw fail(
                .invalidValue, name, expected: "a number from -\(Self.plain(limit)) to \(Self.plain(limit))",
                found: JSONValue.number(number).shortDescription)
        }
        return number
    }

    /// `1000000` rather than `1e+06`, for limits in messages.
    private static func plain(_ limit: Double) -> String {
        limit < 1e18 ? String(Int64(limit)) : "\(limit)"
    }

    func optionalVersion(_ name: String) throws(EventInputError) -> Int? {
        guard let value = present(name) else { return nil }
        guard case .number(let number) = value else {
            throw fail(.wrongType, name, expected: "an integer version", found: value.shortDescription)
        }
        guard number == number.rounded(), number >= 1, number < 9_007_199_254_740_992 else {
            throw fail(.invalidValue, name, expected: "an integer version of at least 1", found: value.shortDescription)
        }
        return Int(number)
    }

    func optionalBool(_ name: String) throws(EventInputError) -> Bool? {
        guard let value = present(name) else { return nil }
        guard case .bool(let flag) = value else {
            throw fail(.wrongType, name, expected: "true or false", found: value.shortDescription)
        }
        return flag
    }

    func timestamp(_ name: String) throws(EventInputError) -> Timestamp {
        let expected = "an RFC 3339 date-time with offset like 2026-03-02T14:05:00Z"
        guard let value = present(name) else { throw fail(.missingField, name, expected: expected, found: "nothing") }
        guard case .string(let text) = value else {
            throw fail(.wrongType, name, expected: expected, found: value.shortDescription)
        }
        guard let timestamp = Timestamp(rfc3339: text) else {
            throw fail(.invalidValue, name, expected: expected, found: value.shortDescription)
        }
        return timestamp
    }

    func uuid(_ name: String, expected: String) throws(EventInputError) -> UUID {
        guard let value = present(name) else { throw fail(.missingField, name, expected: expected, found: "nothing") }
        guard case .string(let text) = value else {
            throw fail(.wrongType, name, expected: expected, found: value.shortDescription)
        }
        guard let id = UUID(uuidString: text) else {
            throw fail(.invalidValue, name, expected: expected, found: value.shortDescription)
        }
        return id
    }

    func attributes(_ name: String, required: Bool) throws(EventInputError) -> [String: AttributeValue]? {
        guard let value = present(name) else {
            if required {
                throw fail(.missingField, name, expected: "an object of attributes", found: "nothing")
            }
            return nil
        }
        guard case .object(let entries) = value else {
            throw fail(.wrongType, name, expected: "an object of attributes", found: value.shortDescription)
        }
        guard entries.count <= EventDecoder.Limits.attributeCount else {
            throw fail(
                .invalidValue, name, expected: "at most \(EventDecoder.Limits.attributeCount) attributes",
                found: "\(entries.count)")
        }
        var attributes: [String: AttributeValue] = [:]
        attributes.reserveCapacity(entries.count)
        for entry in entries {
            let entryPath = name + "." + entry.key
            guard !entry.key.isEmpty, entry.key.utf8.count <= EventDecoder.Limits.attributeNameBytes else {
                throw fail(
                    .invalidValue, name,
                    expected: "attribute names of 1 to \(EventDecoder.Limits.attributeNameBytes) bytes",
                    found: "\"\(entry.key.prefix(40))\"")
            }
            guard let attribute = AttributeValue(json: entry.value) else {
                throw fail(
                    .wrongType, entryPath, expected: "a string, a number, a boolean or null",
                    found: entry.value.shortDescription)
            }
            if case .string(let text) = attribute, text.utf8.count > EventDecoder.Limits.textBytes {
                throw fail(
                    .invalidValue, entryPath, expected: "at most \(EventDecoder.Limits.textBytes) bytes",
                    found: "\(text.utf8.count) bytes")
            }
            attributes[entry.key] = attribute
        }
        return attributes
    }

    func readEvent() throws(EventInputError) -> LeadEvent {
        let id = try uuid("id", expected: "a UUID like 0b9f3c2e-5d7a-4c1e-9a51-0c6f2f1e7a10")
        guard let typeValue = present("type") else {
            throw fail(.missingField, "type", expected: "an event type like lead.rejected", found: "nothing")
        }
        guard case .string(let typeName) = typeValue else {
            throw fail(.wrongType, "type", expected: "an event type like lead.rejected", found: typeValue.shortDescription)
        }
        guard let type = EventType(rawValue: typeName) else {
            throw fail(
                .unknownType, "type", expected: "a known event type (\(EventType.allCases.map(\.rawValue).joined(separator: ", ")))",
                found: typeValue.shortDescription)
        }
        for name in ["position", "recordedAt", "hash"] where value(name) != nil {
            throw fail(.forbiddenField, name, expected: "no \(name) (the ledger assigns it)", found: value(name)!.shortDescription)
        }
        let occurredAt = try timestamp("occurredAt")
        let source = try requiredString("source")
        guard source.count <= EventDecoder.Limits.sourceCharacters,
            source.utf8.allSatisfy({ byte in
                (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte) || byte == 0x5F || byte == 0x2E || byte == 0x2D
            })
        else {
            throw fail(
                .invalidValue, "source", expected: "1 to 64 characters of a-z, 0-9, _, . or -",
                found: present("source")!.shortDescription)
        }
        let actor = try optionalString("actor")
        var lead: String?
        if type.isLeadEvent {
            lead = try requiredString("lead", maxBytes: EventDecoder.Limits.leadBytes)
        } else if let sent = value("lead") {
            throw fail(.forbiddenField, "lead", expected: "no lead on a \(type.rawValue) event", found: sent.shortDescription)
        }
        let correlationId = try optionalString("correlationId")
        let payload = try readPayload(type)
        return LeadEvent(
            id: id, occurredAt: occurredAt, source: source, actor: actor, lead: lead, correlationId: correlationId,
            payload: payload)
    }

    private func readPayload(_ type: EventType) throws(EventInputError) -> EventPayload {
        let dataMembers: [JSONMember]
        switch value("data") {
        case nil, .null?:
            // Types whose data fields are all optional may omit `data`; the others report the first missing field.
            dataMembers = []
        case .object(let members)?:
            dataMembers = members
        case let other?:
            throw fail(.wrongType, "data", expected: "an object", found: other.shortDescription)
        }
        let data = FieldReader(members: dataMembers, prefix: "data.", line: line, eventId: eventId)
        switch type {
        case .leadCaptured:
            return .leadCaptured(
                .init(
                    channel: try data.requiredString("channel"), campaign: try data.optionalString("campaign"),
                    attributes: try data.attributes("attributes", required: false)))
        case .leadAttributesObserved:
            return .attributesObserved(.init(attributes: try data.attributes("attributes", required: true)!))
        case .leadScored:
            return .leadScored(
                .init(
                    score: try data.number("score", required: true, magnitude: EventDecoder.Limits.scoreMagnitude)!,
                    model: try data.optionalString("model")))
        case .leadHandedOff:
            return .handedOff(
                .init(owner: try data.requiredString("owner"), definition: try data.optionalVersion("definition")))
        case .leadAccepted:
            return .accepted(.init(by: try data.optionalString("by"), auto: try data.optionalBool("auto")))
        case .leadRejected:
            return .rejected(
                .init(
                    reason: try data.reasonCode("reason", required: true)!,
                    note: try data.optionalString("note", maxBytes: EventDecoder.Limits.noteBytes),
                    by: try data.optionalString("by")))
        case .leadRecycled:
            return .recycled(
                .init(
                    reason: try data.reasonCode("reason", required: false),
                    note: try data.optionalString("note", maxBytes: EventDecoder.Limits.noteBytes)))
        case .leadConverted:
            let opportunity = try data.requiredString("opportunity")
            let amount = try data.number("amount", required: false, magnitude: EventDecoder.Limits.amountMagnitude)
            let currency = try data.optionalString("currency")
            if let currency, !(currency.utf8.count == 3 && currency.utf8.allSatisfy({ (0x41...0x5A).contains($0) })) {
                throw data.fail(
                    .invalidValue, "currency", expected: "a three-letter ISO 4217 code like EUR",
                    found: JSONValue.string(currency).shortDescription)
            }
            return .converted(.init(opportunity: opportunity, amount: amount, currency: currency))
        case .leadClosed:
            guard let won = try data.optionalBool("won") else {
                throw data.fail(.missingField, "won", expected: "true or false", found: "nothing")
            }
            return .closed(
                .init(
                    won: won, amount: try data.number("amount", required: false, magnitude: EventDecoder.Limits.amountMagnitude),
                    reason: try data.reasonCode("reason", required: false)))
        case .leadRejectionCorrected:
            return .rejectionCorrected(
                .init(
                    event: try data.uuid("event", expected: "the id of the lead.rejected event to correct"),
                    reason: try data.reasonCode("reason", required: true)!,
                    note: try data.optionalString("note", maxBytes: EventDecoder.Limits.noteBytes)))
        case .reasonDefined:
            return .reasonDefined(
                .init(
                    code: try data.reasonCode("code", required: true)!, label: try data.requiredString("label"),
                    category: try data.requiredString("category"), requiresNote: try data.optionalBool("requiresNote")))
        case .reasonRetired:
            return .reasonRetired(
                .init(
                    code: try data.reasonCode("code", required: true)!,
                    replacedBy: try data.reasonCode("replacedBy", required: false)))
        case .definitionPublished:
            guard let version = try data.optionalVersion("version") else {
                throw data.fail(.missingField, "version", expected: "an integer version", found: "nothing")
            }
            let name = try data.requiredString("name")
            guard let rulesJSON = data.present("rules") else {
                throw data.fail(.missingField, "rules", expected: "a rule object", found: "nothing")
            }
            let rules: MQLRule
            do {
                rules = try RuleParser().parse(rulesJSON)
            } catch {
                throw data.fail(
                    .invalidValue, "rules" + error.pointer, expected: error.expected, found: error.found)
            }
            let size = rulesJSON.jsonBytes.count
            guard size <= EventDecoder.Limits.rulesBytes else {
                throw data.fail(
                    .invalidValue, "rules", expected: "at most \(EventDecoder.Limits.rulesBytes) bytes of rules",
                    found: "\(size) bytes")
            }
            let effectiveAt = try data.timestamp("effectiveAt")
            let rationale = try data.optionalString("rationale", maxBytes: EventDecoder.Limits.noteBytes)
            let proposal = try data.proposalID(required: false)
            return .definitionPublished(
                .init(
                    version: version, name: name, rules: rules, rulesJSON: rulesJSON, effectiveAt: effectiveAt,
                    rationale: rationale, proposal: proposal))
        case .leadForgotten:
            return .forgotten(.init(reason: try data.optionalString("reason", maxBytes: EventDecoder.Limits.noteBytes)))
        case .leadAssigned:
            return .assigned(.init(owner: try data.requiredString("owner"), team: try data.optionalString("team")))
        case .leadTouched:
            let expected = "one of " + SalesActivity.allCases.map(\.rawValue).joined(separator: ", ")
            guard let activityValue = data.present("activity") else {
                throw data.fail(.missingField, "activity", expected: expected, found: "nothing")
            }
            guard case .string(let activityName) = activityValue, let activity = SalesActivity(rawValue: activityName) else {
                throw data.fail(
                    { if case .string = activityValue { .invalidValue } else { .wrongType } }(), "activity", expected: expected,
                    found: activityValue.shortDescription)
            }
            return .touched(.init(activity: activity, by: try data.optionalString("by")))
        case .slaPublished:
            return .slaPublished(try data.serviceLevel())
        case .definitionProposed:
            return .definitionProposed(try data.proposedDefinition())
        case .definitionReviewed:
            let proposal = try data.proposalID(required: true)!
            let expected = "approved or declined"
            guard let verdictValue = data.present("verdict") else {
                throw data.fail(.missingField, "verdict", expected: expected, found: "nothing")
            }
            guard case .string(let verdictName) = verdictValue, let verdict = ReviewVerdict(rawValue: verdictName) else {
                throw data.fail(
                    { if case .string = verdictValue { .invalidValue } else { .wrongType } }(), "verdict", expected: expected,
                    found: verdictValue.shortDescription)
            }
            let role = try data.requiredString("role", maxBytes: EventDecoder.Limits.roleBytes)
            guard ProposalNames.isRole(role) else {
                throw data.fail(.invalidValue, "role", expected: ProposalNames.roleForm, found: JSONValue.string(role).shortDescription)
            }
            return .definitionReviewed(
                .init(
                    proposal: proposal, verdict: verdict, role: role,
                    note: try data.optionalString("note", maxBytes: EventDecoder.Limits.noteBytes)))
        }
    }

    /// The `proposal` id of a proposal, a review or a publish.
    func proposalID(required: Bool) throws(EventInputError) -> String? {
        guard present("proposal") != nil || required else { return nil }
        let id = try requiredString("proposal", maxBytes: EventDecoder.Limits.proposalBytes)
        guard ProposalNames.isProposalID(id) else {
            throw fail(.invalidValue, "proposal", expected: ProposalNames.proposalForm, found: JSONValue.string(id).shortDescription)
        }
        return id
    }

    /// The `data` of `definition.proposed`.
    func proposedDefinition() throws(EventInputError) -> EventPayload.DefinitionProposed {
        let proposal = try proposalID(required: true)!
        let name = try requiredString("name")
        guard let rulesJSON = present("rules") else {
            throw fail(.missingField, "rules", expected: "a rule object", found: "nothing")
        }
        let rules: MQLRule
        do {
            rules = try RuleParser().parse(rulesJSON)
        } catch {
            throw fail(.invalidValue, "rules" + error.pointer, expected: error.expected, found: error.found)
        }
        let size = rulesJSON.jsonBytes.count
        guard size <= EventDecoder.Limits.rulesBytes else {
            throw fail(
                .invalidValue, "rules", expected: "at most \(EventDecoder.Limits.rulesBytes) bytes of rules", found: "\(size) bytes")
        }
        let rationale = try optionalString("rationale", maxBytes: EventDecoder.Limits.noteBytes)
        var evidence: ProposalEvidence?
        if let evidenceValue = present("evidence") {
            let expected = "an object with position, headHash and report"
            guard case .object(let evidenceMembers) = evidenceValue else {
                throw fail(.wrongType, "evidence", expected: expected, found: evidenceValue.shortDescription)
            }
            let inner = FieldReader(members: evidenceMembers, prefix: prefix + "evidence.", line: line, eventId: eventId)
            guard let positionValue = inner.present("position") else {
                throw inner.fail(.missingField, "position", expected: "a log position of at least 1", found: "nothing")
            }
            guard case .number(let number) = positionValue, number == number.rounded(), number >= 1, number < 9_007_199_254_740_992
            else {
                throw inner.fail(
                    .invalidValue, "position", expected: "a log position of at least 1", found: positionValue.shortDescription)
            }
            let headHash = try inner.requiredString("headHash", maxBytes: 64)
            guard headHash.utf8.count == 64, headHash.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
                throw inner.fail(
                    .invalidValue, "headHash", expected: "64 lower-case hex digits (a SHA-256)",
                    found: JSONValue.string(headHash).shortDescription)
            }
            guard let report = inner.present("report") else {
                throw inner.fail(.missingField, "report", expected: "the report as a JSON object", found: "nothing")
            }
            guard case .object = report else {
                throw inner.fail(.wrongType, "report", expected: "the report as a JSON object", found: report.shortDescription)
            }
            let reportSize = report.jsonBytes.count
            guard reportSize <= EventDecoder.Limits.evidenceBytes else {
                throw inner.fail(
                    .invalidValue, "report", expected: "at most \(EventDecoder.Limits.evidenceBytes) bytes", found: "\(reportSize) bytes")
            }
            evidence = ProposalEvidence(position: UInt64(number), headHash: headHash, report: report)
        }
        return EventPayload.DefinitionProposed(
            proposal: proposal, name: name, rules: rules, rulesJSON: rulesJSON, rationale: rationale, evidence: evidence)
    }

    /// Longest service-level limit, in business hours: a year of round-the-clock hours.
    static let longestServiceLimitHours: Double = 8760

    /// The `data` of `sla.published`.
    func serviceLevel() throws(EventInputError) -> EventPayload.SLAPublished {
        guard let version = try optionalVersion("version") else {
            throw fail(.missingField, "version", expected: "an integer version", found: "nothing")
        }
        let name = try requiredString("name")
        let effectiveAt = try timestamp("effectiveAt")
        func limit(_ field: String) throws(EventInputError) -> Double? {
            guard let hours = try optionalNumber(field) else { return nil }
            guard hours > 0, hours <= Self.longestServiceLimitHours else {
                throw fail(
                    .invalidValue, field, expected: "business hours above 0 and at most \(Int(Self.longestServiceLimitHours))",
                    found: JSONValue.number(hours).shortDescription)
            }
            return hours
        }
        let firstTouchWithin = try limit("firstTouchWithin")
        let decisionWithin = try limit("decisionWithin")
        guard firstTouchWithin != nil || decisionWithin != nil else {
            throw fail(
                .missingField, "firstTouchWithin", expected: "at least one limit: firstTouchWithin or decisionWithin (hours)",
                found: "neither")
        }
        guard let calendarValue = present("calendar") else {
            throw fail(.missingField, "calendar", expected: "an object with timeZone, workdays, start and end", found: "nothing")
        }
        guard case .object(let calendarMembers) = calendarValue else {
            throw fail(.wrongType, "calendar", expected: "an object with timeZone, workdays, start and end", found: calendarValue.shortDescription)
        }
        let calendar = FieldReader(members: calendarMembers, prefix: prefix + "calendar.", line: line, eventId: eventId)
        return EventPayload.SLAPublished(
            version: version, name: name, effectiveAt: effectiveAt, firstTouchWithin: firstTouchWithin, decisionWithin: decisionWithin,
            calendar: try calendar.businessCalendar())
    }

    /// A `calendar` object's members: the working hours of a service level.
    func businessCalendar() throws(EventInputError) -> BusinessCalendar {
        let calendar = self
        let zoneName = try calendar.requiredString("timeZone", maxBytes: 64)
        guard TimeZone(identifier: zoneName) != nil else {
            throw calendar.fail(
                .invalidValue, "timeZone", expected: "an IANA time zone name like Europe/Paris",
                found: JSONValue.string(zoneName).shortDescription)
        }
        let workdaysExpected = "a non-empty array of distinct ISO weekdays, Monday = 1 to Sunday = 7"
        guard let workdaysValue = calendar.present("workdays") else {
            throw calendar.fail(.missingField, "workdays", expected: workdaysExpected, found: "nothing")
        }
        guard case .array(let dayValues) = workdaysValue, !dayValues.isEmpty, dayValues.count <= 7 else {
            throw calendar.fail(
                { if case .array = workdaysValue { .invalidValue } else { .wrongType } }(), "workdays", expected: workdaysExpected,
                found: workdaysValue.shortDescription)
        }
        var workdays: [Int] = []
        for (index, dayValue) in dayValues.enumerated() {
            guard case .number(let day) = dayValue, day == day.rounded(), (1...7).contains(day), !workdays.contains(Int(day)) else {
                throw calendar.fail(
                    .invalidValue, "workdays[\(index)]", expected: workdaysExpected, found: dayValue.shortDescription)
            }
            workdays.append(Int(day))
        }
        func clock(_ field: String) throws(EventInputError) -> Int {
            let text = try calendar.requiredString(field, maxBytes: 16)
            guard let minute = BusinessCalendar.minute(parsing: text) else {
                throw calendar.fail(
                    .invalidValue, field, expected: "a local time HH:MM from 00:00 to 24:00",
                    found: JSONValue.string(text).shortDescription)
            }
            return minute
        }
        let start = try clock("start")
        let end = try clock("end")
        guard end > start else {
            throw calendar.fail(
                .invalidValue, "end", expected: "a time after start (\(BusinessCalendar.clockText(start)))",
                found: JSONValue.string(BusinessCalendar.clockText(end)).shortDescription)
        }
        var holidays: [String] = []
        if let holidaysValue = calendar.present("holidays") {
            guard case .array(let dates) = holidaysValue else {
                throw calendar.fail(.wrongType, "holidays", expected: "an array of dates YYYY-MM-DD", found: holidaysValue.shortDescription)
            }
            guard dates.count <= BusinessCalendar.maximumHolidays else {
                throw calendar.fail(
                    .invalidValue, "holidays", expected: "at most \(BusinessCalendar.maximumHolidays) dates", found: "\(dates.count)")
            }
            for (index, dateValue) in dates.enumerated() {
                guard case .string(let text) = dateValue, BusinessCalendar.dayNumber(parsing: text) != nil else {
                    throw calendar.fail(
                        .invalidValue, "holidays[\(index)]", expected: "a date YYYY-MM-DD", found: dateValue.shortDescription)
                }
                holidays.append(text)
            }
        }
        return BusinessCalendar(timeZone: zoneName, workdays: workdays, startMinute: start, endMinute: end, holidays: holidays)
    }
}

extension EventPayload.DefinitionPublished {
    /// Creates the payload from already-parsed rules and their JSON; callers guarantee they match.
    init(
        version: Int, name: String, rules: MQLRule, rulesJSON: JSONValue, effectiveAt: Timestamp, rationale: String?,
        proposal: String? = nil
    ) {
        self.version = version
        self.name = name
        self.rules = rules
        self.rulesJSON = rulesJSON
        self.effectiveAt = effectiveAt
        self.rationale = rationale
        self.proposal = proposal
    }
}

/// The forms of proposal ids and reviewer roles.
public enum ProposalNames {
    /// How a proposal id is written, for messages.
    public static let proposalForm = "a proposal id of 1 to 128 characters A-Z, a-z, 0-9, _, ., : or -"
    /// How a role is written, for messages.
    public static let roleForm = "a role of 1 to 64 characters a-z, 0-9, _, . or - (e.g. marketing, sales)"

    /// Whether `text` is a well-formed proposal id.
    public static func isProposalID(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= EventDecoder.Limits.proposalBytes
            && text.utf8.allSatisfy { byte in
                (0x61...0x7A).contains(byte) || (0x41...0x5A).contains(byte) || (0x30...0x39).contains(byte) || byte == 0x5F
                    || byte == 0x2E || byte == 0x3A || byte == 0x2D
            }
    }

    /// Whether `text` is a well-formed reviewer role.
    public static func isRole(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= EventDecoder.Limits.roleBytes
            && text.utf8.allSatisfy { byte in
                (0x61...0x7A).contains(byte) || (0x30...0x39).contains(byte) || byte == 0x5F || byte == 0x2E || byte == 0x2D
            }
    }
}
