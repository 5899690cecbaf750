import Foundation
import Hummingbird
import LeadModel
import Ledger
import NIOCore

extension LedgerHTTPServer {
    func addOperationRoutes(to router: Router<LedgerRequestContext>) {
        router.get("/metrics") { request, context in
            _ = try self.auth.require(.read, request: request, context: context)
            var buffer = ByteBuffer()
            buffer.writeBytes(self.metrics.render(ledger: self.ledger, analyses: self.analyses.load, streams: self.streams.count))
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"], body: ResponseBody(byteBuffer: buffer))
        }
        router.get("/health") { _, _ in
            // Open to all: load balancers and orchestrators probe without keys. It says nothing secret.
            // It reads the head only (one short LMDB read, on the event loop): it must stay fast while
            // analyses keep the analysis threads busy, which is when an orchestrator asks most.
            struct Health: Encodable {
                var status: String
                var head: UInt64?
                var error: String?
                var analyses: Load?
                var streams: Int?
            }
            struct Load: Encodable {
                var running: Int
                var waiting: Int
            }
            do {
                let head = try self.ledger.head()
                // The storage's own health: a process whose lock file was deleted or replaced has
                // stopped writing and must be restarted, so the orchestrator must hear of it.
                if let problem = self.ledger.health.problem {
                    return JSONResponse.make(
                        status: .serviceUnavailable, value: Health(status: "unhealthy", head: head.position, error: problem))
                }
                let load = self.analyses.load
                return JSONResponse.make(
                    value: Health(
                        status: "ok", head: head.position, analyses: Load(running: load.running, waiting: load.waiting),
                        streams: self.streams.count))
            } catch {
                return JSONResponse.make(status: .serviceUnavailable, value: Health(status: "unavailable", error: "\(error)"))
            }
        }
    }

    /// `{"scope": SCOPE, "source": NAME?}`: every member checked, each problem naming its field;
    /// `source` is a name or absent, never null.
    static func newKey(_ bytes: [UInt8]) throws -> (scope: APIScope, source: String?) {
        let expected = "expected {\"scope\":\"\(APIScope.allCases.map(\.rawValue).joined(separator: "|"))\",\"source\":NAME?}"
        guard let json = try? JSONValue.parse(bytes), case .object(let members) = json else {
            throw APIError(.badRequest, expected, problems: [.init(message: "the body is not a JSON object")])
        }
        var problems: [APIError.Problem] = []
        var scope: APIScope?
        switch json["scope"] {
        case .string(let text)?:
            scope = APIScope(rawValue: text)
            if scope == nil { problems.append(.init(field: "scope", message: "expected one of \(APIScope.allCases.map(\.rawValue).joined(separator: ", ")), found `\(text.prefix(64))`")) }
        case let other?: problems.append(.init(field: "scope", message: "expected a string, found \(other.shortDescription)"))
        case nil: problems.append(.init(field: "scope", message: "missing"))
        }
        var source: String?
        switch json["source"] {
        case nil: break
        case .string(let text)?: source = text
        case let other?: problems.append(.init(field: "source", message: "expected a source name, found \(other.shortDescription)"))
        }
        for member in members where member.key != "scope" && member.key != "source" {
            problems.append(.init(field: member.key, message: "unknown member"))
        }
        guard problems.isEmpty, let scope else { throw APIError(.badRequest, expected, problems: problems) }
        return (scope, source)
    }

    func addKeyRoutes(to router: Router<LedgerRequestContext>) {
        struct Created: Encodable {
            var id: String
            var secret: String
            var scope: APIScope
            var source: String?
        }
        router.get("/v1/keys") { request, context in
            _ = try self.auth.require(.admin, request: request, context: context)
            return JSONResponse.make(value: try self.keys.list().map(\.summary))
        }
        router.post("/v1/keys") { request, context in
            _ = try self.auth.require(.admin, request: request, context: context)
            let body = try await self.collectBody(request, limit: 64 << 10)
            let new = try Self.newKey(Array(buffer: body))
            do {
                let (id, secret) = try self.keys.add(scope: new.scope, source: new.source)
                return JSONResponse.make(status: .created, value: Created(id: id, secret: secret, scope: new.scope, source: new.source))
            } catch let error as APIKeyError {
                throw APIError(.badRequest, error.description, problems: [.init(field: "source", message: error.description)])
            }
        }
        router.delete("/v1/keys/:id") { request, context in
            _ = try self.auth.require(.admin, request: request, context: context)
            let id = try context.parameters.require("id")
            guard try self.keys.revoke(id) else { throw APIError(.notFound, "no active key with id `\(id)`") }
            return Response(status: .noContent)
        }
    }
}
