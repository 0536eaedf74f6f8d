/// Writes a multi-status body piece by piece, so that long lists stream.
///
/// The body is `head()`, then `encode(_:index:)` for each item in order, then `tail(summary:)`.
/// All three formats share this one path; ``MultiStatusReport/encoded(as:onlyFailed:)`` joins the pieces.
///
/// ```swift
/// var encoder = MultiStatusEncoder(format: .xml, collection: .files)
/// var body = encoder.head()
/// for (index, item) in results.enumerated() { body += encoder.encode(item, index: index) }
/// body += encoder.tail(summary: Summary(counting: results))
/// ```
public struct MultiStatusEncoder: Sendable {
    /// The format written.
    public let format: MultiStatusFormat
    /// What the items are.
    public let collection: ResourceCollection
    /// When true, succeeded items are left out of the list (`?only=failed`); the summary still counts them.
    public let onlyFailed: Bool
    private var wroteItem = false
    /// `"<identifier key>":`, the same in every JSON item.
    private let identifierMember: String

    /// Creates an encoder.
    public init(format: MultiStatusFormat, collection: ResourceCollection, onlyFailed: Bool = false) {
        self.format = format
        self.collection = collection
        self.onlyFailed = onlyFailed
        var member = ""
        JSONValue.writeString(collection.identifierKey, into: &member)
        self.identifierMember = member + ":"
    }

    /// Namespace of this library's XML extension elements (identifier, typed fields).
    public static let extensionNamespace = "urn:x-multistatus:item"
    /// Namespace of problem details in XML (RFC 7807 appendix A).
    public static let problemNamespace = "urn:ietf:rfc:7807"

    /// The opening of the body.
    public func head() -> String {
        switch self.format {
        case .json:
            var out = "{"
            JSONValue.writeString(self.collection.key, into: &out)
            return out + ":["
        case .xml:
            return "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\" xmlns:M=\"\(Self.extensionNamespace)\">\n"
        case .ndjson:
            return ""
        }
    }

    /// One item; empty when the item is filtered out.
    /// - Parameters:
    ///   - item: the item's result.
    ///   - index: its position in the request (written in NDJSON).
    public mutating func encode(_ item: ItemResult, index: Int) -> String {
        var out = ""
        self.encode(item, index: index, into: &out)
        return out
    }

    /// Appends one item to `out`; nothing when the item is filtered out.
    public mutating func encode(_ item: ItemResult, index: Int, into out: inout String) {
        if self.onlyFailed && item.succeeded { return }
        defer { self.wroteItem = true }
        switch self.format {
        case .json:
            if self.wroteItem { out += "," }
            self.writeJSONItem(item, index: nil, into: &out)
        case .ndjson:
            self.writeJSONItem(item, index: index, into: &out)
            out += "\n"
        case .xml:
            out += self.xmlItem(item)
        }
    }

    /// The end of the body, with the summary.
    public func tail(summary: Summary) -> String {
        let summaryJSON = "{\"total\":\(summary.total),\"succeeded\":\(summary.succeeded),\"failed\":\(summary.failed)}"
        switch self.format {
        case .json: return "],\"summary\":\(summaryJSON)}"
        case .ndjson: return "{\"summary\":\(summaryJSON)}\n"
        case .xml: return "</D:multistatus>\n"
        }
    }

    /// One item as JSON, piece by piece: a batch writes thousands, so nothing is formatted twice.
    private func writeJSONItem(_ item: ItemResult, index: Int?, into out: inout String) {
        out += "{"
        if let index {
            out += "\"index\":"
            out += String(index)
            out += ","
        }
        out += self.identifierMember
        item.id.writeJSON(into: &out)
        out += ",\"status\":"
        out += String(item.status.code)
        out += ",\"message\":"
        JSONValue.writeString(item.message, into: &out)
        if let location = item.location {
            out += ",\"location\":"
            JSONValue.writeString(location, into: &out)
        }
        if let etag = item.etag {
            out += ",\"etag\":"
            JSONValue.writeString(etag, into: &out)
        }
        if let retryAfter = item.retryAfter { out += ",\"retryAfter\":\(retryAfter)" }
        for key in item.fields.sortedKeys where !ItemFields.isReserved(key) && key != self.collection.identifierKey {
            out += ","
            JSONValue.writeString(key, into: &out)
            out += ":"
            item.fields[key]!.writeJSON(into: &out)
        }
        if let problem = item.problem { out += ",\"error\":" + problem.jsonText }
        out += "}"
    }

