import Foundation
import Hummingbird
import MultiStatus
import MultiStatusHummingbird
import NIOCore

/// What a PROPFIND asks for (RFC 4918 section 9.1).
enum PropfindRequest: Sendable {
    /// Every live property but the expensive ones, every dead property, plus those named in `include`.
    case allProperties(include: [DAVPropertyName])
    /// The names of all properties, without values.
    case propertyNames
    /// These properties, each found (200) or not (404).
    case properties([DAVPropertyName])
}

extension DAVRoutes {
    /// Members read, stat'ed and rendered per batch by one thread of the pool.
    static var listingBatch: Int { 256 }
    /// Listing bytes gathered before a write: what a listing holds beyond the batches in flight,
    /// whatever the folder's size.
    static var listingWriteBytes: Int { 2 << 20 }

    /// How far a PROPFIND reaches (RFC 4918 section 9.1).
    enum Depth {
        case zero, one, infinity
    }

    func propfind(_ request: Request, path: StorePath) async throws -> Response {
        let asked = try await self.propfindRequest(request)
        let depth: Depth
        switch request.headers[.depth]?.lowercased() {
        case "0": depth = .zero
        case "1": depth = .one
        case nil, "infinity": depth = .infinity
        default: throw ProblemDetails(status: .badRequest, detail: "Depth must be 0, 1 or infinity")
        }
        // Everything that decides the status comes before the body: a missing resource is a 404, not a 207.
        guard let item = try await self.store.attributes(of: path) else { throw Self.notFound(path) }
        // A file has no members: whatever the Depth, it is answered alone (webdav4 and others send no Depth).
        let listMembers = item.isDirectory && depth != .zero
        if listMembers, depth == .infinity, self.limits.depthInfinityMembers == nil {
            throw DAVError(
                status: .forbidden,
                condition: "<D:propfind-finite-depth/>",
                detail: "PROPFIND with Depth: infinity (or no Depth) on a folder is not served; use Depth: 0 or 1"
            )
        }
        let (dead, membersDead) = try await self.properties.properties(of: path, members: listMembers)
        // Another account's locks are not shown: their tokens are for that account alone.
        let held = try await self.locks.locks(covering: path, includingBelow: listMembers).filter { $0.isUsable(by: self.locks.principal) }
        let usage = asked.needsUsage ? try await self.store.usage() : nil
        let live = LiveProperties(usage: usage)

        let encoder = MultiStatusEncoder(format: .xml, collection: .files)
        var opening = encoder.head()
        let selfResponse = live.response(
            href: DAVLocation.href(path, isCollection: item.isDirectory), resourceName: path.name ?? "", item: item, asked: asked, dead: dead,
            locks: held.filter { $0.covers(path) }
        )
        encoder.encode(selfResponse, into: &opening)
        // One resource (Depth 0, or a file): a small body, sent whole with its length.
        guard listMembers else {
            let whole = ByteBuffer(string: opening + MultiStatusEncoder.davTail)
            return Response(
                status: .multiStatus,
                headers: [.contentType: MultiStatusFormat.xml.contentType, .contentLength: String(whole.readableBytes)],
                body: .init(byteBuffer: whole)
            )
        }
        let listing = MemberListing(store: self.store, properties: self.properties, asked: asked, live: live, held: held)
        let head = opening
        let cap = depth == .infinity ? self.limits.depthInfinityMembers : nil
        let body = ResponseBody { writer in
            // Batches are sent in writes of up to 2 MiB: a client woken for every ~180 KB batch spent
            // four times the CPU reading it (python's http.client: 2 ms for a 2,000-member listing,
            // 0.5 ms when it came in one write), CPU the listing itself needs on a small machine.
            var pending = ByteBuffer(string: head)
            func send(_ bytes: ByteBuffer) async throws {
                pending.writeImmutableBuffer(bytes)
                if pending.readableBytes >= Self.listingWriteBytes {
                    try await writer.write(pending)
                    pending = ByteBuffer()
                }
            }
            if let cap {
                try await listing.writeTree(below: path, dead: membersDead, cap: cap, send)
            } else {
                try await listing.writeMembers(of: path, dead: membersDead) { try await send($0.bytes) }
            }
            pending.writeString(MultiStatusEncoder.davTail)
            try await writer.write(pending)
            try await writer.finish(nil)
        }
        return Response(status: .multiStatus, headers: [.contentType: MultiStatusFormat.xml.contentType], body: body)
    }

