import Foundation
import MultiStatus

/// What a client says about a file beside its bytes: its SHA-256, which the server checks (a
/// mismatch refuses the file and stores nothing of it), and its modification time, which the
/// server keeps.
struct FileClaims: Sendable, Equatable {
    var sha256: [UInt8]?
    var modified: Date?

    init(sha256: [UInt8]? = nil, modified: Date? = nil) {
        self.sha256 = sha256
        self.modified = modified
    }

    /// Reads the header fields of a multipart part or of a `PUT`: `Content-Digest` (RFC 9530, its
    /// `sha-256` member), `OC-Checksum` (`SHA256:<hex>`, as ownCloud and Nextcloud clients send
    /// it), and `X-OC-Mtime` (seconds since 1970) or else `Last-Modified` (an HTTP date).
    /// - Parameter field: the value of a header field by its lowercased name.
    /// - Throws: 400 for a malformed value, or two checksums that disagree.
    init(field: (String) -> String?) throws(ProblemDetails) {
        self.sha256 = try Self.sha256(field: field)
        if let seconds = field("x-oc-mtime") {
            guard let value = Double(seconds.trimmingCharacters(in: .whitespaces)), value.isFinite, value >= 0, value < Self.latestTime else {
                throw ProblemDetails(status: .badRequest, detail: "X-OC-Mtime must be seconds since 1970, not \(seconds)")
            }
            self.modified = Date(timeIntervalSince1970: value)
        } else if let date = field("last-modified") {
            guard let parsed = HTTPDate.parse(date) else {
                throw ProblemDetails(status: .badRequest, detail: "Last-Modified must be an HTTP date, not \(date)")
            }
            self.modified = parsed
        }
    }

    /// The SHA-256 that `Content-Digest` or `OC-Checksum` gives, if either does.
    /// - Throws: 400 for a malformed value, or two checksums that disagree.
    static func sha256(field: (String) -> String?) throws(ProblemDetails) -> [UInt8]? {
        var digests: [[UInt8]] = []
        if let header = field("content-digest") {
            for member in header.split(separator: ",") {
                let parts = member.split(separator: "=", maxSplits: 1)
                guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces).lowercased() == "sha-256" else { continue }
                let value = parts[1].trimmingCharacters(in: .whitespaces)
                guard value.count > 2, value.hasPrefix(":"), value.hasSuffix(":"),
                    let bytes = Data(base64Encoded: String(value.dropFirst().dropLast())),
                    bytes.count == 32
                else {
                    throw ProblemDetails(status: .badRequest, detail: "Content-Digest sha-256 must be :<base64 of 32 bytes>:, not \(value)")
                }
                digests.append(Array(bytes))
            }
        }
        if let header = field("oc-checksum") {
            for token in header.split(separator: " ") where token.lowercased().hasPrefix("sha256:") {
                digests.append(try Self.sha256(hex: String(token.dropFirst("sha256:".count)), from: "OC-Checksum"))
            }
        }
        if digests.count > 1, digests.contains(where: { $0 != digests[0] }) {
            throw ProblemDetails(status: .badRequest, detail: "the file's checksums disagree")
        }
        return digests.first
    }

    /// The latest modification time taken, in seconds since 1970 (in 2255): file systems keep
    /// nanoseconds in 64 bits, which end in 2262.
    static let latestTime: Double = 9_000_000_000

    /// The 32 bytes of a SHA-256 written in 64 hexadecimal digits.
    static func sha256(hex: String, from source: String) throws(ProblemDetails) -> [UInt8] {
        guard let bytes = Hex.decode(Array(hex.utf8)), bytes.count == 32 else {
            throw ProblemDetails(status: .badRequest, detail: "\(source) SHA-256 must be 64 hexadecimal digits")
        }
        return bytes
    }

    /// The 400 of bytes whose SHA-256 is not the one claimed; nothing of the file is stored.
    static func mismatch(claimed: [UInt8], received: String) -> ProblemDetails {
        ProblemDetails(
            status: .badRequest,
            detail: "checksum mismatch: the client's SHA-256 is \(claimed.hex), the bytes received have \(received); nothing was stored",
            type: "urn:x-multistatus:problem:checksum-mismatch")
    }
}
