import Foundation
import Synchronization

/// Who waits for the head to pass a position; the writer wakes them after each commit.
struct HeadWaiters: ~Copyable {
    var head: UInt64
    private var waiting: [UInt64: (after: UInt64, continuation: CheckedContinuation<Void, Never>)] = [:]
    private var nextToken: UInt64 = 0
    private var cancelled: Set<UInt64> = []
    private var closed = false

    init(head: UInt64) { self.head = head }

    mutating func token() -> UInt64 {
        nextToken += 1
        return nextToken
    }

    /// Registers a waiter, or returns false when it must not wait (head already past, closed, cancelled).
    mutating func wait(_ token: UInt64, after position: UInt64, _ continuation: CheckedContinuation<Void, Never>) -> Bool {
        if closed || head > position || cancelled.remove(token) != nil { return false }
        waiting[token] = (position, continuation)
        return true
    }

    /// Takes a waiter out (cancellation, time-out), returning its continuation to resume.
    mutating func remove(_ token: UInt64) -> CheckedContinuation<Void, Never>? {
        if let entry = waiting.removeValue(forKey: token) { return entry.continuation }
        cancelled.insert(token)
        return nil
    }

    mutating func advance(to position: UInt64) {
        head = max(head, position)
        for (token, entry) in waiting where entry.after < head {
            waiting.removeValue(forKey: token)
            entry.continuation.resume()
        }
    }

    mutating func closeAll() {
        closed = true
        for entry in waiting.values { entry.continuation.resume() }
        waiting.removeAll()
    }
}

/// The head as commits advance it, for subscribers to wait on: shared by a store's committer and its
/// subscriptions.
public final class HeadSignal: Sendable {
    let waiters: Mutex<HeadWaiters>

    /// A signal whose head is `head`.
    public init(head: UInt64) { waiters = Mutex(HeadWaiters(head: head)) }

    /// A commit moved the head to `position`: wakes who waits for it.
    public func advance(to position: UInt64) { waiters.withLock { $0.advance(to: position) } }

    /// The greatest head announced so far.
    public var head: UInt64 { waiters.withLock { $0.head } }

    /// The store closed: wakes everyone, and no one waits again.
    public func closeAll() { waiters.withLock { $0.closeAll() } }

    /// Waits until a record after `position` is committed by this process, or `timeout` passes
    /// (so appends by other processes are noticed too), or the task is cancelled.
    public func waitForRecord(after position: UInt64, timeout: Duration) async {
        let token = waiters.withLock { $0.token() }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            waiters.withLock { $0.remove(token) }?.resume()
        }
        defer { timer.cancel() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                if !waiters.withLock({ $0.wait(token, after: position, continuation) }) { continuation.resume() }
            }
        } onCancel: {
            waiters.withLock { $0.remove(token) }?.resume()
        }
    }
}

extension EventLog {
    /// Every record from `position` on: first those already stored, then each new one as it is
    /// committed. The sequence ends only when the task is cancelled or the log closes.
    public func subscribe(from position: UInt64 = 1) -> LogSubscription {
        let writer = self.writer
        return LogSubscription(
            from: position, read: { [self] in try records(from: $0, limit: $1) }, isClosed: { writer.isStopped },
            waitAfter: { await writer.heads.waitForRecord(after: $0, timeout: .seconds(1)) })
    }
}

/// Records of a store from a position on, catching up and then following new appends.
public struct LogSubscription: AsyncSequence, Sendable {
    /// The records, copied.
    public typealias Element = StoredRecord
    let read: @Sendable (UInt64, Int) async throws -> [StoredRecord]
    let isClosed: @Sendable () -> Bool
    let waitAfter: @Sendable (UInt64) async -> Void
    let next: UInt64

    /// A subscription over any store: `read(position, limit)` reads committed records from a
    /// position on, `isClosed` says when the sequence ends, and `waitAfter(position)` returns once a
    /// record after `position` may have been committed (a time-out is fine: the store is read again).
    public init(
        from position: UInt64, read: @escaping @Sendable (UInt64, Int) throws -> [StoredRecord],
        isClosed: @escaping @Sendable () -> Bool, waitAfter: @escaping @Sendable (UInt64) async -> Void
    ) {
        self.read = read
        self.isClosed = isClosed
        self.waitAfter = waitAfter
        next = Swift.max(position, 1)
    }

    /// A subscription over a store whose reads are asynchronous (a replicated log of record read over
    /// the network); otherwise as ``init(from:read:isClosed:waitAfter:)``.
    public init(
        from position: UInt64, readingAsync read: @escaping @Sendable (UInt64, Int) async throws -> [StoredRecord],
        isClosed: @escaping @Sendable () -> Bool, waitAfter: @escaping @Sendable (UInt64) async -> Void
    ) {
        self.read = read
        self.isClosed = isClosed
        self.waitAfter = waitAfter
        next = Swift.max(position, 1)
    }

    /// Reads in pages, so a slow consumer holds no snapshot open and buffers at most one page.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let subscription: LogSubscription
        var next: UInt64
        var buffer: [StoredRecord] = []
        var index = 0

        /// The next record, waiting for it when needed; `nil` once cancelled.
        public mutating func next() async throws -> StoredRecord? {
            while true {
                if index < buffer.count {
                    defer { index += 1 }
                    return buffer[index]
                }
                if Task.isCancelled { return nil }
                buffer = try await subscription.read(next, 512)
                index = 0
                if let last = buffer.last {
                    next = last.position + 1
                    continue
                }
                if subscription.isClosed() { return nil }
                await subscription.waitAfter(next - 1)
            }
        }
    }

    /// Starts reading.
    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(subscription: self, next: next) }
}
