public import HTTPTypes
public import Hummingbird
public import MultiStatus

/// The one path of every batch endpoint: the request's options, `Idempotency-Key`, the body within
/// its limits, and the report in the format asked for, atomic when asked. An endpoint gives only
/// how its body is read into items, and how they are applied (see ``respond(_:context:owner:endpoint:read:fingerprint:apply:discard:)``).
///
/// Atomic mode (`Prefer: atomic`) is the same for every endpoint: the endpoint applies nothing when
/// one item fails, and the report (``MultiStatusReport/atomic(collection:items:)``) makes the
/// failing item's status the envelope's and the others `424`.
///
/// ```swift
/// router.patch("users") { request, context in
///     try await responder.respond(request, context: context, owner: nil, endpoint: .init(collection: .updates, example: "[…]")) {
///         items, atomic, render in try render(try await store.update(items, atomic: atomic))
///     }
/// }
/// ```
public struct BatchResponder: Sendable {
    let idempotency: any IdempotencyRecords
    let limits: BatchLimits
    let onReport: @Sendable (_ endpoint: String, _ items: [ItemResult]) -> Void

    /// Creates a responder.
    /// - Parameters:
    ///   - idempotency: where answers are kept for `Idempotency-Key` replays.
    ///   - limits: the limits of a JSON batch body.
    ///   - onReport: told of every batch answered (its method and path, and its items), for metrics.
    public init(
        idempotency: any IdempotencyRecords, limits: BatchLimits, onReport: @escaping @Sendable (_ endpoint: String, _ items: [ItemResult]) -> Void
    ) {
        self.idempotency = idempotency
        self.limits = limits
        self.onReport = onReport
    }

    /// What an endpoint says about its body and answer.
    public struct Endpoint: Sendable {
        /// The item list of the answer.
        public let collection: ResourceCollection
        /// The member holding the items (`{"keys": […]}`); `nil` when the body is the array itself.
        public var under: String?
        /// A body of the right shape, quoted in the 400 for one of the wrong shape.
        public let example: String
        /// A preference of the request that was honoured (`return=minimal`), answered in
        /// `Preference-Applied` (RFC 7240).
        public var preferenceApplied: String?
        /// What the answer's shape depends on besides the body (`return=minimal`): part of the
        /// idempotency fingerprint, so that a replay asking for another shape is refused.
        public var shape: String?

        public init(collection: ResourceCollection, under: String? = nil, example: String, preferenceApplied: String? = nil, shape: String? = nil) {
            self.collection = collection
            self.under = under
            self.example = example
            self.preferenceApplied = preferenceApplied
            self.shape = shape
        }
    }

    /// A report and its body in the format the request asked for.
    public struct RenderedReport: Sendable {
        public let report: MultiStatusReport
        public let body: ByteBuffer
    }

    /// Turns the outcomes of the items into the answer: the report (atomic when asked) and its body.
    public typealias Render = @Sendable ([ItemResult]) throws -> RenderedReport
    /// Applies the items, atomically when the flag says so, and renders the outcomes. Rendering is
    /// handed over so that an endpoint may render while the database writes what it decided.
    public typealias Apply<Item> = @Sendable (_ items: [Item], _ atomic: Bool, _ render: @escaping Render) async throws -> RenderedReport

    /// Answers a batch of JSON items: the body's array, or the array under ``Endpoint/under``.
    /// - Parameter owner: the account making the request, whose `Idempotency-Key`s are its own.
    public func respond<Context: RequestContext>(
        _ request: Request,
        context: Context,
        owner: String?,
        endpoint: Endpoint,
        apply: @escaping Apply<JSONValue>
    ) async throws -> Response {
        let limits = self.limits
        return try await self.respond(
            request, context: context, owner: owner, endpoint: endpoint,
            decode: { try BatchBody.items(try BatchBody.parse($0), under: endpoint.under, example: endpoint.example, limits: limits) },
            apply: apply)
    }

