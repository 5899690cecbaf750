import Foundation
import Testing

/// Reads, changes and restores single bytes of a ledger's data file.
struct DataFile {
    let path: String
    init(_ cli: CLI) { path = cli.ledger + "/data.mdb" }
    var bytes: Data { get throws { try Data(contentsOf: URL(fileURLWithPath: path)) } }
    var modified: Date { get throws { try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as! Date } }
    func xor(_ offset: Int, _ mask: UInt8) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64(offset))
        let old = try handle.read(upToCount: 1)!.first!
        try handle.seek(toOffset: UInt64(offset))
        try handle.write(contentsOf: [old ^ mask])
    }
}

extension CLI {
    /// Runs and reports whether the child died by a signal, with its exit status otherwise.
    func runChecked(_ arguments: [String]) throws -> (signal: Int32?, status: Int32, stderr: String) {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = arguments + ["--ledger", ledger]
        let err = Pipe(), out = Pipe()
        process.standardError = err
        process.standardOutput = out
        try process.run()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        _ = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: e, as: UTF8.self)
        return process.terminationReason == .uncaughtSignal ? (process.terminationStatus, 0, text) : (nil, process.terminationStatus, text)
    }

    /// A small demo ledger: catalog, definitions, leads, and a replay checkpoint.
    static func demo(leads: Int = 150) throws -> CLI {
        let cli = CLI()
        let made = try cli.run(["demo", "--leads", String(leads), "--seed", "5"])
        #expect(made.status == 0, "\(made.stderr)")
        return cli
    }
}

/// The file offsets of every page header, node pointer and node header of an LMDB data file.
func pageStructureOffsets(_ bytes: Data) -> [Int] {
    let pageSize = Int(bytes[40]) | Int(bytes[41]) << 8 | Int(bytes[42]) << 16
    var out: [Int] = []
    for page in stride(from: 2 * pageSize, to: bytes.count - pageSize + 1, by: pageSize) {
        out += (page..<(page + 16))
        let flags = Int(bytes[page + 10]) | Int(bytes[page + 11]) << 8
        guard flags == 0x01 || flags == 0x02 else { continue }
        let lower = Int(bytes[page + 12]) | Int(bytes[page + 13]) << 8
        guard lower >= 16, lower <= pageSize else { continue }
        for slot in stride(from: 16, to: lower, by: 2) {
            out += [page + slot, page + slot + 1]
            let node = Int(bytes[page + slot]) | Int(bytes[page + slot + 1]) << 8
            if node + 8 <= pageSize { out += ((page + node)..<(page + node + 8)) }
        }
    }
    return out
}

@Suite("leadledger on damaged and read-only ledgers", .serialized)
struct StorageCommandLineTests {
    @Test("verify on a ledger with a flipped meta-page byte exits 4 with a message and writes nothing")
    func damagedMeta() throws {
        let cli = try CLI.demo()
        let file = DataFile(cli)
        for offset in [16, 148, 4096 + 144, 4096 + 300, 4096 + 120] {
            try file.xor(offset, 0x01)
            let before = try file.bytes
            let verify = try cli.run(["verify"])
            #expect(verify.status == 4, "byte \(offset): \(verify.stdout) \(verify.stderr)")
            #expect(verify.stderr.contains("damaged"), "\(verify.stderr)")
            #expect(!verify.stdout.contains("intact"))
            // Writing commands refuse it too, and nothing is written.
            let initialise = try cli.run(["init"])
            #expect(initialise.status == 4, "\(initialise.stderr)")
            #expect(try file.bytes == before, "byte \(offset): the ledger was written to")
            try file.xor(offset, 0x01)
        }
        #expect(try cli.run(["verify"]).status == 0)
    }

