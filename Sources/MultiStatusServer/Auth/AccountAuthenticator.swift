import HTTPTypes
import Hummingbird
import HummingbirdAuth
import Logging
import NIOCore

/// Reads `Authorization: Basic` or `Bearer`, checks it against the ``AccountDirectory`` and sets
/// `context.identity`; ``AccessPolicyMiddleware`` then decides what the request may do.
///
/// An address that failed ``LoginThrottle/limit`` times within a minute is answered 429 with
/// `Retry-After` before any password is checked. Each failure is logged at `warning` with the
/// client's address and the account name, never the password.
struct AccountAuthenticator<Context: AuthRequestContext<Account> & RemoteAddressRequestContext>: AuthenticatorMiddleware {
    typealias Identity = Account

    let accounts: AccountDirectory
    let throttle: LoginThrottle
    /// Peers whose `X-Forwarded-For` names the client (`--trusted-proxy`).
    let trustedProxies: Set<String>

    func authenticate(request: Request, context: Context) async throws -> Account? {
        let name: String
        let quick: Account?
        var password: String?
        if let basic = request.headers.basic {
            (name, password) = (basic.username, basic.password)
            quick = self.accounts.rememberedAccount(named: basic.username, password: basic.password)
        } else if self.accounts.acceptsTokens, let bearer = request.headers.bearer {
            name = "(token)"
            quick = self.accounts.account(token: bearer.token)
        } else {
            return nil
        }
        // A remembered password or a valid token needs no slow check: while no address has failed,
        // nothing is counted either.
        if let quick, self.throttle.isIdle { return quick }
        let client = ClientAddress.of(request, peer: context.remoteAddress, trustedProxies: self.trustedProxies)
        if let wait = self.throttle.begin(client) {
            context.logger.notice("login refused: too many failures", metadata: ["client": "\(client)", "account": "\(Self.loggable(name))"])
            throw HTTPError(
                .tooManyRequests, headers: [.retryAfter: String(wait)],
                message: "too many failed logins from \(client); try again in \(wait) s")
        }
        var account = quick
        if account == nil, let password { account = await self.accounts.checkedAccount(named: name, password: password) }
        self.throttle.finish(client, failed: account == nil)
        if let account {
            return account
        }
        context.logger.warning("login failed", metadata: ["client": "\(client)", "account": "\(Self.loggable(name))"])
        return nil
    }

    /// A name as the log may show it: quoted and escaped, at most 100 characters.
    private static func loggable(_ name: String) -> String {
        String(reflecting: String(name.prefix(100)))
    }
}

/// The address a request comes from, as the throttle and the log name it.
enum ClientAddress {
    /// The peer's address, or, when the peer is a trusted proxy, the last address of `X-Forwarded-For`
    /// that is not a trusted proxy itself.
    static func of(_ request: Request, peer: SocketAddress?, trustedProxies: Set<String>) -> String {
        let peerAddress = peer?.ipAddress ?? "unknown"
        guard trustedProxies.contains(peerAddress) else { return peerAddress }
        let hops = request.headers[values: .xForwardedFor].flatMap { $0.split(separator: ",") }.map { $0.trimmingSpaces() }
        guard let client = hops.last(where: { !trustedProxies.contains(String($0)) }) ?? hops.first else { return peerAddress }
        // The header is text from outside: an address has at most 45 characters of hex digits, '.' and ':'.
        let plausible = client.count <= 45 && client.allSatisfy { $0.isHexDigit || $0 == "." || $0 == ":" }
        return plausible ? String(client) : peerAddress
    }
}

extension HTTPField.Name {
    /// `X-Forwarded-For`, read only from trusted proxies.
    static var xForwardedFor: Self { Self("X-Forwarded-For")! }
}
