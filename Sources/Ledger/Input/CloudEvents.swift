import Foundation
import LeadModel

/// How a CloudEvent's `source` (a URI reference such as `//crm.example.com/webhooks`) becomes the
/// ledger's `source` (a short name such as `salesforce`).
///
/// In order: the configured table; else the source the sender's key is bound to; else the
/// CloudEvents source itself when it is already a valid ledger source. A key bound to a source
/// can still only append events of that source: a table entry naming another is refused.
public struct CloudEventSources: Sendable, Hashable, Codable {
    /// CloudEvents `source` → ledger `source`.
    public var table: [String: String]

    /// A mapping with `table` (empty: bound keys and plain names only).
    public init(table: [String: String] = [:]) { self.table = table }

    /// Reads a table from a JSON object file, `{"//crm.example.com/hooks": "salesforce", …}`,
    /// refusing entries whose ledger source is not 1–64 characters of `[a-z0-9_.-]`.
    public static func load(from url: URL) throws -> CloudEventSources {
        let data = try Data(contentsOf: url)
        guard let table = try? JSONDecoder().decode([String: String].self, from: data) else {
            throw ImportError(file: url.lastPathComponent, message: "expected one JSON object of strings: CloudEvents source → ledger source")
        }
        for (key, value) in table.sorted(by: { $0.key < $1.key }) where !CloudEvents.isLedgerSource(value) {
            throw ImportError(
                file: url.lastPathComponent, column: key,
                message: "the ledger source \(value.debugDescription) is not 1–64 characters of [a-z0-9_.-]")
        }
        return CloudEventSources(table: table)
    }

    /// The ledger source for `source`, or nil when neither the table, the key nor the name gives one.
    public func ledgerSource(for source: String, boundSource: String?) -> String? {
        if let mapped = table[source] { return mapped }
        if let boundSource { return boundSource }
        return CloudEvents.isLedgerSource(source) ? source : nil
    }
}

/// CloudEvents 1.0 in its three HTTP content modes, read into an ``EventBody`` so that they enter
/// the ledger through the same checks as its own wire format.
///
/// `type` is the ledger event type, `subject` the lead, `time` the `occurredAt`, `data` the
/// event's data; the extension attributes `actor` and `correlationid` fill the fields of those
/// names. The event id is `id` when it is a UUID, else ``NameBasedUUID/cloudEventID(source:id:)``.
public enum CloudEvents {
    /// `application/cloudevents+json`: one event, attributes and `data` in one JSON object.
    public static let structuredMediaType = "application/cloudevents+json"
    /// `application/cloudevents-batch+json`: a JSON array of structured events, one atomic batch.
    public static let batchMediaType = "application/cloudevents-batch+json"

    /// Ledger fields as CloudEvents name them, for refusals.
    static let fieldNames = ["lead": "subject", "occurredAt": "time", "correlationId": "correlationid"]

    /// Reads a structured (`batched == false`) or batched body.
    public static func body(_ data: Data, batched: Bool, sources: CloudEventSources, boundSource: String?) -> EventBody {
        let json: JSONValue
        do {
            json = try JSONValue.parse(data)
        } catch {
            let expected = batched ? "a JSON array of CloudEvents" : "one CloudEvent as a JSON object"
            return failed(BatchProblem(message: "malformed JSON: expected \(expected), found \(error.description)"))
        }
        let items: [JSONValue]
        if batched {
            guard case .array(let array) = json else {
                return failed(BatchProblem(message: "a CloudEvents batch is a JSON array of events, found \(json.kindDescription)"))
            }
            items = array
        } else {
            items = [json]
        }
        var translated: [Translated] = []
        translated.reserveCapacity(items.count)
        for (index, item) in items.enumerated() {
            guard case .object(let members) = item else {
                translated.append(
                    .failure(
                        BatchProblem(item: index, message: "item \(index): expected a CloudEvent (a JSON object), found \(item.kindDescription)")))
                continue
            }
            var attributes: [String: JSONValue] = [:]
            for member in members { attributes[member.key] = member.value }
            translated.append(event(attributes, item: index, sources: sources, boundSource: boundSource))
        }
        return assemble(translated)
    }

    /// Reads a binary-mode event: its attributes in `ce-*` headers (names in any case, values
    /// percent-encoded as the HTTP binding says), its data the body, of media type `contentType`.
    public static func body(
        headers: [(name: String, value: String)], contentType: String?, data: Data, sources: CloudEventSources, boundSource: String?
    ) -> EventBody {
        var attributes: [String: JSONValue] = [:]
        for (name, value) in headers {
            let lower = name.lowercased()
            guard lower.hasPrefix("ce-"), lower.count > 3 else { continue }
            attributes[String(lower.dropFirst(3))] = .string(value.removingPercentEncoding ?? value)
        }
        if let contentType { attributes["datacontenttype"] = .string(contentType) }
        if !data.isEmpty {
            guard isJSON(contentType) else {
                return failed(
                    BatchProblem(
                        item: 0, field: "datacontenttype",
                        message: "item 0: field \"datacontenttype\": expected JSON data (application/json), found \(contentType ?? "none")"))
            }
            do {
                attributes["data"] = try JSONValue.parse(data)
            } catch {
                return failed(
                    BatchProblem(item: 0, field: "data", message: "item 0: field \"data\": expected JSON, found \(error.description)"))
            }
        }
        return assemble([event(attributes, item: 0, sources: sources, boundSource: boundSource)])
    }

