public import HTTPTypes

/// A WebDAV property: its qualified name and, when it has one, its value as XML content.
///
/// ```swift
/// let length = DAVProperty(.dav, "getcontentlength", text: "42")
/// let dead = DAVProperty("http://example.com/ns", "color", xml: "<x:red xmlns:x=\"urn:x\"/>")
/// ```
public struct DAVProperty: Sendable, Hashable {
    /// The property's qualified name.
    public var name: DAVPropertyName
    /// The element's content as well-formed XML (escaped text and self-contained elements); empty for none.
    public var xml: String

    /// A property whose value is already XML content (each element declaring the namespaces it uses).
    public init(_ name: DAVPropertyName, xml: String = "") {
        self.name = name
        self.xml = xml
    }

    /// A property whose value is plain text, escaped here.
    public init(_ name: DAVPropertyName, text: String) {
        var escaped = ""
        XMLText.escape(text, into: &escaped, quotes: false)
        self.init(name, xml: escaped)
    }

    /// Appends `<name>xml</name>` (or `<name/>`), the namespace declared on the element itself (`D:` for `DAV:`).
    public func write(into out: inout String) {
        // Appended piece by piece: listings write thousands of these.
        out += "<"
        switch self.name.namespace {
        case DAVPropertyName.davNamespace:
            out += "D:"
            out += self.name.name
        case "":
            out += self.name.name
            out += " xmlns=\"\""
        default:
            out += "X:"
            out += self.name.name
            out += " xmlns:X=\""
            XMLText.escape(self.name.namespace, into: &out)
            out += "\""
        }
        if self.xml.isEmpty {
            out += "/>"
            return
        }
        out += ">"
        out += self.xml
        out += "</"
        switch self.name.namespace {
        case DAVPropertyName.davNamespace: out += "D:"
        case "": break
        default: out += "X:"
        }
        out += self.name.name
        out += ">"
    }
}

/// The qualified name of a WebDAV property: namespace URI and local name.
public struct DAVPropertyName: Sendable, Hashable, CustomStringConvertible {
    /// The `DAV:` namespace of RFC 4918's own properties.
    public static let davNamespace = "DAV:"
    /// The namespace URI; empty for none.
    public var namespace: String
    /// The local name.
    public var name: String

    /// A property name in `namespace`.
    public init(_ namespace: String, _ name: String) {
        self.namespace = namespace
        self.name = name
    }

    /// A property of the `DAV:` namespace.
    public static func dav(_ name: String) -> DAVPropertyName { DAVPropertyName(davNamespace, name) }

    /// `{namespace}name`, Clark notation.
    public var description: String { "{\(self.namespace)}\(self.name)" }
}

/// One `<D:response>` of a WebDAV multi-status: a resource and either one status or its properties grouped by status.
///
/// ```swift
/// let found = DAVResponse(href: "/dav/a.txt", propertyStatus: [.init(status: .ok, properties: [length])])
/// let gone = DAVResponse(href: "/dav/b.txt", status: .locked, error: "<D:lock-token-submitted/>")
/// ```
public struct DAVResponse: Sendable, Hashable {
    /// The resource's URL path, already percent-encoded.
    public var href: String
    /// The whole resource's status, when the response is not about properties.
    public var status: HTTPResponse.Status?
    /// Properties grouped by status (`propstat`), in order.
    public var propertyStatus: [DAVPropertyStatus]
    /// Content of `<D:error>` (a precondition element such as `<D:lock-token-submitted/>`), empty for none.
    public var error: String
    /// A human-readable description, empty for none.
    public var description: String

    /// A response about properties.
    public init(href: String, propertyStatus: [DAVPropertyStatus], description: String = "") {
        self.href = href
        self.status = nil
        self.propertyStatus = propertyStatus
        self.error = ""
        self.description = description
    }

    /// A response with one status for the whole resource.
    public init(href: String, status: HTTPResponse.Status, error: String = "", description: String = "") {
        self.href = href
        self.status = status
        self.propertyStatus = []
        self.error = error
        self.description = description
    }
}

/// Properties that share one status inside a `<D:propstat>`.
public struct DAVPropertyStatus: Sendable, Hashable {
    /// The status of these properties.
    public var status: HTTPResponse.Status
    /// The properties; values are left out when only names are asked for.
    public var properties: [DAVProperty]
    /// Content of `<D:error>`, empty for none.
    public var error: String

    /// Properties with one status.
    public init(status: HTTPResponse.Status, properties: [DAVProperty], error: String = "") {
        self.status = status
        self.properties = properties
        self.error = error
    }
}

extension MultiStatusEncoder {
    /// One WebDAV `<D:response>`, in the RFC 4918 XML body begun by ``head()`` (the format must be `.xml`).
    public func encode(_ response: DAVResponse) -> String {
        var out = ""
        self.encode(response, into: &out)
        return out
    }

    /// One WebDAV `<D:response>` appended to `out`: a listing writes thousands into one buffer.
    public func encode(_ response: DAVResponse, into out: inout String) {
        precondition(self.format == .xml, "WebDAV responses are XML")
        out += "<D:response><D:href>"
        XMLText.escape(response.href, into: &out)
        out += "</D:href>"
        if let status = response.status {
            out += "<D:status>"
            XMLText.escape(status.statusLine, into: &out)
            out += "</D:status>"
        }
        for group in response.propertyStatus {
            out += "<D:propstat><D:prop>"
            for property in group.properties { property.write(into: &out) }
            out += "</D:prop><D:status>"
            XMLText.escape(group.status.statusLine, into: &out)
            out += "</D:status>"
            if !group.error.isEmpty { out += "<D:error>" + group.error + "</D:error>" }
            out += "</D:propstat>"
        }
        if !response.error.isEmpty { out += "<D:error>" + response.error + "</D:error>" }
        if !response.description.isEmpty {
            out += "<D:responsedescription>"
            XMLText.escape(response.description, into: &out)
            out += "</D:responsedescription>"
        }
        out += "</D:response>\n"
    }

