import ArgumentParser
import EventLog
import Foundation
import LeadModel
import Ledger
import Projections

struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Walk the whole log, recompute the hash chain and check the indexes.",
        discussion: """
            Prints the head hash: a receipt an auditor can keep and compare later.
            With --since RECEIPT (a file written by `leadledger receipt`), checks the receipt's
            signature, that its head is still in the chain, and only the events appended after it.
            Exit code 4 names the first damaged position, or a receipt that does not hold.

            Example:
              leadledger verify --ledger ./pipeline.ledger
              leadledger verify --ledger ./pipeline.ledger --since receipt-2026-03-02.json
            """)

    @OptionGroup var options: LedgerOptions
    @Flag(help: "Print the report as JSON.")
    var json = false
    @Option(help: "A receipt file: check only what was appended after it.")
    var since: String?

    func run() async throws {
        try await runReporting {
            let ledger = try options.openForReading(checkingStructure: since == nil)
            defer { ledger.close() }
            let report: VerifyReport
            if let since {
                guard let data = FileManager.default.contents(atPath: since) else { throw CLIError(exitCode: .notFound, "cannot read \(since)") }
                let receipt: SignedReceipt
                do { receipt = try SignedReceipt.decode(data) } catch { throw CLIError(exitCode: .refused, "\(since): \(error)") }
                do { report = try ledger.verify(since: receipt) } catch let error as SigningKeyError {
                    throw CLIError(exitCode: .refused, error.description)
                }
                if json { try printJSON(report) }
                if let problem = report.problem { throw CLIError(exitCode: .damaged, "verification since the receipt failed at \(problem)") }
                if !json {
                    print(
                        "intact since the receipt at position \(receipt.position): \(Format.count(Int(report.records))) \(report.records == 1 ? "event" : "events") checked, head \(report.head.position) \(report.head.hash)"
                    )
                }
                return
            }
            report = try ledger.verify()
            if json { try printJSON(report) }
            if let problem = report.problem {
                throw CLIError(exitCode: .damaged, "verification failed at \(problem)")
            }
            if !json { print("intact: \(Format.count(Int(report.records))) events, head \(report.head.position) \(report.head.hash)") }
        }
    }
}

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a compacted, consistent copy of the ledger, while appends go on.",
        discussion: """
            Example:
              leadledger backup --ledger ./pipeline.ledger /backups/pipeline-2026-03-02
            """)

    @OptionGroup var options: LedgerOptions
    @Argument(help: "A new or empty directory.")
    var destination: String

    func run() async throws {
        try await runReporting {
            let ledger = try options.openForReading()
            defer { ledger.close() }
            do {
                let head = try ledger.backup(to: destination)
                print("backed up \(Format.count(Int(head.position))) events to \(destination); head \(head.hash)")
            } catch let error as BackupError {
                throw CLIError(exitCode: .refused, error.description)
            }
        }
    }
}

struct Stats: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Counts, sizes and map usage of the ledger.",
        discussion: """
            Example:
              leadledger stats --ledger ./pipeline.ledger
            """)

    @OptionGroup var options: LedgerOptions
    @Flag(help: "Print as JSON.")
    var json = false

    func run() async throws {
        try await runReporting {
            let ledger = try options.openForReading()
            defer { ledger.close() }
            let s = try ledger.statistics()
            let leads = try ledger.leadCount()
            if json { return try printJSON(s) }
            func mib(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
            print(
                """
                ledger     \(ledger.path)
                events     \(Format.count(s.records))
                leads      \(Format.count(leads))
                head       \(s.head.position) \(s.head.hash)
                file       \(mib(s.fileSize)) on disk, \(mib(s.usedBytes)) in use of a \(mib(s.mapSize)) map (\(Format.percent(Double(s.usedBytes) / Double(max(1, s.mapSize)))))
                readers    \(s.readers) of \(s.maxReaders) slots in use
                """)
        }
    }
}
