import Foundation
import LeadModel

/// One problem with a batch of events as its sender reads it: placed by NDJSON line or by JSON
/// array item, naming the event and the field when they are known.
///
/// Decoding and validation report through this one type, so a line means the same thing in
/// either: the line of the text for NDJSON, the element's index (from 0) for a JSON array.
public struct BatchProblem: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The NDJSON line, when known.
    public var line: Int?
    /// The index (from 0) of the event in a JSON array body, when known.
    public var item: Int?
    /// The event id, when known.
    public var eventId: String?
    /// The field, when known.
    public var field: String?
    /// What a user reads.
    public var message: String

    /// The message.
    public var description: String { message }

    /// Creates a problem.
    public init(line: Int? = nil, item: Int? = nil, eventId: String? = nil, field: String? = nil, message: String) {
        self.line = line
        self.item = item
        self.eventId = eventId
        self.field = field
        self.message = message
    }

    /// A message that begins `line N` (how the decoder and the ledger place an event) rewritten to
    /// begin `item I`, the event's index in a JSON array; other messages get the index in front.
    public static func itemMessage(_ message: String, line: Int?, item: Int) -> String {
        if let line, message.hasPrefix("line \(line)") { return "item \(item)" + message.dropFirst("line \(line)".count) }
        return "item \(item): \(message)"
    }
}

/// A body of events as a client sends it, NDJSON or a JSON array, decoded once with the place of
/// every event kept, so that each refusal, from the decoder or from the ledger's validation,
/// names the same line or item.
public struct EventBody: Sendable {
    /// How the body lays its events out.
    public enum Layout: Sendable, Hashable {
        /// One event per line; blank lines are skipped and still counted.
        case ndjson
        /// A JSON array of event objects.
        case array
    }

    /// NDJSON or a JSON array (its first non-blank byte is `[`).
    public let layout: Layout
    /// The events that decoded, in body order.
    public let events: [LeadEvent]
    /// The events that did not decode, each placed; nothing may be appended while there are any.
    public let problems: [BatchProblem]
    /// How many items the body held, decoded or not.
    public var itemCount: Int { events.count + problems.count }
    /// The NDJSON line of each decoded event, or its index + 1 in an array: what the ledger's
    /// validation calls its line.
    let lines: [Int]
    /// Ledger field names as the body's own format spells them (`lead` is a CloudEvent's
    /// `subject`), so that a refusal names the field its sender wrote.
    let fieldNames: [String: String]

    /// A body already decoded by a front end of another format (CloudEvents, a webhook).
    init(layout: Layout, events: [LeadEvent], problems: [BatchProblem], lines: [Int], fieldNames: [String: String]) {
        self.layout = layout
        self.events = events
        self.problems = problems
        self.lines = lines
        self.fieldNames = fieldNames
    }

    /// How many events a body holds, counted from its bytes before anything is decoded; nil as
    /// soon as the count passes `limit`. A few megabytes of `{}` must not become a million decoded
    /// events and a million problems.
    public static func count(_ data: Data, upTo limit: Int) -> Int? {
        EventDecoder.countBatchItems(data, upTo: limit)
    }

    /// Decodes `data`, keeping each event's place.
    public init(decoding data: Data) {
        layout = EventDecoder.isArrayBatch(data) ? .array : .ndjson
        let results = EventDecoder().decodeBatch(data)
        var events: [LeadEvent] = []
        events.reserveCapacity(results.count)
        var problems: [BatchProblem] = []
        var eventItems: [Int] = []
        eventItems.reserveCapacity(results.count)
        for (index, result) in results.enumerated() {
            switch result {
            case .success(let event):
                events.append(event)
                eventItems.append(index)
            case .failure(let error):
                problems.append(Self.problem(error, item: layout == .array && error.code != .malformedJSON ? index : nil))
            }
        }
        self.events = events
        self.problems = problems
        fieldNames = [:]
        switch layout {
        case .array:
            lines = eventItems.map { $0 + 1 }
        case .ndjson:
            // Every non-blank line is one result, so the lines of the decoded events are those of their results.
            let all = Self.nonBlankLines(data)
            lines = all.count == results.count ? eventItems.map { all[$0] } : eventItems.map { $0 + 1 }
        }
    }

    /// A decoding problem placed as the body's sender counts: by line, or in an array by item
    /// (a whole array that does not parse keeps the line where it broke).
    static func problem(_ error: EventInputError, item: Int?) -> BatchProblem {
        guard let item else {
            return BatchProblem(line: error.line, eventId: error.eventId, field: error.field, message: error.description)
        }
        return BatchProblem(
            item: item, eventId: error.eventId, field: error.field,
            message: BatchProblem.itemMessage(error.description, line: error.line, item: item))
    }

    /// `line 3` or `item 2`: where the decoded event at `index` stands in the body.
    public func place(of index: Int) -> String {
        layout == .array ? "item \(index)" : "line \(lines[index])"
    }

