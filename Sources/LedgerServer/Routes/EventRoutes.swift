import EventLog
import Foundation
import HTTPTypes
import Hummingbird
import LeadModel
import Ledger
import NIOCore
import ServiceLifecycle
import Synchronization

extension HTTPField.Name {
    /// Optimistic concurrency for `POST /v1/events`: `lead=3,other%2Clead=0` (lead ids percent-encoded).
    static let expectedVersions = Self("LeadLedger-Expected-Versions")!
    /// Where an SSE client resumes.
    static let lastEventID = Self("Last-Event-ID")!
}

extension LedgerHTTPServer {
    /// The most events one `GET /v1/events` returns.
    static let maxPageSize = 10_000

    func addEventRoutes(to router: Router<BasicRequestContext>) {
        router.post("/v1/events") { request, context in try await self.appendEvents(request, context) }
        router.get("/v1/events") { request, _ in try await self.listEvents(request) }
        router.get("/v1/events/stream") { request, _ in try self.streamEvents(request) }
    }

    // MARK: POST /v1/events

    func appendEvents(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        metrics.requests.increment()
        do {
            return try await appendEventsUnmetered(request, context)
        } catch let error as APIError {
            switch error.status {
            case .unauthorized: metrics.refused("unauthorized")
            case .forbidden: metrics.refused("forbidden")
            case .contentTooLarge: metrics.refused("tooLarge")
            case .unsupportedMediaType: metrics.refused("unsupportedMediaType")
            case .badRequest where error.problems.first?.field != nil || error.message.hasPrefix("malformed"): metrics.refused("malformed")
            default: break
            }
            throw error
        }
    }

