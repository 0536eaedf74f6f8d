import Foundation
import Hummingbird
import HummingbirdAuth
import MultiStatus
import MultiStatusHummingbird

/// `GET`, `HEAD` and `DELETE /files/{path}`: one stored file, with validators and ranges, in the
/// account's view of the store. A delete obeys WebDAV locks (their tokens in an `If` header) and
/// takes the file's properties along.
struct FileRoutes<Context: AuthRequestContext<Account>> {
    let operations: FileOperations
    let limits: Limits

    private var store: any FileStore { self.operations.store }

    func register(on router: Router<Context>) {
        for path in ["files", "files/**"] {
            router.get(RouterPath(path)) { request, context in try await self.get(request, context: context, head: false) }
            router.head(RouterPath(path)) { request, context in try await self.get(request, context: context, head: true) }
            router.delete(RouterPath(path)) { request, context in try await self.delete(request, context: context) }
        }
    }

    private func storePath(_ request: Request) throws -> StorePath {
        let raw = request.uri.path.dropFirst("/files".count)
        return try StorePath(encodedURLPath: raw)
    }

    private func get(_ request: Request, context: Context, head: Bool) async throws -> Response {
        let path = try self.storePath(request)
        let store = self.store.view(under: context.storeRoot)
        switch try await store.openItem(at: path) {
        case nil: throw ProblemDetails(status: .notFound, detail: "no file at /files/\(path)")
        case .folder: return try await self.listing(path, in: store, head: head)
        case .file(let file):
            return try StoredFileResponder.response(for: path, file: file, request: request, head: head, maxRanges: self.limits.rangesPerRequest)
        }
    }

    /// A folder: its entries as JSON, `{"path": …, "entries": [{"name", "type", "size", "location"}, …]}`,
    /// in the folder's own order, written batch by batch as the folder is read so memory stays flat.
    private func listing(_ path: StorePath, in store: any FileStore, head: Bool) async throws -> Response {
        let headers: HTTPFields = [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"]
        if head { return Response(status: .ok, headers: headers) }
        let body = ResponseBody { writer in
            var head = "{\"path\":"
            JSONValue.writeString(path.description, into: &head)
            head += ",\"entries\":["
            try await writer.write(ByteBuffer(string: head))
            var first = true
            // Each batch is rendered on its own as entries joined by commas; the comma between batches comes here.
            try await store.forEachEntries(in: path, batchSize: 1024) { batch in
                var text = ""
                for (name, item) in batch {
                    guard let child = try? path.appending(name) else { continue }
                    if !text.isEmpty { text += "," }
                    text += "{\"name\":"
                    JSONValue.writeString(name, into: &text)
                    text += item.isDirectory ? ",\"type\":\"folder\",\"size\":" : ",\"type\":\"file\",\"size\":"
                    text += String(item.size)
                    text += ",\"location\":"
                    JSONValue.writeString(child.urlPath(under: "/files/") + (item.isDirectory ? "/" : ""), into: &text)
                    text += "}"
                }
                return text
            } _: { text in
                guard !text.isEmpty else { return }
                try await writer.write(ByteBuffer(string: first ? text : "," + text))
                first = false
            }
            try await writer.write(ByteBuffer(string: "]}"))
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    private func delete(_ request: Request, context: Context) async throws -> Response {
        let path = try self.storePath(request)
        guard !path.components.isEmpty else { throw ProblemDetails(status: .methodNotAllowed, detail: "the store's root cannot be deleted") }
        let operations = self.operations.scoped(to: context.storeRoot, principal: context.principal)
        guard let item = try await operations.store.attributes(of: path) else {
            throw ProblemDetails(status: .notFound, detail: "no file at /files/\(path)")
        }
        if let ifMatch = request.headers[.ifMatch], !ETagList.matches(ifMatch, item.etag) {
            throw ProblemDetails(status: .preconditionFailed, detail: "If-Match does not match the file's current ETag")
        }
        do {
            try await operations.requireUnlocked(
                FileOperations.deleting(path), submitted: try FileOperations.submittedTokens(request.headers, limits: self.limits))
        } catch let missing as MissingLockToken {
            throw ProblemDetails.locked(missing.root, prefix: "/files/", hint: "send its lock token in an If header")
        }
        guard try await operations.remove(at: path, fileOnly: true) else {
            throw ProblemDetails(status: .notFound, detail: "no file at /files/\(path)")
        }
        return Response(status: .noContent)
    }
}
