import Foundation
import Hummingbird
import HummingbirdAuth
import MultiStatus
import MultiStatusHummingbird

/// `GET`, `HEAD` and `DELETE /files/{path}`: one stored file, with validators and ranges, in the
/// account's view of the store; a folder's listing, or with `?archive=zip` its ZIP; and
/// `POST /archives`, the ZIP of chosen paths. A delete obeys WebDAV locks (their tokens in an `If` header) and
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
        router.post("archives") { request, context in try await self.archive(request, context: context) }
    }

    private func storePath(_ request: Request) throws -> StorePath {
        let raw = request.uri.path.dropFirst("/files".count)
        return try StorePath(encodedURLPath: raw)
    }

    private func get(_ request: Request, context: Context, head: Bool) async throws -> Response {
        let path = try self.storePath(request)
        let store = self.store.view(under: context.storeRoot)
        if let format = request.uri.queryParameters["archive"] {
            guard format == "zip" else { throw ProblemDetails(status: .badRequest, detail: "archive=zip is the one archive format") }
            guard try await store.attributes(of: path) != nil else { throw ProblemDetails(status: .notFound, detail: "nothing at /files/\(path)") }
            // A folder's members go in below its name; the root's at the top.
            let archive = FileArchive(store: store, deflate: try FileArchive.deflates(request.uri.queryParameters["compression"].map(String.init)))
            return archive.response([.init(path: path, name: path.name ?? "")], filename: (path.name ?? "files") + ".zip", head: head)
        }
        switch try await store.openItem(at: path) {
        case nil: throw ProblemDetails(status: .notFound, detail: "no file at /files/\(path)")
        case .folder: return try await self.listing(path, in: store, head: head)
        case .file(let file):
            return try StoredFileResponder.response(for: path, file: file, request: request, head: head, maxRanges: self.limits.rangesPerRequest)
        }
    }

    /// A folder: its entries as JSON, `{"path": …, "entries": [{"name", "type", "size", "modified", "location"}, …]}`,
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
                    text += ",\"modified\":"
                    JSONValue.writeString(HTTPDate.format(item.modified), into: &text)
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

    /// `POST /archives`, `{"paths": ["a.txt", "docs"]}`: the ZIP of those files and folders, each
    /// under its path. A path inside another one given goes in once, with it.
    private func archive(_ request: Request, context: Context) async throws -> Response {
        let example = #"{"paths": ["a.txt", "docs"]}"#
        let document = try BatchBody.parse(try await BatchBody.collect(request, limits: self.limits.batch))
        var paths: [StorePath] = []
        for item in try BatchBody.items(document, under: "paths", example: example, limits: self.limits.batch) {
            guard case .string(let text) = item else {
                throw ProblemDetails(status: .badRequest, detail: "each path is a string; expected \(example)")
            }
            paths.append(try StorePath(relative: text))
        }
        paths = paths.enumerated().filter { index, path in
            !paths.enumerated().contains { other, given in (given == path && other < index) || path.isBelow(given) }
        }.map(\.element)
        let store = self.store.view(under: context.storeRoot)
        let missing = zip(paths, try await store.attributes(of: paths)).filter { $0.1 == nil }.map { JSONValue.string($0.0.description) }
        guard missing.isEmpty else {
            throw ProblemDetails(
                status: .notFound, detail: "nothing at \(missing.map(\.jsonText).joined(separator: ", ")); no archive was started",
                extensions: ["missing": .array(missing)])
        }
        let compression: String?
        switch document.objectMembers["compression"] {
        case nil, .null?: compression = nil
        case .string(let text)?: compression = text
        default: throw ProblemDetails(status: .badRequest, detail: "compression is stored or deflate")
        }
        let archive = FileArchive(store: store, deflate: try FileArchive.deflates(compression))
        return archive.response(paths.map { .init(path: $0, name: $0.description) }, filename: "archive.zip", head: false)
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
        try await operations.requireUnlocked(
            FileOperations.deleting(path), submitted: try FileOperations.submittedTokens(request.headers, limits: self.limits),
            hint: "send its lock token in an If header")
        guard try await operations.remove(at: path, fileOnly: true) else {
            throw ProblemDetails(status: .notFound, detail: "no file at /files/\(path)")
        }
        return Response(status: .noContent)
    }
}
