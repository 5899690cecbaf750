import EventLog
import Foundation
import Hummingbird
import LeadModel
import Ledger
import NIOCore

/// Operating the server: Prometheus metrics and the health probe.
enum OperationsController: LedgerController {
    static func register(_ routes: inout RouteRegistrar) {
        routes.add(.get, "/metrics", statuses: [200, 401, 403], access: .scopes([.read])) { server, _, _ in
            var buffer = ByteBuffer()
            buffer.writeBytes(server.metrics.render(ledger: server.ledger, analyses: server.analyses.load, streams: server.streams.count))
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"], body: ResponseBody(byteBuffer: buffer))
        }
        routes.add(.get, "/v1/receipt", statuses: [200, 401, 403, 404], access: .scopes([.read])) { server, _, _ in
            // Signed with the ledger's key, read from its 0600 file for each receipt: only the public
            // half and the signature ever leave the process.
            do { return JSONResponse.make(value: try server.ledger.receipt()) } catch let error as SigningKeyError {
                throw APIError(.notFound, error.description.replacingOccurrences(of: server.ledger.path, with: "the ledger"))
            }
        }
        routes.add(.post, "/v1/leads/{lead}/forget", statuses: [200, 400, 401, 403, 404, 413], access: .scopes([.admin])) {
            server, request, context in
            let lead = try context.parameters.require("lead")
            let body = try await server.collectBody(request, limit: 16 << 10)
            let reason = try LedgerHTTPServer.forgetReason(Array(buffer: body))
            let receipt: LedgerReceipt?
            do { receipt = try await server.ledger.forget(lead: lead, reason: reason) } catch let error as LedgerError where error.kind == .invalid {
                throw APIError(.badRequest, "the erasure was refused: " + error.problems.map(\.message).joined(separator: "; "))
            }
            guard let receipt else { throw APIError(.notFound, "the ledger has no event for lead `\(lead.prefix(128))`") }
            return JSONResponse.make(bytes: LedgerHTTPServer.receiptJSON(receipt))
        }
        routes.add(.get, "/health", statuses: [200, 503], access: .open) { server, _, _ in
            // Open to all: load balancers and orchestrators probe without keys. It says nothing secret.
            // It reads the head only (one short LMDB read, on the event loop): it must stay fast while
            // analyses keep the analysis threads busy, which is when an orchestrator asks most.
            struct Health: Encodable {
                var status: String
                var head: UInt64?
                var error: String?
                var analyses: Load?
                var streams: Int?
                var node: NodeLag?
            }
            struct Load: Encodable {
                var running: Int
                var waiting: Int
            }
            do {
                let head = try server.ledger.head()
                // The storage's own health: a process whose lock file was deleted or replaced has
                // stopped writing and must be restarted, so the orchestrator must hear of it.
                if let problem = server.ledger.health.problem {
                    return JSONResponse.make(
                        status: .serviceUnavailable, value: Health(status: "unhealthy", head: head.position, error: problem))
                }
                let load = server.analyses.load
                return JSONResponse.make(
                    value: Health(
                        status: "ok", head: head.position, analyses: Load(running: load.running, waiting: load.waiting),
                        streams: server.streams.count, node: server.configuration.nodeLag?()))
            } catch {
                return JSONResponse.make(status: .serviceUnavailable, value: Health(status: "unavailable", error: "\(error)"))
            }
        }
    }
}

