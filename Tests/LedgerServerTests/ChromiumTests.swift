import Foundation
import LeadModel
import Ledger
import LedgerDemo
import Testing

@testable import LedgerServer

/// Headless Chromium, when the machine has it.
private let chromium: String? = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].first {
    FileManager.default.isExecutableFile(atPath: $0)
}

/// Runs Chromium headless on a page file with `arguments`; returns what it printed.
private func runChromium(_ arguments: [String], page: URL, profile: URL) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: chromium ?? "/usr/bin/false")
    process.arguments =
        ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--user-data-dir=\(profile.path)"] + arguments + [page.absoluteString]
    let output = Pipe()
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

@Suite("The dashboard in a real browser", .serialized, .enabled(if: chromium != nil, "needs chromium"))
struct ChromiumTests {
    @Test("headless Chromium renders the filtered dashboard: filter form, clickable weeks and reason bars, and a screenshot of it")
    func filteredDashboardRenders() async throws {
        try await withTemporaryLedger { ledger, _ in
            _ = try await ledger.append(DashboardFixture.events())
            let server = testServer(ledger)
            let keys = try TestKeys(server.keys)
            let html = try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in
                    let page = try await connection.send(.GET, "/?channel=web&owner=rep%3A1", headers: [("Authorization", "Bearer \(keys.read)")])
                    try #require(page.status == 200)
                    return page.text
                }
            }
            let work = FileManager.default.temporaryDirectory.appendingPathComponent("chromium-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: work) }
            let file = work.appendingPathComponent("dashboard.html")
            try html.write(to: file, atomically: true, encoding: .utf8)

            // The DOM as the browser parsed it: the links inside the inline SVG are links.
            let dom = try runChromium(["--dump-dom"], page: file, profile: work.appendingPathComponent("profile-dom"))
            #expect(dom.status == 0)
            #expect(dom.output.components(separatedBy: #"<a class="drill""#).count - 1 == 16)
            #expect(dom.output.contains(#"<select id="f-channel" name="channel">"#))
            #expect(dom.output.contains("Showing channel web, owner rep:1."))

            let png = work.appendingPathComponent("dashboard.png")
            let shot = try runChromium(
                ["--screenshot=\(png.path)", "--window-size=1400,2200"], page: file, profile: work.appendingPathComponent("profile-shot"))
            #expect(shot.status == 0)
            let bytes = try [UInt8](Data(contentsOf: png))
            #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]))
            // IHDR: width and height, big-endian, at bytes 16–23.
            func word(_ at: Int) -> Int { bytes[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
            #expect(word(16) == 1400)
            #expect(word(20) == 2200)
            // A blank page compresses to almost nothing; charts and tables do not.
            #expect(bytes.count > 40_000)
        }
    }
}

@Suite("The proposals page in a real browser", .serialized, .enabled(if: chromium != nil, "needs chromium"))
struct ProposalsPageChromiumTests {
    @Test("headless Chromium renders a proposal's evidence, its reviews and its diff, and the suggestions with their buttons")
    func proposalsPageRenders() async throws {
        try await withTemporaryLedger { ledger, _ in
            _ = try await ledger.append(DemoHistory.generate(seed: 6, leads: 1_200).events)
            let rules = try JSONValue.parse(#"{"all":[{"field":"score","gte":70}]}"#)
            let evidence = try ledger.proposalEvidence(name: "Score 70", rules: try RuleParser().parse(rules))
            _ = try await ledger.propose(proposal: "score-70", name: "Score 70", rules: rules, evidence: evidence, actor: "user:ana")
            _ = try await ledger.review(proposal: "score-70", verdict: .declined, role: "sales", note: "too strict")
            _ = try await ledger.review(proposal: "score-70", verdict: .approved, role: "sales")
            let server = testServer(ledger)
            let keys = try TestKeys(server.keys)
            let html = try await withRunningServer(server) { port in
                try await HTTPConnection.with(port: port) { connection in
                    let page = try await connection.send(.GET, "/proposals?suggest=1&limit=3", headers: [("Authorization", "Bearer \(keys.read)")])
                    try #require(page.status == 200)
                    return page.text
                }
            }
            let work = FileManager.default.temporaryDirectory.appendingPathComponent("chromium-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: work) }
            let file = work.appendingPathComponent("proposals.html")
            try html.write(to: file, atomically: true, encoding: .utf8)
            let dom = try runChromium(["--dump-dom"], page: file, profile: work.appendingPathComponent("profile-dom"))
            #expect(dom.status == 0)
            #expect(dom.output.contains(#"<section id="proposal-score-70">"#))
            #expect(dom.output.contains("What-if result"))
            #expect(dom.output.contains("(replaced)"))
            #expect(dom.output.contains("score"))
            #expect(dom.output.components(separatedBy: "<button>Propose this</button>").count - 1 >= 1)
            let png = work.appendingPathComponent("proposals.png")
            let shot = try runChromium(
                ["--screenshot=\(png.path)", "--window-size=1400,2600"], page: file, profile: work.appendingPathComponent("profile-shot"))
            #expect(shot.status == 0)
            #expect(try Data(contentsOf: png).count > 40_000)
        }
    }
}