    /// A problem the front end finds with the decoded event at `index` (a key that may not append
    /// it, say), placed and worded like the ledger's own.
    public func problem(at index: Int, field: String, _ message: String) -> BatchProblem {
        BatchProblem(
            line: layout == .array ? nil : lines[index], item: layout == .array ? index : nil,
            eventId: events[index].id.uuidString.lowercased(), field: senderField(field), message: "\(place(of: index)): \(message)")
    }

    /// `field` as the sender's format names it.
    func senderField(_ field: String?) -> String? {
        guard let field, !fieldNames.isEmpty else { return field }
        let head = field.prefix { $0 != "." }
        guard let renamed = fieldNames[String(head)] else { return field }
        return renamed + field.dropFirst(head.count)
    }

    /// A message with its `field "lead"` spelled as the sender's format spells it.
    func senderMessage(_ message: String, field: String?) -> String {
        guard let field, let renamed = senderField(field), renamed != field else { return message }
        return message.replacingOccurrences(of: "field \"\(field)\"", with: "field \"\(renamed)\"")
    }

    /// The problems of a batch the ledger refused, placed in this body's terms.
    public func problems(of error: LedgerError) -> [BatchProblem] {
        error.problems.map { problem in
            if layout == .array, let line = problem.line, line > 0 {
                let item = line - 1
                return BatchProblem(
                    item: item, eventId: problem.eventId, field: senderField(problem.field),
                    message: BatchProblem.itemMessage(senderMessage(problem.message, field: problem.field), line: line, item: item))
            }
            return BatchProblem(
                line: problem.line, eventId: problem.eventId, field: senderField(problem.field),
                message: senderMessage(problem.message, field: problem.field))
        }
    }

    /// The line of each non-blank line of NDJSON, as the decoder numbers them.
    static func nonBlankLines(_ data: Data) -> [Int] {
        let isBlank: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0A }
        // Over the raw bytes: `Data`'s iterator costs a call per byte, and this runs on every append.
        return data.withUnsafeBytes { bytes -> [Int] in
            var lines: [Int] = []
            var line = 1
            var sawContent = false
            for byte in bytes {
                if byte == 0x0A {
                    if sawContent { lines.append(line) }
                    line += 1
                    sawContent = false
                } else if !isBlank(byte) {
                    sawContent = true
                }
            }
            if sawContent { lines.append(line) }
            return lines
        }
    }
}

extension Ledger {
    /// Appends the events of a decoded body atomically, its refusals placed by the body's lines.
    /// The body must have no decoding problems: check ``EventBody/problems`` first.
    public func append(_ body: EventBody, expectedVersions: [String: Int] = [:]) async throws(LedgerError) -> LedgerReceipt {
        try await append(body.events, lines: body.lines, expectedVersions: expectedVersions)
    }

    /// ``append(_:expectedVersions:)`` for callers outside Swift concurrency: it blocks its thread.
    @available(*, noasync, message: "blocks its thread; use append(_:expectedVersions:) from async code")
    public func appendAndWait(_ body: EventBody, expectedVersions: [String: Int] = [:]) throws(LedgerError) -> LedgerReceipt {
        try appendAndWait(body.events, lines: body.lines, expectedVersions: expectedVersions)
    }
}

extension EventBody {
    /// `data` with an `id` given to every event object that has none: `id(index)` for the item at
    /// `index` (from 0, counting non-blank NDJSON lines or array elements). A sender whose own
    /// message id is its idempotency key (Standard Webhooks' `webhook-id`) then re-sends events that
    /// are duplicates rather than new ones. Anything that does not parse is left as it is, for the
    /// decoder to refuse in its usual words.
    public static func assigningIDs(to data: Data, _ id: (Int) -> UUID) -> Data {
        func completed(_ value: JSONValue, index: Int) -> JSONValue? {
            guard case .object(let members) = value, !members.contains(where: { $0.key == "id" }) else { return nil }
            return .object([JSONMember("id", .string(id(index).uuidString.lowercased()))] + members)
        }
        if EventDecoder.isArrayBatch(data) {
            guard case .array(let items)? = try? JSONValue.parse(data) else { return data }
            var changed = false
            let filled = items.enumerated().map { index, item in
                guard let filled = completed(item, index: index) else { return item }
                changed = true
                return filled
            }
            guard changed else { return data }
            var out: [UInt8] = []
            JSONValue.array(filled).write(to: &out)
            return Data(out)
        }
        var out = Data()
        out.reserveCapacity(data.count + 64)
        var index = 0
        var lines = data.split(separator: 0x0A, omittingEmptySubsequences: false)[...]
        while let line = lines.popFirst() {
            let isBlank = line.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
            if !isBlank, let value = try? JSONValue.parse(line), let filled = completed(value, index: index) {
                var bytes: [UInt8] = []
                filled.write(to: &bytes)
                out.append(contentsOf: bytes)
            } else {
                out.append(contentsOf: line)
            }
            if !isBlank { index += 1 }
            if !lines.isEmpty { out.append(0x0A) }
        }
        return out
    }
}