extension LedgerHTTPServer {
    /// The body of a forget request: empty, or `{"reason": TEXT}`.
    static func forgetReason(_ bytes: [UInt8]) throws -> String? {
        if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) { return nil }
        let expected = "expected an empty body or {\"reason\":TEXT}"
        guard let json = try? JSONValue.parse(bytes), case .object(let members) = json else {
            throw APIError(.badRequest, expected, problems: [.init(message: "the body is not a JSON object")])
        }
        var problems: [APIError.Problem] = []
        var reason: String?
        switch json["reason"] {
        case nil: break
        case .string(let text)? where text.utf8.count <= EventDecoder.Limits.noteBytes: reason = text
        case let other?: problems.append(.init(field: "reason", message: "expected a text of at most \(EventDecoder.Limits.noteBytes) bytes, found \(other.shortDescription)"))
        }
        for member in members where member.key != "reason" { problems.append(.init(field: member.key, message: "unknown member")) }
        guard problems.isEmpty else { throw APIError(.badRequest, expected, problems: problems) }
        return reason
    }

    /// `{"scope": SCOPE, "source": NAME?}`: every member checked, each problem naming its field;
    /// `source` is a name or absent, never null.
    static func newKey(_ bytes: [UInt8]) throws -> (scope: APIScope, source: String?, signing: Bool) {
        let expected =
            "expected {\"scope\":\"\(APIScope.allCases.map(\.rawValue).joined(separator: "|"))\",\"source\":NAME?,\"signing\":BOOL?}"
        guard let json = try? JSONValue.parse(bytes), case .object(let members) = json else {
            throw APIError(.badRequest, expected, problems: [.init(message: "the body is not a JSON object")])
        }
        var problems: [APIError.Problem] = []
        var scope: APIScope?
        switch json["scope"] {
        case .string(let text)?:
            scope = APIScope(rawValue: text)
            if scope == nil {
                problems.append(
                    .init(
                        field: "scope",
                        message: "expected one of \(APIScope.allCases.map(\.rawValue).joined(separator: ", ")), found `\(text.prefix(64))`")
                )
            }
        case let other?: problems.append(.init(field: "scope", message: "expected a string, found \(other.shortDescription)"))
        case nil: problems.append(.init(field: "scope", message: "missing"))
        }
        var source: String?
        switch json["source"] {
        case nil: break
        case .string(let text)?: source = text
        case let other?: problems.append(.init(field: "source", message: "expected a source name, found \(other.shortDescription)"))
        }
        var signing = false
        switch json["signing"] {
        case nil: break
        case .bool(let value)?: signing = value
        case let other?: problems.append(.init(field: "signing", message: "expected true or false, found \(other.shortDescription)"))
        }
        for member in members where !["scope", "source", "signing"].contains(member.key) {
            problems.append(.init(field: member.key, message: "unknown member"))
        }
        guard problems.isEmpty, let scope else { throw APIError(.badRequest, expected, problems: problems) }
        return (scope, source, signing)
    }
}

/// API keys: listing, creating and revoking them (scope `admin`).
enum KeysController: LedgerController {
    struct Created: Encodable {
        var id: String
        var secret: String
        var scope: APIScope
        var source: String?
        /// The Standard Webhooks secret a sender signs with, when asked for; shown this once.
        var signingSecret: String?
    }

    static func register(_ routes: inout RouteRegistrar) {
        routes.add(.get, "/v1/keys", statuses: [200, 401, 403], access: .scopes([.admin])) { server, _, _ in
            JSONResponse.make(value: try await server.keys.list().map(\.summary))
        }
        routes.add(.post, "/v1/keys", statuses: [201, 400, 401, 403, 413], access: .scopes([.admin])) { server, request, _ in
            let body = try await server.collectBody(request, limit: 64 << 10)
            let new = try LedgerHTTPServer.newKey(Array(buffer: body))
            do {
                let (id, secret, signingSecret) = try await server.keys.add(scope: new.scope, source: new.source, signing: new.signing)
                return JSONResponse.make(
                    status: .created, value: Created(id: id, secret: secret, scope: new.scope, source: new.source, signingSecret: signingSecret))
            } catch let error as APIKeyError {
                throw APIError(.badRequest, error.description, problems: [.init(field: "source", message: error.description)])
            }
        }
        routes.add(.delete, "/v1/keys/{id}", statuses: [204, 401, 403, 404], access: .scopes([.admin])) { server, _, context in
            let id = try context.parameters.require("id")
            guard try await server.keys.revoke(id) else { throw APIError(.notFound, "no active key with id `\(id)`") }
            return Response(status: .noContent)
        }
    }
}
