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

/// Appending events, reading them a page at a time, and following them as Server-Sent Events.
enum EventsController: LedgerController {
    static func register(_ routes: inout RouteRegistrar) {
        // Every append is counted, refusals by kind, including those of authentication.
        routes.add(
            // The handler authorizes: a Standard Webhooks sender's key is proved by its body's signature.
            .post, "/v1/events", statuses: [201, 400, 401, 403, 409, 413, 415, 503], access: .open,
            middleware: { AppendMetricsMiddleware(metrics: $0.metrics) }
        ) { server, request, context in try await server.appendEvents(request, context) }
        routes.add(.get, "/v1/events", statuses: [200, 400, 401, 403], access: .scopes([.read])) { server, request, context in
            try await server.listEvents(request, context)
        }
        routes.add(.get, "/v1/events/stream", statuses: [200, 400, 401, 403, 429, 503], access: .scopes([.read])) {
            server, request, context in
            try server.streamEvents(request, context)
        }
    }
}

/// Counts appends and their refusals by kind, whichever step refused them.
struct AppendMetricsMiddleware: RouterMiddleware {
    typealias Context = LedgerRequestContext
    let metrics: ServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        metrics.requests.increment()
        do {
            return try await next(request, context)
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
}

extension LedgerHTTPServer {
    /// The most events one `GET /v1/events` returns.
    static let maxPageSize = 10_000

    /// The largest position a client may name: positions are stored as `UInt64` but never reach
    /// `Int64.max`, and keeping below it leaves room for `+ 1` and for JSON numbers.
    static let maxPosition = UInt64(Int64.max)

    // MARK: POST /v1/events

    func appendEvents(_ request: Request, _ context: LedgerRequestContext) async throws -> Response {
        // A Standard Webhooks sender proves its key by signing the body, which must be read first;
        // every other request shows its key before its body is read.
        let signed = request.headers[.webhookSignature] != nil
        var principal: Principal = signed ? .anonymous : try auth.authorize([.append, .catalog], context)
        let headerNames = request.headers.map(\.name.canonicalName)
        let binaryCloudEvent = CloudEvents.isBinary(headerNames)
        let mediaType = request.headers[.contentType].map(Self.mediaType)
        let format: BodyFormat
        switch mediaType {
        case _ where binaryCloudEvent: format = .cloudEventBinary
        case CloudEvents.structuredMediaType: format = .cloudEvent
        case CloudEvents.batchMediaType: format = .cloudEventBatch
        case "application/json", "application/x-ndjson": format = .ledger
        default:
            throw APIError(
                .unsupportedMediaType,
                "send events as application/json (an array), application/x-ndjson (one per line), \(CloudEvents.structuredMediaType), \(CloudEvents.batchMediaType) or a binary-mode CloudEvent (ce-* headers), not \(mediaType ?? "no content type")"
            )
        }
        let limit = configuration.maxBodySize
        let length = request.headers[.contentLength].flatMap({ Int($0) })
        if let length, length > limit {
            throw APIError(.contentTooLarge, "the body has \(length) bytes; this server accepts at most \(limit)")
        }
        let expected = try Self.expectedVersions(request.headers[.expectedVersions])
        // Held until the response: a body of unknown length may take the whole limit.
        let reservation = try bodies.reserve(length ?? limit)
        defer { withExtendedLifetime(reservation) {} }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "the body is larger than the \(limit) bytes this server accepts")
        }
        var data = body.withUnsafeReadableBytes { Data($0) }
        if signed {
            principal = try await verifyStandardWebhook(request, context, body: data)
            // The message id is the idempotency key of events sent without one of their own.
            if format == .ledger, case .key(let key) = principal, let messageID = request.headers[.webhookID] {
                let namespace = NameBasedUUID.v5(namespace: NameBasedUUID.urlNamespace, name: "leadledger:webhook:\(key.id)")
                data = EventBody.assigningIDs(to: data) { NameBasedUUID.v5(namespace: namespace, name: "\(messageID)#\($0)") }
            }
        }

        // Counted before anything is decoded: a few megabytes of `{}` must not become a million
        // decoded events and a million problems.
        let cap = configuration.maxEventsPerRequest
        if format == .ledger || format == .cloudEventBatch {
            guard let count = EventBody.count(data, upTo: cap), count <= cap else {
                throw APIError(
                    .contentTooLarge, "the batch holds more than \(cap) events; this server accepts at most \(cap) per request",
                    problems: [.init(message: "split the batch into requests of at most \(cap) events")])
            }
        }

