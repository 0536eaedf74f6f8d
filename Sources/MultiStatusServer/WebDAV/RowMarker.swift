import Foundation
import MultiStatus
import NIOPosix
import SQLKit

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A file in the shared data folder that exists whenever a table may hold a row, so that a reader
/// which finds no file needs no query: most stores hold no locks, and many no dead properties.
///
/// Every server process on the data folder and database agrees: the file is created before a row
/// is written and removed only when the table is found empty, both inside a transaction no other
/// process's change to the table can interleave with (`BEGIN IMMEDIATE` on SQLite, an advisory
/// transaction lock on PostgreSQL). A file left over from a rolled-back write costs one query.
struct RowMarker: Sendable {
    let database: Database
    /// The marker file's path.
    let path: String
    /// The table it stands for.
    let table: SQLIdentifier
    /// The PostgreSQL advisory lock that serializes changes to the table.
    let advisoryLock: Int

    /// False when the table holds no row: one `access(2)` of a local file, cheap enough for any thread.
    func mayHoldRows() -> Bool { access(self.path, F_OK) == 0 }

    /// Runs `body` in a transaction that no other process's change to the table can interleave with.
    func exclusively<Result: Sendable>(_ body: @escaping @Sendable (any SQLDatabase) async throws -> Result) async throws -> Result {
        let engine = self.database.engine
        let advisoryLock = self.advisoryLock
        return try await self.database.transaction { sql in
            if engine == .postgres { try await sql.raw("SELECT pg_advisory_xact_lock(\(bind: advisoryLock))").run() }
            return try await body(sql)
        }
    }

    /// Inside ``exclusively(_:)``: creates the file when rows remain in the table or `creating`
    /// (a row is about to be written), and removes it when none do.
    func update(in sql: any SQLDatabase, creating: Bool = false) async throws {
        let any = creating ? true : !(try await sql.select().column(SQLLiteral.numeric("1")).from(self.table).limit(1).all().isEmpty)
        let path = self.path
        try await NIOThreadPool.singleton.runIfActive {
            if any {
                let fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
                guard fd >= 0 else { throw POSIXFailure(errno: errno, operation: "create the marker \(path)") }
                close(fd)
            } else if unlink(path) != 0 && errno != ENOENT {
                throw POSIXFailure(errno: errno, operation: "remove the marker \(path)")
            }
        }
    }

    /// Makes the file agree with the table (at start, and after a version without it).
    func reconcile() async throws {
        try await self.exclusively { sql in try await self.update(in: sql) }
    }
}
