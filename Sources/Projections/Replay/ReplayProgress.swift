import Synchronization

/// How far a replay has read, for a progress bar: set it as a task-local around a call that replays
/// (`ReplayProgress.$current.withValue(progress) { try ledger.trends() }`) and poll it from elsewhere.
public final class ReplayProgress: Sendable {
    /// The progress of the replays of the current task, if anyone is watching.
    @TaskLocal public static var current: ReplayProgress?

    private let done = Atomic<UInt64>(0)
    private let stopped = Atomic<Bool>(false)
    private let expected = Atomic<UInt64>(0)

    /// Creates an empty progress.
    public init() {}

    /// Records read so far, and records to read in all (0 while unknown).
    public var fraction: (done: UInt64, total: UInt64) {
        (done.load(ordering: .relaxed), expected.load(ordering: .relaxed))
    }

    /// Asks the replays watched by this progress to stop: they throw `CancellationError` soon after.
    public func cancel() { stopped.store(true, ordering: .relaxed) }

    /// Whether `cancel()` was called.
    public var isCancelled: Bool { stopped.load(ordering: .relaxed) }

    func expect(_ records: UInt64) { expected.add(records, ordering: .relaxed) }
    func advance(_ records: UInt64) { done.add(records, ordering: .relaxed) }
}
