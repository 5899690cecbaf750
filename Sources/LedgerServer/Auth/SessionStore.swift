import Crypto
import Foundation
import Hummingbird
import Synchronization

/// Dashboard sessions: an opaque random token in the cookie instead of the API key itself.
///
/// A session expires, ends at sign-out, and ends as soon as the key it was opened with is revoked
/// (the key is checked again on every request). Each session has its own CSRF token, which the
/// dashboard's forms carry. Sessions live in memory: a restart signs everyone out, which is the safe side.
final class SessionStore: Sendable {
    /// The name of the dashboard's cookie.
    static let cookieName = "leadledger_session"
    /// The name of the hidden form field that carries the CSRF token.
    static let csrfField = "csrf"

    /// One signed-in browser.
    struct Session: Sendable {
        /// The key it signed in with, as checked on this request.
        var key: APIKey
        /// The token its forms must send back.
        var csrfToken: String
    }

    private struct Entry {
        var secret: String
        var csrfToken: String
        var expires: ContinuousClock.Instant
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let lifetime: Duration
    /// Bounds memory whatever the number of sign-ins; the oldest sessions go first.
    private let capacity: Int

    init(lifetimeSeconds: Double, capacity: Int = 10_000) {
        let seconds = lifetimeSeconds.isFinite ? max(1, min(lifetimeSeconds, 365 * 86_400)) : 12 * 3600
        self.lifetime = .milliseconds(Int64(seconds * 1000))
        self.capacity = capacity
    }

    /// The lifetime in whole seconds, for the cookie's `Max-Age`.
    var lifetimeSeconds: Int64 { lifetime.components.seconds }

    /// Opens a session for a key the caller has just checked; returns its token and CSRF token.
    func open(secret: String) -> (token: String, csrfToken: String) {
        let token = Self.randomToken()
        let csrf = Self.randomToken()
        let now = ContinuousClock.now
        entries.withLock { entries in
            entries = entries.filter { $0.value.expires > now }
            if entries.count >= capacity, let oldest = entries.min(by: { $0.value.expires < $1.value.expires })?.key {
                entries[oldest] = nil
            }
            entries[token] = Entry(secret: secret, csrfToken: csrf, expires: now + lifetime)
        }
        return (token, csrf)
    }

    /// Ends the session of this request's cookie, if any.
    func close(for request: Request) {
        guard let token = Self.token(in: request) else { return }
        _ = entries.withLock { $0.removeValue(forKey: token) }
    }

    /// The live session of this request's cookie, with its key checked again; nil when there is
    /// none, it expired, or its key was revoked.
    func session(for request: Request, keys: any APIKeyStoring) async throws -> Session? {
        guard let token = Self.token(in: request) else { return nil }
        let now = ContinuousClock.now
        guard
            let entry = entries.withLock({ entries -> Entry? in
                guard let entry = entries[token] else { return nil }
                guard entry.expires > now else {
                    entries[token] = nil
                    return nil
                }
                return entry
            })
        else { return nil }
        guard let key = try await keys.authenticate(entry.secret) else {
            _ = entries.withLock { $0.removeValue(forKey: token) }
            return nil
        }
        return Session(key: key, csrfToken: entry.csrfToken)
    }

    /// The number of live sessions.
    var count: Int { entries.withLock { $0.count } }

    static func token(in request: Request) -> String? {
        guard let value = request.cookies[cookieName]?.value, !value.isEmpty else { return nil }
        return value
    }

    /// Whether two tokens are equal, without an early exit that would time how much matched.
    static func tokensMatch(_ a: String, _ b: String) -> Bool {
        let left = SHA256.hash(data: Data(a.utf8))
        let right = SHA256.hash(data: Data(b.utf8))
        return left == right
    }

    private static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for _ in 0..<32 {
            let byte = UInt8.random(in: 0...255, using: &generator)
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
