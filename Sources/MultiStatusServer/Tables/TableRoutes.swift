import HTTPTypes
import Hummingbird
import HummingbirdAuth
import MultiStatus
import MultiStatusHummingbird

/// `/tables/NAME`: batch insert, update, upsert, delete and read on the operator's own tables,
/// each answered 207 with one status per row.
struct TableRoutes<Context: AuthRequestContext<Account>> {
    let stores: [String: TableStore]
    let batches: BatchResponder
    let limits: Limits

    func register(on router: Router<Context>) {
        self.rows(on: router, .post, "created", example: "[{…row…}, …]") { store, items, atomic, render in
            try await store.insert(items, atomic: atomic, render: render)
        }
        self.rows(on: router, .patch, "updates", example: "[{…key columns, changes…}, …]") { store, items, atomic, render in
            try await store.update(items, atomic: atomic, render: render)
        }
        self.rows(on: router, .put, "upserts", example: "[{…row…}, …]") { store, items, atomic, render in
            try await store.upsert(items, atomic: atomic, render: render)
        }
        router.delete("tables/:table") { request, context in
            let store = try self.store(request, context, writing: true)
            return try await self.batches.respond(
                request, context: context, owner: context.identity?.name,
                endpoint: .init(collection: store.collection("deletions"), under: "keys", example: #"{"keys": [1, 2, 3]}"#)
            ) { items, atomic, render in
                try await store.delete(items, atomic: atomic, render: render)
            }
        }
        router.get("tables/:table") { request, context in
            let store = try self.store(request, context, writing: false)
            let keys = Self.rawQueryValues("keys", in: request.uri.query)
            guard keys.isEmpty else {
                let separator: Character = store.schema.key.count == 1 ? "," : ";"
                let texts = keys.filter { !$0.isEmpty }.flatMap { $0.split(separator: separator, omittingEmptySubsequences: false) }
                return try await self.batches.read(
                    request, context: context, keys: texts, collection: store.collection("rows"),
                    example: store.schema.key.count == 1 ? "?keys=1,2,3" : "?keys=a,1;b,2 (keys separated by ';', their parts by ',')"
                ) { texts in
                    try await store.read(texts)
                }
            }
            return try await self.page(request, store: store)
        }
        router.get("tables/:table/:key") { request, context in
            let store = try self.store(request, context, writing: false)
            let text = try context.parameters.require("key")
            guard let parts = TableKey.parts(text[...]) else {
                throw ProblemDetails(status: .badRequest, detail: "the key is not percent-encoded correctly")
            }
            let key = try store.items.key(parts: parts)
            guard let row = try await store.row(key) else {
                throw ProblemDetails(status: .notFound, detail: "table \(store.schema.name) has no row with key \(TableKey.text(key))")
            }
            var headers: HTTPFields = [:]
            if let version = row.version { headers[.eTag] = "\"\(version)\"" }
            return Response.json(ByteBuffer(string: row.object.jsonText), headers: headers)
        }
    }

    /// A batch of rows on `method` (`POST`, `PATCH`, `PUT`), each item read against the table's
    /// columns, applied by `apply` and answered in `collection`.
    private func rows(
        on router: Router<Context>,
        _ method: HTTPRequest.Method,
        _ collection: String,
        example: String,
        apply:
            @escaping @Sendable (TableStore, [JSONRecords.Element], Bool, @escaping BatchResponder.Render) async throws ->
            BatchResponder
            .RenderedReport
    ) {
        router.on("tables/:table", method: method) { request, context in
            let store = try self.store(request, context, writing: true)
            let limits = self.limits.batch
            return try await self.batches.respond(
                request, context: context, owner: context.identity?.name,
                endpoint: .init(
                    collection: store.collection(collection), example: example, preferenceApplied: store.preferenceApplied, shape: store.shape),
                decode: { try BatchBody.records($0, names: store.items.names, example: example, limits: limits) }
            ) { items, atomic, render in
                try await apply(store, items, atomic, render)
            }
        }
    }

    /// The served table the request names, if the account may use it this way: 404 for a table not
    /// served or not readable by the account (which cannot tell the two apart), 403 for a write the
    /// account may not make.
    private func store(_ request: Request, _ context: Context, writing: Bool) throws -> TableStore {
        let raw = try context.parameters.require("table")
        let name = PercentEncoding.decode(raw) ?? raw
        guard var store = self.stores[name], store.schema.options.mayRead(context.identity) else {
            throw ProblemDetails(status: .notFound, detail: "no table \(name.prefix(100)) is served; served: \(self.visible(to: context.identity))")
        }
        if writing && !store.schema.options.mayWrite(context.identity) {
            throw ProblemDetails(status: .forbidden, detail: "account \(context.identity?.name ?? "") may read table \(name) but not change it")
        }
        // RFC 7240: `Prefer: return=representation` answers each written row; the first `return` preference counts.
        let preference = request.headers[values: .prefer].lazy.flatMap { $0.split(separator: ",") }.map {
            $0.trimmingCharacters(in: .whitespaces).lowercased()
        }.first { $0.hasPrefix("return=") }
        store.returnsRows = preference == "return=representation"
        store.preferenceApplied = preference == "return=representation" || preference == "return=minimal" ? preference : nil
        return store
    }

    private func visible(to account: Account?) -> String {
        let names = self.stores.values.filter { $0.schema.options.mayRead(account) }.map(\.schema.name).sorted()
        return names.isEmpty ? "none" : names.joined(separator: ", ")
    }

    /// `GET /tables/T?limit=&after=`: rows in key order, with the link to the next page.
    private func page(_ request: Request, store: TableStore) async throws -> Response {
        let parameters = request.uri.queryParameters
        var limit = 100
        if let text = parameters["limit"] {
            guard let value = Int(text), value >= 1 else { throw ProblemDetails(status: .badRequest, detail: "limit must be a positive integer") }
            guard value <= self.limits.itemsPerBatch else {
                throw ProblemDetails.overLimit("limit may be at most \(self.limits.itemsPerBatch)", limit: self.limits.itemsPerBatch)
            }
            limit = value
        }
        var after: [JSONValue]?
        if let text = Self.rawQueryValues("after", in: request.uri.query).last {
            guard let parts = TableKey.parts(text) else {
                throw ProblemDetails(status: .badRequest, detail: "after is not percent-encoded correctly")
            }
            after = try store.items.key(parts: parts)
        }
        let rows = try await store.page(limit: limit, after: after)
        var body: [String: JSONValue] = ["rows": .array(rows.map(\.object))]
        var headers: HTTPFields = [:]
        if rows.count == limit, let last = rows.last?.key {
            let next = "/tables/\(TableKey.encodePart(store.schema.name))?limit=\(limit)&after=\(TableKey.text(last))"
            body["next"] = .string(next)
            headers[.link] = "<\(next)>; rel=\"next\""
        } else {
            body["next"] = .null
        }
        return Response.json(ByteBuffer(string: JSONValue.object(body).jsonText), headers: headers)
    }

    /// The values of query parameter `name`, still percent-encoded, so that an encoded `,` or `;`
    /// inside a key is told from a separator.
    static func rawQueryValues(_ name: String, in query: String?) -> [Substring] {
        guard let query else { return [] }
        return query.split(separator: "&").compactMap { pair in
            guard let equals = pair.firstIndex(of: "="), pair[..<equals] == name else { return nil }
            return pair[pair.index(after: equals)...]
        }
    }
}

extension HTTPField.Name {
    /// `Link` (RFC 8288).
    static var link: Self { Self("Link")! }
}
