public import Crypto
public import MultiStatus
public import NIOCore

/// A client's `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header) and the operation it
/// names: the same key on `PATCH /users` and on `DELETE /users` are two keys, and one account can
/// neither replay nor block another's.
public struct IdempotencyKey: Sendable, Hashable {
    /// The key as the client sent it.
    public let given: String
    /// The key as stored: method, path, key and owner, separated by spaces. None of the first three
    /// can hold a space, so no two operations share a stored key.
    public let stored: String

    /// Validates `given`: 1–255 visible ASCII characters.
    /// - Parameters:
    ///   - method: the request's method.
    ///   - path: the request's path.
    ///   - owner: the account the request is made by, `nil` without accounts.
    /// - Throws: a 400 ``ProblemDetails`` for a key of other characters or length.
    public init(_ given: String, method: String, path: String, owner: String?) throws(ProblemDetails) {
        guard (1...255).contains(given.utf8.count), given.unicodeScalars.allSatisfy({ (0x21...0x7E).contains($0.value) }) else {
            throw ProblemDetails(status: .badRequest, detail: "Idempotency-Key must be 1 to 255 visible ASCII characters")
        }
        self.given = given
        self.stored = "\(method) \(path) \(given) \(owner ?? "")"
    }

    /// The fingerprint of a request under a key: its options and what it carries, so that a key
    /// cannot be reused for another request. `shape` is what else shapes the answer
    /// (`return=minimal`), so that a replay asking for another shape is refused rather than
    /// answered in the stored one.
    public static func fingerprint(atomic: Bool, shape: String? = nil, content: ByteBuffer) -> String {
        var hasher = SHA256()
        hasher.update(data: Array("atomic=\(atomic)\n".utf8))
        if let shape { hasher.update(data: Array("prefer=\(shape)\n".utf8)) }
        content.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
        return hasher.finalize().map { byte in (byte < 16 ? "0" : "") + String(byte, radix: 16) }.joined()
    }
}

/// What to do with a request that carries an `Idempotency-Key`.
public enum IdempotencyClaim: Sendable {
    /// First use: apply the request, then ``IdempotencyRecords/complete(_:report:)``.
    case claimed
    /// Seen before with the same fingerprint: answer with the stored report.
    case replay(MultiStatusReport)
}

/// Where the answers of batches with an `Idempotency-Key` are kept, for replays (CONTRACT §6).
public protocol IdempotencyRecords: Sendable {
    /// Claims `key` for a request with `fingerprint`, or finds the answer it was given.
    /// - Throws: 422 when the key was used with another fingerprint, 409 while the first request
    ///   with it still runs.
    func claim(_ key: IdempotencyKey, fingerprint: String, collection: ResourceCollection) async throws -> IdempotencyClaim
    /// Stores the answer of a claimed key.
    func complete(_ key: IdempotencyKey, report: MultiStatusReport) async throws
    /// Frees a claimed key whose request failed as a whole, so that the client may retry with it.
    func release(_ key: IdempotencyKey) async
}