    @Test("a truncated data file: every read command exits 4, none dies by a signal")
    func truncated() throws {
        let cli = try CLI.demo()
        let file = DataFile(cli)
        let size = try file.bytes.count
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: file.path))
        try handle.truncate(atOffset: UInt64(size / 2))
        try handle.close()
        for command in [["verify"], ["stats"], ["trends"], ["audit", "anything"], ["impact"]] {
            let result = try cli.runChecked(command)
            #expect(result.signal == nil, "\(command) died by signal \(result.signal ?? 0)")
            #expect(result.status == 4, "\(command): \(result.stderr)")
            #expect(result.stderr.contains("truncated"), "\(result.stderr)")
        }
        #expect(try file.bytes.count == size / 2)
    }

    @Test("read commands open read-only: the data file's bytes and modification time are unchanged")
    func readCommandsWriteNothing() throws {
        let cli = try CLI.demo()
        let file = DataFile(cli)
        let (bytes, modified) = (try file.bytes, try file.modified)
        let backup = FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-ro-backup-\(UUID().uuidString)").path
        let candidate = try cli.write(#"{"name":"Score 60","rules":{"field":"score","gte":60}}"#, to: "candidate.json")
        for command in [
            ["verify"], ["trends"], ["impact"], ["what-if", candidate], ["audit", "no-such-lead"], ["stats"], ["backup", backup],
        ] {
            let result = try cli.run(command)
            #expect(result.status == (command[0] == "audit" ? 1 : 0), "\(command): \(result.stderr)")
        }
        #expect(try file.bytes == bytes)
        #expect(try file.modified == modified)
    }

    @Test("read commands work on a read-only bind mount of the ledger (skipped where mounts are not allowed)")
    func readOnlyMount() throws {
        let cli = try CLI.demo()
        let unshare = ["/usr/bin/unshare", "/bin/unshare"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let unshare else { return }
        let probe = Process()
        probe.executableURL = URL(fileURLWithPath: unshare)
        probe.arguments = [
            "-m", "sh", "-c",
            "mount --bind -o ro '\(cli.ledger)' '\(cli.ledger)' && touch '\(cli.ledger)/probe' 2>/dev/null; test ! -e '\(cli.ledger)/probe'",
        ]
        try probe.run()
        probe.waitUntilExit()
        guard probe.terminationStatus == 0 else { return }  // no mount namespace here: nothing to test
        try? FileManager.default.removeItem(atPath: cli.ledger + "/lock.mdb")
        let candidate = try cli.write(#"{"name":"Score 60","rules":{"field":"score","gte":60}}"#, to: "candidate.json")
        let backup = FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-ro-mount-backup-\(UUID().uuidString)").path
        let commands = ["verify", "stats", "trends", "impact", "what-if '\(candidate)'", "backup '\(backup)'"]
        let script = commands.map { "'\(CLI.binary.path)' \($0) --ledger '\(cli.ledger)' >/dev/null || exit $?" }.joined(separator: "; ")
        let run = Process()
        run.executableURL = URL(fileURLWithPath: unshare)
        run.arguments = ["-m", "sh", "-c", "mount --bind -o ro '\(cli.ledger)' '\(cli.ledger)' && { \(script); }"]
        let err = Pipe()
        run.standardError = err
        try run.run()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        run.waitUntilExit()
        #expect(run.terminationStatus == 0, "\(text)")
    }

    @Test("a user who may not write the lock file reads a ledger no process has open, and is refused while one has it open")
    func otherUsersLockFile() throws {
        let setpriv = "/usr/bin/setpriv"
        guard getuid() == 0, FileManager.default.isExecutableFile(atPath: setpriv) else { return }
        let cli = try CLI.demo(leads: 20)
        // The owner lets others read: the directory 0755, the files 0644; nobody may write any of it.
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: cli.ledger)
        for file in ["data.mdb", "lock.mdb"] {
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: cli.ledger + "/" + file)
        }
        func asNobody(_ arguments: [String]) throws -> (Int32, String) {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: setpriv)
            process.arguments =
                ["--reuid=nobody", "--regid=nogroup", "--clear-groups", CLI.binary.path] + arguments + ["--ledger", cli.ledger]
            let err = Pipe()
            process.standardError = err
            process.standardOutput = Pipe()
            try process.run()
            let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, text)
        }
        let before = try DataFile(cli).bytes
        let alone = try asNobody(["verify"])
        #expect(alone.0 == 0, "\(alone.1)")
        #expect(try asNobody(["trends"]).0 == 0)
        // While another process has the ledger open, reading without the lock file could see reused pages.
        let server = Process()
        server.executableURL = CLI.binary
        server.arguments = ["serve", "--ledger", cli.ledger, "--port", "0", "--allow-anonymous"]
        server.standardOutput = Pipe()
        server.standardError = Pipe()
        try server.run()
        defer {
            server.terminate()
            server.waitUntilExit()
        }
        usleep(1_500_000)
        guard server.isRunning else { return }
        let busy = try asNobody(["verify"])
        #expect(busy.0 == 3, "\(busy.1)")
        #expect(busy.1.contains("another process has the ledger open"), "\(busy.1)")
        #expect(try DataFile(cli).bytes == before)
    }

    @Test("--map-size is taken by every command that opens a ledger and refused when malformed")
    func mapSize() throws {
        let cli = try CLI.demo(leads: 20)
        #expect(try cli.run(["stats", "--map-size", "64G"]).status == 0)
        #expect(try cli.run(["verify", "--map-size", "512M"]).status == 0)
        #expect(try cli.run(["trends", "--map-size", "1T"]).status == 0)
        let bad = try cli.run(["stats", "--map-size", "banana"])
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("map-size"))
        let other = CLI()
        #expect(try other.run(["init", "--taxonomy", "starter", "--map-size", "16M"]).status == 0)
        let small = String(repeating: history, count: 1)
        #expect(try other.run(["append", "--map-size", "16M", "-"], stdin: small).status == 0)
    }

    @Test("under `ulimit -v` smaller than the default 32 GiB map, the default map shrinks to fit and commands work")
    func addressSpaceLimit() throws {
        let cli = CLI()
        let script = """
            ulimit -v 3000000 || exit 99
            '\(CLI.binary.path)' init --taxonomy starter --ledger '\(cli.ledger)' || exit $?
            '\(CLI.binary.path)' stats --ledger '\(cli.ledger)' || exit $?
            """
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        shell.arguments = ["-c", script]
        let out = Pipe(), err = Pipe()
        shell.standardOutput = out
        shell.standardError = err
        try shell.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        shell.waitUntilExit()
        guard shell.terminationStatus != 99 else { return }
        #expect(shell.terminationStatus == 0, "\(errors)")
        #expect(text.contains("events     34"), "\(text)")
    }

    @Test("a sample of flips in records and ids: verify exits 4; no read command dies by a signal")
    func flipSample() throws {
        let cli = try CLI.demo()
        let file = DataFile(cli)
        let bytes = try file.bytes
        // Event ids appear in each record's header and as keys of the id index; lead ids in payloads and stream tables.
        var targets: [Int] = []
        let marker = Data("00Q".utf8)
        var from = bytes.startIndex
        while let range = bytes.range(of: marker, in: from..<bytes.endIndex) {
            targets += (range.lowerBound..<min(bytes.count, range.lowerBound + 8))
            from = range.upperBound
        }
        #expect(targets.count > 100)
        var generator = SystemRandomNumberGenerator()
        var verifyMissed = 0
        // LEADLEDGER_FLIPS=200 runs a longer sample.
        let count = ProcessInfo.processInfo.environment["LEADLEDGER_FLIPS"].flatMap(Int.init) ?? 24
        let candidate = try cli.write(#"{"name":"Score 60","rules":{"field":"score","gte":60}}"#, to: "candidate.json")
        let lead = String(decoding: bytes[targets[0]..<(targets[0] + 8)], as: UTF8.self)
        for _ in 0..<count {
            let offset = targets.randomElement(using: &generator)!
            try file.xor(offset, 0x20)
            defer { try? file.xor(offset, 0x20) }
            for command in [["verify"], ["trends"], ["audit", lead], ["stats"], ["impact"], ["what-if", candidate]] {
                let result = try cli.runChecked(command)
                #expect(result.signal == nil, "\(command) died by signal \(result.signal ?? 0) after flipping byte \(offset)")
                if command == ["verify"], result.status != 4 { verifyMissed += 1 }
            }
        }
        #expect(verifyMissed == 0, "\(verifyMissed) flips not reported by verify")
    }

    @Test("flips in LMDB's page headers and nodes: verify reports damage or exits 0, never dies by a signal")
    func pageStructureFlips() throws {
        // LEADLEDGER_PAGE_FLIPS=1000 runs the full count for BENCHMARKS.md; the default is a quick sample.
        // LEADLEDGER_PAGE_FLIPS_COMMAND=trends counts another command instead (reported, not asserted:
        // only verify walks the pages before LMDB does).
        let count = ProcessInfo.processInfo.environment["LEADLEDGER_PAGE_FLIPS"].flatMap(Int.init) ?? 40
        let command = ProcessInfo.processInfo.environment["LEADLEDGER_PAGE_FLIPS_COMMAND"] ?? "verify"
        let cli = try CLI.demo(leads: 400)
        let file = DataFile(cli)
        let offsets = pageStructureOffsets(try file.bytes)
        #expect(offsets.count > 100)
        var generator = SystemRandomNumberGenerator()
        var tally: [String: Int] = [:]
        for _ in 0..<count {
            let offset = offsets.randomElement(using: &generator)!
            let mask = UInt8.random(in: 1...255, using: &generator)
            try file.xor(offset, mask)
            defer { try? file.xor(offset, mask) }
            let result = try cli.runChecked([command])
            let key = result.signal.map { "signal \($0)" } ?? "exit \(result.status)"
            tally[key, default: 0] += 1
            if command == "verify" {
                #expect(result.signal == nil, "verify died by signal \(result.signal ?? 0) after flipping byte \(offset) by \(mask)")
            }
        }
        print(
            "page-structure flips, \(command): \(count) → \(tally.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))"
        )
    }

    @Test("a full file system says no space left on device (skipped where a small tmpfs cannot be mounted)")
    func noSpace() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("leadledger-tmpfs-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-t", "tmpfs", "-o", "size=256k", "tmpfs", directory]
        mount.standardError = Pipe()
        guard (try? mount.run()) != nil else { return }
        mount.waitUntilExit()
        guard mount.terminationStatus == 0 else { return }
        defer {
            let umount = Process()
            umount.executableURL = URL(fileURLWithPath: "/bin/umount")
            umount.arguments = [directory]
            try? umount.run()
            umount.waitUntilExit()
        }
        let ledger = directory + "/ledger"
        let run = { (arguments: [String], stdin: String?) throws -> CLI.Output in
            try CLI(ledger: ledger).run(arguments, stdin: stdin)
        }
        _ = try run(["init", "--taxonomy", "starter"], nil)
        var lines: [String] = []
        for i in 0..<3_000 {
            lines.append(
                event(
                    100_000 + i, "lead.captured", lead: "NS\(i)", at: "2026-03-02T09:00:00Z",
                    data: #"{"channel":"email","attributes":{"note":"\#(String(repeating: "x", count: 200))"}}"#))
        }
        let result = try run(["append", "-"], lines.joined(separator: "\n") + "\n")
        #expect(result.status == 5, "\(result.stderr)")
        #expect(result.stderr.contains("no space left on device"), "\(result.stderr)")
        #expect(try run(["verify"], nil).status == 0)
    }
}
