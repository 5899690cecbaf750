import Foundation
import HTTPTypes
import Hummingbird
import LeadModel
import Ledger
import NIOCore

/// A refusal as every endpoint reports it: a status and the JSON body `{error, problems}`.
public struct APIError: Error, Sendable, HTTPResponseError {
    /// One problem, naming the line, event and field when they are known.
    public struct Problem: Sendable, Hashable, Codable {
        /// The NDJSON line (or the event's place in a JSON array), when known.
        public var line: Int?
        /// The event id, when known.
        public var eventId: String?
        /// The field, when known.
        public var field: String?
        /// What a user reads.
        public var message: String

        /// Creates a problem.
        public init(line: Int? = nil, eventId: String? = nil, field: String? = nil, message: String) {
            self.line = line
            self.eventId = eventId
            self.field = field
            self.message = message
        }
    }

    /// The HTTP status.
    public let status: HTTPResponse.Status
    /// The summary a user reads.
    public let message: String
    /// Every problem found.
    public let problems: [Problem]
    /// Extra response headers (`WWW-Authenticate`, say).
    public var headers: HTTPFields

    /// Creates a refusal.
    public init(_ status: HTTPResponse.Status, _ message: String, problems: [Problem] = [], headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.problems = problems
        self.headers = headers
    }

    /// The JSON body.
    struct Body: Codable {
        var error: String
        var problems: [Problem]
    }

    /// The response: the status, the extra headers and the JSON body.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = JSONResponse.make(status: status, value: Body(error: message, problems: problems))
        for field in headers { response.headers.append(field) }
        return response
    }
}

extension APIError {
    /// The refusal of a batch the ledger turned down, with the status of its kind.
    init(_ error: LedgerError) {
        let status: HTTPResponse.Status
        let summary: String
        switch error.kind {
        case .invalid:
            status = .badRequest
            summary = "the batch was refused; nothing was appended"
        case .conflict:
            status = .conflict
            summary = "an event id is already stored with different content; nothing was appended"
        case .expectedVersionMismatch:
            status = .conflict
            summary = "a lead does not have the expected version; nothing was appended"
        case .storage:
            status = .serviceUnavailable
            summary = "the ledger could not store the batch; nothing was appended"
        case .closed:
            status = .serviceUnavailable
            summary = "the ledger is shutting down; nothing was appended"
        }
        self.init(
            status, summary,
            problems: error.problems.map { Problem(line: $0.line, eventId: $0.eventId, field: $0.field, message: $0.message) })
    }
}

/// Turns every error a handler or the router throws into the JSON refusal shape, so clients parse
/// one format whatever went wrong (unknown route, body too large, a bug).
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return try error.response(from: request, context: context)
        } catch is NIOTooManyBytesError {
            return try APIError(.contentTooLarge, "the request body is larger than this server accepts")
                .response(from: request, context: context)
        } catch let error as HTTPError {
            let message: String
            switch error.status {
            case .notFound: message = "no such route: \(request.method) \(request.uri.path)"
            case .methodNotAllowed: message = "\(request.method) is not allowed on \(request.uri.path)"
            case .contentTooLarge: message = "the request body is larger than this server accepts"
            default: message = error.body ?? error.status.reasonPhrase
            }
            return try APIError(error.status, message, headers: error.headers).response(from: request, context: context)
        } catch let error as any HTTPResponseError {
            return try APIError(error.status, "\(error)").response(from: request, context: context)
        } catch {
            context.logger.error("unexpected error", metadata: ["error": "\(error)"])
            return try APIError(.internalServerError, "internal error: \(error)").response(from: request, context: context)
        }
    }
}

/// JSON responses encoded the way the command line prints them (sorted keys).
enum JSONResponse {
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    static func make(status: HTTPResponse.Status = .ok, value: some Encodable) -> Response {
        // Encoding our own Codable reports cannot fail short of a bug; report it rather than crash.
        let data = (try? encoder().encode(value)) ?? Data(#"{"error":"response encoding failed","problems":[]}"#.utf8)
        return make(status: status, bytes: data)
    }

    static func make(status: HTTPResponse.Status = .ok, bytes: some Collection<UInt8>) -> Response {
        var buffer = ByteBuffer()
        buffer.writeBytes(bytes)
        return Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"], body: ResponseBody(byteBuffer: buffer))
    }
}
