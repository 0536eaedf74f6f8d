import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdAuth
import MultiStatus
import MultiStatusHummingbird
import NIOCore

/// WebDAV class 1 and 2 (RFC 4918) under `/dav/`, over the same file store as `/files/`.
///
/// Properties set by clients and locks live in the database, so several server processes on one
/// data folder and database agree on them. Multi-resource answers use the core's XML writer.
///
/// Each request is served in its account's view: the store, properties and locks below the
/// account's root, and locks used in its name.
struct DAVRoutes<Context: AuthRequestContext<Account>> {
    /// The store with its locks and properties; every change to the tree goes through it.
    private(set) var operations: FileOperations
    let limits: Limits

    var store: any FileStore { self.operations.store }
    var properties: PropertyStore { self.operations.properties }
    var locks: LockStore { self.operations.locks }

    init(operations: FileOperations, limits: Limits) {
        self.operations = operations
        self.limits = limits
    }

    /// These routes as the account of `context` sees them.
    private func scoped(for context: Context) -> DAVRoutes {
        var routes = self
        routes.operations = self.operations.scoped(to: context.storeRoot, principal: context.principal)
        return routes
    }

    static var methods: [HTTPRequest.Method] {
        [.options, .get, .head, .put, .delete] + ["MKCOL", "COPY", "MOVE", "PROPFIND", "PROPPATCH", "LOCK", "UNLOCK"].map { HTTPRequest.Method($0)! }
    }
    static var allow: String { self.methods.map(\.rawValue).joined(separator: ", ") }

    func register(on router: Router<Context>) {
        for path in ["dav", "dav/**"] {
            for method in Self.methods {
                router.on(RouterPath(path), method: method) { request, context in
                    try await self.scoped(for: context).handle(request, context: context)
                }
            }
        }
    }

    private func handle(_ request: Request, context: Context) async throws -> Response {
        let path = try DAVLocation.storePath(urlPath: request.uri.path)
        switch request.method.rawValue {
        case "OPTIONS": return self.options()
        case "GET": return try await self.get(request, path: path, context: context, head: false)
        case "HEAD": return try await self.get(request, path: path, context: context, head: true)
        case "PUT": return try await self.put(request, path: path)
        case "DELETE": return try await self.delete(request, path: path)
        case "MKCOL": return try await self.makeCollection(request, path: path)
        case "COPY": return try await self.copyOrMove(request, path: path, move: false)
        case "MOVE": return try await self.copyOrMove(request, path: path, move: true)
        case "PROPFIND": return try await self.propfind(request, path: path)
        case "PROPPATCH": return try await self.proppatch(request, path: path)
        case "LOCK": return try await self.lock(request, path: path)
        case "UNLOCK": return try await self.unlock(request, path: path)
        default: throw ProblemDetails(status: .methodNotAllowed, detail: "\(request.method) is not a WebDAV method here")
        }
    }

    // MARK: Simple methods

    private func options() -> Response {
        Response(status: .ok, headers: [.dav: "1, 2", .allow: Self.allow, .msAuthorVia: "DAV", .acceptRanges: "bytes", .contentLength: "0"])
    }

    private func get(_ request: Request, path: StorePath, context: Context, head: Bool) async throws -> Response {
        switch try await self.store.openItem(at: path) {
        case nil: throw Self.notFound(path)
        case .folder: return self.collectionPage(path, head: head)
        case .file(let file):
            return try StoredFileResponder.response(for: path, file: file, request: request, head: head, maxRanges: self.limits.rangesPerRequest)
        }
    }

