import HTTPTypes
import Hummingbird
import HummingbirdAuth
import MultiStatus
import MultiStatusHummingbird

/// `/users`: batch create, update, delete and read, each answered 207 per record; the server's
/// `users` table served as any table is (``TableStore``), by the rules of ``UserItems``.
struct UserRoutes<Context: AuthRequestContext<Account>> {
    let table: UserTable
    let database: Database
    let batches: BatchResponder
    let limits: Limits

    /// The store of one request's items; `records` answers with each written record, as `POST` does.
    private func store(records: Bool = false) -> TableStore {
        var store = TableStore(database: self.database, items: self.table.items(now: Timestamp.now()))
        store.returnsRows = records
        return store
    }

    func register(on router: Router<Context>) {
        router.patch("users") { request, context in
            try await self.batch(request, context, collection: .updates, example: #"[{"id": 1, "name": "Alice"}, …]"#) { items, atomic, render in
                try await self.store().update(items, atomic: atomic, render: render)
            }
        }
        router.post("users") { request, context in
            try await self.batch(
                request, context, collection: UserCollections.created,
                example: #"[{"name": "Alice", "email": "alice@example.com", "role": "member"}, …]"#
            ) { items, atomic, render in
                try await self.store(records: true).insert(items, atomic: atomic, render: render)
            }
        }
        router.delete("users") { request, context in
            try await self.batches.respond(
                request, context: context, owner: context.identity?.name,
                endpoint: .init(collection: UserCollections.deletions, under: "ids", example: #"{"ids": [1, 2, 3]}"#)
            ) { items, atomic, render in
                try await self.store().delete(items, atomic: atomic, render: render)
            }
        }
        router.get("users") { request, context in
            let texts = request.uri.queryParameters.getAll("ids").filter { !$0.isEmpty }.flatMap {
                $0.split(separator: ",", omittingEmptySubsequences: false)
            }
            return try await self.batches.read(
                request, context: context, keys: texts, collection: UserCollections.users, example: "GET /users?ids=1,2,3"
            ) { texts in
                try await self.store().read(texts)
            }
        }
        router.get("users/:id") { _, context in
            let store = self.store()
            let key = try store.items.key(parts: [try context.parameters.require("id")])
            guard let row = try await store.row(key) else { throw store.items.notFound(key) }
            var headers: HTTPFields = [:]
            if let version = row.version { headers[.eTag] = "\"\(version)\"" }
            return Response.json(ByteBuffer(string: JSONValue.object(self.table.record(row.object)).jsonText), headers: headers)
        }
    }

    /// A batch of user items, each read by the user fields' rules and applied by `apply`.
    private func batch(
        _ request: Request,
        _ context: Context,
        collection: ResourceCollection,
        example: String,
        apply: @escaping BatchResponder.Apply<JSONRecords.Element>
    ) async throws -> Response {
        let limits = self.limits.batch
        return try await self.batches.respond(
            request, context: context, owner: context.identity?.name, endpoint: .init(collection: collection, example: example),
            decode: { try BatchBody.records($0, names: User.members, example: example, limits: limits) }, apply: apply)
    }
}

/// The item lists of the `/users` batch endpoints.
enum UserCollections {
    static let created = ResourceCollection(key: "created", identifierKey: "email", hrefPrefix: "/users/")
    static let deletions = ResourceCollection(key: "deletions", identifierKey: "id", hrefPrefix: "/users/")
    static let users = ResourceCollection(key: "users", identifierKey: "id", hrefPrefix: "/users/")
}
