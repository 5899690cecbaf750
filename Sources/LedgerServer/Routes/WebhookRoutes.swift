import Foundation
import HTTPTypes
import Hummingbird
import Ledger
import NIOCore

/// Webhooks that arrive in their senders' own formats: HubSpot's, checked by its signature.
enum WebhooksController: LedgerController {
    static func register(_ routes: inout RouteRegistrar) {
        // Open: HubSpot cannot send a bearer key; its signature over the raw body is the proof.
        routes.add(
            .post, "/v1/hooks/hubspot", statuses: [200, 400, 401, 404, 409, 413, 503], access: .open,
            middleware: { AppendMetricsMiddleware(metrics: $0.metrics) }
        ) { server, request, context in try await server.receiveHubSpot(request, context) }
    }
}

extension LedgerHTTPServer {
    /// `POST /v1/hooks/hubspot`: 200 once the events are durable, 401 on a bad signature, 400 on
    /// a payload that cannot map, 503 with `Retry-After` when the server is out of room.
    func receiveHubSpot(_ request: Request, _ context: LedgerRequestContext) async throws -> Response {
        guard let hubSpot = configuration.hubSpot else {
            throw APIError(.notFound, "HubSpot webhooks are not enabled: start the server with --hubspot-secret-file and --public-url")
        }
        let limit = configuration.maxBodySize
        let length = request.headers[.contentLength].flatMap({ Int($0) })
        if let length, length > limit {
            throw APIError(.contentTooLarge, "the body has \(length) bytes; this server accepts at most \(limit)")
        }
        let reservation = try bodies.reserve(length ?? limit)
        defer { withExtendedLifetime(reservation) {} }
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, "the body is larger than the \(limit) bytes this server accepts")
        }
        let data = body.withUnsafeReadableBytes { Data($0) }
        let headers = request.headers
        if let failure = HubSpotSignature.check(
            configuration: hubSpot, method: request.method.rawValue, pathAndQuery: request.uri.string, body: data,
            headers: { name in HTTPField.Name(name).flatMap { headers[$0] } }, now: Date())
        {
            throw APIError(.unauthorized, failure)
        }
        let receipt: HubSpotWebhook.Receipt
        do {
            receipt = try await ledger.receiveHubSpotWebhook(data, mapping: hubSpot.mapping)
        } catch {
            metrics.refused(error.kind)
            var problems = ProblemList(limit: configuration.maxProblemsPerResponse)
            for problem in error.problems { problems.append(problem) }
            switch error.kind {
            case .invalid, .expectedVersionMismatch:
                throw APIError(.badRequest, "the webhook cannot be mapped; nothing was appended\(problems.omittedNote)", problems: problems.items)
            case .conflict:
                throw APIError(.conflict, "the webhook contradicts stored events; nothing was appended", problems: problems.items)
            case .storage, .closed:
                throw APIError(
                    .serviceUnavailable, "the ledger cannot take the webhook now; nothing was appended", problems: problems.items,
                    headers: [.retryAfter: "30"])
            }
        }
        metrics.appended.increment(by: Int64(receipt.appended))
        metrics.duplicates.increment(by: Int64(receipt.duplicates))
        return JSONResponse.make(status: .ok, value: receipt)
    }
}
