extension JSONValue {
    /// How deeply arrays and objects may nest in a document that ``parse(_:)`` accepts.
    public static let maximumNestingDepth = 512

    /// Parses a JSON document (RFC 8259, strictly: no trailing commas, comments, leading zeros,
    /// unescaped control characters, invalid UTF-8 or lone surrogates; any value at the top level).
    ///
    /// A number without fraction or exponent that fits in `Int` reads as ``int(_:)``, and so does
    /// one whose value is integral and exact in a `Double` (`2.0`, `1e3`), as JSON Schema counts
    /// integers; other numbers read as ``double(_:)``. When a member name repeats, the last wins.
    /// - Throws: ``MultiStatusError/malformedBody(_:)`` naming the byte offset and what was wrong.
    public static func parse(_ bytes: some Collection<UInt8>) throws(MultiStatusError) -> JSONValue {
        let parsed = bytes.withContiguousStorageIfAvailable { JSONParser.parse($0) } ?? Array(bytes).withUnsafeBufferPointer { JSONParser.parse($0) }
        switch parsed {
        case .success(let value): return value
        case .failure(let error): throw .malformedBody("invalid JSON at byte \(error.offset): \(error.reason)")
        }
    }
}

/// Where and why a document is not JSON.
private struct JSONSyntaxError: Error {
    let offset: Int
    let reason: String
}

/// A recursive-descent reader over the document's bytes.
private struct JSONParser {
    private let bytes: UnsafeBufferPointer<UInt8>
    private var index = 0
    private var depth = 0
    /// The member count of the object read last: the items of a batch mostly share one shape, so an
    /// object's storage is made that large at once rather than grown and rehashed member by member.
    private var membersHint = 0

    static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> Result<JSONValue, JSONSyntaxError> {
        var parser = JSONParser(bytes: bytes)
        return Result { () throws(JSONSyntaxError) in try parser.document() }
    }

    private init(bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    private mutating func document() throws(JSONSyntaxError) -> JSONValue {
        // RFC 8259 §8.1: a parser may ignore a byte order mark.
        if self.bytes.starts(with: [0xEF, 0xBB, 0xBF]) { self.index = 3 }
        let value = try self.value()
        self.skipWhitespace()
        guard self.index == self.bytes.count else { throw self.error("unexpected data after the value") }
        return value
    }

    private func error(_ reason: String, at offset: Int? = nil) -> JSONSyntaxError {
        JSONSyntaxError(offset: offset ?? self.index, reason: reason)
    }

    private mutating func skipWhitespace() {
        while self.index < self.bytes.count {
            switch self.bytes[self.index] {
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): self.index += 1
            default: return
            }
        }
    }

    /// The next byte after whitespace, not consumed.
    private mutating func peek(expecting what: @autoclosure () -> String) throws(JSONSyntaxError) -> UInt8 {
        self.skipWhitespace()
        guard self.index < self.bytes.count else { throw self.error("the document ends where \(what()) was expected") }
        return self.bytes[self.index]
    }

