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

    /// Applies the migrations of `migrations` that `database` lacks.
    ///
    /// Several servers may start on one database at once. Each migration is decided and applied in
    /// a transaction that holds a lock the others wait for (on PostgreSQL an advisory lock, on
    /// SQLite the write lock that `BEGIN IMMEDIATE` takes), and one that another server applied
    /// meanwhile is skipped.
    static func apply(_ migrations: [Migration], to database: Database, logger: Logger) async throws {
        let engine = database.engine
        // On SQLite a name not in the main file would be looked up in the attached operator's file:
        // the server's own tables are named with their schema until they exist.
        let versions = engine == .sqlite ? "main.schema_migrations" : "schema_migrations"
        // Nothing to do is found without a lock, so that a start does not wait for another process's writes.
        let applied = try? await database.withConnection { sql in
            Set(try await sql.raw("SELECT version FROM \(unsafeRaw: versions)").all().map { try $0.decode(column: "version", as: Int.self) })
        }
        if let applied, migrations.allSatisfy({ applied.contains($0.version) }) { return }
        let copied = try await database.transaction { sql in
            try await self.lock(sql, engine)
            if let schema = database.schema { try await self.prepare(schema: schema, sql, logger: logger) }
            var copied: [String] = []
            if let attached = database.operatorSchema { copied = try await self.copyOut(of: attached, sql, logger: logger) }
            try await sql.raw(
                """
                CREATE TABLE IF NOT EXISTS \(unsafeRaw: versions) (
                    version INTEGER PRIMARY KEY,
                    name TEXT NOT NULL,
                    applied_at TEXT NOT NULL
                )
                """
            ).run()
            return copied
        }
        if let attached = database.operatorSchema, !copied.isEmpty {
            // Only once the copy is committed: a crash in between leaves the tables in both files, never in neither.
            try await database.transaction { sql in
                for table in copied { try await sql.raw("DROP TABLE \(unsafeRaw: attached).\(unsafeRaw: table)").run() }
            }
        }
        for migration in migrations.sorted(by: { $0.version < $1.version }) {
            let applied = try await database.transaction { sql in
                try await self.lock(sql, engine)
                guard try await sql.raw("SELECT version FROM \(unsafeRaw: versions) WHERE version = \(bind: migration.version)").first() == nil else {
                    return false
                }
                for statement in migration.statements(engine) {
                    try await sql.raw(SQLQueryString(statement)).run()
                }
                try await sql.insert(into: "schema_migrations")
                    .columns("version", "name", "applied_at")
                    .values(SQLBind(migration.version), SQLBind(migration.name), SQLBind(Timestamp.now()))
                    .run()
                return true
            }
            if applied { logger.info("applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"]) }
        }
    }

    /// The server's own tables, as every version made them.
    static let serverTables = ["schema_migrations", "users", "idempotency_keys", "dav_properties", "dav_locks"]

    /// Creates the PostgreSQL schema of the server's own tables, and moves there the tables an
    /// earlier version made in `public`, so that `public` is left to the operator's tables.
    private static func prepare(schema: String, _ sql: any SQLDatabase, logger: Logger) async throws {
        try await sql.raw("CREATE SCHEMA IF NOT EXISTS \(unsafeRaw: schema)").run()
        guard schema != "public",
            try await sql.raw("SELECT to_regclass(\(bind: schema + ".schema_migrations"))::text AS found").first()?.decodeNil(column: "found")
                ?? true,
            try await self.holdsServerTables(in: "public", .postgres, sql)
        else { return }
        for table in self.serverTables {
            guard try await sql.raw("SELECT to_regclass(\(bind: "public." + table))::text AS found").first()?.decodeNil(column: "found") == false
            else {
                continue
            }
            try await sql.raw("ALTER TABLE public.\(unsafeRaw: table) SET SCHEMA \(unsafeRaw: schema)").run()
            logger.notice("moved the server's table out of public", metadata: ["table": "\(table)", "schema": "\(schema)"])
        }
    }

    /// Whether `schema` holds the tables an earlier version of the server made: a
    /// `schema_migrations` of its shape whose first migration made `users`. Another application's
    /// `schema_migrations` (Rails keeps one too) is not taken for the server's.
    private static func holdsServerTables(in schema: String, _ engine: Database.Engine, _ sql: any SQLDatabase) async throws -> Bool {
        let columns: SQLQueryString =
            engine == .postgres
            ? "SELECT column_name::text AS name FROM information_schema.columns WHERE table_schema = \(bind: schema) AND table_name = 'schema_migrations'"
            : "SELECT name FROM pragma_table_info('schema_migrations', \(bind: schema))"
        let names = Set(try await sql.raw(columns).all().map { try $0.decode(column: "name", as: String.self) })
        guard names == ["version", "name", "applied_at"] else { return false }
        let first = try await sql.raw("SELECT name FROM \(unsafeRaw: schema).schema_migrations WHERE version = 1").first()
        return try first?.decode(column: "name", as: String.self) == "users"
    }

    /// On SQLite with the server's tables in a file of their own: copies there the tables an earlier
    /// version made in the operator's file (attached as `attached`), with their indexes and rows,
    /// when the server's file has none yet. The names of the tables copied, for the caller to drop
    /// from the operator's file once the copy is committed.
    private static func copyOut(of attached: String, _ sql: any SQLDatabase, logger: Logger) async throws -> [String] {
        guard try await sql.raw("SELECT 1 AS found FROM main.sqlite_schema WHERE name = 'schema_migrations'").first() == nil,
            try await self.holdsServerTables(in: attached, .sqlite, sql)
        else { return [] }
        var copied: [String] = []
        let sequences =
            try await sql.raw("SELECT 1 AS found FROM \(unsafeRaw: attached).sqlite_schema WHERE name = 'sqlite_sequence'").first() != nil
        for table in self.serverTables {
            // The table first, then its indexes, each from the statement that made it, so that
            // they come out as they were; unqualified, they are made in the main file.
            let statements = try await sql.raw(
                """
                SELECT sql FROM \(unsafeRaw: attached).sqlite_schema WHERE tbl_name = \(bind: table) AND sql IS NOT NULL
                ORDER BY type = 'table' DESC, name
                """
            ).all().map { try $0.decode(column: "sql", as: String.self) }
            guard !statements.isEmpty else { continue }
            for statement in statements { try await sql.raw(SQLQueryString(statement)).run() }
            try await sql.raw("INSERT INTO main.\(unsafeRaw: table) SELECT * FROM \(unsafeRaw: attached).\(unsafeRaw: table)").run()
            // AUTOINCREMENT's high-water mark, so that an id once given is not given again.
            if sequences,
                let seq = try await sql.raw("SELECT seq FROM \(unsafeRaw: attached).sqlite_sequence WHERE name = \(bind: table)").first()?
                    .decode(column: "seq", as: Int.self)
            {
                try await sql.raw("DELETE FROM main.sqlite_sequence WHERE name = \(bind: table)").run()
                try await sql.raw("INSERT INTO main.sqlite_sequence (name, seq) VALUES (\(bind: table), \(bind: seq))").run()
            }
            logger.notice("moved the server's table out of the operator's database", metadata: ["table": "\(table)"])
            copied.append(table)
        }
        return copied
    }

    /// Waits, inside a transaction, until no other server is migrating the database; released at
    /// the transaction's end. SQLite's transaction already holds the write lock.
    private static func lock(_ sql: any SQLDatabase, _ engine: Database.Engine) async throws {
        guard engine == .postgres else { return }
        try await sql.raw("SELECT pg_advisory_xact_lock(\(bind: Self.lockKey))").run()
    }

    /// The advisory lock's key: "mstatus" in ASCII, a number no other application is likely to pick.
    private static var lockKey: Int64 { 0x6d_73_74_61_74_75_73 }
}