    private func xmlItem(_ item: ItemResult) -> String {
        var out = "<D:response><D:href>"
        XMLText.escape(item.resolvedHref(in: self.collection), into: &out)
        out += "</D:href><D:status>"
        XMLText.escape(item.status.statusLine, into: &out)
        out += "</D:status>"
        if let problem = item.problem {
            out += "<D:error><P:problem xmlns:P=\"\(Self.problemNamespace)\"><P:type>"
            XMLText.escape(problem.type, into: &out)
            out += "</P:type><P:title>"
            XMLText.escape(problem.title, into: &out)
            out += "</P:title><P:status>\(problem.status.code)</P:status>"
            if let detail = problem.detail {
                out += "<P:detail>"
                XMLText.escape(detail, into: &out)
                out += "</P:detail>"
            }
            if let instance = problem.instance {
                out += "<P:instance>"
                XMLText.escape(instance, into: &out)
                out += "</P:instance>"
            }
            for key in problem.extensions.keys.sorted() {
                Self.writeXMLField(key, problem.extensions[key]!, into: &out)
            }
            out += "</P:problem></D:error>"
        }
        out += "<D:responsedescription>"
        XMLText.escape(item.message, into: &out)
        out += "</D:responsedescription>"
        if let location = item.location {
            out += "<D:location><D:href>"
            XMLText.escape(location, into: &out)
            out += "</D:href></D:location>"
        }
        out += "<M:id M:type=\"\(XMLFieldType(item.id).rawValue)\">"
        XMLText.escape(item.id.displayText, into: &out)
        out += "</M:id>"
        if let etag = item.etag {
            out += "<M:etag>"
            XMLText.escape(etag, into: &out)
            out += "</M:etag>"
        }
        if let retryAfter = item.retryAfter { out += "<M:retryAfter>\(retryAfter)</M:retryAfter>" }
        for key in item.fields.sortedKeys where !ItemFields.isReserved(key) {
            Self.writeXMLField(key, item.fields[key]!, into: &out)
        }
        return out + "</D:response>\n"
    }

    private static func writeXMLField(_ name: String, _ value: JSONValue, into out: inout String) {
        out += "<M:field M:name=\""
        XMLText.escape(name, into: &out)
        out += "\" M:type=\"\(XMLFieldType(value).rawValue)\">"
        XMLText.escape(value.displayText, into: &out)
        out += "</M:field>"
    }
}

/// Item members with a fixed meaning; extra fields may not take these names.
enum ItemFields {
    /// Whether `key` is one of them: compared, not hashed, as it is asked for every field of every item.
    static func isReserved(_ key: String) -> Bool {
        switch key {
        case "index", "status", "message", "error", "location", "etag", "retryAfter": true
        default: false
        }
    }
}

extension Dictionary where Key == String {
    /// The keys in order, so output is deterministic (most items carry none or one).
    fileprivate var sortedKeys: [String] {
        self.count < 2 ? Array(self.keys) : self.keys.sorted()
    }
}

/// The type of a value written as XML text, so that a reader gets back the same JSON value.
enum XMLFieldType: String {
    case string, integer, number, boolean, null, json

    init(_ value: JSONValue) {
        switch value {
        case .string: self = .string
        case .int: self = .integer
        case .double: self = .number
        case .bool: self = .boolean
        case .null: self = .null
        case .array, .object, .raw: self = .json
        }
    }
}

/// XML 1.0 text escaping.
public enum XMLText {
    /// Escapes markup characters; characters XML 1.0 cannot carry at all (NUL, most C0 controls,
    /// lone surrogates, U+FFFE/U+FFFF) become U+FFFD, so a hostile name never breaks the document.
    /// - Parameter quotes: escape `"` and `'` too, as an attribute value needs; element text does not.
    public static func escape(_ text: String, into out: inout String, quotes: Bool = true) {
        appendEscaping(text, into: &out, mayReplace: Self.mayReplace) { bytes, index in
            switch bytes[index] {
            case UInt8(ascii: "&"): ("&amp;", 1)
            case UInt8(ascii: "<"): ("&lt;", 1)
            case UInt8(ascii: ">"): ("&gt;", 1)
            case UInt8(ascii: "\"") where quotes: ("&quot;", 1)
            case UInt8(ascii: "'") where quotes: ("&apos;", 1)
            case UInt8(ascii: "\r"): ("&#13;", 1)
            case UInt8(ascii: "\t"), UInt8(ascii: "\n"): nil
            case 0..<0x20: ("\u{FFFD}", 1)
            // U+FFFE and U+FFFF (EF BF BE / EF BF BF) are not XML characters either.
            case 0xEF: bytes.thirdByte(at: index, ifSecondIs: 0xBF).flatMap { $0 == 0xBE || $0 == 0xBF ? ("\u{FFFD}", 3) : nil }
            default: nil
            }
        }
    }

    /// True for the bytes ``escape(_:into:quotes:)`` may change: C0 controls, `"`, `&`, `'`, `<`, `>`,
    /// and 0xEF (which starts U+FFFE and U+FFFF); a text without any is written as it is.
    /// One test per byte of the text, so a bit mask rather than a switch.
    @inlinable
    public static func mayReplace(_ byte: UInt8) -> Bool {
        let below64: UInt64 = 0xFFFF_FFFF | 1 << 0x22 | 1 << 0x26 | 1 << 0x27 | 1 << 0x3C | 1 << 0x3E
        return byte < 64 ? (below64 >> byte) & 1 == 1 : byte == 0xEF
    }

    /// `text` escaped, as a new string.
    public static func escaped(_ text: String) -> String {
        var out = ""
        Self.escape(text, into: &out)
        return out
    }
}

extension MultiStatusReport {
    /// The whole body in `format`.
    /// - Parameter onlyFailed: leave succeeded items out of the list (`?only=failed`).
    public func encoded(as format: MultiStatusFormat, onlyFailed: Bool = false) -> String {
        var encoder = MultiStatusEncoder(format: format, collection: self.collection, onlyFailed: onlyFailed)
        var out = encoder.head()
        out.reserveCapacity(self.items.count * 96)
        for (index, item) in self.items.enumerated() {
            encoder.encode(item, index: index, into: &out)
        }
        out += encoder.tail(summary: self.summary)
        return out
    }
}
