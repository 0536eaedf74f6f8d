import Foundation
import MultiStatus
import MultiStatusHummingbird
import NIOCore
import SQLKit
import Synchronization

/// `Idempotency-Key` (CONTRACT §6) in the database: the first request with a key is applied and
/// its answer stored for 24 h; a replay with the same fingerprint gets the stored answer without
/// anything applied twice. Keys are per account, method and path (``IdempotencyKey``).
final class IdempotencyStore: IdempotencyRecords {
    let database: Database
    let retention: Duration = .seconds(24 * 3600)
    private let lastSweep = Mutex(ContinuousClock.Instant.now - .seconds(3600))

    init(database: Database) {
        self.database = database
    }

    /// Claims `key` for this request, or finds its earlier answer.
    /// - Throws: 422 when the key was used with another body, 409 while the first request with it still runs.
    func claim(_ key: IdempotencyKey, fingerprint: String, collection: ResourceCollection) async throws -> IdempotencyClaim {
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
            throw ProblemDetails(status: .unprocessableContent, detail: "Idempotency-Key \(key.given) was used with a different request")
        }
        guard stored.state == "done", let status = stored.status, let body = stored.body else {
            throw ProblemDetails(status: .conflict, detail: "a request with Idempotency-Key \(key.given) is still being processed")
        }
        let read = try MultiStatusReader.read(Array(body.utf8), format: .json, collection: collection)
        return .replay(try MultiStatusReport(restoring: collection, items: read.items, status: .init(standardCode: status)))
    }

    /// Stores the answer of a claimed key.
    func complete(_ key: IdempotencyKey, report: MultiStatusReport) async throws {
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
    func release(_ key: IdempotencyKey) async {
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
