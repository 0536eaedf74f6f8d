import NIOCore

/// Refuses, before multipart-kit sees them, bytes that make its parser trap.
///
/// multipart-kit 4.7 looks each byte of a part's header name up in a 128-entry table, so one
/// byte of 0x80 or more in a header name (`Conten\u{96}-Disposition`) ends the process. This guard
/// follows the body's structure (delimiter lines, then header lines up to the empty line) and
/// refuses such a name, which is malformed anyway: header names are ASCII tokens. Header values
/// and part bodies may hold any byte. It errs on the strict side of the parser: the first
/// boundary is found anywhere in the preamble, and lines after a closing delimiter are checked too.
///
/// It also holds each part's header block to a number of fields and bytes, which multipart-kit
/// would otherwise gather in memory without end.
struct MultipartHeaderGuard {
    /// Why a body is refused.
    enum Refusal: Error, Equatable {
        case nonASCIIName
        case tooManyFields
        case tooManyBytes
    }

    private enum State {
        /// Before the first delimiter, matching `--boundary` anywhere, as multipart-kit does.
        case preamble(matched: Int)
        /// In a part's body, matching the delimiter `CRLF--boundary`.
        case body(matched: Int)
        /// After a delimiter, up to the end of its line.
        case delimiterLine
        /// In a header name (`count` bytes of it so far), or at the start of a line; `cr` after a CR.
        case headerName(count: Int, cr: Bool)
        /// In a header value, up to its CR LF; `cr` after a CR.
        case headerValue(cr: Bool)
    }

    private let delimiter: Pattern
    private var state: State = .preamble(matched: 0)
    private let maxFields: Int
    private let maxBytes: Int
    /// Header lines and bytes of the current part so far.
    private var fields = 0
    private var bytes = 0

    /// - Parameters:
    ///   - maxFields: most header fields one part may have.
    ///   - maxBytes: most bytes of one part's header lines, line ends included.
    init(boundary: String, maxFields: Int = 16, maxBytes: Int = 8 << 10) {
        self.delimiter = Pattern(Array("\r\n--\(boundary)".utf8))
        self.maxFields = maxFields
        self.maxBytes = maxBytes
    }

    /// multipart-kit's own matcher for the first delimiter, step for step, over `CRLF--boundary`
    /// (a leading `-` skips the CRLF). After a partial match it does not look at the byte that broke
    /// it again, so it can pass over a delimiter and take a later one; the guard must read headers
    /// where the parser does (the fuzzer found a body whose headers only the parser saw).
    private func firstDelimiterAdvance(_ matched: Int, _ byte: UInt8) -> Int {
        let bytes = self.delimiter.bytes
        if matched == 0 && byte == bytes[2] { return 3 }
        if byte == bytes[matched] { return matched + 1 }
        if matched > 0 && byte == bytes[0] { return 1 }
        return 0
    }

    /// Bytes to find in a stream, with their KMP failure function so that no match is missed after a partial one.
    private struct Pattern {
        let bytes: [UInt8]
        let fallback: [Int]

        init(_ bytes: [UInt8]) {
            self.bytes = bytes
            var fallback = [Int](repeating: 0, count: bytes.count)
            var length = 0
            var index = 1
            while index < bytes.count {
                if bytes[index] == bytes[length] {
                    length += 1
                    fallback[index] = length
                    index += 1
                } else if length > 0 {
                    length = fallback[length - 1]
                } else {
                    index += 1
                }
            }
            self.fallback = fallback
        }

        /// How much of the pattern is matched after `byte`, given `matched` before it.
        func advance(_ matched: Int, _ byte: UInt8) -> Int {
            var matched = matched
            while matched > 0 && self.bytes[matched] != byte { matched = self.fallback[matched - 1] }
            return self.bytes[matched] == byte ? matched + 1 : 0
        }
    }

    /// Checks the next bytes of the body.
    /// - Returns: why the body is refused, or `nil` while it is not.
    mutating func check(_ buffer: ByteBuffer) -> Refusal? {
        let bytes = buffer.readableBytesView
        var index = bytes.startIndex
        while index < bytes.endIndex {
            // A part's body is most of an upload, and a delimiter can only start at a CR: skip to the next one.
            if case .body(matched: 0) = self.state {
                guard let cr = bytes[index...].firstIndex(of: 0x0D) else { return nil }
                index = cr
            }
            let byte = bytes[index]
            index += 1
            switch self.state {
            case .preamble(let matched):
                let next = self.firstDelimiterAdvance(matched, byte)
                self.state = next == self.delimiter.bytes.count ? .delimiterLine : .preamble(matched: next)
            case .body(let matched):
                let next = self.delimiter.advance(matched, byte)
                self.state = next == self.delimiter.bytes.count ? .delimiterLine : .body(matched: next)
            case .delimiterLine:
                // Even after a closing `--` the lines that follow are checked as headers: multipart-kit
                // has been seen to parse on past one, and a guard must not be laxer than the parser.
                if byte >= 0x80 { return .nonASCIIName }
                if byte == UInt8(ascii: "\n") {
                    self.state = .headerName(count: 0, cr: false)
                    (self.fields, self.bytes) = (0, 0)
                }
            case .headerName(let count, let cr):
                self.bytes += 1
                if self.bytes > self.maxBytes { return .tooManyBytes }
                // Only CR LF ends a line, as multipart-kit reads it: a bare LF must not end the headers early.
                switch byte {
                case UInt8(ascii: "\n") where cr:
                    if count > 0 {
                        self.fields += 1
                        if self.fields > self.maxFields { return .tooManyFields }
                    }
                    self.state = count == 0 ? .body(matched: 0) : .headerName(count: 0, cr: false)
                case UInt8(ascii: ":"): self.state = .headerValue(cr: false)
                case UInt8(ascii: "\r"): self.state = .headerName(count: count, cr: true)
                case 0x80...: return .nonASCIIName
                default: self.state = .headerName(count: count + 1, cr: false)
                }
            case .headerValue(let cr):
                self.bytes += 1
                if self.bytes > self.maxBytes { return .tooManyBytes }
                if byte == UInt8(ascii: "\n") && cr {
                    self.fields += 1
                    if self.fields > self.maxFields { return .tooManyFields }
                    self.state = .headerName(count: 0, cr: false)
                } else {
                    self.state = .headerValue(cr: byte == UInt8(ascii: "\r"))
                }
            }
        }
        return nil
    }
}
