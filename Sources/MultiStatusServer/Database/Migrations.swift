import Logging
import SQLKit

/// One versioned change to the schema.
struct Migration: Sendable {
    /// Applied in increasing order; never reused.
    let version: Int
    /// What the migration does, for the log and the `schema_migrations` table.
    let name: String
    /// The statements, run in one transaction.
    let statements: @Sendable (Database.Engine) -> [String]
}

/// Applies migrations once each, in order, recording them in `schema_migrations`.
enum Migrations {
    /// Every migration of the server, oldest first.
    static let all: [Migration] = []

    static func apply(_ migrations: [Migration], to database: Database, logger: Logger) async throws {
        let sql = database.sql
        try await sql.raw(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version INTEGER PRIMARY KEY,
                name TEXT NOT NULL,
                applied_at TEXT NOT NULL
            )
            """
        ).run()
        let applied = Set(try await sql.raw("SELECT version FROM schema_migrations").all().map { try $0.decode(column: "version", as: Int.self) })
        for migration in migrations.sorted(by: { $0.version < $1.version }) where !applied.contains(migration.version) {
            try await database.transaction { sql in
                for statement in migration.statements(database.engine) {
                    try await sql.raw(SQLQueryString(statement)).run()
                }
                try await sql.insert(into: "schema_migrations")
                    .columns("version", "name", "applied_at")
                    .values(SQLBind(migration.version), SQLBind(migration.name), SQLBind(Timestamp.now()))
                    .run()
            }
            logger.info("applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
        }
    }
}
