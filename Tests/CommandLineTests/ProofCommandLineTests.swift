import Foundation
import Testing

private let pythonVerifier = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("scripts/check-proof.py").path

/// Runs the auditors' Python verifier on a proof file; its exit status.
private func python(_ arguments: [String]) throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", pythonVerifier] + arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    return process.terminationStatus
}

private func json(_ text: String) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]
}

@Suite("Receipts and proofs on the command line", .serialized)
struct ProofCommandLineTests {
    @Test("init creates a 0600 signing key; a receipt verifies, verify --since checks what came after, a forged one is refused")
    func receiptsAndVerifySince() throws {
        let cli = CLI()
        let created = try cli.run(["init", "--taxonomy", "starter"])
        #expect(created.status == 0)
        #expect(created.stdout.contains("public key"))
        let keyPath = cli.ledger + "/signing.key"
        #expect(try FileManager.default.attributesOfItem(atPath: keyPath)[.posixPermissions] as? Int == 0o600)
        let secret = try String(contentsOfFile: keyPath, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!created.stdout.contains(secret))

        #expect(try cli.run(["append", "-"], stdin: history).status == 0)
        let receipt = try cli.run(["receipt"])
        #expect(receipt.status == 0)
        #expect(!receipt.stdout.contains(secret))
        let stats = try json(try cli.run(["stats", "--json"]).stdout)
        #expect(try json(receipt.stdout)["position"] as? Int == (stats["head"] as? [String: Any])?["position"] as? Int)
        let receiptFile = try cli.write(receipt.stdout, to: "receipt.json")

        let more =
            [
                event(9, "lead.captured", lead: "00QC", at: "2026-03-05T09:00:00Z", data: #"{"channel":"email"}"#),
                event(10, "lead.scored", lead: "00QC", at: "2026-03-05T09:10:00Z", data: #"{"score":40}"#),
            ].joined(separator: "\n") + "\n"
        #expect(try cli.run(["append", "-"], stdin: more).status == 0)
        let since = try cli.run(["verify", "--since", receiptFile, "--json"])
        #expect(since.status == 0, "\(since.stderr)")
        #expect(try json(since.stdout)["records"] as? Int == 2)

        var forged = try json(receipt.stdout)
        forged["headHash"] = String(repeating: "0", count: 64)
        let forgedFile = try cli.write(String(decoding: try JSONSerialization.data(withJSONObject: forged), as: UTF8.self), to: "forged.json")
        let refused = try cli.run(["verify", "--since", forgedFile])
        #expect(refused.status == 4)
        #expect(refused.stderr.contains("signature"))

        // A receipt of another ledger, however well signed, is not this ledger's.
        let other = CLI()
        _ = try other.run(["init"])
        let foreign = try cli.write(try other.run(["receipt"]).stdout, to: "foreign.json")
        let refusedForeign = try cli.run(["verify", "--since", foreign])
        #expect(refusedForeign.status == 4)
        #expect(refusedForeign.stderr.contains("not by the ledger's key"))
    }

    @Test("prove and check-proof round-trip; the Python verifier agrees on every proof, changed or not")
    func proveAndCheck() throws {
        let cli = CLI()
        _ = try cli.run(["init", "--taxonomy", "starter"])
        #expect(try cli.run(["append", "-"], stdin: history).status == 0)
        let publicKey = try json(try cli.run(["receipt"]).stdout)["publicKey"] as! String
        let proofFile = FileManager.default.temporaryDirectory.appendingPathComponent("\(UUID().uuidString)-proof.json").path
        let proved = try cli.run(["prove", "00QA", "--output", proofFile])
        #expect(proved.status == 0, "\(proved.stderr)")
        let checked = try cli.run(["check-proof", proofFile, "--public-key", publicKey], withLedger: false)
        #expect(checked.status == 0, "\(checked.stderr)")
        #expect(checked.stdout.contains("4 events of 00QA"))
        #expect(try python([proofFile, "--public-key", publicKey]) == 0)
        #expect(try cli.run(["check-proof", proofFile, "--public-key", String(repeating: "ab", count: 32)], withLedger: false).status == 4)
        #expect(try python([proofFile, "--public-key", String(repeating: "ab", count: 32)]) == 1)

        // Changed bytes: the two verifiers accept and refuse the same files.
        let original = Array(try Data(contentsOf: URL(fileURLWithPath: proofFile)))
        var generator = SystemRandomNumberGenerator()
        var refusedBoth = 0
        for _ in 0..<40 {
            var bent = original
            let at = Int.random(in: 0..<bent.count, using: &generator)
            let hexDigits = Array("0123456789abcdef".utf8)
            guard hexDigits.contains(bent[at]) else { continue }
            bent[at] = bent[at] == UInt8(ascii: "1") ? UInt8(ascii: "2") : UInt8(ascii: "1")
            let file = try cli.write(String(decoding: bent, as: UTF8.self), to: "bent.json")
            let swift = try cli.run(["check-proof", file], withLedger: false).status
            let py = try python([file])
            #expect((swift == 0) == (py == 0), "byte \(at): swift \(swift), python \(py)")
            if swift != 0 && py != 0 { refusedBoth += 1 }
        }
        #expect(refusedBoth > 0)

        // The same records against another, later head: both refuse.
        _ = try cli.run(["append", "-"], stdin: event(9, "lead.captured", lead: "00QC", at: "2026-03-05T09:00:00Z", data: #"{"channel":"email"}"#))
        var moved = try JSONSerialization.jsonObject(with: Data(original)) as! [String: Any]
        moved["receipt"] = try json(try cli.run(["receipt"]).stdout)
        let movedFile = try cli.write(String(decoding: try JSONSerialization.data(withJSONObject: moved), as: UTF8.self), to: "moved.json")
        #expect(try cli.run(["check-proof", movedFile], withLedger: false).status == 4)
        #expect(try python([movedFile]) == 1)

        #expect(try cli.run(["prove", "nobody"]).status == 3)
    }

    @Test("a proof relabelled with another lead is refused by both verifiers, for every event type; the true label passes both")
    func relabelledProofs() throws {
        let cli = CLI()
        _ = try cli.run(["init", "--taxonomy", "starter"])
        #expect(try cli.run(["append", "-"], stdin: history).status == 0)
        // Types with fixed areas of every size before the lead's slot: scored, handed_off, converted
        // and closed (8), touched (1), and a forgotten lead's record.
        let more: [String] = [
            event(19, "lead.captured", lead: "00QD", at: "2026-03-03T08:00:00Z", data: #"{"channel":"email"}"#),
            event(20, "lead.scored", lead: "00QD", at: "2026-03-03T08:30:00Z", data: #"{"score":80}"#),
            event(21, "lead.handed_off", lead: "00QD", at: "2026-03-03T09:00:00Z", data: #"{"owner":"rep:al","definition":1}"#),
            event(22, "lead.touched", lead: "00QD", at: "2026-03-03T11:00:00Z", data: #"{"activity":"call"}"#),
            event(23, "lead.accepted", lead: "00QD", at: "2026-03-03T12:00:00Z", data: #"{"by":"rep:al"}"#),
            event(24, "lead.converted", lead: "00QD", at: "2026-03-04T12:00:00Z", data: #"{"opportunity":"006X","amount":1200,"currency":"EUR"}"#),
            event(25, "lead.closed", lead: "00QD", at: "2026-03-05T12:00:00Z", data: #"{"won":true,"amount":1200,"currency":"EUR"}"#),
            event(26, "lead.forgotten", lead: "00QD", at: "2026-03-06T12:00:00Z", data: #"{}"#),
        ]
        let appended = try cli.run(["append", "-"], stdin: more.joined(separator: "\n") + "\n")
        #expect(appended.status == 0, "\(appended.stderr)")
        for lead in ["00QA", "00QD"] {
            let file = FileManager.default.temporaryDirectory.appendingPathComponent("\(UUID().uuidString)-proof.json").path
            #expect(try cli.run(["prove", lead, "--output", file]).status == 0)
            #expect(try cli.run(["check-proof", file], withLedger: false).status == 0)
            #expect(try python([file]) == 0)
            let proof = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: file))) as! [String: Any]
            for label in ["00QA", "00QB", "00QD", "00Q", "00QAA", "", "Ünïcode"] {
                var relabelled = proof
                relabelled["stream"] = label
                let bent = try cli.write(String(decoding: try JSONSerialization.data(withJSONObject: relabelled), as: UTF8.self), to: "relabelled.json")
                let swift = try cli.run(["check-proof", bent], withLedger: false)
                let py = try python([bent])
                #expect((swift.status == 0) == (label == lead), "\(lead) as \(label): swift \(swift.status) \(swift.stderr)")
                #expect((py == 0) == (label == lead), "\(lead) as \(label): python \(py)")
            }
        }
    }
}

@Suite("Forgetting a lead on the command line")
struct ForgetCommandLineTests {
    @Test("forget erases the lead's personal values from the audit and the file; an unknown lead is exit 3")
    func forget() throws {
        let cli = CLI()
        _ = try cli.run(["init"])
        let email = "cli.\(UUID().uuidString.lowercased())@example.com"
        let captured = event(1, "lead.captured", lead: "00QE", at: "2026-03-02T09:00:00Z", data: #"{"channel":"email","attributes":{"email":"\#(email)"}}"#)
        #expect(try cli.run(["append", "-"], stdin: captured + "\n").status == 0)
        #expect(try cli.run(["audit", "00QE", "--format", "json"]).stdout.contains(email))
        let data = try Data(contentsOf: URL(fileURLWithPath: cli.ledger + "/data.mdb"))
        #expect(data.range(of: Data(email.utf8)) == nil)

        let forgot = try cli.run(["forget", "00QE", "--reason", "request 31"])
        #expect(forgot.status == 0, "\(forgot.stderr)")
        let audit = try cli.run(["audit", "00QE", "--format", "json"])
        #expect(!audit.stdout.contains(email))
        #expect(audit.stdout.contains("[erased]"))
        #expect(try cli.run(["verify"]).status == 0)
        #expect(try cli.run(["forget", "00QNOBODY"]).status == 3)
    }
}