    private mutating func value() throws(JSONSyntaxError) -> JSONValue {
        switch try self.peek(expecting: "a value") {
        case UInt8(ascii: "{"): return try self.object()
        case UInt8(ascii: "["): return try self.array()
        case UInt8(ascii: "\""): return .string(try self.string())
        case UInt8(ascii: "t"): return try self.literal("true", .bool(true))
        case UInt8(ascii: "f"): return try self.literal("false", .bool(false))
        case UInt8(ascii: "n"): return try self.literal("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try self.number()
        default: throw self.error("expected a value")
        }
    }

    private mutating func literal(_ word: StaticString, _ value: JSONValue) throws(JSONSyntaxError) -> JSONValue {
        let length = word.utf8CodeUnitCount
        guard self.bytes.count - self.index >= length,
            UnsafeBufferPointer(rebasing: self.bytes[self.index..<self.index + length]).elementsEqual(
                UnsafeBufferPointer(start: word.utf8Start, count: length))
        else { throw self.error("expected a value") }
        self.index += length
        return value
    }

    private mutating func enterContainer() throws(JSONSyntaxError) {
        self.depth += 1
        guard self.depth <= JSONValue.maximumNestingDepth else { throw self.error("nested deeper than \(JSONValue.maximumNestingDepth) levels") }
        self.index += 1
    }

    /// Consumes `closing` and leaves the container when it comes next; otherwise reads nothing.
    private mutating func leaves(at closing: UInt8, expecting what: @autoclosure () -> String) throws(JSONSyntaxError) -> Bool {
        guard try self.peek(expecting: what()) == closing else { return false }
        self.index += 1
        self.depth -= 1
        return true
    }

    /// After a member or element: true when the container ends at `closing`, false after a ','.
    private mutating func endsAfterItem(
        at closing: UInt8,
        expecting what: @autoclosure () -> String,
        otherwise reason: @autoclosure () -> String
    ) throws(JSONSyntaxError) -> Bool {
        if try self.leaves(at: closing, expecting: what()) { return true }
        guard self.bytes[self.index] == UInt8(ascii: ",") else { throw self.error(reason()) }
        self.index += 1
        return false
    }

    private mutating func object() throws(JSONSyntaxError) -> JSONValue {
        try self.enterContainer()
        var members = [String: JSONValue](minimumCapacity: self.membersHint)
        if try self.leaves(at: UInt8(ascii: "}"), expecting: "a member name or '}'") { return .object(members) }
        repeat {
            guard try self.peek(expecting: "a member name") == UInt8(ascii: "\"") else { throw self.error("expected a member name in double quotes") }
            let key = try self.string()
            guard try self.peek(expecting: "':'") == UInt8(ascii: ":") else { throw self.error("expected ':' after a member name") }
            self.index += 1
            members[key] = try self.value()
        } while try !self.endsAfterItem(at: UInt8(ascii: "}"), expecting: "',' or '}'", otherwise: "expected ',' or '}' in an object")
        self.membersHint = members.count
        return .object(members)
    }

    private mutating func array() throws(JSONSyntaxError) -> JSONValue {
        try self.enterContainer()
        var elements: [JSONValue] = []
        if try self.leaves(at: UInt8(ascii: "]"), expecting: "a value or ']'") { return .array(elements) }
        repeat {
            elements.append(try self.value())
        } while try !self.endsAfterItem(at: UInt8(ascii: "]"), expecting: "',' or ']'", otherwise: "expected ',' or ']' in an array")
        return .array(elements)
    }

    /// A string literal, the index on its opening quote. Runs without escapes are taken whole.
    private mutating func string() throws(JSONSyntaxError) -> String {
        let opening = self.index
        self.index += 1
        var start = self.index
        var asciiOnly = true
        var unescaped: [UInt8]? = nil
        while self.index < self.bytes.count {
            let byte = self.bytes[self.index]
            switch byte {
            case UInt8(ascii: "\""):
                let run = UnsafeBufferPointer(rebasing: self.bytes[start..<self.index])
                self.index += 1
                if var text = unescaped {
                    text.append(contentsOf: run)
                    return try self.validated(text, from: opening)
                }
                return asciiOnly ? String(decoding: run, as: UTF8.self) : try self.validated(run, from: opening)
            case UInt8(ascii: "\\"):
                unescaped = unescaped ?? []
                unescaped!.append(contentsOf: UnsafeBufferPointer(rebasing: self.bytes[start..<self.index]))
                try self.escape(into: &unescaped!)
                start = self.index
            case 0..<0x20:
                throw self.error("a control character must be escaped in a string")
            default:
                if byte >= 0x80 { asciiOnly = false }
                self.index += 1
            }
        }
        throw self.error("the string that starts here is not closed", at: opening)
    }

    private func validated(_ utf8: some Sequence<UInt8>, from opening: Int) throws(JSONSyntaxError) -> String {
        guard let text = String(validating: utf8, as: UTF8.self) else {
            throw self.error("the string that starts here is not valid UTF-8", at: opening)
        }
        return text
    }

    /// One escape sequence, the index on its backslash; appends what it stands for as UTF-8.
    private mutating func escape(into out: inout [UInt8]) throws(JSONSyntaxError) {
        guard self.index + 1 < self.bytes.count else { throw self.error("the document ends inside an escape") }
        let letter = self.bytes[self.index + 1]
        self.index += 2
        switch letter {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(letter)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
            let escapeStart = self.index - 2
            var value = try self.hexQuad()
            if (0xD800..<0xDC00).contains(value) {
                guard self.bytes.count - self.index >= 6, self.bytes[self.index] == UInt8(ascii: "\\"),
                    self.bytes[self.index + 1] == UInt8(ascii: "u")
                else {
                    throw self.error("a high surrogate must be followed by a low one", at: escapeStart)
                }
                self.index += 2
                let low = try self.hexQuad()
                guard (0xDC00..<0xE000).contains(low) else { throw self.error("a high surrogate must be followed by a low one", at: escapeStart) }
                value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00..<0xE000).contains(value) {
                throw self.error("a low surrogate without a high one", at: escapeStart)
            }
            out.append(contentsOf: UTF8.encode(Unicode.Scalar(value)!)!)
        default:
            throw self.error("unknown escape '\\\(Unicode.Scalar(letter))'", at: self.index - 2)
        }
    }

    private mutating func hexQuad() throws(JSONSyntaxError) -> UInt32 {
        guard self.bytes.count - self.index >= 4 else { throw self.error("expected four hexadecimal digits") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = self.bytes[self.index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw self.error("expected four hexadecimal digits")
            }
            value = value << 4 | UInt32(digit)
            self.index += 1
        }
        return value
    }

    private mutating func number() throws(JSONSyntaxError) -> JSONValue {
        let start = self.index
        let negative = self.bytes[self.index] == UInt8(ascii: "-")
        if negative { self.index += 1 }
        let integerStart = self.index
        guard self.skipDigits() > 0 else { throw self.error("expected a digit") }
        if self.bytes[integerStart] == UInt8(ascii: "0") && self.index - integerStart > 1 {
            throw self.error("a number may not have leading zeros", at: integerStart)
        }
        var integral = true
        if self.index < self.bytes.count && self.bytes[self.index] == UInt8(ascii: ".") {
            self.index += 1
            guard self.skipDigits() > 0 else { throw self.error("expected a digit after '.'") }
            integral = false
        }
        if self.index < self.bytes.count && (self.bytes[self.index] | 0x20) == UInt8(ascii: "e") {
            self.index += 1
            if self.index < self.bytes.count && (self.bytes[self.index] == UInt8(ascii: "+") || self.bytes[self.index] == UInt8(ascii: "-")) {
                self.index += 1
            }
            guard self.skipDigits() > 0 else { throw self.error("expected a digit in the exponent") }
            integral = false
        }
        // Up to 18 digits always fit in an Int.
        if integral && self.index - integerStart <= 18 {
            var value = 0
            for byte in self.bytes[integerStart..<self.index] { value = value &* 10 &+ Int(byte &- UInt8(ascii: "0")) }
            return .int(negative ? -value : value)
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: self.bytes[start..<self.index]), as: UTF8.self)
        if integral, let value = Int(text) { return .int(value) }
        guard let value = Double(text), value.isFinite else { throw self.error("the number is out of range", at: start) }
        if value == value.rounded(.towardZero) && value.magnitude <= 9_007_199_254_740_992 { return .int(Int(value)) }
        return .double(value)
    }

