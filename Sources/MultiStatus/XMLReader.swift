/// A strict, non-validating XML 1.0 reader with namespaces, for untrusted request and response bodies.
///
/// It reads what RFC 4918 bodies use: elements, attributes, namespaces, character data, CDATA
/// sections, comments and processing instructions, the five predefined entities and character
/// references. A DOCTYPE is refused, so no entity is declared, expanded or fetched. Input must be
/// UTF-8. Every byte is looked at a bounded number of times, so time is linear in the input, and
/// no byte sequence can make it trap: reads past the end give a zero byte, which no rule accepts.
struct XMLReader {
    typealias Failure = XMLElementTreeParser.Failure

    private let bytes: [UInt8]
    private var position = 0
    private let maxDepth: Int
    private let maxElements: Int
    private let maxAttributes: Int

    /// Open elements, innermost last, with the byte range of the qualified name their end tag must repeat.
    private var open: [(node: XMLElementNode, name: Range<Int>, declared: [String])] = []
    /// In-scope namespace bindings by prefix (`""` is the default namespace), innermost last.
    private var bindings: [String: [String]] = ["xml": [XMLReader.xmlNamespace]]
    private var elements = 0

    static let xmlNamespace = "http://www.w3.org/XML/1998/namespace"
    static let xmlnsNamespace = "http://www.w3.org/2000/xmlns/"

    init(_ bytes: [UInt8], maxDepth: Int, maxElements: Int, maxAttributes: Int) {
        self.bytes = bytes
        self.maxDepth = maxDepth
        self.maxElements = maxElements
        self.maxAttributes = maxAttributes
    }

    /// Reads the whole document and returns its root element.
    mutating func readDocument() throws(Failure) -> XMLElementNode {
        try self.checkCharacters()
        if self.bytes.starts(with: [0xEF, 0xBB, 0xBF]) { self.position = 3 }
        if self.looking(at: "<?xml"), Self.isSpace(self.byte(self.position + 5)) || self.looking(at: "<?xml?>") {
            try self.readDeclaration()
        }
        try self.readMisc()
        guard self.byte(self.position) == UInt8(ascii: "<") else {
            throw self.failure(self.position >= self.bytes.count ? "the document has no root element" : "text before the root element")
        }
        let root = try self.readRootElement()
        try self.readMisc()
        guard self.position >= self.bytes.count else {
            throw self.failure(self.byte(self.position) == UInt8(ascii: "<") ? "a second root element" : "text after the root element")
        }
        return root
    }

    // MARK: - Characters

    /// The whole document must be UTF-8 made of XML `Char`s: no C0 control but tab, LF and CR, and no U+FFFE or U+FFFF.
    private func checkCharacters() throws(Failure) {
        if self.bytes.starts(with: [0xFE, 0xFF]) || self.bytes.starts(with: [0xFF, 0xFE]) {
            throw Failure(description: "XML must be UTF-8; UTF-16 is not accepted", isTooLarge: false)
        }
        guard String(validating: self.bytes, as: UTF8.self) != nil else {
            throw Failure(description: "XML is not valid UTF-8", isTooLarge: false)
        }
        for index in self.bytes.indices {
            let byte = self.bytes[index]
            if byte < 0x20, byte != 0x09, byte != 0x0A, byte != 0x0D {
                throw self.failure("control character U+\(Self.hex(UInt32(byte))) is not allowed in XML", at: index)
            }
            if byte == 0xEF, self.byte(index + 1) == 0xBF, self.byte(index + 2) >= 0xBE {
                throw self.failure("U+FFFE and U+FFFF are not allowed in XML", at: index)
            }
        }
    }

    /// The byte at `index`, or 0 past either end (0 never occurs in a checked document).
    private func byte(_ index: Int) -> UInt8 {
        index >= 0 && index < self.bytes.count ? self.bytes[index] : 0
    }

