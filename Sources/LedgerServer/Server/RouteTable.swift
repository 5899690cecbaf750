import HTTPTypes
import Hummingbird

/// One route of the HTTP API: what `schemas/openapi.yaml` must describe, status codes included.
public struct RouteDescription: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The method, lower case as in OpenAPI (`get`, `post`…).
    public var method: String
    /// The path in OpenAPI form (`/v1/leads/{lead}`).
    public var path: String
    /// Every status code the route can answer with.
    public var statuses: [Int]

    /// `METHOD path`.
    public var description: String { "\(method.uppercased()) \(path)" }
}

/// The routes the server registers, for documentation checks and for `Allow` on a 405.
public enum RouteTable {
    /// Every route, with the status codes it answers: what the controllers register, recorded
    /// by the same calls that add them to the router.
    public static let all: [RouteDescription] = {
        var registrar = RouteRegistrar()
        LedgerHTTPServer.registerRoutes(&registrar)
        return registrar.routes
    }()

    /// The methods served on a concrete path (upper case, `HEAD` beside each `GET`, as the router
    /// answers it), empty when no route has this path: what `Allow` lists with a 405.
    public static func methods(servingPath path: String) -> [String] {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        var methods: [String] = []
        for route in all {
            let template = route.path.split(separator: "/", omittingEmptySubsequences: false)
            guard template.count == segments.count,
                zip(template, segments).allSatisfy({ pattern, segment in
                    pattern.hasPrefix("{") ? !segment.isEmpty : pattern == segment
                })
            else { continue }
            methods.append(route.method.uppercased())
            if route.method == "get" { methods.append("HEAD") }
        }
        return methods
    }
}

/// What a route asks of its caller.
enum RouteAccess: Sendable {
    /// Nothing: anyone may call it (`/health`).
    case open
    /// A key with one of these scopes (or anonymous access where the server allows it).
    case scopes([APIScope])
    /// A dashboard page, which opens with a session or a key and shows the sign-in form otherwise.
    case page
}

/// A route's handler: the server it serves, the request and its context.
typealias RouteHandler = @Sendable (LedgerHTTPServer, Request, LedgerRequestContext) async throws -> Response

/// The routes of one concern of the API (events, analyses, keys, operations, the dashboard).
protocol LedgerController {
    /// Adds the routes, each with its statuses and the access it needs.
    static func register(_ routes: inout RouteRegistrar)
}

/// Where controllers register their routes: into a server's router, where each route's access is
/// checked before its handler runs, or only into a list, which is the route table.
struct RouteRegistrar {
    /// What was registered, in order.
    private(set) var routes: [RouteDescription] = []
    private let target: (server: LedgerHTTPServer, router: Router<LedgerRequestContext>)?

    /// A registrar that only lists the routes.
    init() { target = nil }

    /// A registrar that adds each route to `router`, served by `server`.
    init(server: LedgerHTTPServer, router: Router<LedgerRequestContext>) { target = (server, router) }

    /// Registers `handler` for `method` on `path` (OpenAPI form, `{lead}`), answering `statuses`,
    /// behind `middleware` (made for the server) when given.
    mutating func add(
        _ method: HTTPRequest.Method, _ path: String, statuses: [Int], access: RouteAccess,
        middleware: ((LedgerHTTPServer) -> any MiddlewareProtocol<Request, Response, LedgerRequestContext>)? = nil,
        _ handler: @escaping RouteHandler
    ) {
        routes.append(RouteDescription(method: method.rawValue.lowercased(), path: path, statuses: statuses))
        guard let target else { return }
        let (server, router) = target
        let respond: @Sendable (Request, LedgerRequestContext) async throws -> Response
        switch access {
        case .scopes(let scopes):
            let authenticator = server.auth
            respond = { request, context in
                _ = try authenticator.authorize(scopes, context)
                return try await handler(server, request, context)
            }
        case .open, .page:
            respond = { request, context in try await handler(server, request, context) }
        }
        let routerPath = RouterPath(Self.routerPath(path))
        if let middleware {
            router.group().add(middleware: middleware(server)).on(routerPath, method: method, use: respond)
        } else {
            router.on(routerPath, method: method, use: respond)
        }
    }

    /// `/v1/leads/{lead}` as the router spells it: `/v1/leads/:lead`.
    static func routerPath(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            segment.hasPrefix("{") && segment.hasSuffix("}") ? ":" + segment.dropFirst().dropLast() : String(segment)
        }.joined(separator: "/")
    }
}

extension LedgerHTTPServer {
    /// Every controller's routes: one controller per concern.
    static func registerRoutes(_ registrar: inout RouteRegistrar) {
        EventsController.register(&registrar)
        WebhooksController.register(&registrar)
        AnalysesController.register(&registrar)
        FeedbackLoopController.register(&registrar)
        KeysController.register(&registrar)
        SubscriptionsController.register(&registrar)
        ProposalsController.register(&registrar)
        OperationsController.register(&registrar)
        DashboardController.register(&registrar)
    }
}
