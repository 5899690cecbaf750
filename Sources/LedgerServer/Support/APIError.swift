import Foundation
import HTTPTypes
import Hummingbird
import LeadModel
import Ledger
import NIOCore

/// A refusal as every endpoint reports it: a status and the JSON body `{error, problems}`.
public struct APIError: Error, Sendable, HTTPResponseError {
    /// One problem, naming the line (or array item), event and field when they are known: the
    /// library's own, so a refusal reads the same from the decoder, the validator and the API.
    public typealias Problem = BatchProblem

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
        // A body refused as too large was not read to its end: the connection cannot carry another
        // request, so say so and close it once this response is written.
        if status == .contentTooLarge, response.headers[.connection] == nil { response.headers[.connection] = "close" }
        return response
    }
}

extension APIError {
    /// The refusal of a batch the ledger turned down, with the status of its kind and its problems
    /// placed in the terms of the body it came from.
    init(_ error: LedgerError, body: EventBody, limit: Int = .max) {
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
        var problems = ProblemList(limit: limit)
        for problem in body.problems(of: error) { problems.append(problem) }
        self.init(status, summary + problems.omittedNote, problems: problems.items)
    }
}

/// The problems of one refusal, keeping the first `limit` and counting the rest, so that a body
/// of a million bad events does not become a response of a million problems.
struct ProblemList {
    let limit: Int
    private(set) var items: [APIError.Problem] = []
    private(set) var total = 0

    init(limit: Int) { self.limit = max(1, limit) }

    var isEmpty: Bool { total == 0 }

    mutating func append(_ problem: APIError.Problem) {
        total += 1
        if items.count < limit { items.append(problem) }
    }

    /// `` (all listed) or `; the first 100 problems are listed, 2,345 more are not`.
    var omittedNote: String {
        total > items.count ? "; the first \(items.count) problems are listed, \(total - items.count) more are not" : ""
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
            let allowed = RouteTable.methods(servingPath: request.uri.path)
            if error.status == .notFound || error.status == .methodNotAllowed, !allowed.isEmpty {
                return try APIError(
                    .methodNotAllowed,
                    "\(request.method) is not allowed on \(request.uri.path); it takes \(allowed.joined(separator: ", "))",
                    headers: [.allow: allowed.joined(separator: ", ")]
                ).response(from: request, context: context)
            }
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

extension LedgerHTTPServer {
    /// A request body of at most `limit` bytes; 413 (closing the connection) when longer, decided
    /// from `Content-Length` before reading when the client sent one.
    func collectBody(_ request: Request, limit: Int) async throws -> ByteBuffer {
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw APIError(.contentTooLarge, "the body has \(length) bytes; this route accepts at most \(limit)")
        }
        do {
            return try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "the body is larger than the \(limit) bytes this route accepts")
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