    private func propfindRequest(_ request: Request) async throws -> PropfindRequest {
        guard let root = try await self.xmlBody(request) else { return .allProperties(include: []) }
        guard root.namespace == DAVPropertyName.davNamespace, root.name == "propfind" else {
            throw ProblemDetails(status: .badRequest, detail: "a PROPFIND body must be a DAV:propfind element")
        }
        let dav = DAVPropertyName.davNamespace
        if let prop = root.child(dav, "prop") { return .properties(prop.children.map { DAVPropertyName($0.namespace, $0.name) }) }
        if root.child(dav, "propname") != nil { return .propertyNames }
        if root.child(dav, "allprop") != nil {
            return .allProperties(include: root.child(dav, "include")?.children.map { DAVPropertyName($0.namespace, $0.name) } ?? [])
        }
        throw ProblemDetails(status: .badRequest, detail: "a DAV:propfind must hold DAV:prop, DAV:propname or DAV:allprop")
    }

    /// The request body parsed as XML, or `nil` when there is none.
    /// - Throws: 400 for malformed or hostile XML (DTDs, entities, too deep), 413 when too large.
    func xmlBody(_ request: Request) async throws -> XMLElementNode? {
        let bytes = try await request.body.collect(upTo: self.limits.bytesPerDocument)
        guard bytes.readableBytes > 0 else { return nil }
        do {
            return try XMLElementTreeParser(maxDepth: 64, maxBytes: self.limits.bytesPerDocument).parse(bytes.readableBytesView)
        } catch {
            throw ProblemDetails(status: error.isTooLarge ? .contentTooLarge : .badRequest, detail: error.description)
        }
    }

    func proppatch(_ request: Request, path: StorePath) async throws -> Response {
        guard let root = try await self.xmlBody(request), root.namespace == DAVPropertyName.davNamespace, root.name == "propertyupdate" else {
            throw ProblemDetails(status: .badRequest, detail: "a PROPPATCH body must be a DAV:propertyupdate element")
        }
        var changes: [PropertyStore.Change] = []
        var modified: Date?
        for instruction in root.children where instruction.namespace == DAVPropertyName.davNamespace {
            for prop in instruction.children(DAVPropertyName.davNamespace, "prop") {
                for element in prop.children {
                    let name = DAVPropertyName(element.namespace, element.name)
                    switch instruction.name {
                    case "set":
                        changes.append(.set(DAVProperty(name, xml: element.innerXML)))
                        if name == LiveProperties.win32LastModifiedTime { modified = HTTPDate.parse(element.text) }
                    case "remove": changes.append(.remove(name))
                    default: throw ProblemDetails(status: .badRequest, detail: "DAV:\(instruction.name) is not DAV:set or DAV:remove")
                    }
                }
            }
        }
        guard !changes.isEmpty else { throw ProblemDetails(status: .badRequest, detail: "the DAV:propertyupdate changes nothing") }
        guard let item = try await self.store.attributes(of: path) else { throw Self.notFound(path) }
        try await self.authorize(request, path: path, protecting: [.init(path)])

        let names = changes.map(\.name)
        let refused = names.filter { LiveProperties.names.contains($0) }
        let groups: [DAVPropertyStatus]
        if refused.isEmpty {
            try await self.properties.apply(changes, to: path)
            if let modified { try await self.store.setModified(modified, of: path) }
            groups = [DAVPropertyStatus(status: .ok, properties: names.map { DAVProperty($0) })]
        } else {
            // All or nothing: a protected property fails the whole request, and the rest say 424.
            groups = [
                DAVPropertyStatus(status: .forbidden, properties: refused.map { DAVProperty($0) }, error: "<D:cannot-modify-protected-property/>"),
                DAVPropertyStatus(status: .failedDependency, properties: names.filter { !refused.contains($0) }.map { DAVProperty($0) }),
            ].filter { !$0.properties.isEmpty }
        }
        let encoder = MultiStatusEncoder(format: .xml, collection: .files)
        let response = DAVResponse(href: DAVLocation.href(path, isCollection: item.isDirectory), propertyStatus: groups)
        let text = encoder.head() + encoder.encode(response) + MultiStatusEncoder.davTail
        return MultiStatusResponse.response(status: .multiStatus, format: .xml, body: ByteBuffer(string: text))
    }
}

extension PropertyStore.Change {
    var name: DAVPropertyName {
        switch self {
        case .set(let property): property.name
        case .remove(let name): name
        }
    }
}

/// Writes the member responses of a PROPFIND listing: one folder (Depth 1) or a whole tree (Depth infinity).
struct MemberListing: Sendable {
    let store: any FileStore
    let properties: PropertyStore
    let asked: PropfindRequest
    let live: LiveProperties
    /// The locks on or below the listed folder that the account may see.
    let held: [DAVLock]

