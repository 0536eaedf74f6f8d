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
    static let all: [Migration] = [
        Migration(version: 1, name: "users") { engine in
            [
                """
                CREATE TABLE users (
                    id \(engine == .sqlite ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "BIGSERIAL PRIMARY KEY"),
                    name TEXT NOT NULL,
                    email TEXT NOT NULL,
                    email_key TEXT NOT NULL UNIQUE,
                    role TEXT NOT NULL CHECK (role IN ('admin', 'member', 'viewer')),
                    version BIGINT NOT NULL,
                    created_at TEXT NOT NULL,
                    updated_at TEXT NOT NULL
                )
                """
            ]
        },
        Migration(version: 2, name: "idempotency keys") { _ in
            [
                """
                CREATE TABLE idempotency_keys (
                    key TEXT PRIMARY KEY,
                    fingerprint TEXT NOT NULL,
                    state TEXT NOT NULL,
                    status INTEGER,
                    body TEXT,
                    created_at TEXT NOT NULL,
                    expires_at TEXT NOT NULL
                )
                """,
                "CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at)",
            ]
        },
        Migration(version: 3, name: "webdav properties and locks") { engine in
            // Paths are compared byte by byte, so that "a/b/" <= p < "a/b0" selects exactly what is below a/b.
            let path = engine == .sqlite ? "TEXT" : "TEXT COLLATE \"C\""
            return [
                """
                CREATE TABLE dav_properties (
                    path \(path) NOT NULL,
                    parent \(path) NOT NULL,
                    namespace TEXT NOT NULL,
                    name TEXT NOT NULL,
                    value TEXT NOT NULL,
                    PRIMARY KEY (path, namespace, name)
                )
                """,
                "CREATE INDEX dav_properties_parent ON dav_properties (parent)",
                """
                CREATE TABLE dav_locks (
                    token TEXT PRIMARY KEY,
                    path \(path) NOT NULL,
                    depth_infinity INTEGER NOT NULL,
                    exclusive INTEGER NOT NULL,
                    owner TEXT NOT NULL,
                    timeout_seconds BIGINT NOT NULL,
                    expires_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX dav_locks_path ON dav_locks (path)",
            ]
        },
        Migration(version: 4, name: "the account that took each lock") { _ in
            // NULL: taken without accounts, usable by anyone.
            ["ALTER TABLE dav_locks ADD COLUMN principal TEXT"]
        },
    ]

    static func apply(_ migrations: [Migration], to database: Database, logger: Logger) async throws {
        let applied = try await database.withConnection { sql in
            try await sql.raw(
                """
                CREATE TABLE IF NOT EXISTS schema_migrations (
                    version INTEGER PRIMARY KEY,
                    name TEXT NOT NULL,
                    applied_at TEXT NOT NULL
                )
                """
            ).run()
            return Set(try await sql.raw("SELECT version FROM schema_migrations").all().map { try $0.decode(column: "version", as: Int.self) })
        }
        for migration in migrations.sorted(by: { $0.version < $1.version }) where !applied.contains(migration.version) {
            let engine = database.engine
            try await database.transaction { sql in
                for statement in migration.statements(engine) {
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
