import SQLKit

/// Probes the database with a real query against the migrated schema, on the read connection: a
/// long batch keeps the writer busy, and busy is not down.
struct DatabaseProbe: HealthProbe {
    let database: Database
    let name = "Database"
    let componentType = "datastore"
    let isRequired = true

    func check(timeout: Duration) async throws -> String {
        do {
            _ = try await self.database.withReader { sql in
                try await sql.raw("SELECT COUNT(*) AS applied FROM schema_migrations").run()
            }
            return "Active"
        } catch {
            throw self.down("query failed: \(String(describing: error).prefix(200))")
        }
    }
}