    /// Answers a batch whose JSON body `decode` reads into items.
    public func respond<Context: RequestContext, Item: Sendable>(
        _ request: Request,
        context: Context,
        owner: String?,
        endpoint: Endpoint,
        decode: @escaping (ByteBuffer) throws -> [Item],
        apply: @escaping Apply<Item>
    ) async throws -> Response {
        let limits = self.limits
        return try await self.respond(
            request, context: context, owner: owner, endpoint: endpoint,
            read: { _ in try await BatchBody.collect(request, limits: limits) },
            fingerprint: { $0 },
            apply: { body, atomic, render in try await apply(try decode(body), atomic, render) },
            discard: { _ in })
    }

    /// Answers a batch whose body `read` takes in itself, streamed (an upload's files, staged as
    /// they arrive), and `apply` applies: a replay for a repeated `Idempotency-Key`, otherwise the
    /// items applied and reported one status each.
    /// - Parameters:
    ///   - owner: the account making the request, whose `Idempotency-Key`s are its own.
    ///   - read: reads the body into what `apply` applies, given the request's options.
    ///   - fingerprint: what of the batch a replay must carry the same (the body, or its files' digests).
    ///   - apply: applies the batch (nothing of it when atomic and an item fails) and renders the outcomes.
    ///   - discard: drops what `read` kept, when the batch is not applied (a replay, a failure).
    public func respond<Context: RequestContext, Batch>(
        _ request: Request,
        context: Context,
        owner: String?,
        endpoint: Endpoint,
        read: (MultiStatusRequestOptions) async throws -> Batch,
        fingerprint: (Batch) -> ByteBuffer,
        apply: (Batch, _ atomic: Bool, _ render: @escaping Render) async throws -> RenderedReport,
        discard: (Batch) async -> Void
    ) async throws -> Response {
        let options = try MultiStatusRequestOptions(request)
        let key = try request.headers[.idempotencyKey].map {
            try IdempotencyKey($0, method: request.method.rawValue, path: request.uri.path, owner: owner)
        }
        let batch = try await read(options)
        do {
            if let key {
                let print = IdempotencyKey.fingerprint(atomic: options.atomic, shape: endpoint.shape, content: fingerprint(batch))
                if case .replay(let report) = try await self.idempotency.claim(key, fingerprint: print, collection: endpoint.collection) {
                    await discard(batch)
                    return try MultiStatusResponse(report, headers: self.preference(endpoint, [.idempotencyReplayed: "true"])).response(
                        from: request, context: context)
                }
            }
        } catch {
            await discard(batch)
            throw error
        }
        do {
            let collection = endpoint.collection
            let rendered = try await apply(batch, options.atomic) { results in
                let report =
                    options.atomic
                    ? try MultiStatusReport.atomic(collection: collection, items: results)
                    : try MultiStatusReport(collection: collection, items: results)
                return RenderedReport(report: report, body: ByteBuffer(string: report.encoded(as: options.format, onlyFailed: options.onlyFailed)))
            }
            if let key { try await self.idempotency.complete(key, report: rendered.report) }
            self.onReport("\(request.method.rawValue) \(request.uri.path)", rendered.report.items)
            return MultiStatusResponse.response(
                status: rendered.report.status, format: options.format, body: rendered.body, headers: self.preference(endpoint, [:]))
        } catch {
            if let key { await self.idempotency.release(key) }
            await discard(batch)
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
    public func read<Context: RequestContext, Key: Sendable>(
        _ request: Request,
        context: Context,
        keys: [Key],
        collection: ResourceCollection,
        example: String,
        read: ([Key]) async throws -> [ItemResult]
    ) async throws -> Response {
        guard !keys.isEmpty else { throw ProblemDetails(status: .badRequest, detail: "give the keys to read: \(example)") }
        guard keys.count <= self.limits.items else {
            throw ProblemDetails.overLimit("at most \(self.limits.items) keys per request", limit: self.limits.items)
        }
        let items = try await read(keys)
        self.onReport("GET \(request.uri.path)", items)
        return try MultiStatusResponse(try MultiStatusReport(collection: collection, items: items)).response(from: request, context: context)
    }
}

extension HTTPField.Name {
    /// `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header).
    public static var idempotencyKey: Self { Self("Idempotency-Key")! }
    /// Set on a response replayed for a repeated `Idempotency-Key`.
    public static var idempotencyReplayed: Self { Self("Idempotency-Replayed")! }
    /// `Preference-Applied` (RFC 7240).
    public static var preferenceApplied: Self { Self("Preference-Applied")! }
}