    /// The end of a WebDAV multi-status body (which carries no summary).
    public static var davTail: String { "</D:multistatus>\n" }

    /// A whole `<D:prop>` document (the body of a LOCK answer): the properties in the `DAV:` namespace's root.
    public static func propDocument(_ properties: [DAVProperty]) -> String {
        var out = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:prop xmlns:D=\"DAV:\">"
        for property in properties { property.write(into: &out) }
        return out + "</D:prop>\n"
    }

    /// A whole `<D:error>` document (RFC 4918 section 16) holding one precondition element such as `<D:lock-token-submitted/>`.
    public static func errorDocument(_ content: String) -> String {
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:error xmlns:D=\"DAV:\">" + content + "</D:error>\n"
    }
}

extension XMLElementNode {
    /// The element's content written back as XML: text escaped, each child element declaring
    /// its own namespace, so the result can be stored and embedded anywhere.
    public var innerXML: String {
        var out = ""
        XMLText.escape(self.text, into: &out)
        for child in self.children { child.writeXML(into: &out, depth: 0) }
        return out
    }

    private func writeXML(into out: inout String, depth: Int) {
        // The xml prefix is bound to its namespace everywhere, and may be bound to nothing else.
        let isXMLNamespace = self.namespace == "http://www.w3.org/XML/1998/namespace"
        let prefix = isXMLNamespace ? "xml" : "N\(depth)"
        let qualified = self.namespace.isEmpty ? self.name : prefix + ":" + self.name
        out += "<" + qualified
        if self.namespace.isEmpty {
            out += " xmlns=\"\""
        } else if isXMLNamespace {
            // Declared already.
        } else {
            out += " xmlns:" + prefix + "=\""
            XMLText.escape(self.namespace, into: &out)
            out += "\""
        }
        // Prefixed attributes other than `xml:` would need their namespace declared again; they are dropped.
        for key in self.attributes.keys.sorted() where !key.contains(":") || key.hasPrefix("xml:") {
            out += " " + key + "=\""
            // Tabs and line ends as references: written as they are, a reader turns them into spaces.
            var value = ""
            XMLText.escape(self.attributes[key]!, into: &value)
            out += value.replacingOccurrences(of: "\t", with: "&#9;").replacingOccurrences(of: "\n", with: "&#10;")
            out += "\""
        }
        if self.text.isEmpty && self.children.isEmpty {
            out += "/>"
            return
        }
        out += ">"
        XMLText.escape(self.text, into: &out)
        for child in self.children { child.writeXML(into: &out, depth: depth + 1) }
        out += "</" + qualified + ">"
    }
}

extension MultiStatusReader {
    /// Reads a WebDAV multi-status body (a PROPFIND or PROPPATCH answer, or any RFC 4918 207) into its responses,
    /// property values kept as XML content.
    ///
    /// ```swift
    /// for response in try MultiStatusReader.readDAV(body) {
    ///     let length = response.propertyStatus.first { $0.status == .ok }?.properties.first { $0.name == .dav("getcontentlength") }
    /// }
    /// ```
    public static func readDAV(_ bytes: some Collection<UInt8>) throws(MultiStatusError) -> [DAVResponse] {
        let root: XMLElementNode
        do {
            root = try XMLElementTreeParser(maxBytes: Int.max).parse(bytes)
        } catch {
            throw .malformedBody(error.description)
        }
        guard root.namespace == DAVPropertyName.davNamespace, root.name == "multistatus" else { throw .malformedBody("root is not DAV:multistatus") }
        let dav = DAVPropertyName.davNamespace
        func status(_ node: XMLElementNode?) -> HTTPResponse.Status? {
            // `HTTP/1.1 200 OK`: the code is the second token.
            node?.text.split(separator: " ").dropFirst().first.flatMap { Int($0) }.map { HTTPResponse.Status(code: $0) }
        }
        return try root.children(dav, "response").map { (node) throws(MultiStatusError) -> DAVResponse in
            guard let href = node.child(dav, "href")?.text.trimmingWhitespace() else { throw .malformedBody("a response has no href") }
            let description = node.child(dav, "responsedescription")?.text ?? ""
            let error = node.child(dav, "error")?.innerXML ?? ""
            if let whole = status(node.child(dav, "status")) {
                return DAVResponse(href: href, status: whole, error: error, description: description)
            }
            var groups: [DAVPropertyStatus] = []
            for propstat in node.children(dav, "propstat") {
                guard let code = status(propstat.child(dav, "status")) else { throw .malformedBody("a propstat of \(href) has no status") }
                let properties = (propstat.child(dav, "prop")?.children ?? []).map {
                    DAVProperty(DAVPropertyName($0.namespace, $0.name), xml: $0.innerXML)
                }
                groups.append(DAVPropertyStatus(status: code, properties: properties, error: propstat.child(dav, "error")?.innerXML ?? ""))
            }
            var response = DAVResponse(href: href, propertyStatus: groups, description: description)
            response.error = error
            return response
        }
    }
}

extension DAVResponse {
    /// The value of property `name` and the status it came with, if the response lists it.
    public func property(_ name: DAVPropertyName) -> (status: HTTPResponse.Status, value: DAVProperty)? {
        for group in self.propertyStatus {
            if let property = group.properties.first(where: { $0.name == name }) { return (group.status, property) }
        }
        return nil
    }
}
