import ArgumentParser
import EventLog
import Foundation
import LMDB
import Ledger
import Projections

/// `--ledger PATH` and `--map-size SIZE`, shared by every subcommand that opens a ledger.
struct LedgerOptions: ParsableArguments {
    @Option(
        name: .long, help: ArgumentHelp("The ledger directory (default: $LEADLEDGER_PATH, else ./leadledger.ledger).", valueName: "PATH"))
    var ledger: String?

    @Option(
        name: .customLong("map-size"),
        help: ArgumentHelp(
            "The most the ledger's file may grow to, e.g. 64G or 512M (default 32G, less when `ulimit -v` allows less). Raise it when the map is full.",
            valueName: "SIZE"))
    var mapSize: ByteSize?

    /// The ledger's directory after the fallbacks.
    var path: String {
        ledger ?? ProcessInfo.processInfo.environment["LEADLEDGER_PATH"].flatMap { $0.isEmpty ? nil : $0 } ?? "leadledger.ledger"
    }

    /// The ledger options these flags ask for.
    func ledgerOptions(create: Bool, readOnly: Bool = false, checksStructure: Bool = false) -> Ledger.Options {
        var options = Ledger.Options(createIfMissing: create, readOnly: readOnly, checksStructure: checksStructure)
        if let mapSize { options.mapSize = mapSize.bytes }
        return options
    }

    /// Opens the ledger to write to it; with `create`, a missing one is created. Exit code 3 when it
    /// is missing or cannot be opened, 4 when it is damaged (then nothing was written to it).
    func open(create: Bool) throws -> Ledger {
        try opening { try Ledger(path: path, options: ledgerOptions(create: create)) }
    }

    /// Opens the ledger for a command that only reads (`MDB_RDONLY`): nothing is written to its files,
    /// so it also works on a read-only copy. With `checkingStructure` (for `verify`), every page of
    /// the file is checked before LMDB follows any. Exit codes as for ``open(create:)``.
    func openForReading(checkingStructure: Bool = false) throws -> Ledger {
        try opening { try Ledger(path: path, options: ledgerOptions(create: false, readOnly: true, checksStructure: checkingStructure)) }
    }

    private func opening(_ body: () throws -> Ledger) throws -> Ledger {
        do {
            return try body()
        } catch let error as LogOpenError {
            if case .damaged = error { throw CLIError(exitCode: .damaged, error.description) }
            throw CLIError(exitCode: .notFound, error.description)
        } catch {
            throw CLIError(exitCode: .notFound, "cannot open the ledger at \(path): \(error)")
        }
    }
}

/// A size in bytes given as `64G`, `512M`, `100K` or plain bytes (binary units).
struct ByteSize: ExpressibleByArgument {
    let bytes: Int

    init?(argument: String) {
        let text = argument.trimmingCharacters(in: .whitespaces).uppercased()
        let units: [(String, Int)] = [
            ("TIB", 40), ("GIB", 30), ("MIB", 20), ("KIB", 10), ("TB", 40), ("GB", 30), ("MB", 20), ("KB", 10), ("T", 40), ("G", 30),
            ("M", 20), ("K", 10), ("B", 0),
        ]
        var shift = 0
        var digits = Substring(text)
        if let unit = units.first(where: { text.hasSuffix($0.0) }) {
            shift = unit.1
            digits = digits.dropLast(unit.0.count)
        }
        guard let value = Int(digits), value > 0 else { return nil }
        let (bytes, overflow) = value.multipliedReportingOverflow(by: 1 << shift)
        guard !overflow, bytes >= 1 << 20 else { return nil }
        self.bytes = bytes
    }

    static var defaultCompletionKind: CompletionKind { .default }
}

/// An error that ends the command with a message on standard error and a documented exit code.
struct CLIError: Error, CustomStringConvertible {
    /// The documented exit codes.
    enum Code: Int32 {
        case refused = 1, notFound = 3, damaged = 4, storage = 5, usage = 64
    }
    let exitCode: Code
    let message: String
    init(exitCode: Code, _ message: String) {
        self.exitCode = exitCode
        self.message = message
    }
    var description: String { message }
}

/// `--format table|json|csv`.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, csv
}

/// Runs a command body, turning errors into a message on standard error and an exit code.
func runReporting(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as CLIError {
        FileHandle.standardError.write(Data("error: \(error.message)\n".utf8))
        throw ExitCode(error.exitCode.rawValue)
    } catch let error as ExitCode {
        throw error
    } catch let error as StoredDamage {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode(CLIError.Code.damaged.rawValue)
    } catch let error as ReplayError {
        // The replay reads only what the log stored: an event it cannot decode is a damaged ledger.
        FileHandle.standardError.write(Data("error: the ledger is damaged at \(error); run `leadledger verify`\n".utf8))
        throw ExitCode(CLIError.Code.damaged.rawValue)
    } catch let error as LMDBError {
        if error.code.isDamage {
            FileHandle.standardError.write(Data("error: the ledger is damaged (\(error)); run `leadledger verify`\n".utf8))
            throw ExitCode(CLIError.Code.damaged.rawValue)
        }
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode(CLIError.Code.storage.rawValue)
    } catch let error as LedgerError {
        FileHandle.standardError.write(Data("error: the batch was refused; the ledger is unchanged\n".utf8))
        for problem in error.problems { FileHandle.standardError.write(Data("  \(problem.message)\n".utf8)) }
        if let size = error.suggestedMapSize {
            FileHandle.standardError.write(Data("  run the command again with --map-size \(size >> 30)G\n".utf8))
        }
        throw ExitCode(error.kind == .storage ? CLIError.Code.storage.rawValue : CLIError.Code.refused.rawValue)
    } catch {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode(CLIError.Code.storage.rawValue)
    }
}

/// Pretty JSON with stable key order.
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    let data = try encoder.encode(value)
    FileHandle.standardOutput.write(data)
    FileHandle.standardOutput.write(Data("\n".utf8))
}
