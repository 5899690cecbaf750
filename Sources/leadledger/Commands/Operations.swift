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
            Exit code 4 names the first damaged position.

            Example:
              leadledger verify --ledger ./pipeline.ledger
            """)

    @OptionGroup var options: LedgerOptions
    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() async throws {
        try await runReporting {
            let ledger = try options.openForReading(checkingStructure: true)
            defer { ledger.close() }
            let report = try ledger.verify()
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
