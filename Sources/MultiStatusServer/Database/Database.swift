import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresKit
import PostgresNIO
public import SQLKit
import SQLiteKit

/// The server's database: the embedded SQLite file by default, PostgreSQL for scale.
///
/// Features talk to it through SQLKit's `SQLDatabase` inside ``withConnection(_:)`` or
/// ``transaction(_:)``, so the same code runs on both. The schema is migrated when the
/// database is opened.
public final class Database: Sendable {
    /// Which engine is behind the connection.
    public enum Engine: String, Sendable {
        case sqlite
        case postgres
    }

    private enum Backend: Sendable {
        /// A writer connection, which the gate gives to one task at a time so that a transaction is
        /// never interleaved with another task's statements, and a read-only connection beside it
        /// (WAL lets it read the last committed state while the writer is in a transaction).
        case sqlite(writer: SQLiteConnection, SerialGate, reader: SQLiteConnection, SerialGate)
        /// A pool run by its own task until the database is closed.
        case postgres(PostgresClient, Task<Void, Never>)
    }

    /// Which engine is behind the connection.
    public let engine: Engine
    private let backend: Backend

    private init(engine: Engine, backend: Backend) {
        self.engine = engine
        self.backend = backend
    }

    /// Opens the database named by `url` and applies pending migrations.
    /// - Parameters:
    ///   - url: `sqlite:PATH` (the folder is created when missing) or `postgres://user:pass@host:port/db`.
    ///   - logger: where migrations are logged.
    public static func open(url: String, logger: Logger) async throws -> Database {
        let database: Database
        if url.hasPrefix("sqlite:") {
            database = try await self.openSQLite(path: String(url.dropFirst("sqlite:".count)), logger: logger)
        } else if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            database = try self.openPostgres(url: url, logger: logger)
        } else {
            throw ConfigurationError("database \"\(url)\" is not supported; use sqlite:PATH or postgres://user:pass@host:port/db")
        }
        do {
            try await Migrations.apply(Migrations.all, to: database, logger: logger)
        } catch {
            await database.close()
            throw error
        }
        return database
    }

    private static func openSQLite(path: String, logger: Logger) async throws -> Database {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // WAL lets readers run beside the writer; NORMAL sync is durable at checkpoints and safe with WAL.
        let writer = try await self.openSQLiteConnection(
            path: path,
            pragmas: ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=5000", "PRAGMA foreign_keys=ON"],
            logger: logger
        )
        let reader: SQLiteConnection
        do {
            reader = try await self.openSQLiteConnection(path: path, pragmas: ["PRAGMA busy_timeout=5000", "PRAGMA query_only=ON"], logger: logger)
        } catch {
            try? await writer.close()
            throw error
        }
        return Database(engine: .sqlite, backend: .sqlite(writer: writer, SerialGate(), reader: reader, SerialGate()))
    }

    private static func openSQLiteConnection(path: String, pragmas: [String], logger: Logger) async throws -> SQLiteConnection {
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        do {
            for pragma in pragmas { try await connection.sql().raw(SQLQueryString(pragma)).run() }
        } catch {
            try? await connection.close()
            throw error
        }
        return connection
    }

    private static func openPostgres(url: String, logger: Logger) throws -> Database {
        guard let parsed = try? SQLPostgresConfiguration(url: url) else {
            throw ConfigurationError("database URL \"\(url)\" is not a valid postgres:// URL")
        }
        let core = parsed.coreConfiguration
        guard let host = core.host else { throw ConfigurationError("database URL \"\(url)\" has no host") }
        var configuration = PostgresClient.Configuration(
            host: host,
            port: core.port ?? 5432,
            username: core.username,
            password: core.password,
            database: core.database,
            tls: .disable
        )
        configuration.options.minimumConnections = 0
        configuration.options.maximumConnections = 16
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        let run = Task { await client.run() }
        return Database(engine: .postgres, backend: .postgres(client, run))
    }

    /// Runs `body` with a connection of its own for its duration.
    public func withConnection<Result: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> Result) async throws -> Result {
        switch self.backend {
        case .sqlite(let connection, let gate, _, _):
            return try await gate.run { try await body(connection.sql()) }
        case .postgres(let client, _):
            return try await client.withConnection { connection in try await body(connection.sql()) }
        }
    }

    /// Runs `body`, which only reads, on a connection that sees the last committed state and does
    /// not wait for a write transaction in progress: on SQLite the read-only connection beside the
    /// writer, on PostgreSQL any pooled connection.
    public func withReader<Result: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> Result) async throws -> Result {
        switch self.backend {
        case .sqlite(_, _, let connection, let gate):
            return try await gate.run { try await body(connection.sql()) }
        case .postgres:
            return try await self.withConnection(body)
        }
    }

    /// Runs `body` in one transaction: committed when it returns, rolled back when it throws.
    public func transaction<Result: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> Result) async throws -> Result {
        let begin: SQLQueryString = self.engine == .sqlite ? "BEGIN IMMEDIATE" : "BEGIN"
        return try await self.withConnection { sql in
            try await sql.raw(begin).run()
            do {
                let result = try await body(sql)
                try await sql.raw("COMMIT").run()
                return result
            } catch {
                try? await sql.raw("ROLLBACK").run()
                throw error
            }
        }
    }

    /// Closes the connection or pool; the database cannot be used afterwards.
    public func close() async {
        switch self.backend {
        case .sqlite(let writer, let writerGate, let reader, let readerGate):
            try? await readerGate.run { try await reader.close() }
            try? await writerGate.run { try await writer.close() }
        case .postgres(_, let run):
            run.cancel()
            _ = await run.value
        }
    }
}

/// Gives a resource to one task at a time, in arrival order.
actor SerialGate {
    private var busy = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func run<Result: Sendable>(_ body: @Sendable () async throws -> Result) async throws -> Result {
        await self.acquire()
        do {
            let result = try await body()
            self.release()
            return result
        } catch {
            self.release()
            throw error
        }
    }

    private func acquire() async {
        guard self.busy else {
            self.busy = true
            return
        }
        await withCheckedContinuation { self.waiters.append($0) }
    }

    private func release() {
        if self.waiters.isEmpty {
            self.busy = false
        } else {
            self.waiters.removeFirst().resume()
        }
    }
}
