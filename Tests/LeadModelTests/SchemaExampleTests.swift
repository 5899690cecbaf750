import Foundation
import LeadModel
import Testing

/// The JSON Schemas in `schemas/` and the Swift decoder must agree on every example, and both must
/// agree with the folder the example sits in.
@Suite("Schema examples")
struct SchemaExampleTests {
    static let schemas = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("schemas")

    static let validator = #"""
        import json, pathlib, sys
        import jsonschema
        from referencing import Registry, Resource
        root = pathlib.Path(sys.argv[1])
        event = json.loads((root / "event.schema.json").read_text())
        rules = json.loads((root / "rules.schema.json").read_text())
        registry = Registry().with_resources([
            (event["$id"], Resource.from_contents(event)),
            (rules["$id"], Resource.from_contents(rules)),
        ])
        jsonschema.Draft202012Validator.check_schema(event)
        jsonschema.Draft202012Validator.check_schema(rules)
        validator = jsonschema.Draft202012Validator(event, registry=registry)
        verdicts = {}
        for path in sorted((root / "examples").glob("*/*.json")):
            instance = json.loads(path.read_text())
            verdicts[path.parent.name + "/" + path.name] = validator.is_valid(instance)
        print(json.dumps(verdicts))
        """#

    struct Example {
        var name: String
        var expectedValid: Bool
        var data: Data
    }

    static func examples() throws -> [Example] {
        var out: [Example] = []
        for folder in ["valid", "invalid"] {
            let directory = schemas.appendingPathComponent("examples").appendingPathComponent(folder)
            let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".json") }
            for file in files.sorted() {
                out.append(
                    Example(
                        name: "\(folder)/\(file)", expectedValid: folder == "valid",
                        data: try Data(contentsOf: directory.appendingPathComponent(file))))
            }
        }
        return out
    }

    static func pythonVerdicts() throws -> [String: Bool] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", validator, schemas.path]
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorText = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw SchemaCheckFailure(message: "python3 jsonschema check failed: \(errorText)")
        }
        return try JSONDecoder().decode([String: Bool].self, from: data)
    }

    struct SchemaCheckFailure: Error, CustomStringConvertible {
        var message: String
        var description: String { message }
    }

    @Test("there is a valid example for every event type and the listed invalid shapes")
    func coverage() throws {
        let examples = try Self.examples()
        let decoded = examples.filter(\.expectedValid).compactMap { try? EventDecoder().decode(line: $0.data) }
        #expect(Set(decoded.map(\.type)) == Set(EventType.allCases))
        let invalid = Set(examples.filter { !$0.expectedValid }.map(\.name))
        for name in [
            "missing-id", "unknown-type", "bad-source", "lead-on-reason-event", "wrong-data-type", "bad-reason-code",
            "bad-rule-operator",
        ] {
            #expect(invalid.contains("invalid/\(name).json"))
        }
    }

    @Test("the Swift decoder, Python's jsonschema and the folders agree on every example")
    func agreement() throws {
        let examples = try Self.examples()
        let verdicts = try Self.pythonVerdicts()
        #expect(verdicts.count == examples.count)
        for example in examples {
            let swiftValid: Bool
            do {
                _ = try EventDecoder().decode(line: example.data)
                swiftValid = true
            } catch {
                swiftValid = false
            }
            #expect(swiftValid == example.expectedValid, "Swift decoder on \(example.name)")
            #expect(verdicts[example.name] == example.expectedValid, "JSON Schema on \(example.name)")
        }
    }
}
