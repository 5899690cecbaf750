import Foundation

/// Where the log takes `recordedAt` from; inject a fixed one in tests.
public protocol LogClock: Sendable {
    /// Microseconds since the Unix epoch.
    func now() -> Int64
}

/// The system's wall clock.
public struct SystemLogClock: LogClock {
    /// Creates the clock.
    public init() {}
    /// Microseconds since the Unix epoch.
    public func now() -> Int64 { Int64((Date().timeIntervalSince1970 * 1_000_000).rounded()) }
}
