import Foundation
import LeadModel

/// Which episodes a report covers: a range of hand-off days, a channel, an owner, a definition.
///
/// The dashboard's filters are this one value, applied alike to every chart and table and to the
/// drill-down list, so a cohort's cell and its list of episodes always count the same episodes.
/// A channel, owner or definition the ledger has never seen matches no episode (rather than every
/// one); `"(none)"` matches the episodes that have none, as grouped reports name them.
public struct EpisodeFilter: Sendable, Hashable, Codable {
    /// First business instant of hand-off included (µs), if bounded.
    public var from: Int64?
    /// First business instant of hand-off excluded (µs), if bounded.
    public var until: Int64?
    /// The lead's channel at hand-off.
    public var channel: String?
    /// The owner the lead was handed to.
    public var owner: String?
    /// The episode's MQL definition version.
    public var definition: Int?

    /// A filter; by default everything passes.
    public init(from: Int64? = nil, until: Int64? = nil, channel: String? = nil, owner: String? = nil, definition: Int? = nil) {
        self.from = from
        self.until = until
        self.channel = channel
        self.owner = owner
        self.definition = definition
    }

    /// Whether every episode passes.
    public var isEmpty: Bool { from == nil && until == nil && channel == nil && owner == nil && definition == nil }

    /// The filter resolved against a state's interned names, for the fold.
    public func matcher(_ state: ReplayState) -> EpisodeMatcher { EpisodeMatcher(self, state: state) }
}

/// An ``EpisodeFilter`` with its names turned into the state's numbers once, so testing an episode
/// compares integers only.
public struct EpisodeMatcher: Sendable {
    // `nil`: any value; `unknown`: a name the state has never interned, which no episode carries.
    private static let unknown = Int32.min
    let from: Int64?, until: Int64?
    let channel: Int32?, owner: Int32?
    let definition: Int?
    let definitions: ReplayState?

    init(_ filter: EpisodeFilter, state: ReplayState) {
        func key(_ name: String?, _ interner: Interner) -> Int32? {
            guard let name else { return nil }
            if name == "(none)" { return -1 }
            return interner.lookup(name) ?? Self.unknown
        }
        from = filter.from
        until = filter.until
        channel = key(filter.channel, state.channels)
        owner = key(filter.owner, state.owners)
        definition = filter.definition
        // Only a definition filter needs the catalog, to find the definition in force at a hand-off.
        definitions = filter.definition == nil ? nil : state
    }

    /// Whether `e` passes the filter.
    @inline(__always)
    public func admits(_ e: Episode) -> Bool {
        if let from, e.handedOffAt < from { return false }
        if let until, e.handedOffAt >= until { return false }
        if let channel, e.channel != channel { return false }
        if let owner, e.owner != owner { return false }
        if let definition, let state = definitions, state.definition(of: e) != definition { return false }
        return true
    }
}
