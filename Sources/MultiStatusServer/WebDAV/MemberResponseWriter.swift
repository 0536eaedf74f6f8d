import Foundation
import HTTPTypes
import MultiStatus
import NIOCore

/// Writes the `<D:response>` of a listed member straight into bytes, without building a
/// ``DAVResponse`` of ``DAVProperty`` values first: a listing of 20,000 files spent most of its
/// time making and dropping those values.
///
/// It serves members without dead properties or locks (nearly every member of a large folder)
/// for `allprop` without `include` and for named properties; ``init(asked:live:)`` is `nil` for
/// other requests, and the listing writes other members through ``LiveProperties/response``.
/// Its text is byte for byte what the core encoder writes for that response.
struct MemberResponseWriter: Sendable {
    /// What is written for each requested property, in the request's order.
    private enum Entry: Sendable {
        case live(LiveProperty)
        /// A name with no value on a member without dead properties: listed in the 404 group.
        case missing(DAVPropertyName)
    }

    private let entries: [Entry]
    /// True when a live property the member lacks (a collection's length) is listed as 404, as for
    /// named properties; `allprop` leaves it out.
    private let listsLacking: Bool
    private let live: LiveProperties
    /// `<D:name/>` of each missing name, written once.
    private let missingElements: [DAVPropertyName: String]
    private static let okStatus = "</D:prop><D:status>" + XMLText.escaped(HTTPResponse.Status.ok.statusLine) + "</D:status></D:propstat>"
    private static let notFoundStatus =
        "</D:prop><D:status>" + XMLText.escaped(HTTPResponse.Status.notFound.statusLine) + "</D:status></D:propstat>"

    init?(asked: PropfindRequest, live: LiveProperties) {
        switch asked {
        case .allProperties(let include) where include.isEmpty:
            self.entries = LiveProperty.inAllProp.map { .live($0) }
            self.listsLacking = false
        case .properties(let names):
            self.entries = names.map { name in LiveProperty(name).map { .live($0) } ?? .missing(name) }
            self.listsLacking = true
        default:
            return nil
        }
        self.live = live
        var elements: [DAVPropertyName: String] = [:]
        for case .missing(let name) in self.entries {
            var text = ""
            DAVProperty(name).write(into: &text)
            elements[name] = text
        }
        for case .live(let property) in self.entries { elements[property.name] = "<D:\(property.rawValue)/>" }
        self.missingElements = elements
    }

    /// Values made once per distinct second or extension: members of one folder share many.
    struct Cache {
        fileprivate var modifiedSecond = Int.min
        fileprivate var modified = ""
        fileprivate var changedSecond = Int.min
        fileprivate var changed = ""
        /// The extension `mediaType` is for; `nil` inside for a name without one.
        fileprivate var fileExtension: Substring?? = .none
        fileprivate var mediaType = ""
        init() {}
    }

    /// Appends the response of the member `name` (already validated) of the folder whose href,
    /// XML-escaped, is `escapedFolderHref`.
    func write(name: String, item: StoredItem, escapedFolderHref: String, cache: inout Cache, into out: inout ByteBuffer) {
        out.writeStaticString("<D:response><D:href>")
        out.writeString(escapedFolderHref)
        Self.writeEscaped(PercentEncoding.encodePath(name), quotes: true, into: &out)
        if item.isDirectory { out.writeStaticString("/") }
        out.writeStaticString("</D:href>")
        var anyMissing = false
        var opened = false
        for entry in self.entries {
            guard case .live(let property) = entry, self.hasValue(property, item) else {
                anyMissing = anyMissing || self.listsLacking
                continue
            }
            if !opened {
                out.writeStaticString("<D:propstat><D:prop>")
                opened = true
            }
            self.writeValue(of: property, name: name, item: item, cache: &cache, into: &out)
        }
        if opened { out.writeString(Self.okStatus) }
        if anyMissing {
            out.writeStaticString("<D:propstat><D:prop>")
            for entry in self.entries {
                switch entry {
                case .missing(let name): out.writeString(self.missingElements[name]!)
                case .live(let property):
                    if !self.hasValue(property, item) { out.writeString(self.missingElements[property.name]!) }
                }
            }
            out.writeString(Self.notFoundStatus)
        }
        out.writeStaticString("</D:response>\n")
    }

    /// False when `item` has no value for `property` (see ``LiveProperties/value``).
    private func hasValue(_ property: LiveProperty, _ item: StoredItem) -> Bool {
        property.applies(to: item) && !(property.isQuota && self.live.usage == nil)
    }

    /// `text` XML-escaped; most names need nothing and are copied as they are.
    private static func writeEscaped(_ text: String, quotes: Bool, into out: inout ByteBuffer) {
        guard text.utf8.contains(where: XMLText.mayReplace) else {
            out.writeString(text)
            return
        }
        var escaped = ""
        XMLText.escape(text, into: &escaped, quotes: quotes)
        out.writeString(escaped)
    }

    private func writeValue(of property: LiveProperty, name: String, item: StoredItem, cache: inout Cache, into out: inout ByteBuffer) {
        switch property {
        case .creationDate:
            let second = Int(item.changed.timeIntervalSince1970.rounded(.down))
            if second != cache.changedSecond {
                cache.changedSecond = second
                cache.changed = HTTPDate.rfc3339(item.changed)
            }
            out.writeStaticString("<D:creationdate>")
            out.writeString(cache.changed)
            out.writeStaticString("</D:creationdate>")
        case .displayName:
            out.writeStaticString("<D:displayname>")
            Self.writeEscaped(name, quotes: false, into: &out)
            out.writeStaticString("</D:displayname>")
        case .contentLength:
            out.writeStaticString("<D:getcontentlength>")
            out.writeString(String(item.size))
            out.writeStaticString("</D:getcontentlength>")
        case .contentType:
            let dot = name.lastIndex(of: ".")
            let fileExtension = dot.flatMap { $0 == name.startIndex ? nil : name[name.index(after: $0)...] }
            if cache.fileExtension != .some(fileExtension) {
                cache.fileExtension = fileExtension
                cache.mediaType = ""
                XMLText.escape(FileTypes.mediaType(forName: name), into: &cache.mediaType, quotes: false)
            }
            out.writeStaticString("<D:getcontenttype>")
            out.writeString(cache.mediaType)
            out.writeStaticString("</D:getcontenttype>")
        case .etag:
            out.writeStaticString("<D:getetag>")
            Self.writeEscaped(item.etag, quotes: false, into: &out)
            out.writeStaticString("</D:getetag>")
        case .lastModified:
            let second = Int(item.modified.timeIntervalSince1970.rounded(.down))
            if second != cache.modifiedSecond {
                cache.modifiedSecond = second
                cache.modified = HTTPDate.format(item.modified)
            }
            out.writeStaticString("<D:getlastmodified>")
            out.writeString(cache.modified)
            out.writeStaticString("</D:getlastmodified>")
        case .resourceType:
            if item.isDirectory {
                out.writeStaticString("<D:resourcetype><D:collection/></D:resourcetype>")
            } else {
                out.writeStaticString("<D:resourcetype/>")
            }
        case .supportedLock:
            out.writeStaticString("<D:supportedlock>")
            out.writeString(LiveProperties.supportedLockXML)
            out.writeStaticString("</D:supportedlock>")
        case .lockDiscovery:
            out.writeStaticString("<D:lockdiscovery/>")
        case .quotaAvailable, .quotaUsed:
            var text = ""
            self.live.value(property, resourceName: name, item: item, locks: [])?.write(into: &text)
            out.writeString(text)
        }
    }
}
