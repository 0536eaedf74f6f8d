import Foundation

extension JSONValue {
    /// Parses a JSON document (RFC 8259; any value at the top level).
    ///
    /// Uses Foundation's `JSONSerialization`, which is several times faster than decoding
    /// `JSONValue` through `Codable` on large batches. Like it, it accepts a trailing comma in arrays.
    /// - Throws: ``MultiStatusError/malformedBody(_:)`` when the bytes are not JSON.
    public static func parse(_ bytes: some Collection<UInt8>) throws(MultiStatusError) -> JSONValue {
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
        } catch {
            throw .malformedBody("invalid JSON")
        }
        return JSONValue(foundationObject: object)
    }

    private init(foundationObject object: Any) {
        switch object {
        case let string as String:
            self = .string(string)
        case let number as NSNumber:
            // Foundation marks booleans with the `c` (char) type and floating point numbers with `d`/`f`.
            switch UInt8(bitPattern: number.objCType.pointee) {
            case UInt8(ascii: "c"): self = .bool(number.boolValue)
            case UInt8(ascii: "d"), UInt8(ascii: "f"): self = .double(number.doubleValue)
            default: self = .int(number.intValue)
            }
        case let array as [Any]:
            self = .array(array.map(JSONValue.init(foundationObject:)))
        case let dictionary as [String: Any]:
            self = .object(dictionary.mapValues(JSONValue.init(foundationObject:)))
        default:
            self = .null
        }
    }
}
