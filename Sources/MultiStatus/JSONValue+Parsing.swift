import Foundation

extension JSONValue {
    /// Parses a JSON document (RFC 8259; any value at the top level). A number with an integral
    /// value (`2.0`) reads as an integer.
    /// - Throws: ``MultiStatusError/malformedBody(_:)`` when the bytes are not JSON.
    public static func parse(_ bytes: some Collection<UInt8>) throws(MultiStatusError) -> JSONValue {
        do {
            return try JSONDecoder().decode(JSONValue.self, from: Data(bytes))
        } catch {
            throw .malformedBody("invalid JSON")
        }
    }
}
