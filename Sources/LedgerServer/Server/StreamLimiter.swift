import HTTPTypes
import Synchronization

/// Counts open event streams, in all and per key: each holds a connection and a task for as
/// long as its client stays, so one key must not be able to take them all.
final class StreamLimiter: Sendable {
    let total: Int
    let perOwner: Int
    private let open = Mutex<(total: Int, byOwner: [String: Int])>((0, [:]))

    init(total: Int, perOwner: Int) {
        self.total = max(0, total)
        self.perOwner = max(0, perOwner)
    }

    /// Streams open now.
    var count: Int { open.withLock { $0.total } }

    /// A slot for one more stream of `owner`, given back when the slot is released; 429 when the
    /// owner holds its share, 503 when the server holds all it takes.
    func open(for owner: String) throws -> Slot {
        enum Refusal { case owner, server }
        let refusal = open.withLock { open -> Refusal? in
            if open.total >= total { return .server }
            if open.byOwner[owner, default: 0] >= perOwner { return .owner }
            open.total += 1
            open.byOwner[owner, default: 0] += 1
            return nil
        }
        switch refusal {
        case .owner?:
            throw APIError(
                .tooManyRequests, "this key already holds \(perOwner) open event streams; close one first",
                headers: [.retryAfter: "5"])
        case .server?:
            throw APIError(
                .serviceUnavailable, "the server already serves \(total) event streams; try again later",
                headers: [.retryAfter: "5"])
        case nil:
            return Slot(limiter: self, owner: owner)
        }
    }

    fileprivate func release(_ owner: String) {
        open.withLock { open in
            open.total -= 1
            let left = open.byOwner[owner, default: 1] - 1
            open.byOwner[owner] = left > 0 ? left : nil
        }
    }

    /// One open stream; released when the last reference goes.
    final class Slot: Sendable {
        let limiter: StreamLimiter
        let owner: String

        fileprivate init(limiter: StreamLimiter, owner: String) {
            self.limiter = limiter
            self.owner = owner
        }

        deinit { limiter.release(owner) }
    }
}
