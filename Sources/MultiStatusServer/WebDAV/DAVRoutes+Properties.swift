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
    /// Members read from the folder per batch; each batch is written as it is read.
    static var listingBatch: Int { 512 }

    func propfind(_ request: Request, path: StorePath) async throws -> Response {
        let asked = try await self.propfindRequest(request)
        let depthOne: Bool
        switch request.headers[.depth]?.lowercased() {
        case "0": depthOne = false
        case "1": depthOne = true
        case nil, "infinity":
            throw DAVError(
                status: .forbidden,
                condition: "<D:propfind-finite-depth/>",
                detail: "PROPFIND with Depth: infinity is not served; use Depth: 0 or 1"
            )
        default: throw ProblemDetails(status: .badRequest, detail: "Depth must be 0, 1 or infinity")
        }
        // Everything that decides the status comes before the body: a missing resource is a 404, not a 207.
        guard let item = try await self.store.attributes(of: path) else { throw Self.notFound(path) }
        let listMembers = depthOne && item.isDirectory
        let dead = try await self.properties.properties(of: path)
        let membersDead = listMembers ? try await self.properties.propertiesOfMembers(of: path) : [:]
        let held = try await self.locks.locks(covering: path, includingBelow: listMembers)
        let usage = asked.needsUsage ? try await self.store.usage() : nil
        let live = LiveProperties(usage: usage)

        let store = self.store
        let encoder = MultiStatusEncoder(format: .xml, collection: .files)
        let folderHref = DAVLocation.href(path, isCollection: true)
        /// The responses of some members, as text. Their names were validated when the folder was read.
        @Sendable func encode(_ members: ArraySlice<(name: String, item: StoredItem)>) -> String {
            var text = ""
            text.reserveCapacity(members.count * 1024)
            for (name, member) in members {
                let locks = held.isEmpty ? [] : held.filter { lock in (try? path.appending(name)).map(lock.covers) ?? false }
                let href = folderHref + PercentEncoding.encodePath(name) + (member.isDirectory ? "/" : "")
                encoder.encode(live.response(href: href, resourceName: name, item: member, asked: asked, dead: membersDead[name] ?? [], locks: locks), into: &text)
            }
            return text
        }
        let body = ResponseBody { writer in
            var text = encoder.head()
            let selfResponse = live.response(
                href: DAVLocation.href(path, isCollection: item.isDirectory), resourceName: path.name ?? "", item: item, asked: asked, dead: dead,
                locks: held.filter { $0.covers(path) }
            )
            text += encoder.encode(selfResponse)
            try await writer.write(ByteBuffer(string: text))
            if listMembers {
                try await store.forEachEntries(in: path, batchSize: Self.listingBatch) { batch in
                    // Two halves encoded side by side: the listing's cost is encoding, and there is more than one core.
                    let half = batch.count / 2
                    async let first = encode(batch[..<half])
                    let second = encode(batch[half...])
                    try await writer.write(ByteBuffer(string: await first))
                    try await writer.write(ByteBuffer(string: second))
                }
            }
            try await writer.write(ByteBuffer(string: MultiStatusEncoder.davTail))
            try await writer.finish(nil)
        }
        return Response(status: .multiStatus, headers: [.contentType: "application/xml; charset=utf-8"], body: body)
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

/// A live property (RFC 4918 section 15, RFC 4331), computed from the file system and the locks.
enum LiveProperty: String, CaseIterable, Sendable {
    case creationDate = "creationdate"
    case displayName = "displayname"
    case contentLength = "getcontentlength"
    case contentType = "getcontenttype"
    case etag = "getetag"
    case lastModified = "getlastmodified"
    case resourceType = "resourcetype"
    case supportedLock = "supportedlock"
    case lockDiscovery = "lockdiscovery"
    case quotaAvailable = "quota-available-bytes"
    case quotaUsed = "quota-used-bytes"

    /// The property's name in the `DAV:` namespace.
    var name: DAVPropertyName { .dav(self.rawValue) }

    /// The live property called `name`, if it is one.
    init?(_ name: DAVPropertyName) {
        guard name.namespace == DAVPropertyName.davNamespace, let property = Self(rawValue: name.name) else { return nil }
        self = property
    }

    /// What `allprop` lists, in order: all but the quota properties, which read the file system.
    static let inAllProp: [LiveProperty] = allCases.filter { !$0.isQuota }

    var isQuota: Bool { self == .quotaAvailable || self == .quotaUsed }

    /// False for the properties a collection does not have.
    func applies(to item: StoredItem) -> Bool {
        !(item.isDirectory && (self == .contentLength || self == .contentType))
    }
}

/// Computes live property values and PROPFIND responses.
struct LiveProperties: Sendable {
    static let lockDiscovery = LiveProperty.lockDiscovery.name
    /// Windows' property for a file's modification time; kept as a dead property and applied to the file.
    static let win32LastModifiedTime = DAVPropertyName("urn:schemas-microsoft-com:", "Win32LastModifiedTime")
    /// Every live property; clients cannot set or remove them.
    static let names = Set(LiveProperty.allCases.map(\.name))

    static let supportedLockXML =
        "<D:lockentry><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>"
        + "<D:lockentry><D:lockscope><D:shared/></D:lockscope><D:locktype><D:write/></D:locktype></D:lockentry>"

    /// Bytes used and available, when asked for.
    let usage: (used: Int, available: Int)?

    /// The value of `property`, or `nil` when the resource has none (a collection's length).
    /// - Parameter resourceName: the resource's last name (empty for the root).
    func value(_ property: LiveProperty, resourceName: String, item: StoredItem, locks: [DAVLock]) -> DAVProperty? {
        let name = property.name
        switch property {
        case .creationDate: return DAVProperty(name, text: HTTPDate.rfc3339(item.changed))
        case .displayName: return DAVProperty(name, text: resourceName)
        case .contentLength: return item.isDirectory ? nil : DAVProperty(name, xml: String(item.size))
        case .contentType: return item.isDirectory ? nil : DAVProperty(name, text: FileTypes.mediaType(forName: resourceName))
        case .etag: return DAVProperty(name, text: item.etag)
        case .lastModified: return DAVProperty(name, xml: HTTPDate.format(item.modified))
        case .resourceType: return DAVProperty(name, xml: item.isDirectory ? "<D:collection/>" : "")
        case .supportedLock: return DAVProperty(name, xml: Self.supportedLockXML)
        case .lockDiscovery: return DAVProperty(name, xml: locks.map(Self.activeLock).joined())
        case .quotaAvailable: return self.usage.map { DAVProperty(name, xml: String($0.available)) }
        case .quotaUsed: return self.usage.map { DAVProperty(name, xml: String($0.used)) }
        }
    }

    /// One resource's `<D:response>` for a PROPFIND.
    /// - Parameters:
    ///   - href: the resource's href (a listing builds members' hrefs from the folder's, without re-encoding it).
    ///   - resourceName: its last name (empty for the root).
    func response(href: String, resourceName: String, item: StoredItem, asked: PropfindRequest, dead: [DAVProperty], locks: [DAVLock]) -> DAVResponse {
        var found: [DAVProperty] = []
        var missing: [DAVProperty] = []
        switch asked {
        case .allProperties(let include):
            found.reserveCapacity(LiveProperty.inAllProp.count + dead.count)
            for property in LiveProperty.inAllProp {
                if let value = self.value(property, resourceName: resourceName, item: item, locks: locks) { found.append(value) }
            }
            found += dead
            for name in include where !dead.contains(where: { $0.name == name }) {
                guard let property = LiveProperty(name) else {
                    missing.append(DAVProperty(name))
                    continue
                }
                if LiveProperty.inAllProp.contains(property) { continue }
                if let value = self.value(property, resourceName: resourceName, item: item, locks: locks) { found.append(value) } else { missing.append(DAVProperty(name)) }
            }
        case .propertyNames:
            for property in LiveProperty.allCases where property.applies(to: item) { found.append(DAVProperty(property.name)) }
            found += dead.map { DAVProperty($0.name) }
        case .properties(let names):
            for name in names {
                let value = LiveProperty(name).map { self.value($0, resourceName: resourceName, item: item, locks: locks) } ?? dead.first(where: { $0.name == name })
                if let value { found.append(value) } else { missing.append(DAVProperty(name)) }
            }
        }
        var groups: [DAVPropertyStatus] = []
        if !found.isEmpty { groups.append(DAVPropertyStatus(status: .ok, properties: found)) }
        if !missing.isEmpty { groups.append(DAVPropertyStatus(status: .notFound, properties: missing)) }
        return DAVResponse(href: href, propertyStatus: groups)
    }

    /// One `<D:activelock>`.
    static func activeLock(_ lock: DAVLock) -> String {
        let remaining = max(0, (lock.expiresAt - LockStore.now() + 999) / 1000)
        let root = DAVLocation.href(lock.root, isCollection: false)
        return "<D:activelock><D:locktype><D:write/></D:locktype><D:lockscope>\(lock.exclusive ? "<D:exclusive/>" : "<D:shared/>")</D:lockscope>"
            + "<D:depth>\(lock.depthInfinity ? "infinity" : "0")</D:depth>"
            + (lock.owner.isEmpty ? "" : "<D:owner>\(lock.owner)</D:owner>")
            + "<D:timeout>Second-\(remaining)</D:timeout>"
            + "<D:locktoken><D:href>\(XMLText.escaped(lock.token))</D:href></D:locktoken>"
            + "<D:lockroot><D:href>\(XMLText.escaped(root))</D:href></D:lockroot></D:activelock>"
    }

}
