import ArgumentParser
import Foundation
import Ledger
import Projections

/// `--from`, `--to`, `--as-of-recorded`, `--as-of-occurred`: which history a report covers.
struct RangeOptions: ParsableArguments {
    @Option(help: ArgumentHelp("First hand-off day included (YYYY-MM-DD).", valueName: "DATE"))
    var from: String?

    @Option(help: ArgumentHelp("Last hand-off day included (YYYY-MM-DD).", valueName: "DATE"))
    var to: String?

    @Option(
        name: .customLong("as-of-recorded"),
        help: ArgumentHelp("Replay only what the ledger had recorded by then (knowledge time; RFC 3339 or YYYY-MM-DD).", valueName: "TIME"))
    var asOfRecorded: String?

    @Option(
        name: .customLong("as-of-occurred"),
        help: ArgumentHelp("Replay only what had happened by then (business time; RFC 3339 or YYYY-MM-DD).", valueName: "TIME"))
    var asOfOccurred: String?

    func validate() throws {
        _ = try bounds()
        _ = try cut()
    }

    /// `from` inclusive and `until` exclusive, in µs.
    func bounds() throws -> (from: Int64?, until: Int64?) {
        do throws(QueryInputError) { return try QueryInput.dayRange(from: from, to: to) } catch { throw validationError(error) }
    }

    func cut() throws -> ReplayCut {
        do throws(QueryInputError) { return try QueryInput.cut(asOfRecorded: asOfRecorded, asOfOccurred: asOfOccurred) } catch {
            throw validationError(error)
        }
    }

    /// The library's complaint about a range or a cut, worded with this command's options.
    func validationError(_ error: QueryInputError) -> ValidationError {
        switch error {
        case .notADay(let field, let found): ValidationError("\(Self.option(field)): expected a date like 2026-03-02, found \"\(found)\"")
        case .notAnInstant(let field, let found):
            ValidationError("\(Self.option(field)): expected \(ReplayCut.instantForms), found \"\(found)\"")
        case .toBeforeFrom: ValidationError("--to \(to ?? "") is before --from \(from ?? "")")
        case .bothCuts: ValidationError("give --as-of-recorded or --as-of-occurred, not both")
        }
    }

    /// The option that sets the input the library calls `field`.
    static func option(_ field: String) -> String {
        switch field {
        case "asOfRecorded": "--as-of-recorded"
        case "asOfOccurred": "--as-of-occurred"
        default: "--\(field)"
        }
    }
}

/// `--channel`, `--owner` and `--definition`: the filters the API's `channel`, `owner` and
/// `definition` parameters and the dashboard's filter bar apply, so a report on the command line
/// counts the same episodes as the chart it is compared with.
struct FilterOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Only hand-offs of leads in this channel (\"(none)\" for leads without one).", valueName: "NAME"))
    var channel: String?

    @Option(help: ArgumentHelp("Only hand-offs to this owner (\"(none)\" for hand-offs without one).", valueName: "OWNER"))
    var owner: String?

    @Option(help: ArgumentHelp("Only episodes under this MQL definition version.", valueName: "VERSION"))
    var definition: Int?

    func validate() throws {
        if let definition, !(0...Int(Int32.max)).contains(definition) {
            throw ValidationError("--definition: expected a version from 0 to \(Int32.max), found \(definition)")
        }
        for (name, value) in [("--channel", channel), ("--owner", owner)] where value?.isEmpty == true {
            throw ValidationError("\(name): expected a name, found an empty string")
        }
    }

    /// These filters with the range's hand-off days.
    func filter(_ range: RangeOptions) throws -> EpisodeFilter {
        let (from, until) = try range.bounds()
        return EpisodeFilter(from: from, until: until, channel: channel, owner: owner, definition: definition)
    }
}
