import CMultiStatusSystem
import Foundation
import HTTPTypes

/// The SHA-256 of a stored file's bytes, kept with the file in an extended attribute so that a
/// `GET` can answer `Repr-Digest` (RFC 9530) without reading the file. It is written to the staged
/// file before the rename that commits it, so it always belongs to the bytes it names; the size
/// it was computed for is kept beside it, and a file of another size has none. A file system
/// without user attributes simply keeps none.
enum StoredDigest {
    /// `user.multistatus.sha256`: the 32 bytes of the digest, then the size as 8 bytes, little-endian.
    static let attribute = "user.multistatus.sha256"

    /// Keeps `digest` of the `size` bytes of the file open as `fd`; a failure keeps nothing.
    static func write(_ digest: [UInt8], size: Int, to fd: Int32) {
        guard digest.count == 32 else { return }
        let value = digest + withUnsafeBytes(of: UInt64(size).littleEndian, Array.init)
        _ = multistatus_fsetxattr(fd, self.attribute, value, value.count)
    }

    /// The digest kept with the file open as `fd`, if it was computed for `size` bytes.
    static func read(from fd: Int32, size: Int) -> [UInt8]? {
        var value = [UInt8](repeating: 0, count: 40)
        guard multistatus_fgetxattr(fd, self.attribute, &value, value.count) == 40 else { return nil }
        let stored = value[32...].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return stored == UInt64(size) ? Array(value[..<32]) : nil
    }

    /// `sha-256=:<base64>:`, the member of `Content-Digest` and `Repr-Digest` (RFC 9530).
    static func field(_ digest: [UInt8]) -> String {
        "sha-256=:" + Data(digest).base64EncodedString() + ":"
    }
}

extension HTTPField.Name {
    /// `Repr-Digest` (RFC 9530): the digest of the whole representation, on `GET` and `HEAD`.
    static let reprDigest = Self("Repr-Digest")!
}
