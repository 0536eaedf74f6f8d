import SQLKit

/// Probes the database with a real query against the migrated schema, on the read connection: a
/// long batch keeps the writer busy, and busy is not down. A PostgreSQL server that is stopped
/// gives no connection: the probe waits for one for most of its timeout, then reports 503 (down),
/// keeping 504 for a server that takes a connection and then does not answer.
struct DatabaseProbe: HealthProbe {
    let database: Database
    let name = "Database"
    let componentType = "datastore"
    let isRequired = true

    func check(timeout: Duration) async throws -> String {
        do {
            _ = try await self.database.withReader(waitingAtMost: timeout / 4 * 3) { sql in
                try await sql.raw("SELECT COUNT(*) AS applied FROM schema_migrations").run()
            }
            return "Active"
        } catch {
            throw self.down("query failed: \(String(describing: error).prefix(200))")
        }
    }
}
