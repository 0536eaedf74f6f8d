/// Writes bytes into memory reserved beforehand: a new string's storage for short texts made in
/// bulk (dates, ETags), or a ByteBuffer's writable bytes for a listed member's response. One
/// allocation, no intermediate arrays; every append still checks the reserved bound.
struct ByteWriter {
    private let buffer: UnsafeMutableRawBufferPointer
    /// Bytes written so far.
    private(set) var count = 0

    /// A string of at most `capacity` bytes written by `body` (UTF-8).
    static func string(capacity: Int, _ body: (inout ByteWriter) -> Void) -> String {
        String(unsafeUninitializedCapacity: capacity) { buffer in
            var writer = ByteWriter(buffer: UnsafeMutableRawBufferPointer(buffer))
            body(&writer)
            return writer.count
        }
    }

    /// A writer into `buffer`; `count` says how much it wrote.
    init(buffer: UnsafeMutableRawBufferPointer) {
        self.buffer = buffer
    }

    mutating func append(_ text: StaticString) {
        self.append(UnsafeRawBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func append(_ text: String) {
        if let done: Void = text.utf8.withContiguousStorageIfAvailable({ self.append(UnsafeRawBufferPointer($0)) }) { return done }
        for byte in text.utf8 { self.append(byte) }
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        self.reserve(bytes.count)
        guard let source = bytes.baseAddress else { return }
        (self.buffer.baseAddress! + self.count).copyMemory(from: source, byteCount: bytes.count)
        self.count += bytes.count
    }

    mutating func append(_ byte: UInt8) {
        self.reserve(1)
        self.buffer[self.count] = byte
        self.count += 1
    }

    /// `value` in decimal, zero-padded to `digits`.
    mutating func append(_ value: Int, digits: Int) {
        self.reserve(digits)
        var rest = value
        for position in stride(from: self.count + digits - 1, through: self.count, by: -1) {
            self.buffer[position] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
        }
        self.count += digits
    }

    /// `value` (not negative) in decimal, without padding.
    mutating func appendDecimal(_ value: Int) {
        var digits = 1
        var rest = max(0, value)
        while rest >= 10 {
            rest /= 10
            digits += 1
        }
        self.append(max(0, value), digits: digits)
    }

    /// `value` in lowercase hexadecimal, without padding.
    mutating func appendHex(_ value: UInt64) {
        var digits = 1
        while digits < 16 && value >> (4 * UInt64(digits)) != 0 { digits += 1 }
        self.reserve(digits)
        for position in 0..<digits {
            let nibble = UInt8(truncatingIfNeeded: value >> (4 * UInt64(digits - 1 - position))) & 0xF
            self.buffer[self.count + position] = nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
        }
        self.count += digits
    }

    private func reserve(_ more: Int) {
        precondition(self.count + more <= self.buffer.count, "ByteWriter: more bytes than were reserved")
    }
}
