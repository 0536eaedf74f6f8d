import MultiStatus
import SQLKit

/// Whole results as one JSON row: a result folded into one row crosses the driver once instead of
/// once per record. Both engines build JSON natively, so the SQL differs only here.
extension Database.Engine {
    /// A select-list item folding `columns` of every row into one JSON array of arrays, as text
    /// named `rows` (`[]` when there are no rows). Read it with `SQLDatabase.jsonRows(_:)`.
    func jsonRows(of columns: [String]) -> SQLQueryString {
        let list = columns.joined(separator: ", ")
        switch self {
        case .sqlite: return "json_group_array(json_array(\(unsafeRaw: list))) AS rows"
        case .postgres: return "COALESCE(json_agg(json_build_array(\(unsafeRaw: list))), '[]')::text AS rows"
        }
    }
}

extension SQLDatabase {
    /// Runs a query whose one row carries `Database.Engine.jsonRows(of:)`; the rows it folded, each
    /// as its column values in order.
    /// - Throws: ``ProblemDetails/unexpectedDatabaseRow`` when the database answered anything else.
    func jsonRows(_ query: SQLQueryString) async throws -> [[JSONValue]] {
        try await self.raw(query).first()?.foldedRows() ?? []
    }
}

extension SQLRow {
    /// The rows that `Database.Engine.jsonRows(of:)` folded into this row's `rows`.
    func foldedRows() throws -> [[JSONValue]] {
        guard case .array(let rows) = try JSONValue.parse(try self.decode(column: "rows", as: String.self).utf8) else {
            throw ProblemDetails.unexpectedDatabaseRow
        }
        return try rows.map { row throws(ProblemDetails) in
            guard case .array(let values) = row else { throw ProblemDetails.unexpectedDatabaseRow }
            return values
        }
    }
}

extension ProblemDetails {
    /// 500 for a database answer that does not have the shape its query asked for.
    static let unexpectedDatabaseRow = ProblemDetails(status: .internalServerError, detail: "the database answered a row of an unexpected shape")
}
