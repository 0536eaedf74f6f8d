import Crypto
import Foundation
import MultiStatus
import NIOCore
import SQLKit
import Synchronization

/// `Idempotency-Key` (CONTRACT §6): the first request with a key is applied and its answer stored
/// for 24 h; a replay with the same body gets the stored answer without anything applied twice.
///
/// A key is unique per account, method and path, as a client names its own operations: the same
/// key on `PATCH /users` and on `DELETE /users` are two keys, and one account can neither replay
/// nor block another's.
final class IdempotencyStore: Sendable {
    let database: Database
    let retention: Duration = .seconds(24 * 3600)
    private let lastSweep = Mutex(ContinuousClock.Instant.now - .seconds(3600))

    init(database: Database) {
        self.database = database
    }

    /// What to do with a request that carries a key.
    enum Claim: Sendable {
        /// First use: apply the request, then ``complete(key:report:)``.
        case claimed
        /// Seen before with the same body: answer with the stored report.
        case replay(MultiStatusReport)
    }

    /// A client's key and the operation it names.
    struct Key: Sendable {
        /// The key as the client sent it.
        let given: String
        /// The key as stored: method, path, key and account, separated by spaces. None of the
        /// first three can hold a space, so no two operations share a stored key.
        let stored: String

        /// Validates `given`: 1–255 visible ASCII characters.
        init(_ given: String, method: String, path: String, account: String?) throws {
            guard (1...255).contains(given.utf8.count), given.unicodeScalars.allSatisfy({ (0x21...0x7E).contains($0.value) }) else {
                throw ProblemDetails(status: .badRequest, detail: "Idempotency-Key must be 1 to 255 visible ASCII characters")
            }
            self.given = given
            self.stored = "\(method) \(path) \(given) \(account ?? "")"
        }
    }

    /// The fingerprint of a request's options and body, so a key cannot be reused with another body.
    /// `preference` is a preference that shapes the answer (`return=minimal`), so that a replay
    /// asking for another shape is refused rather than answered in the stored one.
    static func fingerprint(atomic: Bool, preference: String? = nil, body: ByteBuffer) -> String {
        var hasher = SHA256()
        hasher.update(data: Array("atomic=\(atomic)\n".utf8))
        if let preference { hasher.update(data: Array("prefer=\(preference)\n".utf8)) }
        body.withUnsafeReadableBytes { hasher.update(bufferPointer: $0) }
        return hasher.finalize().hex
    }

    /// Claims `key` for this request, or finds its earlier answer.
    /// - Throws: 422 when the key was used with another body, 409 while the first request with it still runs.
    func claim(_ key: Key, fingerprint: String, collection: ResourceCollection) async throws -> Claim {
        try await self.sweepIfDue()
        let now = Date()
        let created = Timestamp.format(now)
        let expires = Timestamp.format(now.addingTimeInterval(self.retention / .seconds(1)))
        let stored: (fingerprint: String, state: String, status: Int?, body: String?)? = try await self.database.withConnection { sql in
            let inserted = try await sql.raw(
                """
                INSERT INTO idempotency_keys (key, fingerprint, state, created_at, expires_at)
                VALUES (\(bind: key.stored), \(bind: fingerprint), 'running', \(bind: created), \(bind: expires))
                ON CONFLICT (key) DO NOTHING RETURNING key
                """
            ).all()
            if !inserted.isEmpty { return nil }
            guard let row = try await sql.raw("SELECT fingerprint, state, status, body FROM idempotency_keys WHERE key = \(bind: key.stored)").first()
            else {
                return nil
            }
            return (
                try row.decode(column: "fingerprint", as: String.self), try row.decode(column: "state", as: String.self),
                try row.decode(column: "status", as: Int?.self), try row.decode(column: "body", as: String?.self)
            )
        }
        guard let stored else { return .claimed }
        guard stored.fingerprint == fingerprint else {
            throw ProblemDetails(status: .unprocessableContent, detail: "Idempotency-Key \(key.given) was used with a different body")
        }
        guard stored.state == "done", let status = stored.status, let body = stored.body else {
            throw ProblemDetails(status: .conflict, detail: "a request with Idempotency-Key \(key.given) is still being processed")
        }
        let read = try MultiStatusReader.read(Array(body.utf8), format: .json, collection: collection)
        return .replay(try MultiStatusReport(restoring: collection, items: read.items, status: .init(standardCode: status)))
    }

    /// Stores the answer of a claimed key.
    func complete(_ key: Key, report: MultiStatusReport) async throws {
        let body = report.encoded(as: .json)
        let status = report.status.code
        try await self.database.withConnection { sql in
            try await sql.raw(
                "UPDATE idempotency_keys SET state = 'done', status = \(bind: status), body = \(bind: body) WHERE key = \(bind: key.stored)"
            )
            .run()
        }
    }

    /// Frees a claimed key whose request failed as a whole, so that the client may retry with it.
    func release(_ key: Key) async {
        _ = try? await self.database.withConnection { sql in
            try await sql.raw("DELETE FROM idempotency_keys WHERE key = \(bind: key.stored) AND state = 'running'").run()
        }
    }

    /// Removes expired keys, at most once a minute.
    private func sweepIfDue() async throws {
        let due = self.lastSweep.withLock { last in
            guard ContinuousClock.now - last > .seconds(60) else { return false }
            last = .now
            return true
        }
        guard due else { return }
        let now = Timestamp.now()
        try await self.database.withConnection { sql in
            try await sql.raw("DELETE FROM idempotency_keys WHERE expires_at < \(bind: now)").run()
        }
    }
}