    private func looking(at literal: StaticString) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard self.position <= self.bytes.count - count else { return false }
        return literal.withUTF8Buffer { literal in
            var offset = 0
            while offset < count {
                if self.bytes[self.position + offset] != literal[offset] { return false }
                offset += 1
            }
            return true
        }
    }

    private mutating func skip(_ literal: StaticString) -> Bool {
        guard self.looking(at: literal) else { return false }
        self.position += literal.utf8CodeUnitCount
        return true
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    @discardableResult
    private mutating func skipSpace() -> Bool {
        let start = self.position
        while Self.isSpace(self.byte(self.position)) { self.position += 1 }
        return self.position > start
    }

    /// The scalar starting at `index` and its length in bytes; the document is known to be valid UTF-8.
    private func scalar(at index: Int) -> (value: UInt32, length: Int) {
        let lead = UInt32(self.byte(index))
        func next(_ offset: Int) -> UInt32 { UInt32(self.byte(index + offset) & 0x3F) }
        switch lead {
        case 0..<0x80: return (lead, 1)
        case 0xC0..<0xE0: return ((lead & 0x1F) << 6 | next(1), 2)
        case 0xE0..<0xF0: return ((lead & 0x0F) << 12 | next(1) << 6 | next(2), 3)
        default: return ((lead & 0x07) << 18 | next(1) << 12 | next(2) << 6 | next(3), 4)
        }
    }

    // MARK: - Names

    private static func isNameStart(_ scalar: UInt32) -> Bool {
        switch scalar {
        case 0x41...0x5A, 0x61...0x7A, 0x5F, 0x3A: true
        case 0xC0...0xD6, 0xD8...0xF6, 0xF8...0x2FF, 0x370...0x37D, 0x37F...0x1FFF, 0x200C...0x200D, 0x2070...0x218F,
            0x2C00...0x2FEF, 0x3001...0xD7FF, 0xF900...0xFDCF, 0xFDF0...0xFFFD, 0x10000...0xEFFFF:
            true
        default: false
        }
    }

    private static func isNameCharacter(_ scalar: UInt32) -> Bool {
        switch scalar {
        case 0x2D, 0x2E, 0x30...0x39, 0xB7, 0x300...0x36F, 0x203F...0x2040: true
        default: self.isNameStart(scalar)
        }
    }

    /// Reads an XML `Name` and returns its byte range.
    private mutating func readName(_ what: String) throws(Failure) -> Range<Int> {
        let start = self.position
        let first = self.scalar(at: self.position)
        guard Self.isNameStart(first.value) else { throw self.failure("expected \(what)") }
        self.position += first.length
        while true {
            let next = self.scalar(at: self.position)
            guard self.position < self.bytes.count, Self.isNameCharacter(next.value) else { break }
            self.position += next.length
        }
        return start..<self.position
    }

    private func string(_ range: Range<Int>) -> String {
        String(decoding: self.bytes[range], as: UTF8.self)
    }

    /// Splits a qualified name into prefix and local part; Namespaces in XML allow at most one colon, inside the name.
    private func qualifiedName(_ range: Range<Int>) throws(Failure) -> (prefix: String, local: String) {
        var colon: Int?
        var colons = 0
        for index in range where self.bytes[index] == UInt8(ascii: ":") {
            colon = colon ?? index
            colons += 1
        }
        switch (colons, colon) {
        case (0, _): return ("", self.string(range))
        case (1, let colon?) where colon > range.lowerBound && colon < range.upperBound - 1:
            let local = self.scalar(at: colon + 1)
            guard Self.isNameStart(local.value) else { break }
            return (self.string(range.lowerBound..<colon), self.string(colon + 1..<range.upperBound))
        default: break
        }
        throw self.failure("\"\(self.string(range))\" is not a qualified name", at: range.lowerBound)
    }

    // MARK: - Prolog and misc

    private mutating func readDeclaration() throws(Failure) {
        self.position += 5
        var seen: [String] = []
        while true {
            let spaced = self.skipSpace()
            if self.skip("?>") { break }
            guard spaced else { throw self.failure("malformed XML declaration") }
            let name = self.string(try self.readName("a pseudo-attribute"))
            self.skipSpace()
            guard self.skip("=") else { throw self.failure("expected = in the XML declaration") }
            self.skipSpace()
            let quote = self.byte(self.position)
            guard quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") else { throw self.failure("expected a quoted value") }
            let start = self.position + 1
            var end = start
            while end < self.bytes.count, self.bytes[end] != quote { end += 1 }
            guard end < self.bytes.count else { throw self.failure("unterminated XML declaration") }
            let value = self.string(start..<end)
            self.position = end + 1
            // version, then optionally encoding, then optionally standalone; each once.
            let order = ["version", "encoding", "standalone"]
            guard let rank = order.firstIndex(of: name), seen.isEmpty ? rank == 0 : rank > (order.firstIndex(of: seen[seen.count - 1]) ?? 0) else {
                throw self.failure(seen.isEmpty ? "the XML declaration must start with its version" : "unexpected \(name) in the XML declaration")
            }
            seen.append(name)
            switch name {
            case "version":
                guard value.hasPrefix("1."), value.count > 2, value.utf8.dropFirst(2).allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                    throw self.failure("XML version \(value) is not supported")
                }
            case "encoding":
                guard ["utf-8", "utf8", "us-ascii"].contains(value.lowercased()) else {
                    throw self.failure("encoding \(value) is not accepted; XML must be UTF-8")
                }
            case "standalone":
                guard value == "yes" || value == "no" else { throw self.failure("standalone must be yes or no") }
            default:
                throw self.failure("unexpected \(name) in the XML declaration")
            }
        }
        guard seen.first == "version" else { throw self.failure("the XML declaration has no version") }
    }

    /// Comments, processing instructions and white space, before or after the root element.
    private mutating func readMisc() throws(Failure) {
        while true {
            self.skipSpace()
            if self.looking(at: "<!--") {
                try self.readComment()
            } else if self.looking(at: "<?") {
                try self.readProcessingInstruction()
            } else if self.looking(at: "<!") {
                if self.isDoctype() {
                    throw self.failure("XML documents with a DOCTYPE (DTDs, entities) are not accepted")
                }
                throw self.failure("unexpected markup declaration")
            } else {
                return
            }
        }
    }

    private func isDoctype() -> Bool {
        let doctype = Array("<!DOCTYPE".utf8)
        guard self.position <= self.bytes.count - doctype.count else { return false }
        return doctype.indices.allSatisfy { self.bytes[self.position + $0] & 0xDF == doctype[$0] & 0xDF }
    }

    private mutating func readComment() throws(Failure) {
        let start = self.position
        self.position += 4
        while self.position < self.bytes.count {
            if self.bytes[self.position] == UInt8(ascii: "-"), self.byte(self.position + 1) == UInt8(ascii: "-") {
                guard self.byte(self.position + 2) == UInt8(ascii: ">") else { throw self.failure("\"--\" inside a comment") }
                self.position += 3
                return
            }
            self.position += 1
        }
        throw self.failure("unterminated comment", at: start)
    }

    private mutating func readProcessingInstruction() throws(Failure) {
        let start = self.position
        self.position += 2
        let target = try self.readName("a processing instruction target")
        let name = self.string(target)
        if name.lowercased() == "xml" { throw self.failure("an XML declaration is allowed only at the very start", at: start) }
        if name.contains(":") { throw self.failure("a processing instruction target cannot contain a colon", at: start) }
        if self.skip("?>") { return }
        guard self.skipSpace() else { throw self.failure("expected space after the processing instruction target") }
        while self.position < self.bytes.count {
            if self.skip("?>") { return }
            self.position += 1
        }
        throw self.failure("unterminated processing instruction", at: start)
    }

    // MARK: - Elements

    private mutating func readRootElement() throws(Failure) -> XMLElementNode {
        if let empty = try self.readStartTag() { return empty }
        while true {
            guard self.position < self.bytes.count, let innermost = self.open.last else {
                let name = self.open.last.map { self.string($0.name) } ?? ""
                throw self.failure("<\(name)> is not closed")
            }
            if self.byte(self.position) == UInt8(ascii: "<") {
                if self.looking(at: "</") {
                    self.position += 2
                    let name = try self.readName("an element name")
                    guard self.bytes[name] == self.bytes[innermost.name] else {
                        throw self.failure("</\(self.string(name))> does not close <\(self.string(innermost.name))>", at: name.lowerBound)
                    }
                    self.skipSpace()
                    guard self.skip(">") else { throw self.failure("expected > to end </\(self.string(name))>") }
                    if let root = self.closeElement() { return root }
                } else if self.looking(at: "<!--") {
                    try self.readComment()
                } else if self.looking(at: "<![CDATA[") {
                    try self.readCDATA()
                } else if self.looking(at: "<?") {
                    try self.readProcessingInstruction()
                } else if self.looking(at: "<!") {
                    throw self.failure(self.isDoctype() ? "a DOCTYPE is not allowed here" : "unexpected markup declaration")
                } else if let empty = try self.readStartTag() {
                    self.appendChild(empty)
                }
            } else {
                try self.readCharacterData()
            }
        }
    }

    /// Reads a start tag. Returns the element when it was empty (`<a/>`); otherwise it is left open.
    private mutating func readStartTag() throws(Failure) -> XMLElementNode? {
        let tagStart = self.position
        self.position += 1
        let name = try self.readName("an element name")
        self.elements += 1
        guard self.elements <= self.maxElements else {
            throw Failure(description: "the XML document has more than \(self.maxElements) elements", isTooLarge: true)
        }
        guard self.open.count < self.maxDepth else {
            throw Failure(description: "XML nesting is deeper than \(self.maxDepth) levels", isTooLarge: false)
        }

        var attributes: [(name: Range<Int>, value: String)] = []
        var isEmpty = false
        while true {
            let spaced = self.skipSpace()
            if self.skip(">") { break }
            if self.skip("/>") {
                isEmpty = true
                break
            }
            guard spaced else { throw self.failure("expected space, > or /> in the tag of <\(self.string(name))>") }
            let attribute = try self.readName("an attribute name")
            self.skipSpace()
            guard self.skip("=") else { throw self.failure("expected = after attribute \(self.string(attribute))") }
            self.skipSpace()
            attributes.append((attribute, try self.readAttributeValue()))
            guard attributes.count <= self.maxAttributes else {
                throw self.failure("<\(self.string(name))> has more than \(self.maxAttributes) attributes", at: tagStart)
            }
        }

        // Well-formedness: no attribute written twice.
        if attributes.count > 1 {
            var written = Set<ArraySlice<UInt8>>()
            for attribute in attributes where !written.insert(self.bytes[attribute.name]).inserted {
                throw self.failure("attribute \(self.string(attribute.name)) is given twice", at: attribute.name.lowerBound)
            }
        }

        // Namespace declarations first: they apply to this element's own name and attributes.
        var declared: [String] = []
        var plain: [(prefix: String, local: String, qualified: String, value: String)] = []
        for attribute in attributes {
            let qualified = self.string(attribute.name)
            let (prefix, local) = try self.qualifiedName(attribute.name)
            if prefix.isEmpty && local == "xmlns" {
                guard attribute.value != Self.xmlNamespace && attribute.value != Self.xmlnsNamespace else {
                    throw self.failure("the default namespace cannot be \(attribute.value)", at: attribute.name.lowerBound)
                }
                declared.append("")
                self.bindings["", default: []].append(attribute.value)
            } else if prefix == "xmlns" {
                try self.checkBinding(local, to: attribute.value, at: attribute.name.lowerBound)
                declared.append(local)
                self.bindings[local, default: []].append(attribute.value)
            } else {
                plain.append((prefix, local, qualified, attribute.value))
            }
        }

        let (prefix, local) = try self.qualifiedName(name)
        guard let namespace = self.namespace(of: prefix) else {
            throw self.failure("the prefix of <\(self.string(name))> is not bound to a namespace", at: name.lowerBound)
        }
        var values: [String: String] = [:]
        values.reserveCapacity(plain.count)
        var expanded = Set<String>()
        for attribute in plain {
            if !attribute.prefix.isEmpty {
                guard let uri = self.namespace(of: attribute.prefix) else {
                    throw self.failure("the prefix of attribute \(attribute.qualified) is not bound to a namespace", at: tagStart)
                }
                guard expanded.insert(uri + " " + attribute.local).inserted else {
                    throw self.failure("attribute {\(uri)}\(attribute.local) is given twice", at: tagStart)
                }
            }
            values[attribute.qualified] = attribute.value
        }

        let node = XMLElementNode(namespace: namespace, name: local, attributes: values, children: [], text: "")
        if isEmpty {
            self.release(declared)
            return node
        }
        self.open.append((node, name, declared))
        return nil
    }

    /// Namespaces in XML 1.0, section 3: `xmlns` is never declared, `xml` only to its own name, and no prefix to "".
    private func checkBinding(_ prefix: String, to uri: String, at index: Int) throws(Failure) {
        if prefix == "xmlns" { throw self.failure("the prefix xmlns cannot be declared", at: index) }
        if prefix == "xml" {
            guard uri == Self.xmlNamespace else { throw self.failure("the prefix xml cannot be bound to \(uri)", at: index) }
            return
        }
        if uri == Self.xmlNamespace || uri == Self.xmlnsNamespace {
            throw self.failure("the prefix \(prefix) cannot be bound to \(uri)", at: index)
        }
        if uri.isEmpty { throw self.failure("namespace prefix \"\(prefix)\" is bound to an empty URI", at: index) }
    }

    /// The namespace a prefix stands for here: `""` for an unprefixed name outside any default namespace, `nil` when unbound.
    private func namespace(of prefix: String) -> String? {
        if let uri = self.bindings[prefix]?.last { return uri }
        return prefix.isEmpty ? "" : nil
    }

    private mutating func release(_ declared: [String]) {
        for prefix in declared { self.bindings[prefix]?.removeLast() }
    }

    /// Closes the innermost element; returns it when it was the root.
    private mutating func closeElement() -> XMLElementNode? {
        guard let closed = self.open.popLast() else { return nil }
        self.release(closed.declared)
        if self.open.isEmpty { return closed.node }
        self.appendChild(closed.node)
        return nil
    }

    private mutating func appendChild(_ node: XMLElementNode) {
        guard !self.open.isEmpty else { return }
        self.open[self.open.count - 1].node.children.append(node)
    }

    private mutating func appendText(_ text: String) {
        guard !self.open.isEmpty, !text.isEmpty else { return }
        self.open[self.open.count - 1].node.text += text
    }

    // MARK: - Character data and references

    private mutating func readAttributeValue() throws(Failure) -> String {
        let quote = self.byte(self.position)
        guard quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") else { throw self.failure("expected a quoted attribute value") }
        self.position += 1
        // Most values hold no reference and no white space to normalize: taken as one slice.
        var end = self.position
        while end < self.bytes.count, self.bytes[end] != quote, self.bytes[end] >= 0x20, self.bytes[end] != UInt8(ascii: "&"),
            self.bytes[end] != UInt8(ascii: "<")
        {
            end += 1
        }
        if end < self.bytes.count, self.bytes[end] == quote {
            let value = self.string(self.position..<end)
            self.position = end + 1
            return value
        }
        var value = Array(self.bytes[self.position..<end])
        self.position = end
        while true {
            guard self.position < self.bytes.count else { throw self.failure("unterminated attribute value") }
            let byte = self.bytes[self.position]
            switch byte {
            case quote:
                self.position += 1
                return String(decoding: value, as: UTF8.self)
            case UInt8(ascii: "<"):
                throw self.failure("< is not allowed in an attribute value")
            case UInt8(ascii: "&"):
                try self.readReference(into: &value)
            case 0x0D:
                // Attribute-value normalization: a line end, like any white space, becomes one space.
                value.append(0x20)
                self.position += self.byte(self.position + 1) == 0x0A ? 2 : 1
            case 0x09, 0x0A:
                value.append(0x20)
                self.position += 1
            default:
                value.append(byte)
                self.position += 1
            }
        }
    }

    private mutating func readCharacterData() throws(Failure) {
        // Most text holds no markup, reference or CR: taken as one slice.
        let start = self.position
        var end = start
        while end < self.bytes.count, !Self.endsPlainText(self.bytes[end]) { end += 1 }
        if end >= self.bytes.count || self.bytes[end] == UInt8(ascii: "<") {
            self.position = end
            self.appendText(self.string(start..<end))
            return
        }
        var text = Array(self.bytes[start..<end])
        self.position = end
        while self.position < self.bytes.count {
            let byte = self.bytes[self.position]
            switch byte {
            case UInt8(ascii: "<"):
                self.appendText(String(decoding: text, as: UTF8.self))
                return
            case UInt8(ascii: "&"):
                try self.readReference(into: &text)
            case UInt8(ascii: "]") where self.byte(self.position + 1) == UInt8(ascii: "]") && self.byte(self.position + 2) == UInt8(ascii: ">"):
                throw self.failure("]]> is not allowed in character data")
            case 0x0D:
                // End-of-line handling: CR LF and a lone CR both become LF.
                text.append(0x0A)
                self.position += self.byte(self.position + 1) == 0x0A ? 2 : 1
            default:
                text.append(byte)
                self.position += 1
            }
        }
        self.appendText(String(decoding: text, as: UTF8.self))
    }

    /// The bytes at which plain character data ends or needs more than copying.
    private static func endsPlainText(_ byte: UInt8) -> Bool {
        byte == UInt8(ascii: "<") || byte == UInt8(ascii: "&") || byte == UInt8(ascii: "]") || byte == 0x0D
    }

    private mutating func readCDATA() throws(Failure) {
        let start = self.position
        self.position += 9
        var text: [UInt8] = []
        while self.position < self.bytes.count {
            if self.skip("]]>") {
                self.appendText(String(decoding: text, as: UTF8.self))
                return
            }
            let byte = self.bytes[self.position]
            if byte == 0x0D {
                text.append(0x0A)
                self.position += self.byte(self.position + 1) == 0x0A ? 2 : 1
            } else {
                text.append(byte)
                self.position += 1
            }
        }
        throw self.failure("unterminated CDATA section", at: start)
    }

    /// Reads `&name;` or `&#…;` at the current position and appends what it stands for.
    private mutating func readReference(into out: inout [UInt8]) throws(Failure) {
        let start = self.position
        self.position += 1
        if self.skip("#") {
            let isHex = self.skip("x")
            var value: UInt32 = 0
            var digits = 0
            while true {
                let byte = self.byte(self.position)
                let digit: UInt32
                switch byte {
                case 0x30...0x39: digit = UInt32(byte - 0x30)
                case 0x61...0x66 where isHex: digit = UInt32(byte - 0x61 + 10)
                case 0x41...0x46 where isHex: digit = UInt32(byte - 0x41 + 10)
                default: digit = .max
                }
                guard digit != .max else { break }
                // Past the last scalar the value stops growing: it is refused below, and cannot overflow.
                if value <= 0x10FFFF { value = value * (isHex ? 16 : 10) + digit }
                digits += 1
                self.position += 1
            }
            guard digits > 0, self.skip(";") else { throw self.failure("malformed character reference", at: start) }
            guard Self.isCharacter(value), let scalar = Unicode.Scalar(value) else {
                throw self.failure("character reference &#\(isHex ? "x" : "")…; is not an XML character", at: start)
            }
            out.append(contentsOf: String(Character(scalar)).utf8)
            return
        }
        let name = try self.readName("an entity name after &")
        guard self.skip(";") else { throw self.failure("expected ; after &\(self.string(name))", at: start) }
        switch self.string(name) {
        case "lt": out.append(UInt8(ascii: "<"))
        case "gt": out.append(UInt8(ascii: ">"))
        case "amp": out.append(UInt8(ascii: "&"))
        case "apos": out.append(UInt8(ascii: "'"))
        case "quot": out.append(UInt8(ascii: "\""))
        case let other: throw self.failure("entity &\(other); is not declared; only the five predefined entities are", at: start)
        }
    }

    private static func isCharacter(_ value: UInt32) -> Bool {
        switch value {
        case 0x09, 0x0A, 0x0D, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: true
        default: false
        }
    }

    // MARK: - Failures

    private func failure(_ reason: String) -> Failure {
        self.failure(reason, at: self.position)
    }

    /// A failure that says where: line and column (in characters) of byte `index`.
    private func failure(_ reason: String, at index: Int) -> Failure {
        let end = max(0, min(index, self.bytes.count))
        var line = 1
        var lineStart = 0
        for offset in 0..<end where self.bytes[offset] == 0x0A {
            line += 1
            lineStart = offset + 1
        }
        let column = 1 + self.bytes[lineStart..<end].reduce(0) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) }
        return Failure(description: "malformed XML at line \(line), column \(column): \(reason)", isTooLarge: false)
    }

    private static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, 4 - digits.count)) + digits
    }
}
