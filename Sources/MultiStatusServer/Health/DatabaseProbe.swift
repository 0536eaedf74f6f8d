import SQLKit

/// Probes the database with a real query against the migrated schema.
struct DatabaseProbe: HealthProbe {
    let database: Database
    let name = "Database"
    let componentType = "datastore"
    let isRequired = true

    func check(timeout: Duration) async throws -> String {
        do {
            _ = try await self.database.withConnection { sql in
                try await sql.raw("SELECT COUNT(*) AS applied FROM schema_migrations").run()
            }
            return "Active"
        } catch {
            throw self.down("query failed: \(String(describing: error).prefix(200))")
        }
    }
}