        let batch: EventBody
        switch format {
        case .ledger:
            batch = EventBody(decoding: data)
        case .cloudEvent, .cloudEventBatch:
            batch = CloudEvents.body(
                data, batched: format == .cloudEventBatch, sources: configuration.cloudEventSources, boundSource: principal.boundSource)
        case .cloudEventBinary:
            batch = CloudEvents.body(
                headers: request.headers.map { ($0.name.canonicalName, $0.value) }, contentType: request.headers[.contentType],
                data: data, sources: configuration.cloudEventSources, boundSource: principal.boundSource)
        }
        if !batch.problems.isEmpty {
            var problems = ProblemList(limit: configuration.maxProblemsPerResponse)
            for problem in batch.problems { problems.append(problem) }
            throw APIError(
                .badRequest,
                "malformed events: \(problems.total) of \(batch.itemCount) refused; nothing was appended\(problems.omittedNote)",
                problems: problems.items)
        }
        let events = batch.events
        if events.isEmpty { throw APIError(.badRequest, "malformed batch: the body holds no events") }

        var refused = ProblemList(limit: configuration.maxProblemsPerResponse)
        for index in events.indices {
            let catalog = !events[index].type.isLeadEvent
            if events[index].type == .leadForgotten, !principal.mayErase {
                refused.append(
                    batch.problem(
                        at: index, field: "type",
                        "`lead.forgotten` erases a lead's personal data for good: it needs a key with scope `admin` (or POST /v1/leads/{lead}/forget)"))
            } else if !principal.mayAppend(catalogEvent: catalog) {
                refused.append(
                    batch.problem(
                        at: index, field: "type",
                        catalog
                            ? "`\(events[index].type.rawValue)` is a catalog event: it needs a key with scope `catalog` or `admin`"
                            : "`\(events[index].type.rawValue)` is a lead event: it needs a key with scope `append` or `admin`"))
            } else if let bound = principal.boundSource, events[index].source != bound {
                refused.append(
                    batch.problem(
                        at: index, field: "source",
                        "event claims source `\(events[index].source)`, but this key may only append events from `\(bound)`"))
            }
        }
        if !refused.isEmpty {
            throw APIError(
                .forbidden, "events this key may not append; nothing was appended\(refused.omittedNote)", problems: refused.items)
        }

