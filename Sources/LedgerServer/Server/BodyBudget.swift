import HTTPTypes
import Synchronization

/// Bytes of request bodies the server holds at once, all requests together: each body is decoded
/// into several times its size, so without a shared bound enough concurrent large appends would
/// take the process's memory however small each one is.
final class BodyBudget: Sendable {
    let capacity: Int
    private let used = Mutex<Int>(0)

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Bytes reserved now.
    var inUse: Int { used.withLock { $0 } }

    /// Reserves `bytes` (at most the whole budget) until the returned reservation goes; 503 with
    /// `Retry-After` when the budget cannot hold them now.
    func reserve(_ bytes: Int) throws -> Reservation {
        let wanted = min(max(0, bytes), capacity)
        let granted = used.withLock { used -> Bool in
            guard used <= capacity - wanted else { return false }
            used += wanted
            return true
        }
        guard granted else {
            throw APIError(
                .serviceUnavailable, "the server is reading as many request bodies as it holds at once; try again shortly",
                headers: [.retryAfter: "1"])
        }
        return Reservation(budget: self, bytes: wanted)
    }

    fileprivate func release(_ bytes: Int) { used.withLock { $0 -= bytes } }

    /// Bytes held for one request, given back when it is released.
    final class Reservation: Sendable {
        let budget: BodyBudget
        let bytes: Int

        fileprivate init(budget: BodyBudget, bytes: Int) {
            self.budget = budget
            self.bytes = bytes
        }

        deinit { budget.release(bytes) }
    }
}