    /// Skips decimal digits; how many there were.
    private mutating func skipDigits() -> Int {
        let start = self.index
        while self.index < self.bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self.bytes[self.index]) { self.index += 1 }
        return self.index - start
    }
}

/// A JSON array of objects read against a fixed list of member names, as a batch of table rows
/// is: each object's values come back in the order of the names, without a dictionary of its
/// members, and member names are matched by their bytes. The document is read as strictly as
/// ``JSONValue/parse(_:)``, and the values are the same.
///
/// ```swift
/// let names = JSONRecords.Names(["id", "name"])
/// let rows = try JSONRecords.parse(Array(#"[{"name": "Ann", "id": 1}]"#.utf8), names: names)
/// // rows == [.object([1, "Ann"], unknown: [])]
/// ```
public enum JSONRecords {
    /// The member names records are read against, prepared once.
    public struct Names: Sendable {
        /// The names, in the order of a record's values.
        public let names: [String]
        fileprivate let bytes: [[UInt8]]
        fileprivate let positions: [String: Int]

        public init(_ names: [String]) {
            self.names = names
            self.bytes = names.map { Array($0.utf8) }
            self.positions = Dictionary(names.enumerated().map { ($1, $0) }, uniquingKeysWith: { _, last in last })
        }
    }

    /// One element of the array.
    public enum Element: Sendable, Equatable {
        /// An object: the value of each name (`nil` where the object does not give it; the last
        /// one where it gives it twice), and the names it gives that are not among them, each once,
        /// in the order they come.
        case object([JSONValue?], unknown: [String])
        /// Anything but an object, as it is.
        case other(JSONValue)
    }

