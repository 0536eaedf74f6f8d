import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresKit
import PostgresNIO
public import SQLKit
import SQLiteKit
import Synchronization

/// The server's database: the embedded SQLite file by default, PostgreSQL for scale.
///
/// Features talk to it through SQLKit's `SQLDatabase` inside ``withConnection(_:)`` or
/// ``transaction(_:)``, so the same code runs on both. The schema is migrated when the
/// database is opened.
///
/// A database that cannot answer now (PostgreSQL stopped or unreachable, SQLite locked by another
/// process past its busy timeout) fails with a 503 `ItemFailure` that asks to retry, not with the
/// driver's error; PostgreSQL's connections come back by themselves when the server does
/// (``PostgresPool``).
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
        case postgres(PostgresPool)
    }

    /// Which engine is behind the connection.
    public let engine: Engine
    /// On PostgreSQL, the schema that holds the server's own tables (its connections' `search_path`),
    /// so that they never meet the operator's; `nil` on SQLite.
    public let schema: String?
    /// On SQLite, the name under which the operator's file is attached when the server's own tables
    /// live in a file of their own (``operatorSchemaName``); `nil` when one file holds both.
    let operatorSchema: String?
    private let backend: Backend
    /// How long a request waits for a pooled PostgreSQL connection before it is answered 503.
    private let connectionWait: Duration

    private init(engine: Engine, schema: String? = nil, operatorSchema: String? = nil, backend: Backend, connectionWait: Duration) {
        self.engine = engine
        self.schema = schema
        self.operatorSchema = operatorSchema
        self.backend = backend
        self.connectionWait = connectionWait
    }

    /// The name the operator's SQLite file is attached under, beside the server's own file.
    static let operatorSchemaName = "operator"

    /// Opens the database named by `url` and applies pending migrations.
    /// - Parameters:
    ///   - url: `sqlite:PATH` (the folder is created when missing) or `postgres://user:pass@host:port/db`.
    ///   - connectionWait: how long a request waits for a PostgreSQL connection (the server may be
    ///     down, or every pooled connection busy) before it fails with 503.
    ///   - schema: where the server's own tables live, apart from the operator's. On PostgreSQL a
    ///     schema of the database (created when missing; the tables of an earlier version in
    ///     `public` are moved there). On SQLite the file `<dataDirectory>/<schema>.sqlite`, with the
    ///     operator's file attached beside it; `main` keeps them in the operator's file.
    ///   - dataDirectory: on SQLite, the folder of the server's own file; `nil` keeps the server's
    ///     tables in the file `url` names.
    ///   - migrating: whether to apply the server's migrations; `false` opens an operator's
    ///     database as it is, to read or change its own tables.
    ///   - logger: where migrations are logged.
    public static func open(
        url: String, connectionWait: Duration = Limits().databaseWait, schema: String = Database.defaultSchema, dataDirectory: String? = nil,
        migrating: Bool = true, logger: Logger
    ) async throws -> Database {
        let database: Database
        if url.hasPrefix("sqlite:") {
            database = try await self.openSQLite(
                path: String(url.dropFirst("sqlite:".count)), ownFile: try self.ownSQLiteFile(schema: schema, in: dataDirectory), logger: logger)
        } else if url.hasPrefix("postgres://") || url.hasPrefix("postgresql://") {
            database = try self.openPostgres(url: url, connectionWait: connectionWait, schema: schema, logger: logger)
        } else {
            throw ConfigurationError("database \"\(url)\" is not supported; use sqlite:PATH or postgres://user:pass@host:port/db")
        }
        guard migrating else { return database }
        do {
            try await Migrations.apply(Migrations.all, to: database, logger: logger)
        } catch {
            await database.close()
            throw error
        }
        return database
    }

    /// The SQLite file of the server's own tables: `<folder>/<schema>.sqlite`, or `nil` for `main`
    /// or without a folder (one file holds everything).
    private static func ownSQLiteFile(schema: String, in folder: String?) throws -> String? {
        guard self.isValidSchema(schema), schema != "temp" else {
            throw ConfigurationError("schema \"\(schema)\" must be a lower-case name of letters, digits and _ (at most 63), not temp")
        }
        guard let folder, schema != "main" else { return nil }
        return URL(fileURLWithPath: folder).appendingPathComponent(schema + ".sqlite").path
    }

    /// Opens SQLite: the server's `ownFile` as the main database with the operator's file at `path`
    /// attached as ``operatorSchemaName``, or `path` alone when `ownFile` is `nil` or the same file.
    private static func openSQLite(path: String, ownFile: String?, logger: Logger) async throws -> Database {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        var attached: String?
        var main = path
        if let ownFile, Self.canonicalPath(ownFile) != Self.canonicalPath(path) {
            try FileManager.default.createDirectory(
                atPath: URL(fileURLWithPath: ownFile).deletingLastPathComponent().path, withIntermediateDirectories: true)
            main = ownFile
            attached = path
        }
        // The busy timeout comes first: switching to WAL needs the file's lock, which another process
        // opening the same file may hold for a moment. WAL lets readers run beside the writer; NORMAL
        // sync is durable at checkpoints and safe with WAL. Both apply to each file.
        let schemas = attached == nil ? ["main"] : ["main", Self.operatorSchemaName]
        let writer = try await self.openSQLiteConnection(
            path: main, attaching: attached,
            pragmas: ["PRAGMA busy_timeout=5000"]
                + schemas.flatMap { ["PRAGMA \($0).journal_mode=WAL", "PRAGMA \($0).synchronous=NORMAL"] } + ["PRAGMA foreign_keys=ON"],
            logger: logger
        )
        let reader: SQLiteConnection
        do {
            reader = try await self.openSQLiteConnection(
                path: main, attaching: attached, pragmas: ["PRAGMA busy_timeout=5000", "PRAGMA query_only=ON"], logger: logger)
        } catch {
            try? await writer.close()
            throw error
        }
        return Database(
            engine: .sqlite, operatorSchema: attached == nil ? nil : Self.operatorSchemaName,
            backend: .sqlite(writer: writer, SerialGate(), reader: reader, SerialGate()), connectionWait: .zero)
    }

    /// `path` with links and dot segments resolved, so that two names of one file compare equal.
    private static func canonicalPath(_ path: String) -> String {
        let url = URL(fileURLWithPath: path)
        // A file not made yet has no links of its own to resolve: its folder's are resolved.
        let folder = url.deletingLastPathComponent().resolvingSymlinksInPath()
        return folder.appendingPathComponent(url.lastPathComponent).resolvingSymlinksInPath().standardizedFileURL.path
    }

    private static func openSQLiteConnection(path: String, attaching attached: String?, pragmas: [String], logger: Logger) async throws
        -> SQLiteConnection
    {
        let connection = try await SQLiteConnection.open(storage: .file(path: path), logger: logger)
        do {
            if let attached {
                try await connection.sql().raw("ATTACH DATABASE \(bind: attached) AS \(unsafeRaw: Self.operatorSchemaName)").run()
            }
            for pragma in pragmas { try await connection.sql().raw(SQLQueryString(pragma)).run() }
        } catch {
            try? await connection.close()
            throw error
        }
        return connection
    }

    /// The schema of the server's own tables on PostgreSQL unless `--schema` says otherwise.
    public static let defaultSchema = "multistatus"

    /// Whether `name` can be a schema name here: a lower-case SQL identifier of at most 63 bytes,
    /// which needs no quoting anywhere it is written.
    public static func isValidSchema(_ name: String) -> Bool {
        guard let first = name.utf8.first, (1...63).contains(name.utf8.count), first == UInt8(ascii: "_") || (97...122).contains(first) else {
            return false
        }
        return name.utf8.allSatisfy { $0 == UInt8(ascii: "_") || (97...122).contains($0) || (48...57).contains($0) }
    }

    private static func openPostgres(url: String, connectionWait: Duration, schema: String, logger: Logger) throws -> Database {
        guard self.isValidSchema(schema) else {
            throw ConfigurationError("schema \"\(schema)\" must be a lower-case name of letters, digits and _ (at most 63)")
        }
        guard let parsed = try? SQLPostgresConfiguration(url: url) else {
            throw ConfigurationError("database URL \"\(url)\" is not a valid postgres:// URL")
        }
        let core = parsed.coreConfiguration
        guard let host = core.host else { throw ConfigurationError("database URL \"\(url)\" has no host") }
        let pool = PostgresPool(
            host: host, port: core.port ?? 5432, username: core.username, password: core.password, database: core.database,
            searchPath: schema, logger: logger)
        return Database(engine: .postgres, schema: schema, backend: .postgres(pool), connectionWait: connectionWait)
    }

    /// Runs `body` with a connection of its own for its duration.
    public func withConnection<Result: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> Result) async throws -> Result {
        try await self.run(onReader: false, waitingAtMost: self.connectionWait, body)
    }

    /// Runs `body`, which only reads, on a connection that sees the last committed state and does
    /// not wait for a write transaction in progress: on SQLite the read-only connection beside the
    /// writer, on PostgreSQL any pooled connection.
    public func withReader<Result: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> Result) async throws -> Result {
        try await self.run(onReader: true, waitingAtMost: self.connectionWait, body)
    }

    /// The same, waiting at most `wait` for a PostgreSQL connection (a probe waits less than its timeout).
    func withReader<Result: Sendable>(
        waitingAtMost wait: Duration,
        _ body: @escaping @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        try await self.run(onReader: true, waitingAtMost: wait, body)
    }

    /// Runs `body` on SQLite's writer or reader, or on a pooled PostgreSQL connection leased within
    /// `wait`; a failure that means the database cannot answer now becomes ``DatabaseUnavailable``.
    private func run<Result: Sendable>(
        onReader: Bool,
        waitingAtMost wait: Duration,
        _ body: @escaping @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        do {
            switch self.backend {
            case .sqlite(let writer, let writerGate, let reader, let readerGate):
                let (connection, gate) = onReader ? (reader, readerGate) : (writer, writerGate)
                return try await gate.run { try await body(SQLiteSession(connection)) }
            case .postgres(let pool):
                return try await pool.lease(waitingAtMost: wait, body)
            }
        } catch {
            throw DatabaseUnavailable.classify(error) ?? error
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
        case .postgres(let pool):
            await pool.close()
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
