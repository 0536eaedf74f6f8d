import Foundation
import Hummingbird
import MultiStatus

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
        case .lockDiscovery: return DAVProperty(name, xml: locks.map { Self.activeLock($0) }.joined())
        case .quotaAvailable: return self.usage.map { DAVProperty(name, xml: String($0.available)) }
        case .quotaUsed: return self.usage.map { DAVProperty(name, xml: String($0.used)) }
        }
    }

    /// One resource's `<D:response>` for a PROPFIND.
    /// - Parameters:
    ///   - href: the resource's href (a listing builds members' hrefs from the folder's, without re-encoding it).
    ///   - resourceName: its last name (empty for the root).
    func response(href: String, resourceName: String, item: StoredItem, asked: PropfindRequest, dead: [DAVProperty], locks: [DAVLock]) -> DAVResponse
    {
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
                if let value = self.value(property, resourceName: resourceName, item: item, locks: locks) {
                    found.append(value)
                } else {
                    missing.append(DAVProperty(name))
                }
            }
        case .propertyNames:
            for property in LiveProperty.allCases where property.applies(to: item) { found.append(DAVProperty(property.name)) }
            found += dead.map { DAVProperty($0.name) }
        case .properties(let names):
            for name in names {
                let value =
                    LiveProperty(name).map { self.value($0, resourceName: resourceName, item: item, locks: locks) }
                    ?? dead.first(where: { $0.name == name })
                if let value { found.append(value) } else { missing.append(DAVProperty(name)) }
            }
        }
        var groups: [DAVPropertyStatus] = []
        if !found.isEmpty { groups.append(DAVPropertyStatus(status: .ok, properties: found)) }
        if !missing.isEmpty { groups.append(DAVPropertyStatus(status: .notFound, properties: missing)) }
        return DAVResponse(href: href, propertyStatus: groups)
    }

    /// One `<D:activelock>`: with the timeout as granted in the answer to LOCK itself, and as what
    /// is left of it in a listing.
    static func activeLock(_ lock: DAVLock, asGranted: Bool = false) -> String {
        let remaining = asGranted ? lock.timeoutSeconds : max(0, (lock.expiresAt - LockStore.now() + 999) / 1000)
        let root = DAVLocation.href(lock.root, isCollection: false)
        return "<D:activelock><D:locktype><D:write/></D:locktype><D:lockscope>\(lock.exclusive ? "<D:exclusive/>" : "<D:shared/>")</D:lockscope>"
            + "<D:depth>\(lock.depthInfinity ? "infinity" : "0")</D:depth>"
            + (lock.owner.isEmpty ? "" : "<D:owner>\(lock.owner)</D:owner>")
            + "<D:timeout>Second-\(remaining)</D:timeout>"
            + "<D:locktoken><D:href>\(XMLText.escaped(lock.token))</D:href></D:locktoken>"
            + "<D:lockroot><D:href>\(XMLText.escaped(root))</D:href></D:lockroot></D:activelock>"
    }

}
