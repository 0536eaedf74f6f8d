import Foundation
import HummingbirdTesting
import Logging
import MultiStatusServer
import PostgresKit
import PostgresNIO
import SQLKit
import Testing

/// The databases every database test runs against.
enum TestDatabase: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { self.rawValue }

    /// The PostgreSQL server the test script started. Without it a PostgreSQL case fails rather
    /// than pass having run nothing: the test command always starts one.
    static func postgresURL() -> String? {
        guard let url = ProcessInfo.processInfo.environment["MULTISTATUS_TEST_POSTGRES_URL"] else {
            Issue.record("MULTISTATUS_TEST_POSTGRES_URL is not set: run the tests through scripts/test, which starts PostgreSQL")
            return nil
        }
        return url
    }
}

/// Runs `test` against a live server backed by a fresh database of `engine`, and a second
/// connection to the same database for checking what was stored.
func withDatabaseServer(
    _ engine: TestDatabase,
    _ configure: @escaping (inout ServerConfiguration) -> Void = { _ in },
    _ test: @escaping @Sendable (any TestClientProtocol, Database) async throws -> Void
) async throws {
    try await withDatabaseServer(engine, configure) { client, database, _ in try await test(client, database) }
}

/// The same, also handing the test the server's configuration (its data folder).
func withDatabaseServer(
    _ engine: TestDatabase,
    _ configure: @escaping (inout ServerConfiguration) -> Void = { _ in },
    _ test: @escaping @Sendable (any TestClientProtocol, Database, ServerConfiguration) async throws -> Void
) async throws {
    switch engine {
    case .sqlite:
        try await withServer(configure) { client, configuration in
            try await withCheckConnection(configuration.resolvedDatabaseURL) { try await test(client, $0, configuration) }
        }
    case .postgres:
        guard let adminURL = TestDatabase.postgresURL() else { return }
        try await withFreshPostgresDatabase(adminURL: adminURL) { url in
            try await withServer({
                configure(&$0); $0.databaseURL = url
            }) { client, configuration in
                try await withCheckConnection(url) { try await test(client, $0, configuration) }
            }
        }
    }
}

/// A second connection to the server's database, for checking what was stored; closed afterwards.
private func withCheckConnection(_ url: String, _ body: (Database) async throws -> Void) async throws {
    let check = try await Database.open(url: url, logger: testLogger())
    do {
        try await body(check)
    } catch {
        await check.close()
        throw error
    }
    await check.close()
}

/// Runs `body` with the URL of a database of `engine` that nothing has used yet: a SQLite file
/// `multistatus.sqlite` in `folder` (where a server with that data folder keeps it), or a fresh
/// PostgreSQL database.
func withNewDatabase(_ engine: TestDatabase, in folder: String, _ body: (String) async throws -> Void) async throws {
    switch engine {
    case .sqlite:
        try await body("sqlite:" + folder + "/multistatus.sqlite")
    case .postgres:
        guard let adminURL = TestDatabase.postgresURL() else { return }
        try await withFreshPostgresDatabase(adminURL: adminURL, body)
    }
}

/// Creates a database of its own for one test on the PostgreSQL server at `adminURL`, dropped afterwards.
func withFreshPostgresDatabase(adminURL: String, _ body: (String) async throws -> Void) async throws {
    let name = "multistatus_test_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16))"
    try await adminQuery(adminURL, "CREATE DATABASE \(name) TEMPLATE template0")
    let base = adminURL[..<(adminURL.lastIndex(of: "/") ?? adminURL.endIndex)]
    do {
        try await body(base + "/" + name)
    } catch {
        try? await adminQuery(adminURL, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
        throw error
    }
    try await adminQuery(adminURL, "DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
}

/// One statement on the server's maintenance database, outside any migrated schema.
private func adminQuery(_ url: String, _ statement: String) async throws {
    guard let configuration = try? SQLPostgresConfiguration(url: url) else { throw DatabaseTestError("not a postgres URL: \(url)") }
    let connection = try await PostgresConnection.connect(configuration: configuration.coreConfiguration, id: 1, logger: testLogger())
    do {
        try await connection.query(PostgresQuery(unsafeSQL: statement), logger: testLogger())
        try await connection.close()
    } catch {
        try? await connection.close()
        throw DatabaseTestError("\(statement): \(String(reflecting: error))")
    }
}

struct DatabaseTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A user row as the database holds it.
struct StoredUser: Equatable {
    var name: String
    var email: String
    var role: String
    var version: Int
}

func storedUsers(_ database: Database) async throws -> [Int: StoredUser] {
    try await database.withConnection { sql in
        var users: [Int: StoredUser] = [:]
        for row in try await sql.raw("SELECT id, name, email, role, version FROM users").all() {
            users[try row.decode(column: "id", as: Int.self)] = StoredUser(
                name: try row.decode(column: "name", as: String.self),
                email: try row.decode(column: "email", as: String.self),
                role: try row.decode(column: "role", as: String.self),
                version: try row.decode(column: "version", as: Int.self)
            )
        }
        return users
    }
}
