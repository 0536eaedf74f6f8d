import HTTPTypes
import Hummingbird
import HummingbirdAuth
import MultiStatus
import MultiStatusHummingbird

/// `/users`: batch create, update, delete and read, each answered 207 per record.
struct UserRoutes<Context: AuthRequestContext<Account>> {
    let store: UserStore
    let batches: BatchResponder

    func register(on router: Router<Context>) {
        router.patch("users") { request, context in
            try await self.batches.respond(
                request, context: context, endpoint: .init(collection: .updates, example: #"[{"id": 1, "name": "Alice"}, …]"#)
            ) { items, atomic, render in
                try await self.store.update(items, atomic: atomic, render: render)
            }
        }
        router.post("users") { request, context in
            try await self.batches.respond(
                request, context: context,
                endpoint: .init(
                    collection: UserCollections.created, example: #"[{"name": "Alice", "email": "alice@example.com", "role": "member"}, …]"#)
            ) { items, atomic, render in
                try render(try await self.store.create(items, atomic: atomic))
            }
        }
        router.delete("users") { request, context in
            try await self.batches.respond(
                request, context: context, endpoint: .init(collection: UserCollections.deletions, under: "ids", example: #"{"ids": [1, 2, 3]}"#)
            ) { items, atomic, render in
                try render(try await self.store.delete(items, atomic: atomic))
            }
        }
        router.get("users") { request, context in
            let texts = request.uri.queryParameters.getAll("ids").filter { !$0.isEmpty }.flatMap {
                $0.split(separator: ",", omittingEmptySubsequences: false)
            }
            return try await self.batches.read(
                request, context: context, keys: texts, collection: UserCollections.users, example: "GET /users?ids=1,2,3"
            ) { texts in
                try await self.store.read(texts)
            }
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
}

/// The item lists of the `/users` batch endpoints.
enum UserCollections {
    static let created = ResourceCollection(key: "created", identifierKey: "email", hrefPrefix: "/users/")
    static let deletions = ResourceCollection(key: "deletions", identifierKey: "id", hrefPrefix: "/users/")
    static let users = ResourceCollection(key: "users", identifierKey: "id", hrefPrefix: "/users/")
}
