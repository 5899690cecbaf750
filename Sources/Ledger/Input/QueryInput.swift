import LeadModel
import Projections

/// Why a query's range, cut or candidate as given cannot be used. Each case names the input by
/// the neutral name the API uses (`from`, `asOfRecorded`…); a front end words it with its own
/// names (a query parameter, a command-line option).
public enum QueryInputError: Error, Sendable, Hashable {
    /// `found` is not a day `YYYY-MM-DD`.
    case notADay(field: String, found: String)
    /// `found` is neither an RFC 3339 time nor a day (see ``ReplayCut/instantForms``).
    case notAnInstant(field: String, found: String)
    /// The last day comes before the first.
    case toBeforeFrom
    /// Both cuts were given: a replay is cut at a business time or at a knowledge time, not both.
    case bothCuts
}

/// Parsing of the inputs every report shares: a range of hand-off days and a replay cut. The
/// command line and the HTTP API both read them here, so they accept exactly the same texts.
public enum QueryInput {
    /// The start (µs) of a day `YYYY-MM-DD`.
    public static func day(_ text: String, field: String) throws(QueryInputError) -> Int64 {
        guard let start = Bucket.dayStart(text) else { throw .notADay(field: field, found: text) }
        return start
    }

    /// `from` and `to` (inclusive days) as a half-open range of business time in µs.
    public static func dayRange(from: String?, to: String?) throws(QueryInputError) -> (from: Int64?, until: Int64?) {
        let start = try from.map { text throws(QueryInputError) in try day(text, field: "from") }
        let end = try to.map { text throws(QueryInputError) in try day(text, field: "to") + 86_400_000_000 }
        if let start, let end, end <= start { throw .toBeforeFrom }
        return (start, end)
    }

    /// The replay's cut from `asOfRecorded` (knowledge time) or `asOfOccurred` (business time),
    /// each an RFC 3339 time or a day meaning its end; at most one of them.
    public static func cut(asOfRecorded: String?, asOfOccurred: String?) throws(QueryInputError) -> ReplayCut {
        func instant(_ text: String, _ field: String) throws(QueryInputError) -> Int64 {
            guard let instant = ReplayCut.instant(parsing: text) else { throw .notAnInstant(field: field, found: text) }
            return instant
        }
        switch (asOfRecorded, asOfOccurred) {
        case (nil, nil): return .everything
        case (let recorded?, nil): return .recordedBy(try instant(recorded, "asOfRecorded"))
        case (nil, let occurred?): return .occurredBy(try instant(occurred, "asOfOccurred"))
        case (_?, _?): throw .bothCuts
        }
    }
}

/// Why a candidate definition cannot be evaluated.
public struct CandidateInputError: Error, Sendable, CustomStringConvertible {
    /// The candidate's name (its own, or the default one).
    public let name: String
    /// Where in the candidate the problem is, as a JSON pointer from the candidate (`/rules/all/0`).
    public let pointer: String
    /// What is wrong there; nil when the candidate has no rules at all.
    public let rules: RuleError?

    /// `candidate `NAME`: …`.
    public var description: String {
        rules.map { "candidate `\(name)`: \($0.description)" } ?? "candidate `\(name)` has no rules"
    }
}

extension CandidateDefinition {
    /// The name of an unnamed candidate: its place among the candidates compared, from 1.
    public static func defaultName(index: Int) -> String { "candidate \(index + 1)" }

    /// A candidate from its JSON, `{"name": …, "rules": {…}}` as in `definition.published`
    /// (`version` and `effectiveAt` are ignored); unnamed, it is called ``defaultName(index:)``.
    public init(parsing json: JSONValue, index: Int) throws(CandidateInputError) {
        let name = json["name"]?.stringValue ?? Self.defaultName(index: index)
        guard let rules = json["rules"] else { throw CandidateInputError(name: name, pointer: "/rules", rules: nil) }
        let parsed: MQLRule
        do throws(RuleError) {
            parsed = try RuleParser().parse(rules)
        } catch {
            throw CandidateInputError(name: name, pointer: "/rules\(error.pointer)", rules: error)
        }
        self.init(name: name, rules: parsed)
    }
}
