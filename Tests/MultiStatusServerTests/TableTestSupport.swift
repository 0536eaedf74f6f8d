import Foundation
import HTTPTypes
import HummingbirdTesting
import MultiStatus
import MultiStatusServer
import NIOCore
import SQLKit
import Testing

/// The operator's schema the table tests serve: a parent with a generated key, a table with a
/// text key, NOT NULL without default, a default, a UNIQUE pair, a named CHECK and a foreign key,
/// and a table with a composite key.
func tableTestSchema(_ engine: TestDatabase) -> [String] {
    [
        engine == .sqlite
            ? "CREATE TABLE authors (id INTEGER PRIMARY KEY, name TEXT NOT NULL, active BOOLEAN NOT NULL DEFAULT TRUE)"
            : "CREATE TABLE authors (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, active BOOLEAN NOT NULL DEFAULT TRUE)",
        """
        CREATE TABLE books (
            isbn TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            author_id INTEGER REFERENCES authors (id),
            shelf TEXT,
            position INTEGER,
            price NUMERIC(8, 2),
            stock INTEGER NOT NULL DEFAULT 0,
            version INTEGER NOT NULL DEFAULT 1,
            CONSTRAINT books_shelf_position UNIQUE (shelf, position),
            CONSTRAINT price_positive CHECK (price > 0)
        )
        """,
        "CREATE TABLE events (region TEXT NOT NULL, seq INTEGER NOT NULL, note TEXT, PRIMARY KEY (region, seq))",
    ]
}

/// The options the table tests serve their schema with.
let tableTestOptions = [
    TableOptions(name: "authors"),
    TableOptions(name: "books", version: "version", readOnly: ["stock"]),
    TableOptions(name: "events"),
]

/// Runs `test` against a live server serving tables of a fresh database of `engine`, made first
/// with `schema`; the test also gets a connection of its own to that database, opened as an
/// operator's tool would: without the server's migrations (on SQLite the server's own tables are
/// in a file of their own in its data folder).
func withTableServer(
    _ engine: TestDatabase,
    schema: [String]? = nil,
    tables: [TableOptions] = tableTestOptions,
    _ configure: @escaping (inout ServerConfiguration) -> Void = { _ in },
    _ test: @escaping @Sendable (any TestClientProtocol, Database) async throws -> Void
) async throws {
    try await withTemporaryDirectory { folder in
        try await withNewDatabase(engine, in: folder) { url in
            let database = try await Database.open(url: url, migrating: false, logger: testLogger())
            do {
                // The operator's tables go where an operator's psql would put them: public, not the server's schema.
                let statements = schema ?? tableTestSchema(engine)
                try await database.transaction { sql in
                    if engine == .postgres { try await sql.raw("SET LOCAL search_path TO public").run() }
                    for statement in statements { try await sql.raw(SQLQueryString(statement)).run() }
                }
                try await withServer({
                    $0.databaseURL = url
                    $0.tables = tables
                    configure(&$0)
                }) { client, _ in
                    try await test(client, database)
                }
            } catch {
                await database.close()
                throw error
            }
            await database.close()
        }
    }
}

/// The collection of a table answer.
func tableCollection(_ key: String, _ table: String) -> ResourceCollection {
    ResourceCollection(key: key, identifierKey: "key", hrefPrefix: "/tables/\(table)/")
}

/// Runs `statement` as the operator would, on PostgreSQL with their tables first in the search path.
func operatorSQL(_ database: Database, _ statement: String) async throws {
    try await database.transaction { sql in
        if database.engine == .postgres { try await sql.raw("SET LOCAL search_path TO public, multistatus").run() }
        try await sql.raw(SQLQueryString(statement)).run()
    }
}

/// Rows of `query` as text columns, for checking what a table holds.
func storedRows(_ database: Database, _ query: String, columns: [String]) async throws -> [[String]] {
    try await database.transaction { sql in
        // As the operator sees their tables: public first, then the server's schema.
        if database.engine == .postgres { try await sql.raw("SET LOCAL search_path TO public, multistatus").run() }
        return try await sql.raw(SQLQueryString(query)).all().map { row in
            try columns.map { column in
                if try row.decodeNil(column: column) { return "NULL" }
                if let number = try? row.decode(column: column, as: Int.self) { return String(number) }
                if let text = try? row.decode(column: column, as: String.self) { return text }
                if let number = try? row.decode(column: column, as: Double.self) { return String(number) }
                return String(try row.decode(column: column, as: Bool.self))
            }
        }
    }
}
