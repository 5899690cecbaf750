import EventLog
import Projections
import Synchronization

/// The replay of everything, kept caught up with the log for a long-lived process (the server):
/// the first reader loads the stored checkpoint, later readers fold only what was appended since
/// the last one, and every reader gets a value it may keep while the log moves on.
///
/// Replays under a cut start from the beginning, as ``Ledger/replay(cut:)`` does: a cut state
/// cannot be caught up.
public final class CurrentReplay: Sendable {
    /// The ledger it follows.
    public let ledger: Ledger
    /// How far the state may move past the stored checkpoint before it is saved again.
    let saveAfter: UInt64
    private struct Cache: Sendable {
        var state: ReplayState?
        var savedAt: UInt64 = 0
    }
    // Catching up happens under the lock: readers that arrive meanwhile wait for the fold in
    // progress rather than each folding the same records again.
    private let cache = Mutex(Cache())
    /// The stayers of the last impact of everything, by the position and window they were judged at.
    private let stayersCache = Mutex<(position: UInt64, windowDays: Int, stayers: Stayers)?>(nil)

    /// A replay that follows `ledger`.
    public init(ledger: Ledger, saveAfter: UInt64 = 10_000) {
        self.ledger = ledger
        self.saveAfter = saveAfter
    }

    /// The replay of everything stored now.
    public func state() throws -> ReplayState {
        try cache.withLock { cache throws -> ReplayState in
            // Taken out while it is folded, so that the fold mutates the only copy.
            guard var state = cache.state.take() else {
                let state = try ReplayCheckpoint.currentState(ledger.log, saveAfter: saveAfter)
                cache = Cache(state: state, savedAt: state.position)
                return state
            }
            if try ledger.head().position != state.position {
                var none = NoObserver()
                try ledger.log.withSnapshot { try ReplayEngine.catchUp(&state, snapshot: $0, observer: &none) }
                if !ledger.isReadOnly, state.position >= cache.savedAt, state.position - cache.savedAt >= saveAfter {
                    // A save that fails only costs the next process a longer catch-up.
                    if (try? ReplayCheckpoint.save(state, to: ledger.log)) != nil { cache.savedAt = state.position }
                }
            }
            cache.state = state
            return state
        }
    }

    /// The replay under `cut`: the shared state for everything, a replay from the start otherwise.
    public func state(cut: ReplayCut) throws -> ReplayState {
        cut == .everything ? try state() : try ledger.replay(cut: cut)
    }

    /// Acceptance and rejection trends, as ``Ledger/trends(_:cut:)`` computes them.
    public func trends(_ query: TrendsQuery = TrendsQuery(), cut: ReplayCut = .everything) throws -> TrendsReport {
        Trends.compute(try state(cut: cut), query)
    }

    /// How each change of the MQL definition moved rejection rates, as ``Ledger/impact(windowDays:cut:mapRetiredReasons:seriesWeeks:minimumStayers:)``.
    public func impact(
        windowDays: Int = 28, cut: ReplayCut = .everything, mapRetiredReasons: Bool = false, seriesWeeks: Int = 8, minimumStayers: Int = 30
    ) throws -> ImpactReport {
        let state = try state(cut: cut)
        return DefinitionImpact.compute(
            state, windowDays: windowDays, mapRetiredReasons: mapRetiredReasons,
            stayers: try stayers(state, cut: cut, windowDays: windowDays),
            seriesWeeks: seriesWeeks, minimumStayers: minimumStayers)
    }

    /// The stayers of `state`'s definition changes, judged in a pass over the log; for everything,
    /// kept until the log moves on, so that the dashboard's impact costs one pass per append, not per view.
    func stayers(_ state: ReplayState, cut: ReplayCut, windowDays: Int) throws -> Stayers {
        guard cut == .everything else {
            return try Stayers.judge(ledger.log, cut: cut, definitions: state.definitions, windowDays: windowDays)
        }
        if let kept = stayersCache.withLock({ $0 }), kept.position == state.position, kept.windowDays == windowDays { return kept.stayers }
        let stayers = try Stayers.judge(ledger.log, cut: cut, definitions: state.definitions, windowDays: windowDays)
        stayersCache.withLock { $0 = (state.position, windowDays, stayers) }
        return stayers
    }
}
