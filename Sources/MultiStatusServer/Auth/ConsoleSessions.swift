import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import Synchronization

/// The sessions of the web console (`/ui/`): a browser that signed in with an account's password
/// holds a session cookie instead of sending the password with every request.
///
/// - The cookie (`ms_session`) is `HttpOnly` (no script reads it), `SameSite=Strict` (no other
///   site's page sends it), `Secure` over TLS, and scoped to `/`.
/// - Each session has a CSRF token, given to the page when it signs in; every request a session
///   authenticates, but the reads, must carry it in `X-CSRF-Token`. A form another site posts
///   cannot, so it is refused (403) even where a browser would send the cookie.
/// - A session ends at sign-out, after ``idleLifetime`` without a request, or ``lifetime`` after
///   sign-in, and with the process (sessions are kept in memory). The account behind it is looked
///   up at each request: an account removed from the file ends its sessions at once.
final class ConsoleSessions: Sendable {
    /// The cookie's name.
    static let cookie = "ms_session"
    /// The request field that carries the session's CSRF token.
    static let csrfField = HTTPField.Name("X-CSRF-Token")!
    /// Sessions end this long after the last request.
    let idleLifetime: Duration
    /// Sessions end this long after sign-in, whatever their use.
    let lifetime: Duration
    /// Most sessions kept: past it, the oldest ends.
    static let capacity = 10_000

    struct Session: Sendable {
        var account: String
        var csrf: String
        var started: ContinuousClock.Instant
        var lastUsed: ContinuousClock.Instant
    }

    /// Sessions by the SHA-256 of their cookie value: a memory dump does not hold usable cookies.
    private let sessions = Mutex<[Data: Session]>([:])

    init(idleLifetime: Duration = .seconds(3_600), lifetime: Duration = .seconds(12 * 3_600)) {
        self.idleLifetime = idleLifetime
        self.lifetime = lifetime
    }

    /// 32 random bytes, base64url.
    static func randomToken() -> String {
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        return bytes.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    private static func key(_ cookie: String) -> Data { Data(SHA256.hash(data: Data(cookie.utf8))) }

    /// Starts a session for `account`: its cookie value and CSRF token.
    func start(account: String) -> (cookie: String, csrf: String) {
        let cookie = Self.randomToken()
        let csrf = Self.randomToken()
        let now = ContinuousClock.now
        self.sessions.withLock { sessions in
            if sessions.count >= Self.capacity {
                sessions = sessions.filter { self.isLive($0.value, now: now) }
                if sessions.count >= Self.capacity, let oldest = sessions.min(by: { $0.value.started < $1.value.started }) {
                    sessions[oldest.key] = nil
                }
            }
            sessions[Self.key(cookie)] = Session(account: account, csrf: csrf, started: now, lastUsed: now)
        }
        return (cookie, csrf)
    }

    private func isLive(_ session: Session, now: ContinuousClock.Instant) -> Bool {
        now - session.lastUsed < self.idleLifetime && now - session.started < self.lifetime
    }

    /// The live session of a cookie value, its use recorded; `nil` (and forgotten) when it ended.
    func session(_ cookie: String) -> Session? {
        let now = ContinuousClock.now
        return self.sessions.withLock { sessions in
            let key = Self.key(cookie)
            guard var session = sessions[key] else { return nil }
            guard self.isLive(session, now: now) else {
                sessions[key] = nil
                return nil
            }
            session.lastUsed = now
            sessions[key] = session
            return session
        }
    }

    /// Ends the session of a cookie value.
    func end(_ cookie: String) {
        _ = self.sessions.withLock { $0.removeValue(forKey: Self.key(cookie)) }
    }

    /// The session cookie of a request, if it sends one.
    static func cookieValue(_ request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == Self.cookie {
                    return parts[1].trimmingCharacters(in: .whitespaces)
                }
            }
        }
        return nil
    }

    /// The `Set-Cookie` value that gives a browser `value` (or, with `nil`, takes the cookie back).
    func setCookie(_ value: String?, secure: Bool) -> String {
        let age = value == nil ? 0 : Int(self.lifetime / .seconds(1))
        return "\(Self.cookie)=\(value ?? ""); Path=/; Max-Age=\(age); HttpOnly; SameSite=Strict" + (secure ? "; Secure" : "")
    }
}

/// Authenticates a request by its console session cookie, when it sends no `Authorization`:
/// the session's account becomes `context.identity`. A request that is not a read must carry the
/// session's CSRF token (403 otherwise, before anything runs).
struct SessionAuthenticator<Context: AuthRequestContext<Account>>: RouterMiddleware {
    let sessions: ConsoleSessions
    let accounts: AccountDirectory

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard context.identity == nil, request.headers[.authorization] == nil, let cookie = ConsoleSessions.cookieValue(request),
            let session = self.sessions.session(cookie), let account = self.accounts.account(named: session.account)
        else { return try await next(request, context) }
        // Signing in (JSON only, which no form of another site can send) or out needs no token:
        // a page that lost its token must still be able to start over.
        if !AccessPolicyMiddleware<Context>.reads(request.method) && request.uri.path != "/ui/session" {
            let sent = request.headers[ConsoleSessions.csrfField] ?? ""
            guard AccountDirectory.constantTimeEqual(Array(sent.utf8), Array(session.csrf.utf8)) else {
                throw HTTPError(.forbidden, message: "a request of the console that changes something needs its X-CSRF-Token")
            }
        }
        var context = context
        context.identity = account
        return try await next(request, context)
    }
}
