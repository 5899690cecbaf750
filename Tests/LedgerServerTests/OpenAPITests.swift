import Foundation
import Hummingbird
import NIOCore
import Testing

@testable import LedgerServer

/// The repository root, found from this file's place in it.
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Runs `python3 -c script args…`, returning its standard output; bounded in time.
func runPython(_ script: String, _ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-c", script] + arguments
    let output = Pipe()
    let error = Pipe()
    process.standardOutput = output
    process.standardError = error
    try process.run()
    // Read before waiting so a large output cannot fill the pipe and stall the child.
    let out = output.fileHandleForReading.readDataToEndOfFile()
    let err = error.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
}

/// Validates the document and prints `[{method, path, statuses}]` for every operation.
private let describeSpec = """
    import json, sys
    from openapi_spec_validator import validate
    from openapi_spec_validator.readers import read_from_filename
    spec, _ = read_from_filename(sys.argv[1])
    validate(spec)
    routes = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in ("get", "put", "post", "delete", "patch", "head", "options"):
                routes.append({"method": method, "path": path, "statuses": sorted(int(code) for code in operation["responses"])})
    print(json.dumps(routes))
    """

@Suite("OpenAPI document")
struct OpenAPITests {
    @Test("schemas/openapi.yaml is a valid OpenAPI 3.1 document and lists exactly the server's routes and status codes")
    func documentMatchesRoutes() throws {
        let spec = repositoryRoot.appendingPathComponent("schemas/openapi.yaml").path
        let result = try runPython(describeSpec, [spec])
        try #require(
            result.status == 0,
            "validation failed (run scripts/setup.sh to install openapi-spec-validator): \(result.error)")
        let documented = try JSONDecoder().decode([RouteDescription].self, from: Data(result.output.utf8))
        func key(_ route: RouteDescription) -> String { "\(route.method.uppercased()) \(route.path)" }
        let documentedByKey = Dictionary(uniqueKeysWithValues: documented.map { (key($0), Set($0.statuses)) })
        let servedByKey = Dictionary(uniqueKeysWithValues: RouteTable.all.map { (key($0), Set($0.statuses)) })
        #expect(Set(documentedByKey.keys) == Set(servedByKey.keys))
        for (route, statuses) in servedByKey {
            #expect(
                documentedByKey[route] == statuses,
                "\(route): served \(statuses.sorted()), documented \(documentedByKey[route].map { $0.sorted() } ?? [])")
        }
    }

    @Test("every route in the table is registered: a request to it never falls through to 404 for want of a route")
    func tableMatchesRouter() async throws {
        try await withRouter { client, _, keys in
            // The stream never ends by design; the socket tests cover it.
            for route in RouteTable.all where route.path != "/v1/events/stream" {
                let path = route.path.replacingOccurrences(of: "{lead}", with: "A").replacingOccurrences(of: "{id}", with: "x")
                let method: HTTPRequest.Method =
                    switch route.method {
                    case "post": .post
                    case "delete": .delete
                    default: .get
                    }
                try await client.execute(uri: path, method: method, headers: bearer(keys.admin)) { response in
                    #expect(route.statuses.contains(Int(response.status.code)), "\(route): answered \(response.status.code)")
                    if response.status == .notFound {
                        #expect(!String(buffer: response.body).contains("no such route"), "\(route) is not registered")
                    }
                }
            }
        }
    }
}
