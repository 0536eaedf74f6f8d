import Hummingbird
import HummingbirdAuth
import MultiStatus
import MultiStatusHummingbird

/// `GET /check-statuses` (207 per source), `/livez`, `/readyz` and `/health`.
///
/// With accounts in force, a caller without one (let in by `--public-health`) sees each source's
/// status but no error detail.
struct HealthRoutes<Context: AuthRequestContext<Account>> {
    let board: StatusBoard
    /// True when accounts are in force, so that a caller without one gets the redacted view.
    let accountsInForce: Bool

    private func redacts(_ context: Context) -> Bool { self.accountsInForce && context.identity == nil }

    func register(on router: Router<Context>) {
        router.get("check-statuses") { request, context -> Response in
            let options = try MultiStatusRequestOptions(request)
            let body = try await self.board.body(
                format: options.format, onlyFailed: options.onlyFailed, redacted: self.redacts(context), fresh: try Self.fresh(request))
            return MultiStatusResponse.response(status: .multiStatus, format: options.format, body: body)
        }
        router.get("check-statuses/:source") { request, context -> MultiStatusResponse in
            let name = try context.parameters.require("source")
            let entries = await self.board.entries(fresh: try Self.fresh(request))
            guard let entry = entries.first(where: { $0.item.id == .string(name) }) else {
                throw ProblemDetails(status: .notFound, detail: "no source named \(name)")
            }
            return MultiStatusResponse(try MultiStatusReport(collection: .sources, items: [self.redacts(context) ? entry.redacted : entry.item]))
        }
        router.get("livez") { _, _ in
            Self.health(.ok, #"{"status":"pass"}"#)
        }
        router.get("readyz") { request, _ in
            let failing = await self.board.entries(fresh: try Self.fresh(request)).filter { $0.isRequired && !$0.item.succeeded }
            if failing.isEmpty { return Self.health(.ok, #"{"status":"pass"}"#) }
            let names = failing.map { $0.item.id.displayText }.joined(separator: ", ")
            return ProblemDetails(status: .serviceUnavailable, detail: "required sources failing: \(names)").response()
        }
        router.get("health") { request, context in
            let entries = await self.board.entries(fresh: try Self.fresh(request))
            let report = HealthReport(entries: entries, redacted: self.redacts(context))
            return Self.health(report.status, report.jsonText)
        }
    }

    private static func fresh(_ request: Request) throws -> Bool {
        try request.booleanQuery("fresh") ?? false
    }

    /// An `application/health+json` answer, never cached.
    private static func health(_ status: HTTPResponse.Status, _ text: String) -> Response {
        .json(ByteBuffer(string: text), status: status, contentType: "application/health+json", headers: [.cacheControl: "no-store"])
    }
}

/// The `application/health+json` body of draft-inadarei-api-health-check.
struct HealthReport {
    /// `pass`, `warn` (an optional source fails) or `fail` (a required source fails).
    let health: String
    let entries: [StatusBoard.Entry]
    /// Without each check's `output` (its error detail).
    let redacted: Bool

    init(entries: [StatusBoard.Entry], redacted: Bool = false) {
        self.entries = entries
        self.redacted = redacted
        if entries.contains(where: { $0.isRequired && !$0.item.succeeded }) {
            self.health = "fail"
        } else if entries.contains(where: { !$0.item.succeeded }) {
            self.health = "warn"
        } else {
            self.health = "pass"
        }
    }

    /// `fail` is 503, never 2xx.
    var status: HTTPResponse.Status { self.health == "fail" ? .serviceUnavailable : .ok }

    var jsonText: String {
        var checks: [String: JSONValue] = [:]
        for entry in self.entries {
            var check: [String: JSONValue] = [
                "componentId": entry.item.id,
                "componentType": .string(entry.componentType),
                "observedValue": .int(entry.latencyMs),
                "observedUnit": "ms",
                "status": .string(entry.item.succeeded ? "pass" : (entry.isRequired ? "fail" : "warn")),
                "time": .string(entry.checkedAt),
            ]
            if !self.redacted, let detail = entry.item.problem?.detail { check["output"] = .string(detail) }
            checks["\(entry.item.id.displayText):responseTime"] = .array([.object(check)])
        }
        let body: JSONValue = ["status": .string(self.health), "description": "MultiStatus server", "checks": .object(checks)]
        return body.jsonText
    }
}