    /// Lists the members of `folder` batch by batch; `body` gets each batch's bytes and the names of its subfolders.
    func writeMembers(
        of folder: StorePath,
        dead membersDead: [String: [DAVProperty]],
        _ body: (Rendered) async throws -> Void
    ) async throws {
        let encoder = MultiStatusEncoder(format: .xml, collection: .files)
        let folderHref = DAVLocation.href(folder, isCollection: true)
        let direct = MemberResponseWriter(asked: self.asked, live: self.live)
        let escapedFolderHref = XMLText.escaped(folderHref)
        let (asked, live) = (self.asked, self.live)
        let held = self.held.filter { $0.covers(folder) || $0.root.isBelow(folder) }
        /// The responses of some members, as bytes. Their names were validated when the folder was read.
        @Sendable func encode(_ members: [(name: String, item: StoredItem)]) -> Rendered {
            var bytes = ByteBufferAllocator().buffer(capacity: members.count * 1024)
            var cache = MemberResponseWriter.Cache()
            var text = ""
            var subfolders: [String] = []
            for (name, member) in members {
                if member.isDirectory { subfolders.append(name) }
                let locks = held.isEmpty ? [] : held.filter { lock in (try? folder.appending(name)).map(lock.covers) ?? false }
                let dead = membersDead.isEmpty ? [] : membersDead[name] ?? []
                if let direct, dead.isEmpty, locks.isEmpty {
                    direct.write(name: name, item: member, escapedFolderHref: escapedFolderHref, cache: &cache, into: &bytes)
                    continue
                }
                let href = DAVLocation.href(of: name, in: folderHref, isCollection: member.isDirectory)
                text.removeAll(keepingCapacity: true)
                encoder.encode(live.response(href: href, resourceName: name, item: member, asked: asked, dead: dead, locks: locks), into: &text)
                bytes.writeString(text)
            }
            return Rendered(bytes: bytes, count: members.count, subfolders: subfolders)
        }
        try await self.store.forEachEntries(in: folder, batchSize: DAVRoutes<AppRequestContext>.listingBatch, render: encode, body)
    }

    /// One batch of member responses.
    struct Rendered: Sendable {
        var bytes: ByteBuffer
        var count: Int
        var subfolders: [String]
    }

    /// Lists every member below `root`, folder by folder, at most `cap` of them; past the cap the
    /// listing ends with a 507 response for `root` (as RFC 5323 section 5.19.2 truncates a search).
    func writeTree(below root: StorePath, dead rootDead: [String: [DAVProperty]], cap: Int, _ send: (ByteBuffer) async throws -> Void) async throws {
        var folders: [(path: StorePath, dead: [String: [DAVProperty]]?)] = [(root, rootDead)]
        var listed = 0
        while let (folder, known) = folders.popLast() {
            let dead: [String: [DAVProperty]]
            if let known { dead = known } else { dead = try await self.properties.properties(of: folder, members: true).members }
            var subfolders: [StorePath] = []
            var full = false
            do {
                try await self.writeMembers(of: folder, dead: dead) { batch in
                    // Whole batches are sent, so at most `cap` members in all.
                    guard listed + batch.count <= cap else { throw TreeFull() }
                    listed += batch.count
                    try await send(batch.bytes)
                    for name in batch.subfolders { subfolders.append(try folder.appending(name)) }
                }
            } catch is TreeFull {
                full = true
            }
            if full {
                let href = DAVLocation.href(root, isCollection: true)
                let description = "the listing stops after \(listed) members; ask for Depth: 1 of each folder instead"
                let encoder = MultiStatusEncoder(format: .xml, collection: .files)
                var text = ""
                encoder.encode(
                    DAVResponse(href: href, status: .insufficientStorage, error: "<D:number-of-matches-within-limits/>", description: description),
                    into: &text)
                try await send(ByteBuffer(string: text))
                return
            }
            // Depth-first, in folder order.
            folders.append(contentsOf: subfolders.reversed().map { ($0, nil) })
        }
    }

    private struct TreeFull: Error {}
}

extension PropfindRequest {
    /// True when the quota properties, which read the file system, are asked for.
    var needsUsage: Bool {
        switch self {
        case .allProperties(let include): include.contains { LiveProperty($0)?.isQuota == true }
        case .propertyNames: false
        case .properties(let names): names.contains { LiveProperty($0)?.isQuota == true }
        }
    }
}