    private func appendEventsUnmetered(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let principal = try auth.require(.append, request)
        let mediaType = request.headers[.contentType].map(Self.mediaType)
        guard mediaType == "application/json" || mediaType == "application/x-ndjson" else {
            throw APIError(
                .unsupportedMediaType,
                "send events as application/json (an array) or application/x-ndjson (one per line), not \(mediaType ?? "no content type")")
        }
        let limit = configuration.maxBodySize
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw APIError(.contentTooLarge, "the body has \(length) bytes; this server accepts at most \(limit)")
        }
        let expected = try Self.expectedVersions(request.headers[.expectedVersions])
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "the body is larger than the \(limit) bytes this server accepts")
        }
        let data = body.withUnsafeReadableBytes { Data($0) }

        let decoded = EventDecoder().decodeBatch(data)
        var events: [LeadEvent] = []
        events.reserveCapacity(decoded.count)
        var problems: [APIError.Problem] = []
        for result in decoded {
            switch result {
            case .success(let event): events.append(event)
            case .failure(let error):
                problems.append(.init(line: error.line, eventId: error.eventId, field: error.field, message: error.description))
            }
        }
        if !problems.isEmpty {
            throw APIError(.badRequest, "malformed events: \(problems.count) of \(decoded.count) refused; nothing was appended", problems: problems)
        }
        if events.isEmpty { throw APIError(.badRequest, "malformed batch: the body holds no events") }
        let lines = Self.lineNumbers(of: data, count: events.count)

        if let bound = principal.boundSource {
            let spoofed = events.indices.filter { events[$0].source != bound }.map { index in
                let line = lines?[index] ?? index + 1
                return APIError.Problem(
                    line: line, eventId: events[index].id.uuidString.lowercased(), field: "source",
                    message: "line \(line): event claims source `\(events[index].source)`, but this key may only append events from `\(bound)`")
            }
            if !spoofed.isEmpty {
                throw APIError(.forbidden, "events claim a source this key is not bound to; nothing was appended", problems: spoofed)
            }
        }

        let started = ContinuousClock.now
        let receipt: LedgerReceipt
        do {
            receipt = try await ledger.append(events, lines: lines, expectedVersions: expected)
        } catch {
            metrics.refused(error.kind)
            throw APIError(error)
        }
        metrics.accepted(receipt, latency: ContinuousClock.now - started)
        return JSONResponse.make(status: .created, bytes: Self.receiptJSON(receipt))
    }

    /// `{"duplicates":[…],"head":{…},"positions":[…]}`, written by hand: this is the hot path.
    static func receiptJSON(_ receipt: LedgerReceipt) -> [UInt8] {
        var out = "{\"duplicates\":["
        out.reserveCapacity(96 + receipt.results.count * 12)
        for (index, result) in receipt.results.enumerated() {
            if index > 0 { out += "," }
            out += result.duplicate ? "true" : "false"
        }
        out += "],\"head\":{\"hash\":\"\(receipt.head.hash)\",\"position\":\(receipt.head.position)},\"positions\":["
        for (index, result) in receipt.results.enumerated() {
            if index > 0 { out += "," }
            out += String(result.position)
        }
        out += "]}"
        return Array(out.utf8)
    }

    /// `type/subtype` of a Content-Type, lower case, without parameters.
    static func mediaType(_ header: String) -> String {
        let type = HeaderText.trimmed(header.utf8.prefix { $0 != UInt8(ascii: ";") })
        return String(decoding: type.map { $0 >= 65 && $0 <= 90 ? $0 | 0x20 : $0 }, as: UTF8.self)
    }

    /// Parses `lead=3,other=0`; lead ids are percent-decoded so they may hold `,` or `=`.
    static func expectedVersions(_ header: String?) throws -> [String: Int] {
        guard let header, !header.trimmingCharacters(in: .whitespaces).isEmpty else { return [:] }
        var versions: [String: Int] = [:]
        for item in header.split(separator: ",") {
            let pair = item.split(separator: "=", maxSplits: 1)
            guard pair.count == 2,
                let lead = pair[0].trimmingCharacters(in: .whitespaces).removingPercentEncoding, !lead.isEmpty,
                let version = Int(pair[1].trimmingCharacters(in: .whitespaces)), version >= 0
            else {
                throw APIError(
                    .badRequest, "malformed LeadLedger-Expected-Versions header",
                    problems: [.init(field: "LeadLedger-Expected-Versions", message: "expected `lead=VERSION[,lead=VERSION…]`, found `\(item)`")])
            }
            versions[lead] = version
        }
        return versions
    }

    /// For NDJSON, the line of each non-blank line in order (what the decoder numbered); nil for a
    /// JSON array, whose events the ledger then numbers 1, 2, 3… in array order.
    static func lineNumbers(of data: Data, count: Int) -> [Int]? {
        let isBlank: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D || $0 == 0x0A }
        // Over the raw bytes: `Data`'s iterator costs a call per byte, and this runs on every append.
        return data.withUnsafeBytes { bytes -> [Int]? in
            guard let first = bytes.first(where: { !isBlank($0) }), first != UInt8(ascii: "[") else { return nil }
            var lines: [Int] = []
            lines.reserveCapacity(count)
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
            return lines.count == count ? lines : nil
        }
    }

    // MARK: GET /v1/events

    func listEvents(_ request: Request) async throws -> Response {
        _ = try auth.require(.read, request)
        let after = try Self.position(request.uri.queryParameters["after"], name: "after") ?? 0
        let limit = try Self.integer(request.uri.queryParameters["limit"], name: "limit", in: 1...Self.maxPageSize) ?? 100
        let ledger = self.ledger
        let bytes = try await offload {
            try ledger.log.withSnapshot { snapshot in
                let records = try snapshot.records(from: after + 1, limit: limit)
                let head = try snapshot.head()
                var out: [UInt8] = Array("{\"events\":[".utf8)
                for (index, record) in records.enumerated() {
                    if index > 0 { out.append(UInt8(ascii: ",")) }
                    try Self.eventJSON(record).write(to: &out)
                }
                out += Array("],\"head\":{\"hash\":\"\(head.hash)\",\"position\":\(head.position)},\"next\":\(records.last?.position ?? after)}".utf8)
                return out
            }
        }
        return JSONResponse.make(bytes: bytes)
    }

    /// The stored event in its wire form plus `position`, `recordedAt` and `hash`.
    static func eventJSON(_ record: StoredRecord) throws -> JSONValue {
        let event = try LeadEvent(binary: record.payload)
        guard case .object(var members) = event.jsonObject else { return event.jsonObject }
        members.append(JSONMember("position", .number(Double(record.position))))
        members.append(JSONMember("recordedAt", .string(Timestamp(microseconds: record.recordedAt).rfc3339)))
        members.append(JSONMember("hash", .string(record.hash)))
        return .object(members)
    }

    static func position(_ text: Substring?, name: String) throws -> UInt64? {
        guard let text else { return nil }
        guard let value = UInt64(text) else {
            throw APIError(.badRequest, "`\(name)` must be a position (0, 1, 2…), not `\(text)`", problems: [.init(field: name, message: "expected a non-negative integer")])
        }
        return value
    }

    static func integer(_ text: Substring?, name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let text else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw APIError(
                .badRequest, "`\(name)` must be an integer from \(range.lowerBound) to \(range.upperBound), not `\(text)`",
                problems: [.init(field: name, message: "expected an integer in \(range.lowerBound)...\(range.upperBound)")])
        }
        return value
    }

    // MARK: GET /v1/events/stream

    func streamEvents(_ request: Request) throws -> Response {
        _ = try auth.require(.read, request)
        // Last-Event-ID (a reconnecting EventSource) wins over ?after= (a first connection).
        let after: UInt64
        if let header = request.headers[.lastEventID], !header.isEmpty {
            guard let value = UInt64(header.trimmingCharacters(in: .whitespaces)) else {
                throw APIError(.badRequest, "Last-Event-ID must be a position, not `\(header)`")
            }
            after = value
        } else {
            after = try Self.position(request.uri.queryParameters["after"], name: "after") ?? 0
        }
        let ledger = self.ledger
        let heartbeat = Duration.milliseconds(Int64(configuration.streamHeartbeatSeconds * 1000))
        let body = ResponseBody { writer in
            let stopping = ShutdownFlag()
            try await withGracefulShutdownHandler {
                try await Self.follow(ledger: ledger, after: after, heartbeat: heartbeat, stopping: stopping, writer: &writer)
            } onGracefulShutdown: {
                stopping.set()
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-cache", .init("X-Accel-Buffering")!: "no"],
            body: body)
    }

    /// Catches up from `after`, then follows the log.
    ///
    /// It polls in short sleeps rather than waiting inside a subscription so that it notices a
    /// shutdown and sends heartbeats (which is how a vanished client is noticed) between pages.
    static func follow(
        ledger: Ledger, after: UInt64, heartbeat: Duration, stopping: ShutdownFlag, writer: inout any ResponseBodyWriter
    ) async throws {
        var next = after + 1
        var idle = Duration.zero
        let pause = Duration.milliseconds(50)
        try await writer.write(ByteBuffer(string: "retry: 1000\n\n"))
        while !stopping.isSet, !Task.isCancelled {
            let records = try ledger.log.records(from: next, limit: 512)
            if records.isEmpty {
                if idle >= heartbeat {
                    try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    idle = .zero
                }
                try? await Task.sleep(for: pause)
                idle += pause
                continue
            }
            idle = .zero
            var out: [UInt8] = []
            for record in records {
                out += Array("id: \(record.position)\nevent: event\ndata: ".utf8)
                try eventJSON(record).write(to: &out)
                out += [0x0A, 0x0A]
            }
            var buffer = ByteBuffer()
            buffer.writeBytes(out)
            try await writer.write(buffer)
            next = records[records.count - 1].position + 1
        }
    }
}

/// Set once when the server begins a graceful shutdown.
final class ShutdownFlag: Sendable {
    private let flag = Mutex<Bool>(false)
    func set() { flag.withLock { $0 = true } }
    var isSet: Bool { flag.withLock { $0 } }
}
