import Hummingbird
import HummingbirdAuth
import MultiStatus
import MultiStatusHummingbird

/// `POST /file-operations`: many deletes, moves, copies and new folders in one request, applied in
/// order in the account's view of the store, 207 with one item per operation (see
/// ``FileOperationBatch``). Outside `/files/…`, so that no file name can shadow it.
struct FileOperationRoutes<Context: AuthRequestContext<Account>> {
    let operations: FileOperations
    let batches: BatchResponder

    /// The answer's list: `{"operations": [{"path": …, "op": …, "status": …}]}`.
    static var collection: ResourceCollection { ResourceCollection(key: "operations", identifierKey: "path", hrefPrefix: "/files/") }

    func register(on router: Router<Context>) {
        router.post("file-operations") { request, context in
            let batch = FileOperationBatch(operations: self.operations.scoped(to: context.storeRoot, principal: context.principal))
            return try await self.batches.respond(
                request, context: context, owner: context.principal,
                endpoint: .init(collection: Self.collection, example: #"[{"op": "move", "path": "a.txt", "to": "b/a.txt"}, …]"#)
            ) { items, atomic, render in
                let decoded = items.map { item in
                    (id: item.objectMembers["path"] ?? .null, operation: Result { () throws(ProblemDetails) in try FileOperation(item) })
                }
                return try render(try await batch.apply(decoded, atomic: atomic))
            }
        }
    }
}
