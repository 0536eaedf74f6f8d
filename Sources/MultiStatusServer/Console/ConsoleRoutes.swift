import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import MultiStatus
import NIOCore

/// The web console: `/ui/`, its static files (shipped as package resources), and its session
/// (`/ui/session`: sign in, who is signed in, sign out).
///
/// Every answer under `/ui/` carries a strict Content-Security-Policy (scripts and styles of this
/// origin only, no inline script, no framing), `X-Content-Type-Options: nosniff` and no referrer.
struct ConsoleRoutes<Context: AuthRequestContext<Account> & RemoteAddressRequestContext> {
    /// `nil` when the server has no accounts: the console needs no sign-in then.
    let sessions: ConsoleSessions?
    let accounts: AccountDirectory?
    let throttle: LoginThrottle
    let trustedProxies: Set<String>
    /// Whether the server speaks TLS: the cookie is `Secure` then.
    let secure: Bool

    static var securityHeaders: HTTPFields {
        [
            .contentSecurityPolicy:
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
                + "form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
            .xContentTypeOptions: "nosniff", .referrerPolicy: "no-referrer", .xFrameOptions: "DENY", .cacheControl: "no-cache",
        ]
    }

    /// The static files: name → media type.
    static var files: [String: String] {
        ["index.html": "text/html; charset=utf-8", "console.js": "text/javascript; charset=utf-8", "console.css": "text/css; charset=utf-8"]
    }

    func register(on router: Router<Context>) {
        // `/ui` and `/ui/` (the router takes them as one path): the page.
        router.get("ui") { _, _ in try Self.file("index.html") }
        router.get("ui/:file") { _, context in try Self.file(try context.parameters.require("file")) }
        router.post("ui/session") { request, context in try await self.signIn(request, context: context) }
        router.get("ui/session") { request, context in try self.current(request, context: context) }
        router.delete("ui/session") { request, _ in
            if let cookie = ConsoleSessions.cookieValue(request) { self.sessions?.end(cookie) }
            var headers = Self.securityHeaders
            if let sessions = self.sessions { headers[.setCookie] = sessions.setCookie(nil, secure: self.secure) }
            return Response(status: .noContent, headers: headers)
        }
    }

    private static func file(_ name: String) throws -> Response {
        guard let type = Self.files[name], let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "ui"),
            let data = try? Data(contentsOf: url)
        else { throw ProblemDetails(status: .notFound, detail: "the console has no file \(name)") }
        var headers = Self.securityHeaders
        headers[.contentType] = type
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// `POST /ui/session` with `{"name", "password"}` as JSON (a form from another site cannot
    /// send that type): the session cookie, and the page's CSRF token in the body.
    private func signIn(_ request: Request, context: Context) async throws -> Response {
        guard let sessions = self.sessions, let accounts = self.accounts else {
            throw ProblemDetails(status: .notFound, detail: "this server has no accounts: the console needs no sign-in")
        }
        guard request.headers[.contentType].map({ $0.lowercased().hasPrefix("application/json") }) == true else {
            throw ProblemDetails(status: .unsupportedMediaType, detail: #"sign in with a JSON body: {"name": …, "password": …}"#)
        }
        let body = try await request.body.collect(upTo: 4_096)
        guard case .object(let members)? = try? JSONValue.parse(body.readableBytesView), let name = members["name"]?.stringValue,
            let password = members["password"]?.stringValue
        else { throw ProblemDetails(status: .badRequest, detail: #"sign in with {"name": …, "password": …}"#) }
        let client = ClientAddress.of(request, peer: context.remoteAddress, trustedProxies: self.trustedProxies)
        if let wait = self.throttle.begin(client) {
            throw HTTPError(.tooManyRequests, headers: [.retryAfter: String(wait)], message: "too many failed sign-ins; try again in \(wait) s")
        }
        let account = await accounts.checkedAccount(named: name, password: password)
        self.throttle.finish(client, failed: account == nil)
        guard let account else {
            context.logger.warning("console sign-in failed", metadata: ["client": "\(client)"])
            throw ProblemDetails(status: .unauthorized, detail: "the name or the password is not right")
        }
        let (cookie, csrf) = sessions.start(account: account.name)
        var headers = Self.securityHeaders
        headers[.setCookie] = sessions.setCookie(cookie, secure: self.secure)
        return Response.json(ByteBuffer(string: Self.describe(account, csrf: csrf).jsonText), headers: headers)
    }

    /// `GET /ui/session`: who the console runs as, with the session's CSRF token; 401 when nobody.
    private func current(_ request: Request, context: Context) throws -> Response {
        guard let sessions = self.sessions else {
            return Response.json(ByteBuffer(string: #"{"name":null,"permission":"write","accounts":false}"#), headers: Self.securityHeaders)
        }
        guard let account = context.identity else {
            throw ProblemDetails(status: .unauthorized, detail: "nobody is signed in")
        }
        let csrf = ConsoleSessions.cookieValue(request).flatMap { sessions.session($0)?.csrf }
        return Response.json(ByteBuffer(string: Self.describe(account, csrf: csrf).jsonText), headers: Self.securityHeaders)
    }

    private static func describe(_ account: Account, csrf: String?) -> JSONValue {
        .object([
            "name": .string(account.name), "permission": .string(account.permission.rawValue), "accounts": true,
            "csrf": csrf.map(JSONValue.string) ?? .null,
        ])
    }
}

extension HTTPField.Name {
    static var contentSecurityPolicy: Self { Self("Content-Security-Policy")! }
    static var xContentTypeOptions: Self { Self("X-Content-Type-Options")! }
    static var referrerPolicy: Self { Self("Referrer-Policy")! }
    static var xFrameOptions: Self { Self("X-Frame-Options")! }
}
