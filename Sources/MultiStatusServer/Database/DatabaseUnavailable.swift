import MultiStatus
import PostgresNIO
import SQLiteKit
import _ConnectionPoolModule

/// The database cannot answer now, but may soon: PostgreSQL is stopped or unreachable, or another
/// process holds SQLite's write lock past the busy timeout. Answered 503 with `Retry-After`, never
/// 500, so that clients retry instead of reporting a bug.
struct DatabaseUnavailable: ItemFailure, CustomStringConvertible {
    /// What happened, in words; logged, and sent in the problem's `detail`.
    let reason: String

    var description: String { "the database is unavailable: \(self.reason)" }

    var retryAfter: Int? { 2 }

    var problem: ProblemDetails {
        ProblemDetails(status: .serviceUnavailable, detail: self.description, type: "urn:x-multistatus:problem:database-unavailable")
    }

    /// The transient failure `error` stands for, or `nil` when it is not one (a constraint
    /// violated, a query the server refused, a feature's own `ItemFailure`).
    static func classify(_ error: any Error) -> DatabaseUnavailable? {
        switch error {
        case let unavailable as DatabaseUnavailable:
            return unavailable
        case let error as PSQLError:
            return self.classify(error)
        case let error as _ConnectionPoolModule.ConnectionPoolError where error == .connectionCreationCircuitBreakerTripped:
            return DatabaseUnavailable(reason: "PostgreSQL has refused connections for over a minute")
        case let error as _ConnectionPoolModule.ConnectionPoolError where error == .poolShutdown:
            return DatabaseUnavailable(reason: "the PostgreSQL connection pool was shut down")
        case let error as SQLiteError:
            return self.classify(error)
        default:
            return nil
        }
    }

    private static func classify(_ error: PSQLError) -> DatabaseUnavailable? {
        switch error.code {
        case .connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed:
            return DatabaseUnavailable(reason: "the connection to PostgreSQL was lost")
        case .server:
            guard let state = error.serverInfo?[.sqlState] else { return nil }
            // Classes 08 (connection exception), 53 (insufficient resources) and 57 (operator
            // intervention: shutdown, not yet accepting connections); and the two a retry cures.
            if ["08", "53", "57"].contains(state.prefix(2)) || state == "40001" || state == "40P01" {
                return DatabaseUnavailable(reason: "PostgreSQL refused with SQLSTATE \(state)")
            }
            return nil
        default:
            return nil
        }
    }

    private static func classify(_ error: SQLiteError) -> DatabaseUnavailable? {
        switch error.reason {
        case .busy, .busyTimeout, .busyInRecovery, .busyInSnapshot, .locked, .lockedBySharedCache:
            return DatabaseUnavailable(reason: "another process holds the SQLite database's lock")
        default:
            return nil
        }
    }
}
