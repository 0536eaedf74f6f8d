import HTTPTypes
import Hummingbird
import HummingbirdAuth

/// Decides, once and before any feature runs, whether a request may go on: every route but the
/// probes needs an account (401 with a challenge), and a `read` account may not use a method that
/// writes (403). A refused request reaches no feature, so nothing of it is applied.
struct AccessPolicyMiddleware<Context: AuthRequestContext<Account>>: RouterMiddleware {
    /// Whether `Bearer` is offered beside `Basic`.
    let acceptsTokens: Bool
    /// `--public-health`: `/check-statuses` and `/health` answer callers without credentials too.
    let publicHealth: Bool

    /// True for the methods that change nothing (GET, HEAD, OPTIONS, PROPFIND); every other method writes.
    static func reads(_ method: HTTPRequest.Method) -> Bool {
        switch method {
        case .get, .head, .options: true
        default: method.rawValue == "PROPFIND"
        }
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        // Orchestrators probe without credentials; the console's page and its sign-in are for
        // those who have none yet (its session answers who is signed in itself).
        if path == "/livez" || path == "/readyz" || Self.isConsole(path) { return try await next(request, context) }
        guard let account = context.identity else {
            let offered = request.headers[.authorization] != nil
            if self.publicHealth, !offered, Self.isStatusPage(path) { return try await next(request, context) }
            throw HTTPError(
                // No challenge for the console's own requests: a browser would open its password dialog.
                .unauthorized, headers: request.headers[Self.consoleField] == nil ? self.challenge : [:],
                message: offered
                    ? "the credentials were not accepted" : "credentials are required: HTTP Basic\(self.acceptsTokens ? " or a Bearer token" : "")"
            )
        }
        if !account.mayWrite && !Self.reads(request.method) && !Self.readsByPost(request.method, path) {
            throw HTTPError(.forbidden, message: "account \(account.name) may only read; \(request.method) \(path) would change it")
        }
        return try await next(request, context)
    }

    /// The one POST that changes nothing: `/archives`, which takes its list of paths in a body.
    static func readsByPost(_ method: HTTPRequest.Method, _ path: String) -> Bool {
        method == .post && path == "/archives"
    }

    /// The field the console's page sends with each request.
    static var consoleField: HTTPField.Name { HTTPField.Name("X-MultiStatus-Console")! }

    /// `/ui`, its files, and `/ui/session`: the console's page, sign-in and sign-out. Nothing
    /// under them reads or changes data.
    static func isConsole(_ path: String) -> Bool {
        path == "/ui" || path.hasPrefix("/ui/")
    }

    /// `/check-statuses`, `/check-statuses/{source}` and `/health`.
    static func isStatusPage(_ path: String) -> Bool {
        path == "/health" || path == "/check-statuses" || path.hasPrefix("/check-statuses/")
    }

    /// The `WWW-Authenticate` challenges of a 401.
    private var challenge: HTTPFields {
        var fields: HTTPFields = [.wwwAuthenticate: #"Basic realm="MultiStatus", charset="UTF-8""#]
        if self.acceptsTokens { fields.append(HTTPField(name: .wwwAuthenticate, value: #"Bearer realm="MultiStatus""#)) }
        return fields
    }
}
