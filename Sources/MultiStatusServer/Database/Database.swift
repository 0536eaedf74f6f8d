import Foundation
import Logging
import NIOCore
import NIOPosix
public import SQLKit
import SQLiteKit

/// The server's database: the embedded SQLite file by default.
///
/// Features talk to it through SQLKit's `SQLDatabase`, so the same code runs on every backend.
/// The schema is migrated when the database is opened.
public final class Database: Sendable {
    /// Which engine is behind `sql`.
    public enum Engine: String, Sendable {
        case sqlite
    }

    /// The SQL interface for queries.
    public let sql: any SQLDatabase
    /// Which engine is behind `sql`.
    public let engine: Engine
    private let closeConnection: @Sendable () async throws -> Void

    private init(sql: any SQLDatabase, engine: Engine, close: @escaping @Sendable () async throws -> Void) {
        self.sql = sql
        self.engine = engine
        self.closeConnection = close
    }

    /// Opens the database named by `url` and applies pending migrations.
    /// - Parameters:
    ///   - url: `sqlite:PATH` (the folder is created when missing).
    ///   - logger: where queries and migrations are logged.
    public static func open(url: String, logger: Logger) async throws -> Database {
        guard url.hasPrefix("sqlite:") else {
            throw ConfigurationError("database \"\(url)\" is not supported; use sqlite:PATH")
        }
        let path = String(url.dropFirst("sqlite:".count))
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        let sql = connection.sql()
        do {
            // WAL lets readers run beside the writer; NORMAL sync is durable at checkpoints and safe with WAL.
            for pragma in ["PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA busy_timeout=5000", "PRAGMA foreign_keys=ON"] {
                try await sql.raw(SQLQueryString(pragma)).run()
            }
            let database = Database(sql: sql, engine: .sqlite, close: { try await connection.close() })
            try await Migrations.apply(Migrations.all, to: database, logger: logger)
            return database
        } catch {
            try? await connection.close()
            throw error
        }
    }

    /// Runs `body` in one transaction: committed when it returns, rolled back when it throws.
    public func transaction<Result: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> Result) async throws -> Result {
        try await self.sql.withSession { session in
            try await session.raw(self.engine == .sqlite ? "BEGIN IMMEDIATE" : "BEGIN").run()
            do {
                let result = try await body(session)
                try await session.raw("COMMIT").run()
                return result
            } catch {
                try? await session.raw("ROLLBACK").run()
                throw error
            }
        }
    }

    /// Closes the connection; the database cannot be used afterwards.
    public func close() async {
        try? await self.closeConnection()
    }
}