    /// Reads `bytes` as a JSON array of records.
    /// - Returns: the elements; `nil` when the document is JSON but not an array.
    /// - Throws: ``MultiStatusError/malformedBody(_:)`` naming the byte offset and what was wrong.
    public static func parse(_ bytes: some Collection<UInt8>, names: Names) throws(MultiStatusError) -> [Element]? {
        let parsed =
            bytes.withContiguousStorageIfAvailable { JSONParser.records($0, names: names) }
            ?? Array(bytes).withUnsafeBufferPointer { JSONParser.records($0, names: names) }
        switch parsed {
        case .success(let elements): return elements
        case .failure(let error): throw .malformedBody("invalid JSON at byte \(error.offset): \(error.reason)")
        }
    }
}

extension JSONParser {
    static func records(_ bytes: UnsafeBufferPointer<UInt8>, names: JSONRecords.Names) -> Result<[JSONRecords.Element]?, JSONSyntaxError> {
        var parser = JSONParser(bytes: bytes)
        return Result { () throws(JSONSyntaxError) in try parser.records(names) }
    }

    private mutating func records(_ names: JSONRecords.Names) throws(JSONSyntaxError) -> [JSONRecords.Element]? {
        if self.bytes.starts(with: [0xEF, 0xBB, 0xBF]) { self.index = 3 }
        guard try self.peek(expecting: "a value") == UInt8(ascii: "[") else {
            _ = try self.document()
            return nil
        }
        try self.enterContainer()
        var elements: [JSONRecords.Element] = []
        if try !self.leaves(at: UInt8(ascii: "]"), expecting: "a value or ']'") {
            repeat {
                if try self.peek(expecting: "a value") == UInt8(ascii: "{") {
                    elements.append(try self.record(names))
                } else {
                    elements.append(.other(try self.value()))
                }
            } while try !self.endsAfterItem(at: UInt8(ascii: "]"), expecting: "',' or ']'", otherwise: "expected ',' or ']' in an array")
        }
        self.skipWhitespace()
        guard self.index == self.bytes.count else { throw self.error("unexpected data after the value") }
        return elements
    }

    /// An object read against `names`, the index on its opening brace.
    private mutating func record(_ names: JSONRecords.Names) throws(JSONSyntaxError) -> JSONRecords.Element {
        try self.enterContainer()
        var values = [JSONValue?](repeating: nil, count: names.names.count)
        var unknown: [String] = []
        if try self.leaves(at: UInt8(ascii: "}"), expecting: "a member name or '}'") { return .object(values, unknown: unknown) }
        repeat {
            guard try self.peek(expecting: "a member name") == UInt8(ascii: "\"") else { throw self.error("expected a member name in double quotes") }
            let position = try self.memberPosition(names)
            guard try self.peek(expecting: "':'") == UInt8(ascii: ":") else { throw self.error("expected ':' after a member name") }
            self.index += 1
            let value = try self.value()
            switch position {
            case .known(let position): values[position] = value
            case .unknown(let name): if !unknown.contains(name) { unknown.append(name) }
            }
        } while try !self.endsAfterItem(at: UInt8(ascii: "}"), expecting: "',' or '}'", otherwise: "expected ',' or '}' in an object")
        return .object(values, unknown: unknown)
    }

    private enum MemberPosition {
        case known(Int)
        case unknown(String)
    }

    /// A member name, the index on its opening quote: which of `names` it is. A plain ASCII name
    /// is compared byte by byte where it lies; any other is read as ``string()`` reads it.
    private mutating func memberPosition(_ names: JSONRecords.Names) throws(JSONSyntaxError) -> MemberPosition {
        let opening = self.index
        var end = opening + 1
        while end < self.bytes.count, case let byte = self.bytes[end], byte >= 0x20, byte < 0x80, byte != UInt8(ascii: "\""),
            byte != UInt8(ascii: "\\")
        {
            end += 1
        }
        if end < self.bytes.count, self.bytes[end] == UInt8(ascii: "\"") {
            let name = UnsafeBufferPointer(rebasing: self.bytes[(opening + 1)..<end])
            self.index = end + 1
            for (position, candidate) in names.bytes.enumerated() where candidate.count == name.count && candidate.elementsEqual(name) {
                return .known(position)
            }
            return .unknown(String(decoding: name, as: UTF8.self))
        }
        let name = try self.string()
        return names.positions[name].map(MemberPosition.known) ?? .unknown(name)
    }
}
