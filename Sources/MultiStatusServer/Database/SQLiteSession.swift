import Logging
import NIOCore
import SQLKit
import SQLiteKit
import SQLiteNIO
import Synchronization

/// A SQLite connection as SQLKit sees it, which also runs statements with their values bound
/// directly: a set-based write binds thousands of values, and binding each through SQLKit boxes
/// it twice and casts it back (see `TableStatements.run(_:sql:_:)`).
struct SQLiteSession: SQLDatabase {
    /// SQLKit's view of the connection, which everything else goes through.
    let base: any SQLDatabase
    let connection: SQLiteConnection

    init(_ connection: SQLiteConnection) {
        self.base = connection.sql()
        self.connection = connection
    }

    var logger: Logger { self.base.logger }
    var eventLoop: any EventLoop { self.base.eventLoop }
    var version: (any SQLDatabaseReportedVersion)? { self.base.version }
    var dialect: any SQLDialect { self.base.dialect }
    var queryLogLevel: Logger.Level? { self.base.queryLogLevel }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) -> EventLoopFuture<Void> {
        self.base.execute(sql: query, onRow)
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> Void) async throws {
        try await self.base.execute(sql: query, onRow)
    }

    func withSession<R>(_ closure: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await closure(self)
    }

    /// Runs `query`, whose `?` placeholders take `binds` in order; the rows it gives.
    func query(_ query: String, _ binds: [SQLiteData]) async throws -> [any SQLRow] {
        let rows = Mutex<[any SQLRow]>([])
        try await self.connection.query(query, binds) { row in rows.withLock { $0.append(row.sql()) } }
        return rows.withLock { $0 }
    }
}
