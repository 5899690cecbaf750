import Foundation
import Hummingbird
import LeadModel
import Ledger

/// Outbound subscriptions over HTTP, as `leadledger subscriptions` manages them (scope `admin`).
enum SubscriptionsController: LedgerController {
    /// A subscription as lists show it: never its secret.
    struct Listed: Encodable {
        var id: String
        var url: String
        var types: [String]
        var paused: Bool
        var createdAt: String
        var state: SubscriptionState
    }

    /// A new subscription: the only time its secret is shown.
    struct Created: Encodable {
        var id: String
        var url: String
        var types: [String]
        var secret: String
    }

    static func register(_ routes: inout RouteRegistrar) {
        routes.add(.get, "/v1/subscriptions", statuses: [200, 401, 403], access: .scopes([.admin])) { server, _, _ in
            let store = SubscriptionStore(ledger: server.ledger)
            return JSONResponse.make(
                value: try store.list().map {
                    Listed(id: $0.id, url: $0.url, types: $0.types, paused: $0.paused, createdAt: $0.createdAt, state: try store.state($0.id))
                })
        }
        routes.add(.post, "/v1/subscriptions", statuses: [201, 400, 401, 403, 413], access: .scopes([.admin])) { server, request, _ in
            let body = try await server.collectBody(request, limit: 64 << 10)
            let (url, types, from) = try LedgerHTTPServer.newSubscription(Array(buffer: body))
            do {
                let created = try SubscriptionStore(ledger: server.ledger).add(url: url, types: types, from: from)
                return JSONResponse.make(
                    status: .created, value: Created(id: created.id, url: created.url, types: created.types, secret: created.secret))
            } catch let error as SubscriptionError {
                throw APIError(.badRequest, error.description)
            }
        }
        routes.add(.delete, "/v1/subscriptions/{id}", statuses: [204, 401, 403, 404], access: .scopes([.admin])) { server, _, context in
            try change(server, context) { try $0.remove($1) }
            return Response(status: .noContent)
        }
        routes.add(.post, "/v1/subscriptions/{id}/pause", statuses: [204, 401, 403, 404], access: .scopes([.admin])) {
            server, _, context in
            try change(server, context) { try $0.setPaused($1, true) }
            return Response(status: .noContent)
        }
        routes.add(.post, "/v1/subscriptions/{id}/resume", statuses: [204, 401, 403, 404], access: .scopes([.admin])) {
            server, _, context in
            try change(server, context) { try $0.setPaused($1, false) }
            return Response(status: .noContent)
        }
        routes.add(.get, "/v1/subscriptions/{id}/parked", statuses: [200, 401, 403, 404], access: .scopes([.admin])) {
            server, _, context in
            JSONResponse.make(value: try change(server, context) { try $0.state($1).parked })
        }
        routes.add(.post, "/v1/subscriptions/{id}/redeliver", statuses: [200, 401, 403, 404], access: .scopes([.admin])) {
            server, _, context in
            let count = try change(server, context) { try $0.redeliver($1) }
            return JSONResponse.make(value: ["requeued": count])
        }
    }

    /// Runs `body` on the subscription named by the path; 404 when there is none.
    static func change<T>(
        _ server: LedgerHTTPServer, _ context: LedgerRequestContext, _ body: (SubscriptionStore, String) throws -> T
    ) throws -> T {
        let id = try context.parameters.require("id")
        let store = SubscriptionStore(ledger: server.ledger)
        guard try store.subscription(id) != nil else { throw APIError(.notFound, "no subscription has the id `\(id.prefix(64))`") }
        do {
            return try body(store, id)
        } catch let error as SubscriptionError {
            throw APIError(.notFound, error.description)
        }
    }
}

extension LedgerHTTPServer {
    /// `{"url": URL, "types": [TYPE…], "from": POSITION?}`, each problem naming its field.
    static func newSubscription(_ bytes: [UInt8]) throws -> (url: String, types: [String], from: UInt64?) {
        let expected = #"expected {"url":"https://…","types":["lead.rejected",…],"from":POSITION?}"#
        guard let json = try? JSONValue.parse(bytes), let members = json.objectMembers else {
            throw APIError(.badRequest, expected, problems: [.init(message: "the body is not a JSON object")])
        }
        var problems: [APIError.Problem] = []
        var url: String?
        switch json["url"] {
        case .string(let text)?: url = text
        case let other?: problems.append(.init(field: "url", message: "expected a URL string, found \(other.shortDescription)"))
        case nil: problems.append(.init(field: "url", message: "missing"))
        }
        var types: [String] = []
        switch json["types"] {
        case .array(let items)?:
            for (index, item) in items.enumerated() {
                guard case .string(let type) = item, EventType(rawValue: type) != nil else {
                    problems.append(.init(field: "types[\(index)]", message: "expected an event type, found \(item.shortDescription)"))
                    continue
                }
                types.append(type)
            }
            if items.isEmpty { problems.append(.init(field: "types", message: "name at least one event type")) }
        case let other?: problems.append(.init(field: "types", message: "expected an array of event types, found \(other.shortDescription)"))
        case nil: problems.append(.init(field: "types", message: "missing"))
        }
        var from: UInt64?
        switch json["from"] {
        case nil: break
        case .number(let value)? where value >= 0 && value <= Double(maxPosition) && value == value.rounded():
            from = UInt64(value)
        case let other?: problems.append(.init(field: "from", message: "expected a position, found \(other.shortDescription)"))
        }
        for member in members where !["url", "types", "from"].contains(member.key) {
            problems.append(.init(field: member.key, message: "unknown member"))
        }
        guard problems.isEmpty, let url else { throw APIError(.badRequest, expected, problems: problems) }
        return (url, types, from)
    }
}
