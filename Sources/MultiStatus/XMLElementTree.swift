import Foundation

#if canImport(FoundationXML)
    import FoundationXML
#endif

/// An element of a parsed XML document, namespaces resolved.
public struct XMLElementNode: Sendable, Hashable {
    /// The namespace URI (`DAV:`), empty when the element has none.
    public var namespace: String
    /// The local name (`multistatus`).
    public var name: String
    /// Attributes by their qualified name as written.
    public var attributes: [String: String]
    /// Child elements in document order.
    public var children: [XMLElementNode]
    /// The element's own character data, concatenated.
    public var text: String

    /// The first child with this namespace and name.
    public func child(_ namespace: String, _ name: String) -> XMLElementNode? {
        self.children.first { $0.namespace == namespace && $0.name == name }
    }

    /// All children with this namespace and name.
    public func children(_ namespace: String, _ name: String) -> [XMLElementNode] {
        self.children.filter { $0.namespace == namespace && $0.name == name }
    }

    /// The value of the attribute whose local name is `name`, whatever its prefix.
    public func attribute(localName name: String) -> String? {
        if let value = self.attributes[name] { return value }
        return self.attributes.first { $0.key.split(separator: ":").last.map(String.init) == name }?.value
    }
}

/// Parses small XML request and response bodies safely.
///
/// Documents with a DTD are refused outright, so no external entity is fetched and no
/// entity is expanded (billion laughs); nesting deeper than `maxDepth` is refused.
public struct XMLElementTreeParser: Sendable {
    /// Deepest nesting accepted.
    public var maxDepth: Int
    /// Largest document accepted, in bytes.
    public var maxBytes: Int

    /// Creates a parser with limits.
    public init(maxDepth: Int = 64, maxBytes: Int = 1 << 20) {
        self.maxDepth = maxDepth
        self.maxBytes = maxBytes
    }

    /// Why a document was refused.
    public struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        /// What was wrong, for a problem's `detail`.
        public let description: String
        /// True when the document crossed a size limit (a 413 rather than a 400).
        public let isTooLarge: Bool
    }

    /// Parses `bytes` into its root element.
    public func parse(_ bytes: some Collection<UInt8>) throws(Failure) -> XMLElementNode {
        guard bytes.count <= self.maxBytes else {
            throw Failure(description: "XML body is larger than \(self.maxBytes) bytes", isTooLarge: true)
        }
        let data = Data(bytes)
        if Self.containsDoctype(data) {
            throw Failure(description: "XML documents with a DOCTYPE (DTDs, entities) are not accepted", isTooLarge: false)
        }
        let builder = TreeBuilder(maxDepth: self.maxDepth)
        let parser = XMLParser(data: data)
        parser.shouldProcessNamespaces = true
        parser.shouldReportNamespacePrefixes = true
        parser.shouldResolveExternalEntities = false
        parser.delegate = builder
        let ok = parser.parse()
        if let failure = builder.failure { throw failure }
        guard ok, let root = builder.root else {
            let reason = parser.parserError.map { "\($0.localizedDescription)" } ?? "not well-formed"
            throw Failure(description: "malformed XML at line \(parser.lineNumber): \(reason)", isTooLarge: false)
        }
        return root
    }

    private static func containsDoctype(_ data: Data) -> Bool {
        let marker = Array("<!DOCTYPE".utf8)
        let bytes = [UInt8](data)
        guard bytes.count >= marker.count else { return false }
        for start in 0...(bytes.count - marker.count) where bytes[start] == UInt8(ascii: "<") && bytes[start + 1] == UInt8(ascii: "!") {
            if zip(bytes[start..<start + marker.count], marker).allSatisfy({ $0 & 0xDF == $1 & 0xDF }) { return true }
        }
        return false
    }
}

/// Collects parser events into a tree; used synchronously on one thread.
private final class TreeBuilder: NSObject, XMLParserDelegate {
    let maxDepth: Int
    var stack: [XMLElementNode] = []
    var root: XMLElementNode?
    var failure: XMLElementTreeParser.Failure?

    init(maxDepth: Int) { self.maxDepth = maxDepth }

    func parser(
        _ parser: XMLParser,
        didStartElement elementName: String,
        namespaceURI: String?,
        qualifiedName: String?,
        attributes: [String: String] = [:]
    ) {
        guard self.stack.count < self.maxDepth else {
            self.failure = .init(description: "XML nesting is deeper than \(self.maxDepth) levels", isTooLarge: false)
            parser.abortParsing()
            return
        }
        if let qualifiedName, qualifiedName.contains(":"), namespaceURI?.isEmpty ?? true {
            // A prefix bound to nothing (or to "", which Namespaces in XML forbids) leaves the element without a namespace.
            self.failure = .init(description: "the prefix of <\(qualifiedName)> is not bound to a namespace", isTooLarge: false)
            parser.abortParsing()
            return
        }
        self.stack.append(XMLElementNode(namespace: namespaceURI ?? "", name: elementName, attributes: attributes, children: [], text: ""))
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
        guard let node = self.stack.popLast() else { return }
        if self.stack.isEmpty {
            self.root = node
        } else {
            self.stack[self.stack.count - 1].children.append(node)
        }
    }

    func parser(_ parser: XMLParser, didStartMappingPrefix prefix: String, toURI namespaceURI: String) {
        // Namespaces in XML 1.0 forbids binding a prefix to the empty name (`xmlns:p=""`).
        if !prefix.isEmpty && namespaceURI.isEmpty {
            self.failure = .init(description: "namespace prefix \"\(prefix)\" is bound to an empty URI", isTooLarge: false)
            parser.abortParsing()
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        guard !self.stack.isEmpty else { return }
        self.stack[self.stack.count - 1].text += string
    }

    func parser(_ parser: XMLParser, foundCDATA CDATABlock: Data) {
        guard !self.stack.isEmpty else { return }
        self.stack[self.stack.count - 1].text += String(decoding: CDATABlock, as: UTF8.self)
    }

    func parser(_ parser: XMLParser, resolveExternalEntityName name: String, systemID: String?) -> Data? {
        nil
    }
}