    /// A collection in a browser: a streamed HTML list of its members.
    private func collectionPage(_ path: StorePath, head: Bool) -> Response {
        let headers: HTTPFields = [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"]
        if head { return Response(status: .ok, headers: headers) }
        let store = self.store
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                let folderHref = DAVLocation.href(path, isCollection: true)
                let title = XMLText.escaped(folderHref)
                try await writer.write(
                    ByteBuffer(
                        string: "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>\(title)</title></head><body><h1>\(title)</h1><ul>\n"))
                try await store.forEachEntries(in: path, batchSize: Self.listingBatch) { batch in
                    var html = ""
                    for (name, item) in batch {
                        html += "<li><a href=\""
                        XMLText.escape(DAVLocation.href(of: name, in: folderHref, isCollection: item.isDirectory), into: &html)
                        html += "\">"
                        XMLText.escape(name + (item.isDirectory ? "/" : ""), into: &html)
                        html += "</a></li>\n"
                    }
                    return ByteBuffer(string: html)
                } _: {
                    try await writer.write($0)
                }
                try await writer.write(ByteBuffer(string: "</ul></body></html>\n"))
                try await writer.finish(nil)
            })
    }

    private func put(_ request: Request, path: StorePath) async throws -> Response {
        guard !path.components.isEmpty else { throw ProblemDetails(status: .methodNotAllowed, detail: "PUT cannot replace the root collection") }
        let length = request.headers[.contentLength].flatMap(Int.init)
        if let length, length > self.limits.bytesPerFile {
            throw ProblemDetails.overLimit("a file may be at most \(self.limits.bytesPerFile) bytes", limit: self.limits.bytesPerFile)
        }
        // A checksum the client sends (Content-Digest, OC-Checksum) is checked: a mismatch stores nothing.
        let claimed = try FileClaims.sha256 { request.headers[HTTPField.Name($0)!] }
        if let length, length <= Self.wholeWriteBytes, request.headers[.davIf] == nil {
            return try await self.putSmall(request, path: path, length: length, claimed: claimed)
        }
        let found = try await self.store.attributes(of: [path, path.parent])
        try await self.authorize(request, path: path, protecting: try Self.putTarget(path, existing: found[0], parent: found[1]))
        let (outcome, etag) = try await self.putStreamed(request, path: path, claimed: claimed)
        return try await self.putResponse(request, path: path, outcome: outcome, etag: etag)
    }

    /// A small PUT without an If header: one file-system job checks the resource, its parent and
    /// whether any lock exists, and stores the body. Only when locks may exist are they read (one
    /// query) and the job run again with them.
    private func putSmall(_ request: Request, path: StorePath, length: Int, claimed: [UInt8]?) async throws -> Response {
        let bytes = try await request.body.collect(upTo: length)
        if let claimed {
            let received = bytes.withUnsafeReadableBytes { SHA256.hash(data: $0) }
            if !received.elementsEqual(claimed) { throw FileClaims.mismatch(claimed: claimed, received: received.hex) }
        }
        let locks = self.locks
        var held: [DAVLock]?
        while true {
            do {
                let known = held
                let (outcome, etag) = try await self.store.writeWhole(bytes, to: path, digest: claimed) { existing, parent in
                    let scopes = try Self.putTarget(path, existing: existing, parent: parent)
                    if let known {
                        try LockStore.requireTokens(of: known, for: scopes, submitted: [], by: nil)
                    } else if locks.mayHoldLocks() {
                        throw LocksUnread()
                    }
                }
                return try await self.putResponse(request, path: path, outcome: outcome, etag: etag)
            } catch is LocksUnread {
                held = try await self.locks.locks(affecting: [.init(path), .init(path.parent)])
            } catch let missing as MissingLockToken {
                throw try await self.locked(missing)
            }
        }
    }

    /// Refuses a PUT onto a collection (405) or into a missing one (409); returns what its lock check covers:
    /// the resource, and its parent when the PUT adds a member.
    private static func putTarget(_ path: StorePath, existing: StoredItem?, parent: StoredItem?) throws(ProblemDetails) -> [LockScope] {
        if existing?.isDirectory == true {
            throw ProblemDetails(status: .methodNotAllowed, detail: "\(DAVLocation.href(path, isCollection: true)) is a collection")
        }
        guard parent?.isDirectory == true else { throw Self.noParent(path) }
        return [LockScope(path)] + (existing == nil ? [LockScope(path.parent)] : [])
    }

    private func putResponse(_ request: Request, path: StorePath, outcome: CommitOutcome, etag: String) async throws -> Response {
        var headers: HTTPFields = [.contentLength: "0", .eTag: etag]
        if let modified = Self.requestedModificationTime(request) {
            try await self.store.setModified(modified, of: path)
            headers[.ocMtime] = "accepted"
            headers[.eTag] = try await self.store.attributes(of: path)?.etag
        }
        return Response(status: outcome == .created ? .created : .noContent, headers: headers)
    }

    /// Bodies up to this size are read whole and stored in one step; larger ones stream to a staged file.
    static var wholeWriteBytes: Int { 256 << 10 }

    /// Streams a body of any size (or of unknown size: chunked) to a staged file, then commits it.
    private func putStreamed(_ request: Request, path: StorePath, claimed: [UInt8]?) async throws -> (CommitOutcome, String) {
        let staged = try await self.store.stage(for: path, refusingExisting: false, digest: claimed != nil)
        let outcome: CommitOutcome
        let finished: FinishedFile
        do {
            for try await chunk in request.body {
                try await staged.write(chunk)
                if staged.size > self.limits.bytesPerFile {
                    throw ProblemDetails.overLimit("a file may be at most \(self.limits.bytesPerFile) bytes", limit: self.limits.bytesPerFile)
                }
            }
            finished = try await staged.finish()
            if let claimed, let received = finished.sha256, claimed.hex != received {
                throw FileClaims.mismatch(claimed: claimed, received: received)
            }
        } catch {
            await self.store.discard(staged)
            throw error
        }
        outcome = try await self.store.commit([(staged, path)], overwrite: true)[0].get()
        try await self.store.syncFolders([path.parent])
        return (outcome, finished.etag)
    }

    /// The modification time a client asks to keep: `X-OC-Mtime` (seconds since 1970) or `Win32LastModifiedTime` (an HTTP date).
    /// A time that is not a number of seconds from 1970 to 2255 is ignored, as one that does not parse.
    private static func requestedModificationTime(_ request: Request) -> Date? {
        if let seconds = request.headers[.ocMtime].flatMap(Double.init), seconds >= 0, seconds < FileClaims.latestTime {
            return Date(timeIntervalSince1970: seconds)
        }
        return request.headers[.win32LastModifiedTime].flatMap(HTTPDate.parse)
    }

    private func delete(_ request: Request, path: StorePath) async throws -> Response {
        guard !path.components.isEmpty else { throw ProblemDetails(status: .forbidden, detail: "the root collection cannot be deleted") }
        guard let item = try await self.store.attributes(of: path) else { throw Self.notFound(path) }
        try await self.authorize(request, path: path, protecting: FileOperations.deleting(path))
        try await self.operations.remove(at: path)
        return Response(status: .noContent)
    }

    private func makeCollection(_ request: Request, path: StorePath) async throws -> Response {
        if try await request.body.collect(upTo: self.limits.bytesPerDocument).readableBytes > 0 {
            throw ProblemDetails(status: .unsupportedMediaType, detail: "MKCOL with a body is not supported")
        }
        guard !path.components.isEmpty, try await self.store.attributes(of: path) == nil else {
            throw ProblemDetails(status: .methodNotAllowed, detail: "\(DAVLocation.href(path, isCollection: true)) already exists")
        }
        try await self.requireParent(of: path)
        try await self.authorize(request, path: path, protecting: [.init(path), .init(path.parent)])
        try await self.operations.makeFolder(at: path)
        return Response(status: .created, headers: [.contentLength: "0"])
    }

    // MARK: Shared checks

    /// Refuses with 409 when the parent of `path` is not a collection.
    func requireParent(of path: StorePath) async throws {
        guard try await self.store.attributes(of: path.parent)?.isDirectory == true else { throw Self.noParent(path) }
    }

    static func noParent(_ path: StorePath) -> ProblemDetails {
        ProblemDetails(status: .conflict, detail: "the parent collection \(DAVLocation.href(path.parent, isCollection: true)) does not exist")
    }

    /// Evaluates the `If` header (412 when it does not hold) and refuses with 423 when a lock covering
    /// something the method changes has none of its tokens in that header.
    func authorize(_ request: Request, path: StorePath, protecting scopes: [LockScope]) async throws {
        let ifHeader = try request.headers[.davIf].map { text throws(ProblemDetails) in
            try DAVIfHeader(parsing: text, maxBytes: self.limits.ifHeaderBytes, maxLists: self.limits.ifHeaderLists)
        }
        if let ifHeader {
            let holds = try await ifHeader.holds { tag in
                let target: StorePath?
                if let tag { target = try DAVLocation.storePath(url: tag, request: request) } else { target = path }
                guard let target else { return .init(etag: nil, lockTokens: []) }
                let etag = try await self.store.attributes(of: target)?.etag
                let tokens = Set(try await self.locks.locks(covering: target).filter { $0.isUsable(by: self.locks.principal) }.map(\.token))
                return .init(etag: etag, lockTokens: tokens)
            }
            guard holds else { throw ProblemDetails(status: .preconditionFailed, detail: "the If header's conditions do not hold") }
        }
        do {
            try await self.operations.requireUnlocked(scopes, submitted: ifHeader?.submittedTokens ?? [])
        } catch let missing as MissingLockToken {
            throw try await self.locked(missing)
        }
    }

    /// The 423 answer for a lock whose token was not submitted.
    func locked(_ missing: MissingLockToken) async throws -> DAVError {
        let href = DAVLocation.href(missing.root, isCollection: try await self.store.attributes(of: missing.root)?.isDirectory ?? false)
        return DAVError(
            status: .locked,
            condition: "<D:lock-token-submitted><D:href>\(XMLText.escaped(href))</D:href></D:lock-token-submitted>",
            detail: "\(href) is locked; send its lock token in the If header"
        )
    }

    static func notFound(_ path: StorePath) -> ProblemDetails {
        ProblemDetails(status: .notFound, detail: "nothing at \(DAVLocation.href(path, isCollection: false))")
    }
}

/// Locks may exist and were not read yet.
private struct LocksUnread: Error {}
