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

/// The routes the server registers, for documentation checks.
public enum RouteTable {
    /// Every route, with the status codes it answers.
    public static let all: [RouteDescription] = [
        .init(method: "post", path: "/v1/events", statuses: [201, 400, 401, 403, 409, 413, 415, 503]),
        .init(method: "get", path: "/v1/events", statuses: [200, 400, 401, 403]),
        .init(method: "get", path: "/v1/events/stream", statuses: [200, 400, 401, 403, 429, 503]),
        .init(method: "get", path: "/v1/leads/{lead}", statuses: [200, 401, 403, 404, 503]),
        .init(method: "get", path: "/v1/trends", statuses: [200, 400, 401, 403, 503]),
        .init(method: "get", path: "/v1/impact", statuses: [200, 400, 401, 403, 503]),
        .init(method: "post", path: "/v1/what-if", statuses: [200, 400, 401, 403, 413, 503]),
        .init(method: "get", path: "/v1/stats", statuses: [200, 401, 403]),
        .init(method: "get", path: "/v1/keys", statuses: [200, 401, 403]),
        .init(method: "post", path: "/v1/keys", statuses: [201, 400, 401, 403, 413]),
        .init(method: "delete", path: "/v1/keys/{id}", statuses: [204, 401, 403, 404]),
        .init(method: "get", path: "/metrics", statuses: [200, 401, 403]),
        .init(method: "get", path: "/health", statuses: [200, 503]),
        .init(method: "get", path: "/", statuses: [200, 401, 403, 503]),
        .init(method: "get", path: "/leads", statuses: [200, 400, 401, 403, 404, 503]),
        .init(method: "post", path: "/what-if", statuses: [200, 400, 401, 403, 413, 503]),
        .init(method: "post", path: "/login", statuses: [303, 401, 403, 413]),
        .init(method: "post", path: "/logout", statuses: [303, 403, 413]),
    ]

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
