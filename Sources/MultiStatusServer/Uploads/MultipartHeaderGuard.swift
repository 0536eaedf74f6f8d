import NIOCore

/// Refuses, before multipart-kit sees them, bytes that make its parser trap.
///
/// multipart-kit 4.7 looks each byte of a part's header name up in a 128-entry table, so one
/// byte of 0x80 or more in a header name (`Conten\u{96}-Disposition`) ends the process. This guard
/// follows the body's structure (delimiter lines, then header lines up to the empty line) and
/// refuses such a name, which is malformed anyway: header names are ASCII tokens. Header values
/// and part bodies may hold any byte.
struct MultipartHeaderGuard {
    private enum State {
        /// In the preamble or a part's body, matching the delimiter `CRLF--boundary`.
        case body(matched: Int)
        /// After a delimiter: `--` closes the body, anything else runs to the end of the line.
        case delimiterLine(dashes: Int)
        /// In a header name (`count` bytes of it so far), or at the start of a line.
        case headerName(count: Int)
        /// In a header value, up to its line end.
        case headerValue
        /// After the closing delimiter: nothing more is parsed.
        case epilogue
    }

    private let delimiter: [UInt8]
    /// KMP failure function of `delimiter`, so that no match is missed after a partial one.
    private let fallback: [Int]
    private var state: State

    init(boundary: String) {
        self.delimiter = Array("\r\n--\(boundary)".utf8)
        var fallback = [Int](repeating: 0, count: self.delimiter.count)
        var length = 0
        var index = 1
        while index < self.delimiter.count {
            if self.delimiter[index] == self.delimiter[length] {
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
        // The first delimiter may open the body without a line end before it.
        self.state = .body(matched: 2)
    }

    /// Checks the next bytes of the body.
    /// - Returns: false when a header name holds a byte that is not ASCII.
    mutating func check(_ buffer: ByteBuffer) -> Bool {
        for byte in buffer.readableBytesView {
            switch self.state {
            case .body(var matched):
                while matched > 0 && self.delimiter[matched] != byte { matched = self.fallback[matched - 1] }
                if self.delimiter[matched] == byte { matched += 1 }
                self.state = matched == self.delimiter.count ? .delimiterLine(dashes: 0) : .body(matched: matched)
            case .delimiterLine(let dashes):
                if byte == UInt8(ascii: "-") && dashes < 2 {
                    self.state = dashes == 1 ? .epilogue : .delimiterLine(dashes: 1)
                } else if byte == UInt8(ascii: "\n") {
                    self.state = .headerName(count: 0)
                } else {
                    self.state = .delimiterLine(dashes: 2)
                }
            case .headerName(let count):
                switch byte {
                case UInt8(ascii: ":"): self.state = .headerValue
                case UInt8(ascii: "\r"): break
                case UInt8(ascii: "\n"): self.state = count == 0 ? .body(matched: 0) : .headerName(count: 0)
                case 0x80...: return false
                default: self.state = .headerName(count: count + 1)
                }
            case .headerValue:
                if byte == UInt8(ascii: "\n") { self.state = .headerName(count: 0) }
            case .epilogue:
                return true
            }
        }
        return true
    }
}
