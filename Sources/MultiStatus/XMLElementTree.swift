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

    /// Creates an element.
    public init(namespace: String, name: String, attributes: [String: String] = [:], children: [XMLElementNode] = [], text: String = "") {
        self.namespace = namespace
        self.name = name
        self.attributes = attributes
        self.children = children
        self.text = text
    }

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

/// Parses XML request and response bodies, which may come from anyone.
///
/// The reader is strict XML 1.0 with namespaces, in UTF-8, and written so that no input can
/// make it trap or take more than linear time. Documents with a DTD are refused outright, so no
/// external entity is fetched and no entity is expanded (billion laughs). Nesting deeper than
/// `maxDepth`, more than `maxElements` elements or more than `maxBytes` bytes are refused.
public struct XMLElementTreeParser: Sendable {
    /// Deepest nesting accepted.
    public var maxDepth: Int
    /// Largest document accepted, in bytes.
    public var maxBytes: Int
    /// Most elements a document may hold.
    public var maxElements: Int
    /// Most attributes (namespace declarations included) one element may carry.
    public var maxAttributes: Int

    /// Creates a parser with limits.
    public init(maxDepth: Int = 64, maxBytes: Int = 1 << 20, maxElements: Int = 100_000, maxAttributes: Int = 256) {
        self.maxDepth = maxDepth
        self.maxBytes = maxBytes
        self.maxElements = maxElements
        self.maxAttributes = maxAttributes
    }

    /// Why a document was refused.
    public struct Failure: Error, Hashable, Sendable, CustomStringConvertible {
        /// What was wrong and where, for a problem's `detail`.
        public let description: String
        /// True when the document crossed a size limit (a 413 rather than a 400).
        public let isTooLarge: Bool
    }

    /// Parses `bytes` into its root element.
    public func parse(_ bytes: some Collection<UInt8>) throws(Failure) -> XMLElementNode {
        guard bytes.count <= self.maxBytes else {
            throw Failure(description: "XML body is larger than \(self.maxBytes) bytes", isTooLarge: true)
        }
        var reader = XMLReader(Array(bytes), maxDepth: self.maxDepth, maxElements: self.maxElements, maxAttributes: self.maxAttributes)
        return try reader.readDocument()
    }
}
