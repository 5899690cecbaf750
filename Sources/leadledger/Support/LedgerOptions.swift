import ArgumentParser
import EventLog
import Foundation
import Ledger

/// `--ledger PATH`, shared by every subcommand.
struct LedgerOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The ledger directory (default: $LEADLEDGER_PATH, else ./leadledger.ledger).", valueName: "PATH"))
    var ledger: String?

    /// The ledger's directory after the fallbacks.
    var path: String {
        ledger ?? ProcessInfo.processInfo.environment["LEADLEDGER_PATH"].flatMap { $0.isEmpty ? nil : $0 } ?? "leadledger.ledger"
    }

    /// Opens the ledger; commands that only read refuse a missing one with exit code 3.
    func open(create: Bool) throws -> Ledger {
        do {
            return try Ledger(path: path, options: .init(createIfMissing: create))
        } catch let error as LogOpenError {
            throw CLIError(exitCode: .notFound, error.description)
        } catch {
            throw CLIError(exitCode: .notFound, "cannot open the ledger at \(path): \(error)")
        }
    }
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
    } catch let error as LedgerError {
        FileHandle.standardError.write(Data("error: the batch was refused; the ledger is unchanged\n".utf8))
        for problem in error.problems { FileHandle.standardError.write(Data("  \(problem.message)\n".utf8)) }
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