    /// The headers of a binary-mode request: present when `ce-specversion` is.
    public static func isBinary(_ headerNames: some Sequence<String>) -> Bool {
        headerNames.contains { $0.lowercased() == "ce-specversion" }
    }

    /// Whether `source` is a ledger source: 1–64 characters of `[a-z0-9_.-]`.
    public static func isLedgerSource(_ source: String) -> Bool {
        (1...64).contains(source.utf8.count)
            && source.utf8.allSatisfy { (0x61...0x7A).contains($0) || (0x30...0x39).contains($0) || $0 == 0x5F || $0 == 0x2E || $0 == 0x2D }
    }

    static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return true }
        let type = contentType.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        return type == "application/json" || type == "text/json" || type.hasSuffix("+json")
    }

    /// One CloudEvent read: an event, or the problem that names its attribute.
    enum Translated {
        case success(LeadEvent)
        case failure(BatchProblem)
    }

    private static func failed(_ problem: BatchProblem) -> EventBody {
        EventBody(layout: .array, events: [], problems: [problem], lines: [], fieldNames: fieldNames)
    }

    private static func assemble(_ results: [Translated]) -> EventBody {
        var events: [LeadEvent] = []
        var problems: [BatchProblem] = []
        var lines: [Int] = []
        for (index, result) in results.enumerated() {
            switch result {
            case .success(let event):
                events.append(event)
                lines.append(index + 1)
            case .failure(let problem):
                problems.append(problem)
            }
        }
        return EventBody(layout: .array, events: events, problems: problems, lines: lines, fieldNames: fieldNames)
    }

    /// One CloudEvent as a ledger event, or the problem that names its attribute.
    static func event(
        _ attributes: [String: JSONValue], item: Int, sources: CloudEventSources, boundSource: String?
    ) -> Translated {
        func problem(_ field: String, _ expected: String, found: JSONValue?, id: String? = nil) -> Translated {
            let shown = found.map(\.shortDescription) ?? "nothing"
            let event = id.map { ", event \($0)" } ?? ""
            return .failure(
                BatchProblem(
                    item: item, eventId: id, field: field,
                    message: "item \(item)\(event): field \"\(field)\": expected \(expected), found \(shown)"))
        }
        guard case .string("1.0")? = attributes["specversion"] else {
            return problem("specversion", "\"1.0\" (CloudEvents 1.0)", found: attributes["specversion"])
        }
        guard case .string(let rawID)? = attributes["id"], !rawID.isEmpty else {
            return problem("id", "a non-empty string", found: attributes["id"])
        }
        guard case .string(let ceSource)? = attributes["source"], !ceSource.isEmpty else {
            return problem("source", "a non-empty URI reference", found: attributes["source"], id: rawID)
        }
        guard let ledgerSource = sources.ledgerSource(for: ceSource, boundSource: boundSource) else {
            return problem(
                "source",
                "a source the server maps to a ledger source (configure it with `serve --cloudevents-sources FILE`, or send with a key bound to a source)",
                found: attributes["source"], id: rawID)
        }
        let id = UUID(uuidString: rawID) ?? NameBasedUUID.cloudEventID(source: ceSource, id: rawID)
        let idText = id.uuidString.lowercased()
        if attributes["data_base64"] != nil {
            return problem("data_base64", "JSON `data` (the ledger stores JSON event data)", found: .string("base64 data"), id: idText)
        }
        if case .string(let contentType)? = attributes["datacontenttype"], !isJSON(contentType) {
            return problem("datacontenttype", "application/json", found: attributes["datacontenttype"], id: idText)
        }
        var members: [JSONMember] = [JSONMember("id", .string(idText))]
        members.append(JSONMember("type", attributes["type"] ?? .null))
        if let subject = attributes["subject"] { members.append(JSONMember("lead", subject)) }
        members.append(JSONMember("occurredAt", attributes["time"] ?? .null))
        members.append(JSONMember("source", .string(ledgerSource)))
        if let actor = attributes["actor"] { members.append(JSONMember("actor", actor)) }
        if let correlation = attributes["correlationid"] { members.append(JSONMember("correlationId", correlation)) }
        members.append(JSONMember("data", attributes["data"] ?? .object([])))
        do throws(EventInputError) {
            return .success(try EventDecoder().decode(json: .object(members), lineNumber: item + 1))
        } catch {
            let field = error.field.map { name in
                let head = name.prefix { $0 != "." }
                return (fieldNames[String(head)] ?? String(head)) + name.dropFirst(head.count)
            }
            let place = field.map { "field \"\($0)\": " } ?? ""
            let found = error.code == .missingField ? "nothing" : error.found
            return .failure(
                BatchProblem(
                    item: item, eventId: idText, field: field,
                    message: "item \(item), event \(idText): \(place)expected \(error.expected), found \(found)"))
        }
    }
}
