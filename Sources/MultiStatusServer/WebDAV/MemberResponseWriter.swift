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
    /// An upper bound on a response's bytes other than its name, href, ETag and media type.
    private let fixedBytes: Int
    /// True when a live property the member lacks (a collection's length) is listed as 404, as for
    /// named properties; `allprop` leaves it out.
    private let listsLacking: Bool
    private let live: LiveProperties
    /// `<D:name/>` of each requested name, for the 404 group, written once.
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
        for entry in self.entries {
            let name =
                switch entry {
                case .live(let property): property.name
                case .missing(let name): name
                }
            var text = ""
            DAVProperty(name).write(into: &text)
            elements[name] = text
        }
        self.missingElements = elements
        self.fixedBytes =
            512 + LiveProperties.supportedLockXML.utf8.count + 128 * self.entries.count + elements.values.reduce(0) { $0 + $1.utf8.count }
    }

    /// Values made once per distinct second or extension: members of one folder share many.
    struct Cache {
        fileprivate var modifiedTexts = RecentSeconds()
        fileprivate var modified = ""
        fileprivate var changedTexts = RecentSeconds()
        fileprivate var changed = ""
        /// The extension `mediaType` is for; `nil` inside for a name without one.
        fileprivate var fileExtension: Substring?? = .none
        fileprivate var mediaType = ""
        init() {}
    }

    /// Appends the response of the member `name` (already validated) of the folder whose href,
    /// XML-escaped, is `escapedFolderHref`.
    func write(name: String, item: StoredItem, escapedFolderHref: String, cache: inout Cache, into out: inout ByteBuffer) {
        if !item.isDirectory { self.updateMediaType(for: name, cache: &cache) }
        self.updateDates(of: item, cache: &cache)
        // Escaping makes a byte at most six (`'` as `&apos;`); the rest is bounded per property.
        let bound = self.fixedBytes + escapedFolderHref.utf8.count + 12 * name.utf8.count + StoredItem.etagCapacity + cache.mediaType.utf8.count
        out.writeWithUnsafeMutableBytes(minimumWritableBytes: bound) { buffer in
            var out = ByteWriter(buffer: buffer)
            self.write(name: name, item: item, escapedFolderHref: escapedFolderHref, cache: &cache, into: &out)
            return out.count
        }
    }

    // `cache` is inout only so that it is not copied (each copy retains every text in it).
    private func write(name: String, item: StoredItem, escapedFolderHref: String, cache: inout Cache, into out: inout ByteWriter) {
        out.append("<D:response><D:href>")
        out.append(escapedFolderHref)
        Self.appendEscaped(PercentEncoding.encodePath(name), quotes: true, into: &out)
        if item.isDirectory { out.append("/") }
        out.append("</D:href>")
        var anyMissing = false
        var opened = false
        for entry in self.entries {
            guard case .live(let property) = entry, self.hasValue(property, item) else {
                anyMissing = anyMissing || self.listsLacking
                continue
            }
            if !opened {
                out.append("<D:propstat><D:prop>")
                opened = true
            }
            self.appendValue(of: property, name: name, item: item, cache: &cache, into: &out)
        }
        if opened { out.append(Self.okStatus) }
        if anyMissing {
            out.append("<D:propstat><D:prop>")
            for entry in self.entries {
                switch entry {
                case .missing(let name): out.append(self.missingElements[name]!)
                case .live(let property):
                    if !self.hasValue(property, item) { out.append(self.missingElements[property.name]!) }
                }
            }
            out.append(Self.notFoundStatus)
        }
        out.append("</D:response>\n")
    }

    /// False when `item` has no value for `property` (see ``LiveProperties/value``).
    private func hasValue(_ property: LiveProperty, _ item: StoredItem) -> Bool {
        property.applies(to: item) && !(property.isQuota && self.live.usage == nil)
    }

    /// `text` XML-escaped; most names need nothing and are copied as they are.
    private static func appendEscaped(_ text: String, quotes: Bool, into out: inout ByteWriter) {
        // Quotes pass as they are in element text (an ETag has two).
        let mayChange = quotes ? XMLText.mayReplace : { XMLText.mayReplace($0) && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "'") }
        guard text.utf8.contains(where: mayChange) else { return out.append(text) }
        var escaped = ""
        XMLText.escape(text, into: &escaped, quotes: quotes)
        out.append(escaped)
    }

    private func updateMediaType(for name: String, cache: inout Cache) {
        let dot = name.utf8.lastIndex(of: UInt8(ascii: "."))
        let fileExtension = dot.flatMap { $0 == name.startIndex ? nil : name[name.utf8.index(after: $0)...] }
        guard cache.fileExtension != .some(fileExtension) else { return }
        cache.fileExtension = fileExtension
        cache.mediaType = ""
        XMLText.escape(FileTypes.mediaType(forName: name), into: &cache.mediaType, quotes: false)
    }

    private func updateDates(of item: StoredItem, cache: inout Cache) {
        cache.changed = cache.changedTexts.text(of: item.changed, HTTPDate.rfc3339)
        cache.modified = cache.modifiedTexts.text(of: item.modified, HTTPDate.format)
    }

    private func appendValue(of property: LiveProperty, name: String, item: StoredItem, cache: inout Cache, into out: inout ByteWriter) {
        switch property {
        case .creationDate:
            out.append("<D:creationdate>")
            out.append(cache.changed)
            out.append("</D:creationdate>")
        case .displayName:
            out.append("<D:displayname>")
            Self.appendEscaped(name, quotes: false, into: &out)
            out.append("</D:displayname>")
        case .contentLength:
            out.append("<D:getcontentlength>")
            out.appendDecimal(item.size)
            out.append("</D:getcontentlength>")
        case .contentType:
            out.append("<D:getcontenttype>")
            out.append(cache.mediaType)
            out.append("</D:getcontenttype>")
        case .etag:
            out.append("<D:getetag>")
            // Quotes, digits and dashes: nothing to escape.
            item.writeETag(into: &out)
            out.append("</D:getetag>")
        case .lastModified:
            out.append("<D:getlastmodified>")
            out.append(cache.modified)
            out.append("</D:getlastmodified>")
        case .resourceType:
            out.append(item.isDirectory ? "<D:resourcetype><D:collection/></D:resourcetype>" : "<D:resourcetype/>")
        case .supportedLock:
            out.append("<D:supportedlock>")
            out.append(LiveProperties.supportedLockXML)
            out.append("</D:supportedlock>")
        case .lockDiscovery:
            out.append("<D:lockdiscovery/>")
        case .quotaAvailable:
            out.append("<D:quota-available-bytes>")
            out.appendDecimal(self.live.usage?.available ?? 0)
            out.append("</D:quota-available-bytes>")
        case .quotaUsed:
            out.append("<D:quota-used-bytes>")
            out.appendDecimal(self.live.usage?.used ?? 0)
            out.append("</D:quota-used-bytes>")
        }
    }
}

/// The texts of the last few distinct seconds a date fell in: the files of a folder were mostly
/// written within a few seconds, and a folder is read in no particular order, so one remembered
/// second missed about every other member of a folder written over two.
private struct RecentSeconds {
    private var seconds: [Int] = []
    private var texts: [String] = []
    private var oldest = 0

    /// The text of `date`, made by `format` when its second is not among the last four.
    mutating func text(of date: Date, _ format: (Date) -> String) -> String {
        let second = Int(date.timeIntervalSince1970.rounded(.down))
        if let index = self.seconds.firstIndex(of: second) { return self.texts[index] }
        let text = format(date)
        if self.seconds.count < 4 {
            self.seconds.append(second)
            self.texts.append(text)
        } else {
            self.seconds[self.oldest] = second
            self.texts[self.oldest] = text
            self.oldest = (self.oldest + 1) % 4
        }
        return text
    }
}
