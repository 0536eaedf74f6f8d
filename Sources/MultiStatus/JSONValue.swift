/// A JSON value: identifiers and endpoint-specific fields of an item result.
///
/// ```swift
/// let id: JSONValue = 42
/// let name: JSONValue = "file1.txt"
/// let row = JSONValue.raw(#"{"id":1,"name":"Ann"}"#)  // written as it is
/// ```
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])
    /// One JSON value already in text form, written as it is: a value a trusted producer encoded
    /// (a row a database folded into JSON), passed on without being parsed and written again.
    /// The text is not checked, so it must be one valid JSON value; it equals only the same text,
    /// never the parsed value it stands for.
    case raw(String)

    /// The string, when this is a string.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The integer, when this is an integer.
    public var intValue: Int? {
        if case .int(let value) = self { return value }
        return nil
    }

    /// The members of an object; empty for anything else.
    public var objectMembers: [String: JSONValue] {
        if case .object(let members) = self { return members }
        return [:]
    }

    /// The text a person reads for this value: strings unquoted, everything else as JSON.
    public var displayText: String {
        if case .string(let value) = self { return value }
        return self.jsonText
    }

    /// This value as compact JSON text.
    public var jsonText: String {
        var out = ""
        self.writeJSON(into: &out)
        return out
    }

    /// Appends the compact JSON form of this value; object keys are sorted so output is deterministic.
    public func writeJSON(into out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .int(let value): out += String(value)
        case .double(let value): out += value.isFinite ? "\(value)" : "null"
        case .string(let value): JSONValue.writeString(value, into: &out)
        case .raw(let text): out += text
        case .array(let values):
            out += "["
            for (index, value) in values.enumerated() {
                if index > 0 { out += "," }
                value.writeJSON(into: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { out += "," }
                JSONValue.writeString(key, into: &out)
                out += ":"
                members[key]!.writeJSON(into: &out)
            }
            out += "}"
        }
    }

    /// Appends `string` as a JSON string literal (RFC 8259 escaping; U+2028 and U+2029 escaped too,
    /// so the text is also valid JavaScript).
    public static func writeString(_ string: String, into out: inout String) {
        out += "\""
        appendEscaping(string, into: &out, mayReplace: { $0 < 0x23 || $0 == 0x5C || $0 == 0xE2 }) { bytes, index in
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""): return ("\\\"", 1)
            case UInt8(ascii: "\\"): return ("\\\\", 1)
            case UInt8(ascii: "\n"): return ("\\n", 1)
            case UInt8(ascii: "\r"): return ("\\r", 1)
            case UInt8(ascii: "\t"): return ("\\t", 1)
            case 0..<0x20: return ("\\u00" + (byte < 0x10 ? "0" : "") + String(byte, radix: 16), 1)
            // U+2028 and U+2029 are E2 80 A8 and E2 80 A9.
            case 0xE2:
                switch bytes.thirdByte(at: index, ifSecondIs: 0x80) {
                case 0xA8: return ("\\u2028", 3)
                case 0xA9: return ("\\u2029", 3)
                default: return nil
                }
            default: return nil
            }
        }
        out += "\""
    }
}

extension JSONValue: Codable {
    /// Decodes any JSON value. The attempts are ordered by how common each type is in request
    /// bodies (strings, integers, objects), since every failed attempt costs a thrown error.
    public init(from decoder: any Decoder) throws {
        if let container = try? decoder.singleValueContainer() {
            if container.decodeNil() {
                self = .null
                return
            }
            if let value = try? container.decode(String.self) {
                self = .string(value)
                return
            }
            if let value = try? container.decode(Int.self) {
                self = .int(value)
                return
            }
        }
        if let object = try? decoder.container(keyedBy: AnyCodingKey.self) {
            var members: [String: JSONValue] = [:]
            members.reserveCapacity(object.allKeys.count)
            for key in object.allKeys { members[key.stringValue] = try object.decode(JSONValue.self, forKey: key) }
            self = .object(members)
            return
        }
        if var array = try? decoder.unkeyedContainer() {
            var elements: [JSONValue] = []
            elements.reserveCapacity(array.count ?? 0)
            while !array.isAtEnd { elements.append(try array.decode(JSONValue.self)) }
            self = .array(elements)
            return
        }
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else {
            self = .double(try container.decode(Double.self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        case .raw(let text):
            // Parsed to be written by the encoder in its own form; text that is not JSON is an encoding error.
            do {
                try container.encode(try JSONValue.parse(text.utf8))
            } catch {
                throw EncodingError.invalidValue(text, .init(codingPath: encoder.codingPath, debugDescription: "raw JSON text is not valid JSON"))
            }
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByFloatLiteral, ExpressibleByNilLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(nilLiteral: ()) { self = .null }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}

/// A coding key for any member name.
private struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
