import Foundation
import Projections
import Synchronization

/// Runs heavy analyses (replays, what-ifs, audits) on a few threads of their own, a bounded
/// number at a time, so that they never occupy the cooperative pool or the event loops that
/// `/health` and appends need.
///
/// Up to `width` analyses run at once; up to `queueLength` more wait their turn; past that a
/// request is refused at once (503 with `Retry-After`) rather than piling up. A waiting request
/// whose task is cancelled leaves the queue, and a running one is told to stop through its
/// `ReplayProgress`, which the replay checks as it reads.
final class AnalysisExecutor: Sendable {
    /// Refused because every slot and every place in the queue is taken.
    struct Busy: Error {}

    let width: Int
    let queueLength: Int
    private let queue: DispatchQueue

    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var running = 0
        var waiting: [Waiter] = []
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())

    init(width: Int, queueLength: Int) {
        self.width = max(1, width)
        self.queueLength = max(0, queueLength)
        self.queue = DispatchQueue(label: "leadledger.analysis", qos: .utility, attributes: .concurrent)
    }

    /// Analyses running and waiting now.
    var load: (running: Int, waiting: Int) { state.withLock { ($0.running, $0.waiting.count) } }

    /// Runs `work` when a slot is free; throws `Busy` when the queue is full and
    /// `CancellationError` when the calling task is cancelled first.
    func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await acquire()
        defer { release() }
        let progress = ReplayProgress()
        return try await withTaskCancellationHandler {
            try Task.checkCancellation()
            return try await withCheckedThrowingContinuation { continuation in
                queue.async {
                    continuation.resume(with: Result { try ReplayProgress.$current.withValue(progress) { try work() } })
                }
            }
        } onCancel: {
            progress.cancel()
        }
    }

    private func acquire() async throws {
        let id = state.withLock { state -> UInt64 in
            state.nextID &+= 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Decision { case run, wait, busy }
                let cancelled = Task.isCancelled
                let decision = state.withLock { state -> Decision in
                    if cancelled { return .busy }
                    if state.running < width {
                        state.running += 1
                        return .run
                    }
                    guard state.waiting.count < queueLength else { return .busy }
                    state.waiting.append(Waiter(id: id, continuation: continuation))
                    return .wait
                }
                switch decision {
                case .run: continuation.resume()
                case .busy: continuation.resume(throwing: cancelled ? CancellationError() : Busy())
                case .wait: break
                }
            }
        } onCancel: {
            let waiter = state.withLock { state -> Waiter? in
                guard let index = state.waiting.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiting.remove(at: index)
            }
            waiter?.continuation.resume(throwing: CancellationError())
        }
    }

    private func release() {
        // The slot passes straight to the first waiter, so `running` never drops below the work in hand.
        let next = state.withLock { state -> Waiter? in
            if state.waiting.isEmpty {
                state.running -= 1
                return nil
            }
            return state.waiting.removeFirst()
        }
        next?.continuation.resume()
    }
}
