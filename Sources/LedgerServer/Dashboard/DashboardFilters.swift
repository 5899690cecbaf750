import Foundation
import Hummingbird
import Projections

/// The dashboard's filters as the page's URL holds them (`from`, `to`, `channel`, `owner`,
/// `definition`), so a filtered view is a link that can be shared; every chart, table and
/// drill-down link of the page carries them.
struct DashboardFilters {
    /// The names the filters go by in the URL, in the order links carry them.
    static let names = ["from", "to", "channel", "owner", "definition"]

    /// The filters as given (empty when absent), to fill the form and build links again.
    let given: [String: String]
    /// What they select.
    let filter: EpisodeFilter

    /// The filters of a page's query string; a value the API would refuse is refused the same way.
    init(_ parameters: Parameters) throws {
        var given: [String: String] = [:]
        for name in Self.names { given[name] = parameters[Substring(name)].map(String.init) ?? "" }
        self.given = given
        filter = try LedgerHTTPServer.episodeFilter(parameters)
    }

    /// A page's query string decoded as a form sends it (`+` is a space, which the API's
    /// percent-decoding alone does not read so), without the empty fields a form's "all" sends.
    static func pageParameters(_ request: Request) -> Parameters {
        let query = request.uri.query ?? ""
        var values: [(key: Substring, value: Substring)] = []
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> Substring {
                Substring(s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(s))
            }
            guard parts.count > 1, !parts[1].isEmpty else { continue }
            values.append((decode(parts[0]), decode(parts[1])))
        }
        return Parameters(values)
    }

    /// The filters given, as `name=value` pairs.
    var items: [(String, String)] { Self.names.compactMap { name in given[name].flatMap { $0.isEmpty ? nil : (name, $0) } } }

    /// Whether any filter is set.
    var isActive: Bool { !items.isEmpty }

    /// `path` with the filters and `extra` in its query, percent-encoded (not yet HTML-escaped).
    func href(_ path: String, _ extra: [(String, String)] = []) -> String {
        let pairs = items + extra.filter { !$0.1.isEmpty }
        guard !pairs.isEmpty else { return path }
        return path + "?" + pairs.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
    }

    /// The filters in words, for a page's heading.
    var summary: String {
        var parts: [String] = []
        switch (given["from"] ?? "", given["to"] ?? "") {
        case ("", ""): break
        case (let from, ""): parts.append("handed off from \(from)")
        case ("", let to): parts.append("handed off through \(to)")
        case (let from, let to): parts.append("handed off \(from) – \(to)")
        }
        if let channel = given["channel"], !channel.isEmpty { parts.append("channel \(channel)") }
        if let owner = given["owner"], !owner.isEmpty { parts.append("owner \(owner)") }
        if let definition = given["definition"], !definition.isEmpty { parts.append("definition v\(definition)") }
        return parts.isEmpty ? "all hand-offs" : parts.joined(separator: ", ")
    }

    /// Percent-encodes a query component: only unreserved characters stay as they are.
    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: Unicode.Scalar(0)..<Unicode.Scalar(128)))
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }
}

/// The filter form: its fields as given and the values the ledger knows, to choose from.
struct FilterFormView {
    struct Option {
        let value, label: String
        let selected: Bool
    }
    let from, to: String
    let channels, owners, definitions: [Option]
    let active: Bool
    let summary: String
    let episodesLink: String

    init(_ filters: DashboardFilters, state: ReplayState) {
        func options(_ names: [String], _ chosen: String, label: (String) -> String = { $0 }) -> [Option] {
            var values = names
            // A value from a shared link that this ledger does not know stays selectable, so the page says what it filters.
            if !chosen.isEmpty, !values.contains(chosen) { values.append(chosen) }
            return [Option(value: "", label: "all", selected: chosen.isEmpty)]
                + values.map { Option(value: $0, label: label($0), selected: $0 == chosen) }
        }
        from = filters.given["from"] ?? ""
        to = filters.given["to"] ?? ""
        channels = options(state.channels.names.sorted(), filters.given["channel"] ?? "")
        owners = options(state.owners.names.sorted(), filters.given["owner"] ?? "")
        definitions = options(
            state.definitions.keys.sorted().map(String.init), filters.given["definition"] ?? "",
            label: { version in "v\(version)" + (Int(version).flatMap { state.definitions[$0]?.name }.map { " \($0)" } ?? "") })
        active = filters.isActive
        summary = filters.summary
        episodesLink = filters.href("/episodes")
    }
}