        let started = ContinuousClock.now
        let receipt: LedgerReceipt
        do {
            receipt = try await ledger.append(batch, expectedVersions: expected)
        } catch {
            metrics.refused(error.kind)
            throw APIError(error, body: batch, limit: configuration.maxProblemsPerResponse)
        }
        metrics.accepted(receipt, latency: ContinuousClock.now - started)
        return JSONResponse.make(status: .created, bytes: Self.receiptJSON(receipt))
    }

    /// The layouts `POST /v1/events` reads.
    enum BodyFormat {
        /// The ledger's own: a JSON array or NDJSON.
        case ledger
        /// `application/cloudevents+json`.
        case cloudEvent
        /// `application/cloudevents-batch+json`.
        case cloudEventBatch
        /// Attributes in `ce-*` headers, the data in the body.
        case cloudEventBinary
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
                    problems: [
                        .init(field: "LeadLedger-Expected-Versions", message: "expected `lead=VERSION[,lead=VERSION…]`, found `\(item)`")
                    ])
            }
            versions[lead] = version
        }
        return versions
    }

    // MARK: GET /v1/events

    func listEvents(_ request: Request, _ context: LedgerRequestContext) async throws -> Response {
        let after = try Self.position(request.uri.queryParameters["after"], name: "after") ?? 0
        let limit = try Self.integer(request.uri.queryParameters["limit"], name: "limit", in: 1...Self.maxPageSize) ?? 100
        let ledger = self.ledger
        let bytes = try await offload {
            let (records, head) = try ledger.records(after: after, limit: limit)
            var out: [UInt8] = Array("{\"events\":[".utf8)
            for (index, record) in records.enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                try Self.eventJSON(record).write(to: &out)
            }
            out += Array(
                "],\"head\":{\"hash\":\"\(head.hash)\",\"position\":\(head.position)},\"next\":\(records.last?.position ?? after)}".utf8)
            return out
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

    /// A position from outside: digits only, at most `maxPosition`.
    static func position(_ text: Substring?, name: String) throws -> UInt64? {
        guard let text else { return nil }
        guard let value = UInt64(text), value <= maxPosition else {
            throw APIError(
                .badRequest, "`\(name)` must be a position from 0 to \(maxPosition), not `\(text.prefix(64))`",
                problems: [.init(field: name, message: "expected an integer from 0 to \(maxPosition)")])
        }
        return value
    }

    static func integer(_ text: Substring?, name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let text else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw APIError(
                .badRequest, "`\(name)` must be an integer from \(range.lowerBound) to \(range.upperBound), not `\(text.prefix(64))`",
                problems: [.init(field: name, message: "expected an integer in \(range.lowerBound)...\(range.upperBound)")])
        }
        return value
    }

    // MARK: GET /v1/events/stream

    func streamEvents(_ request: Request, _ context: LedgerRequestContext) throws -> Response {
        let principal = try auth.authorize([.read], context)
        // Last-Event-ID (a reconnecting EventSource) wins over ?after= (a first connection).
        let after: UInt64
        if let header = request.headers[.lastEventID], !header.isEmpty {
            after = try Self.position(Substring(header.trimmingCharacters(in: .whitespaces)), name: "Last-Event-ID") ?? 0
        } else {
            after = try Self.position(request.uri.queryParameters["after"], name: "after") ?? 0
        }
        let slot = try streams.open(for: principal.streamOwner)
        let ledger = self.ledger
        let heartbeat = Duration.nanoseconds(Self.timeAmount(seconds: configuration.streamHeartbeatSeconds).nanoseconds)
        let writeTimeout = Self.timeAmount(seconds: configuration.idleTimeoutSeconds)
        let channel = context.channel
        let body = ResponseBody { writer in
            // Held by the body: the slot is given back when the stream ends, however it ends.
            let slot = slot
            let stopping = StopSignal()
            let output = StreamOutput(channel: channel, writeTimeout: writeTimeout)
            try await withGracefulShutdownHandler {
                try await Self.follow(
                    ledger: ledger, after: after, heartbeat: heartbeat, stopping: stopping, output: output, writer: &writer)
            } onGracefulShutdown: {
                stopping.set()
                // A client that does not read leaves a write pending for ever; close its
                // connection if the stream has not ended by itself shortly after shutdown began.
                output.closeSoon()
            }
            withExtendedLifetime(slot) {}
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream; charset=utf-8", .cacheControl: "no-cache", .init("X-Accel-Buffering")!: "no"],
            body: body)
    }

    /// Catches up from `after` in pages, then waits on the log's subscription for the next record,
    /// writing a keep-alive comment whenever `heartbeat` passes without one.
    static func follow(
        ledger: Ledger, after: UInt64, heartbeat: Duration, stopping: StopSignal, output: StreamOutput,
        writer: inout any ResponseBodyWriter
    ) async throws {
        var next = after + 1
        try await output.write(ByteBuffer(string: "retry: 1000\n\n"), to: &writer)
        while !stopping.isSet, !Task.isCancelled {
            let records = try ledger.records(after: next - 1, limit: 512).records
            if records.isEmpty {
                switch await nextRecord(ledger, from: next, within: heartbeat, stopping: stopping) {
                case .arrived: continue
                case .quiet: try await output.write(ByteBuffer(string: ": keep-alive\n\n"), to: &writer)
                case .ended: return
                }
                continue
            }
            var out: [UInt8] = []
            for record in records {
                out += Array("id: \(record.position)\nevent: event\ndata: ".utf8)
                try eventJSON(record).write(to: &out)
                out += [0x0A, 0x0A]
            }
            var buffer = ByteBuffer()
            buffer.writeBytes(out)
            try await output.write(buffer, to: &writer)
            next = records[records.count - 1].position + 1
        }
    }

    enum Wake { case arrived, quiet, ended }

    /// Waits for a record at `position` or later through the log's subscription (woken by the
    /// writer's commits), for at most `timeout`, or until the server stops.
    static func nextRecord(_ ledger: Ledger, from position: UInt64, within timeout: Duration, stopping: StopSignal) async -> Wake {
        await withTaskGroup(of: Wake.self) { group in
            group.addTask {
                var iterator = ledger.subscribe(from: position).makeAsyncIterator()
                return (try? await iterator.next()) != nil ? .arrived : (Task.isCancelled ? .quiet : .ended)
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return .quiet
            }
            group.addTask {
                await stopping.wait()
                return .ended
            }
            let first = await group.next() ?? .ended
            group.cancelAll()
            return first
        }
    }
}

/// Set once when the server begins a graceful shutdown; streams wait on it.
final class StopSignal: Sendable {
    private struct State {
        var isSet = false
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextID: UInt64 = 0
    }
    private let state = Mutex(State())

    func set() {
        let waiters = state.withLock { state in
            state.isSet = true
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    var isSet: Bool { state.withLock { $0.isSet } }

    /// Returns once `set()` was called, or when the task is cancelled.
    func wait() async {
        let id = state.withLock { state -> UInt64 in
            state.nextID &+= 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.isSet || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}

/// Writes a stream's chunks with a deadline: a client that stops reading would otherwise hold its
/// connection, its stream slot and a task for ever. Past the deadline the connection is closed,
/// which fails the pending write.
final class StreamOutput: Sendable {
    let channel: any Channel
    let writeTimeout: TimeAmount

    init(channel: any Channel, writeTimeout: TimeAmount) {
        self.channel = channel
        self.writeTimeout = writeTimeout
    }

    func write(_ buffer: ByteBuffer, to writer: inout any ResponseBodyWriter) async throws {
        let channel = self.channel
        let deadline = channel.eventLoop.scheduleTask(in: writeTimeout) { channel.close(promise: nil) }
        defer { deadline.cancel() }
        try await writer.write(buffer)
    }

    /// Closes the connection in a second unless it closes first.
    func closeSoon() {
        let channel = self.channel
        channel.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
    }
}
