import HTTPTypes
import Hummingbird
import HummingbirdAuth
import MultiStatus
import MultiStatusHummingbird

/// `/users`: batch create, update, delete and read, each answered 207 per record.
struct UserRoutes<Context: AuthRequestContext<Account>> {
    let store: UserStore
    let idempotency: IdempotencyStore
    let limits: Limits
    let metrics: ServerMetrics

    func register(on router: Router<Context>) {
        router.patch("users") { request, context in
            try await self.batch(request, context: context, collection: .updates, example: #"[{"id": 1, "name": "Alice"}, …]"#) {
                items, atomic, render in
                try await self.store.update(items, atomic: atomic, render: render)
            }
        }
        router.post("users") { request, context in
            try await self.batch(
                request, context: context, collection: UserCollections.created,
                example: #"[{"name": "Alice", "email": "alice@example.com", "role": "member"}, …]"#
            ) { items, atomic, render in
                try render(try await self.store.create(items, atomic: atomic))
            }
        }
        router.delete("users") { request, context in
            try await self.batch(request, context: context, collection: UserCollections.deletions, under: "ids", example: #"{"ids": [1, 2, 3]}"#) {
                items, atomic, render in
                try render(try await self.store.delete(items, atomic: atomic))
            }
        }
        router.get("users") { request, context in
            guard let list = request.uri.queryParameters["ids"], !list.isEmpty else {
                throw ProblemDetails(status: .badRequest, detail: "give the ids to read: GET /users?ids=1,2,3")
            }
            let texts = list.split(separator: ",", omittingEmptySubsequences: false).map { Substring($0) }
            guard texts.count <= self.limits.itemsPerBatch else {
                throw ProblemDetails.overLimit("at most \(self.limits.itemsPerBatch) ids per request", limit: self.limits.itemsPerBatch)
            }
            let items = try await self.store.read(texts)
            self.metrics.batch(endpoint: "GET /users", items: items)
            return try MultiStatusResponse(try MultiStatusReport(collection: UserCollections.users, items: items)).response(
                from: request, context: context)
        }
        router.get("users/:id") { _, context in
            let text = try context.parameters.require("id")
            guard let id = Int(text) else { throw ProblemDetails(status: .badRequest, detail: "\"\(text)\" is not an integer id") }
            guard let user = try await self.store.find(ids: [id])[id] else {
                throw ProblemDetails(status: .notFound, detail: "no user with id \(id)")
            }
            return Response.json(ByteBuffer(string: user.json.jsonText), headers: [.eTag: "\"\(user.version)\""])
        }
    }

    /// A report and its body in the format the request asked for.
    struct RenderedReport: Sendable {
        let report: MultiStatusReport
        let body: ByteBuffer
    }

    /// The shared path of every batch: options, idempotency, body, apply, report. `apply` gets the
    /// items, the atomic flag, and the function that turns outcomes into the answer.
    private func batch(
        _ request: Request,
        context: Context,
        collection: ResourceCollection,
        under key: String? = nil,
        example: String,
        apply: @escaping @Sendable ([JSONValue], Bool, @escaping @Sendable ([ItemResult]) throws -> RenderedReport) async throws -> RenderedReport
    ) async throws -> Response {
        let options = try MultiStatusRequestOptions(request)
        let idempotencyKey = try request.headers[.idempotencyKey].map {
            try IdempotencyStore.Key($0, method: request.method.rawValue, path: request.uri.path, account: context.principal)
        }
        let body = try await BatchBody.collect(request, limits: self.limits)
        if let idempotencyKey {
            let fingerprint = IdempotencyStore.fingerprint(atomic: options.atomic, body: body)
            if case .replay(let report) = try await self.idempotency.claim(idempotencyKey, fingerprint: fingerprint, collection: collection) {
                return try MultiStatusResponse(report, headers: [.idempotencyReplayed: "true"]).response(from: request, context: context)
            }
        }
        do {
            let items = try BatchBody.items(try BatchBody.parse(body), under: key, example: example, limits: self.limits)
            let rendered = try await apply(items, options.atomic) { results in
                let report =
                    options.atomic
                    ? try MultiStatusReport.atomic(collection: collection, items: results)
                    : try MultiStatusReport(collection: collection, items: results)
                return RenderedReport(report: report, body: ByteBuffer(string: report.encoded(as: options.format, onlyFailed: options.onlyFailed)))
            }
            if let idempotencyKey { try await self.idempotency.complete(idempotencyKey, report: rendered.report) }
            self.metrics.batch(endpoint: "\(request.method.rawValue) \(request.uri.path)", items: rendered.report.items)
            return MultiStatusResponse.response(status: rendered.report.status, format: options.format, body: rendered.body)
        } catch {
            if let idempotencyKey { await self.idempotency.release(idempotencyKey) }
            throw error
        }
    }
}

/// The item lists of the `/users` batch endpoints.
enum UserCollections {
    static let created = ResourceCollection(key: "created", identifierKey: "email", hrefPrefix: "/users/")
    static let deletions = ResourceCollection(key: "deletions", identifierKey: "id", hrefPrefix: "/users/")
    static let users = ResourceCollection(key: "users", identifierKey: "id", hrefPrefix: "/users/")
}

extension HTTPField.Name {
    /// `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header).
    static var idempotencyKey: Self { Self("Idempotency-Key")! }
    /// Set on a response replayed for a repeated `Idempotency-Key`.
    static var idempotencyReplayed: Self { Self("Idempotency-Replayed")! }
}
