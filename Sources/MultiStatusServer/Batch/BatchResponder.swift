import HTTPTypes
import Hummingbird
import HummingbirdAuth
import MultiStatus
import MultiStatusHummingbird

/// The one path of every JSON batch endpoint: request options, `Idempotency-Key`, the body within
/// its limits, the items, and the report in the format asked for. An endpoint gives only how its
/// items are applied (``Apply``).
struct BatchResponder: Sendable {
    let idempotency: IdempotencyStore
    let limits: Limits
    let metrics: ServerMetrics

    /// What an endpoint says about its body.
    struct Endpoint: Sendable {
        /// The item list of the answer.
        let collection: ResourceCollection
        /// The member holding the items (`{"keys": […]}`); `nil` when the body is the array itself.
        var under: String? = nil
        /// A body of the right shape, quoted in the 400 for one of the wrong shape.
        let example: String
        /// A preference of the request that was honoured (`return=minimal`), answered in
        /// `Preference-Applied` (RFC 7240).
        var preferenceApplied: String? = nil
        /// What the answer's shape depends on besides the body (`return=minimal`): part of the
        /// idempotency fingerprint, so that a replay asking for another shape is refused.
        var shape: String? = nil
    }

    /// A report and its body in the format the request asked for.
    struct RenderedReport: Sendable {
        let report: MultiStatusReport
        let body: ByteBuffer
    }

    /// Turns the outcomes of the items into the answer: the report (atomic when asked) and its body.
    typealias Render = @Sendable ([ItemResult]) throws -> RenderedReport
    /// Applies the items, atomically when the flag says so, and renders the outcomes. Rendering is
    /// handed over so that an endpoint may render while the database writes what it decided.
    typealias Apply<Item> = @Sendable (_ items: [Item], _ atomic: Bool, _ render: @escaping Render) async throws -> RenderedReport

    /// Answers a batch request of JSON items (the body's array, or the array under
    /// ``Endpoint/under``): a replay for a repeated `Idempotency-Key`, otherwise the items applied
    /// by `apply` and reported one status each.
    func respond<Context: AuthRequestContext<Account>>(
        _ request: Request,
        context: Context,
        endpoint: Endpoint,
        apply: @escaping Apply<JSONValue>
    ) async throws -> Response {
        let limits = self.limits
        return try await self.respond(
            request, context: context, endpoint: endpoint,
            decode: { try BatchBody.items(try BatchBody.parse($0), under: endpoint.under, example: endpoint.example, limits: limits) },
            apply: apply)
    }

    /// The same for items that `decode` reads out of the body.
    func respond<Context: AuthRequestContext<Account>, Item: Sendable>(
        _ request: Request,
        context: Context,
        endpoint: Endpoint,
        decode: (ByteBuffer) throws -> [Item],
        apply: @escaping Apply<Item>
    ) async throws -> Response {
        let options = try MultiStatusRequestOptions(request)
        let idempotencyKey = try request.headers[.idempotencyKey].map {
            try IdempotencyStore.Key($0, method: request.method.rawValue, path: request.uri.path, account: context.identity?.name)
        }
        let body = try await BatchBody.collect(request, limits: self.limits)
        if let idempotencyKey {
            let fingerprint = IdempotencyStore.fingerprint(atomic: options.atomic, preference: endpoint.shape, body: body)
            if case .replay(let report) = try await self.idempotency.claim(idempotencyKey, fingerprint: fingerprint, collection: endpoint.collection)
            {
                return try MultiStatusResponse(report, headers: self.preference(endpoint, [.idempotencyReplayed: "true"])).response(
                    from: request, context: context)
            }
        }
        do {
            let items = try decode(body)
            let collection = endpoint.collection
            let rendered = try await apply(items, options.atomic) { results in
                let report =
                    options.atomic
                    ? try MultiStatusReport.atomic(collection: collection, items: results)
                    : try MultiStatusReport(collection: collection, items: results)
                return RenderedReport(report: report, body: ByteBuffer(string: report.encoded(as: options.format, onlyFailed: options.onlyFailed)))
            }
            if let idempotencyKey { try await self.idempotency.complete(idempotencyKey, report: rendered.report) }
            self.metrics.batch(endpoint: "\(request.method.rawValue) \(request.uri.path)", items: rendered.report.items)
            return MultiStatusResponse.response(
                status: rendered.report.status, format: options.format, body: rendered.body, headers: self.preference(endpoint, [:]))
        } catch {
            if let idempotencyKey { await self.idempotency.release(idempotencyKey) }
            throw error
        }
    }

    /// `fields` with `Preference-Applied` when the endpoint honoured a preference.
    private func preference(_ endpoint: Endpoint, _ fields: HTTPFields) -> HTTPFields {
        var fields = fields
        if let applied = endpoint.preferenceApplied { fields[.preferenceApplied] = applied }
        return fields
    }

    /// Answers a batch read (`GET …?ids=`): `keys`, read from the query, within the item limit,
    /// looked up by `read` and reported one status each; 400 with `example` when there are none.
    func read<Context: AuthRequestContext<Account>, Key: Sendable>(
        _ request: Request,
        context: Context,
        keys: [Key],
        collection: ResourceCollection,
        example: String,
        read: ([Key]) async throws -> [ItemResult]
    ) async throws -> Response {
        guard !keys.isEmpty else { throw ProblemDetails(status: .badRequest, detail: "give the keys to read: \(example)") }
        guard keys.count <= self.limits.itemsPerBatch else {
            throw ProblemDetails.overLimit("at most \(self.limits.itemsPerBatch) keys per request", limit: self.limits.itemsPerBatch)
        }
        let items = try await read(keys)
        self.metrics.batch(endpoint: "GET \(request.uri.path)", items: items)
        return try MultiStatusResponse(try MultiStatusReport(collection: collection, items: items)).response(from: request, context: context)
    }
}

extension HTTPField.Name {
    /// `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header).
    static var idempotencyKey: Self { Self("Idempotency-Key")! }
    /// Set on a response replayed for a repeated `Idempotency-Key`.
    static var idempotencyReplayed: Self { Self("Idempotency-Replayed")! }
    /// `Preference-Applied` (RFC 7240).
    static var preferenceApplied: Self { Self("Preference-Applied")! }
}
